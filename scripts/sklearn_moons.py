"""DANNClassifier (the scikit-learn estimator) against configs/moons.yaml on the two-moons shift.

Both see the same data: `make_moons_shift(seed=s)`, training on the labelled source and unlabelled
target training splits, tested on the 1000 held-out target samples. The estimator runs with its
defaults and `random_state=s`; the config runs as `dann-lightning fit --config configs/moons.yaml`
with seed s (as scripts/moons_results.py does).

    python scripts/sklearn_moons.py               # 3 seeds, both
    python scripts/sklearn_moons.py --no-config   # the estimator only
"""

from __future__ import annotations

import argparse
import statistics

from dann_lightning.experiments.estimators import run_estimator
from dann_lightning.experiments.plans import MOONS_CONFIGS
from dann_lightning.experiments.runs import run_config, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument("--no-config", action="store_true", help="skip the configs/moons.yaml runs")
    args = parser.parse_args()

    estimator = "`DANNClassifier(lambda_max=1.0)` (scikit-learn estimator)"
    rows = {estimator: [run_estimator(seed) for seed in range(args.seeds)]}
    if not args.no_config:
        config = MOONS_CONFIGS["DANN"]
        rows[f"`{config}` (dann-lightning fit)"] = [run_config(config, seed, []) for seed in range(args.seeds)]
    print(table(f"Two moons, 35 degrees: target test accuracy over {args.seeds} seeds", rows))

    if not args.no_config:
        estimator, reference = (list(rows.values())[i] for i in (0, 1))
        gaps = [e["accuracy"] - r["accuracy"] for e, r in zip(estimator, reference, strict=True)]
        median_gap = statistics.median(e["accuracy"] for e in estimator) - statistics.median(
            r["accuracy"] for r in reference
        )
        print(
            f"\nestimator - config, median: {median_gap:+.3f}; per seed: {' '.join(f'{g:+.3f}' for g in gaps)}; "
            f"within 2 points: {'yes' if abs(median_gap) <= 0.02 else 'no'}"
        )


if __name__ == "__main__":
    main()
