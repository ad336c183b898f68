"""Target test RMSE of source-only, DANN and the target-only oracle on the regression shifts, over seeds.

Runs configs/regression_example.yaml as `dann-lightning fit --config ...` would, changing only the
seed (both `seed_everything` and the data draw), the shift's kind and, per run:
source-only `--model.init_args.lambda_max=0`; DANN the config as shipped; target-only oracle
`--data.init_args.train_on=target --model.init_args.lambda_max=0` (trains on the target's labels:
an upper bound no real user has). Every run trains the config's 200 epochs.

    python scripts/regression_results.py                 # 5 seeds, every shift (the tables of docs/regression.md)
    python scripts/regression_results.py --kinds covariate --seeds 2 --jobs 2
    python scripts/regression_results.py --jobs 2 --json docs/assets/data/regression.json   # for scripts/figures.py

The goal of issue 17 on each synthetic shift: DANN's median target RMSE <= 0.85 x source-only's,
and no seed where DANN is worse than source-only by more than 5%.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dann_lightning.experiments.runs import run_config, save_json

CONFIG = "configs/regression_example.yaml"
RUNS = {
    "source-only": ["--model.init_args.lambda_max=0"],
    "DANN": [],
    "target-only (oracle)": ["--data.init_args.train_on=target", "--model.init_args.lambda_max=0"],
}
KINDS = {
    "covariate": "Embedded covariate shift (10 features, target inputs moved by 1 on half of them)",
    "sparse": "Harder variant: the target's region sparsely covered by the source (5% of source draws)",
    "diabetes_bmi": "scikit-learn diabetes, source BMI <= median, target BMI > median",
}


def run(kind: str, seed: int, overrides: list[str], threads: int) -> dict:
    """Fit and test one run; the target test RMSE and R², and the fit's wall seconds."""
    result = run_config(CONFIG, seed, [f"--data.init_args.kind={kind}", *overrides], threads)
    metrics = result["metrics"]
    return {"rmse": metrics["test/target_rmse"], "r2": metrics["test/target_r2"], "seconds": result["seconds"]}


def report(kind: str, seeds: int, results: dict[str, list[dict]]) -> str:
    lines = [
        f"**{KINDS.get(kind, kind)}**: target test RMSE over {seeds} seeds (lower is better)",
        "",
        "| run | median RMSE | median R² | per seed (RMSE) | fit time per run (s) |",
        "|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        rmse = [r["rmse"] for r in runs]
        lines.append(
            f"| {name} | {statistics.median(rmse):.3f} | {statistics.median(r['r2'] for r in runs):.3f} | "
            f"{' '.join(f'{value:.3f}' for value in rmse)} | {statistics.mean(r['seconds'] for r in runs):.1f} |"
        )
    source = [r["rmse"] for r in results["source-only"]]
    dann = [r["rmse"] for r in results["DANN"]]
    ratio = statistics.median(dann) / statistics.median(source)
    worst = max(d / s for d, s in zip(dann, source, strict=True))
    met = ratio <= 0.85 and worst <= 1.05
    lines += [
        "",
        f"DANN / source-only median RMSE: {ratio:.3f} (goal <= 0.85); worst seed DANN / source-only: {worst:.3f} "
        f"(goal <= 1.05): goal {'met' if met else 'missed'}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), help=f"shifts to run (default {list(KINDS)})")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--json", help="also write the per-seed RMSEs here (what scripts/figures.py draws)")
    args = parser.parse_args()
    print("python scripts/" + Path(sys.argv[0]).name + " " + " ".join(sys.argv[1:]), flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            (kind, name): [pool.submit(run, kind, seed, overrides, args.threads) for seed in range(args.seeds)]
            for kind in args.kinds
            for name, overrides in RUNS.items()
        }
        tables = {}
        for kind in args.kinds:
            results = {name: [future.result() for future in futures[kind, name]] for name in RUNS}
            print("\n" + report(kind, args.seeds, results), flush=True)
            tables[kind] = results
    if args.json:
        save_json(args.json, tables, metric="rmse")


if __name__ == "__main__":
    main()
