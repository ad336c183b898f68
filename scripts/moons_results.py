"""Target accuracy of source-only, DANN and CDAN+E on the two-moons shift, over seeds and shifts.

Runs the shipped configs exactly as `dann-lightning fit --config ...` would, with only the seed
(and, for the extra tables, the listed options) changed, then tests on the held-out target split.

    python scripts/moons_results.py               # configs/moons*.yaml, 5 seeds (the table in docs/results.md)
    python scripts/moons_results.py --shifts      # + milder and harsher shifts, 3 seeds each
    python scripts/moons_results.py --ablation    # + DANN without the defaults' choices, 5 seeds
"""

from __future__ import annotations

import argparse

from dann_lightning.experiments.plans import moons_plan
from dann_lightning.experiments.runs import run_plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 of the main table (default 5)")
    parser.add_argument("--shifts", action="store_true", help="also run milder and harsher shifts")
    parser.add_argument("--shift-seeds", type=int, default=3, help="seeds per extra shift (default 3)")
    parser.add_argument("--ablation", action="store_true", help="also run DANN without the defaults' choices")
    parser.add_argument("--json", help="also write the per-seed accuracies here (what scripts/figures.py draws)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel, one thread each (times then grow)")
    args = parser.parse_args()

    plan = moons_plan(args.seeds, args.shifts, args.shift_seeds, args.ablation)
    threads = 1 if args.jobs > 1 else 0
    print(run_plan(plan, args.jobs, threads, args.json))


if __name__ == "__main__":
    main()
