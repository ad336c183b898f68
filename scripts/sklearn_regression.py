"""DANNRegressor (the scikit-learn estimator) with its defaults, per lambda_max, on the regression shifts.

Each run draws `make_regression_shift(kind, seed=s)`, fits `DANNRegressor(lambda_max=L,
random_state=s)` (every other parameter at its default) on the labelled source and the unlabelled
target training rows, and reports the target test RMSE. lambda_max 0 is source-only; 0.1 the
estimator's default; `auto` chooses among 0, 0.1, 0.3 and 1 by DEV (the regressor's criterion) on
held-out source rows, without target labels.

    python scripts/sklearn_regression.py                                    # 5 seeds, covariate + diabetes_bmi
    python scripts/sklearn_regression.py --kinds sparse --lambdas 0 0.1 --seeds 2 --jobs 2
"""

from __future__ import annotations

import argparse
import os
import statistics
from concurrent.futures import ProcessPoolExecutor

from dann_lightning.experiments.estimators import lambda_value, run_regressor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", nargs="+", default=["covariate", "diabetes_bmi"])
    parser.add_argument("--lambdas", nargs="+", type=lambda_value, default=[0.0, 0.1, 1.0, "auto"])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="runs at a time")
    args = parser.parse_args()

    grid = [(kind, value, seed) for kind in args.kinds for value in args.lambdas for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = dict(zip(grid, pool.map(run_regressor, *zip(*grid, strict=True)), strict=True))
    for kind in args.kinds:
        print(f"\n**{kind}**: DANNRegressor's target test RMSE over {args.seeds} seeds (lower is better)\n")
        print("| lambda_max | median RMSE | / source-only's | per seed | lambda kept per seed | fit time per run (s) |")
        print("|---|---|---|---|---|---|")
        source_only = [results[kind, 0.0, seed]["rmse"] for seed in range(args.seeds)] if 0.0 in args.lambdas else []
        baseline = statistics.median(source_only) if source_only else None
        for value in args.lambdas:
            runs = [results[kind, value, seed] for seed in range(args.seeds)]
            median = statistics.median(r["rmse"] for r in runs)
            ratio = f"{median / baseline:.3f}" if baseline else ""
            per_seed = " ".join(f"{r['rmse']:.3f}" for r in runs)
            kept = " ".join(f"{r['kept']:g}" for r in runs)
            seconds = statistics.mean(r["seconds"] for r in runs)
            print(f"| {value} | {median:.3f} | {ratio} | {per_seed} | {kept} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
