"""The shift suite: does DANN with the library's defaults help on shifts and networks we did not tune for?

Each (task, network) pair is trained by every contender on several seeds; the target test accuracy
is compared with source-only training on the same seed. The networks are plain ``torch.nn`` stacks
as a user would write them, not this library's.

    python scripts/shift_suite.py --quick            # a few tasks and networks, 3 seeds
    python scripts/shift_suite.py                    # every task and network
    python scripts/shift_suite.py --slow             # and digits -> digits-M (flattened pixels)
    python scripts/shift_suite.py --tasks moons_40 --networks relu64 --contenders source_only dann --seeds 1

After the table, a summary compares every contender with source-only over all pairs: wins, ties
and losses (a tie is within one point), the median gain over the pairs where source-only is below
0.9, the worst loss, and the share of the largest possible gains ``dann_auto`` keeps.
"""

from __future__ import annotations

import argparse
import sys
import time

from dann_lightning.experiments.suite import (
    ABLATIONS,
    ALL_CONTENDERS,
    ALL_TASKS,
    CONTENDERS,
    NETWORKS,
    QUICK_NETWORKS,
    QUICK_TASKS,
    SLOW_TASKS,
    TASKS,
    check_names,
    run_suite,
)
from dann_lightning.experiments.suite_report import pair_table, save_suite_json, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"tasks {QUICK_TASKS}, networks {QUICK_NETWORKS}")
    parser.add_argument("--tasks", nargs="+", help="default: all (or the quick ones)")
    parser.add_argument("--slow", action="store_true", help=f"also the image tasks {list(SLOW_TASKS)}")
    parser.add_argument("--networks", nargs="+", help="default: all (or the quick ones)")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), help=f"also: {', '.join(ABLATIONS)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel, one CPU thread each")
    parser.add_argument("--json", help="also write every run's accuracy here (what scripts/figures.py draws)")
    args = parser.parse_args()
    default_tasks = (QUICK_TASKS if args.quick else list(TASKS)) + (list(SLOW_TASKS) if args.slow else [])
    tasks = check_names("task", args.tasks or default_tasks, ALL_TASKS)
    networks = check_names("network", args.networks or (QUICK_NETWORKS if args.quick else list(NETWORKS)), NETWORKS)
    contenders = check_names("contender", args.contenders, ALL_CONTENDERS)

    print(f"python scripts/shift_suite.py {' '.join(sys.argv[1:])}".strip())
    print(f"target test accuracy, median over {args.seeds} seeds; {args.epochs} epochs, batch {args.batch_size}")
    start = time.perf_counter()
    results = run_suite(tasks, networks, contenders, args.seeds, args.epochs, args.batch_size, args.workers)
    print("\n".join(pair_table(results, contenders)))
    print()
    print("\n".join(summary(results, contenders)))
    runs = len(tasks) * len(networks) * len(contenders) * args.seeds
    print(f"\n{runs} runs, {time.perf_counter() - start:.0f} s with {args.workers} worker(s)")
    if args.json:
        save_suite_json(args.json, f"python scripts/shift_suite.py {' '.join(sys.argv[1:])}", results)


if __name__ == "__main__":
    main()
