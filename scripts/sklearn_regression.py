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
import time
from concurrent.futures import ProcessPoolExecutor


def run(kind: str, lambda_max: float | str, seed: int) -> dict:
    """One fit with one torch thread (two runs share the 2 cores); RMSE on the target test rows.
    ``"auto"`` trains the candidates 0, 0.1, 0.3, 1 and keeps one by DEV (the regressor's criterion)."""
    import torch

    torch.set_num_threads(1)
    from dann_lightning.data import make_regression_shift
    from dann_lightning.sklearn import DANNRegressor

    shift = make_regression_shift(kind, seed=seed)
    (x_source, y_source), (x_target, _), (x_test, y_test) = shift.source_train, shift.target_train, shift.target_test
    start = time.perf_counter()
    reg = DANNRegressor(lambda_max=lambda_max, random_state=seed)
    reg.fit(x_source, y_source, X_target=x_target)
    rmse = float(((reg.predict(x_test) - y_test) ** 2).mean() ** 0.5)
    return {"rmse": rmse, "seconds": time.perf_counter() - start, "kept": reg.lambda_max_}


def lambda_value(text: str) -> float | str:
    return text if text == "auto" else float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", nargs="+", default=["covariate", "diabetes_bmi"])
    parser.add_argument("--lambdas", nargs="+", type=lambda_value, default=[0.0, 0.1, 1.0, "auto"])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="runs at a time")
    args = parser.parse_args()

    grid = [(kind, value, seed) for kind in args.kinds for value in args.lambdas for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = dict(zip(grid, pool.map(run, *zip(*grid, strict=True)), strict=True))
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
