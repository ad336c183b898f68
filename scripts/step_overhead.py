"""Where a small model's training step goes: DANNLitModule as shipped, without its extra training
scalars (only ``train/loss`` logged), and without any training ``self.log``, against the minimal
LightningModule doing the same step and the plain loop (dann_lightning.experiments.overhead).

    python scripts/step_overhead.py            # moons MLP, batch 128; 3 paired repeats
    python scripts/step_overhead.py --case 1   # batch 1024
    python scripts/step_overhead.py --profile  # + the top of a cProfile of the shipped step, and
                                               #   the library's own functions per step
"""

from __future__ import annotations

import argparse
import statistics
import sys

from dann_lightning.experiments.benchmark import CASES, plain_step_ms, trainer_step_ms
from dann_lightning.experiments.overhead import VARIANTS, library_costs, profile_fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", type=int, default=0, help="index into benchmark.CASES (default 0: MLP, batch 128)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300, help="timed steps per run (default 300)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    case = CASES[args.case]
    print(f"python scripts/step_overhead.py {' '.join(sys.argv[1:])}".strip())
    print(f"{case.name}, median ms per step ({args.steps} steps)")
    rows: dict[str, list[float]] = {name: [] for name in ["plain loop", *VARIANTS]}
    for _ in range(args.repeats):
        rows["plain loop"].append(plain_step_ms(case, args.steps, 50, 0))
        for name, build in VARIANTS.items():
            rows[name].append(trainer_step_ms(build, case, args.steps, 50, 0))
    floor = statistics.median(rows["plain loop"])
    minimal = statistics.median(rows["minimal LightningModule"])
    print("| run | ms per step | / plain loop | / minimal LightningModule |")
    print("|---|---|---|---|")
    for name, times in rows.items():
        ms = statistics.median(times)
        print(f"| {name} | {ms:.2f} | {ms / floor:.2f}x | {ms / minimal:.2f}x |")
    if args.profile:
        stats = profile_fit(VARIANTS["shipped"], case, args.steps)
        stats.sort_stats("tottime").print_stats(15)
        print("\n".join(library_costs(stats, args.steps)))


if __name__ == "__main__":
    main()
