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
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from dann_lightning.experiments.regression import KINDS, RUNS, report, run_regression
from dann_lightning.experiments.runs import save_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    parser.add_argument("--kinds", nargs="*", default=list(KINDS), help=f"shifts to run (default {list(KINDS)})")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS), help="which rows to run")
    parser.add_argument("--json", help="also write the per-seed RMSEs here (what scripts/figures.py draws)")
    args = parser.parse_args()
    print("python scripts/" + Path(sys.argv[0]).name + " " + " ".join(sys.argv[1:]), flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            (kind, name): [
                pool.submit(run_regression, kind, seed, overrides, args.threads) for seed in range(args.seeds)
            ]
            for kind in args.kinds
            for name, overrides in RUNS.items()
            if name in args.runs
        }
        tables = {}
        for kind in args.kinds:
            results = {name: [future.result() for future in futures[kind, name]] for name in args.runs}
            print("\n" + report(kind, args.seeds, results), flush=True)
            tables[kind] = results
    if args.json:
        save_json(args.json, tables, metric="rmse")


if __name__ == "__main__":
    main()
