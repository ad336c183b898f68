"""DANNRegressor(lambda_max="auto"): which regression criterion, margin, or the IWA combination?

One fit per (shift, seed) trains the candidates 0, 0.1, 0.3 and 1 with the estimator's defaults;
every regression criterion then picks on the same held-out source and target rows, with each
margin, and IWA combines them; each is scored by target test RMSE against source-only's.

    python scripts/regression_auto.py --jobs 2                 # covariate and diabetes_bmi, 5 seeds
    python scripts/regression_auto.py --kinds sparse --seeds 2
"""

from __future__ import annotations

import argparse
import statistics
from concurrent.futures import ProcessPoolExecutor

from dann_lightning.experiments.estimators import regressor_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", nargs="+", default=["covariate", "diabetes_bmi"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    grid = [(kind, seed) for kind in args.kinds for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.jobs) as pool:
        records = dict(zip(grid, pool.map(regressor_study, *zip(*grid, strict=True)), strict=True))
    print(f"python scripts/regression_auto.py --kinds {' '.join(args.kinds)} --seeds {args.seeds}")
    for kind in args.kinds:
        runs = [records[kind, seed] for seed in range(args.seeds)]
        baseline = statistics.median(run["lambda_0"] for run in runs)
        print(f"\n**{kind}**: target test RMSE over {args.seeds} seeds (lower is better)\n")
        print("| contender | median RMSE | / source-only's | worst seed / source-only's | per seed |")
        print("|---|---|---|---|---|")
        for name in runs[0]:
            values = [run[name] for run in runs]
            worst = max(value / run["lambda_0"] for value, run in zip(values, runs, strict=True))
            per_seed = " ".join(f"{value:.3f}" for value in values)
            median = statistics.median(values)
            print(f"| {name} | {median:.3f} | {median / baseline:.3f} | {worst:.3f} | {per_seed} |")


if __name__ == "__main__":
    main()
