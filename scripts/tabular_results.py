"""Target accuracy of source-only and DANN on the embedded tabular shift, over seeds.

Runs configs/tabular_example.yaml exactly as `dann-lightning fit --config ...` would, with only the
seed changed (and `lambda_max=0` for the source-only baseline), then tests on the held-out target
split. Seed `s` sets both `seed_everything` and the data draw (which also draws the shift).

    python scripts/tabular_results.py                        # 5 seeds, strength 1 (the table in docs/results.md)
    python scripts/tabular_results.py --strengths 0.5 1.5    # + milder and harsher shifts, 3 seeds each
"""

from __future__ import annotations

import argparse

from dann_lightning.experiments.plans import tabular_plan
from dann_lightning.experiments.runs import run_plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 of the main table (default 5)")
    parser.add_argument("--strengths", type=float, nargs="*", default=[], help="also run these shift strengths")
    parser.add_argument("--strength-seeds", type=int, default=3, help="seeds per extra strength (default 3)")
    parser.add_argument("--json", help="also write the per-seed accuracies here (what scripts/figures.py draws)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (default 1)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per run (default 1: fastest for these small networks)"
    )
    args = parser.parse_args()

    plan = tabular_plan(args.seeds, args.strengths, args.strength_seeds)
    print(run_plan(plan, args.jobs, args.threads, args.json))


if __name__ == "__main__":
    main()
