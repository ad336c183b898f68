"""Milliseconds per training step: a plain PyTorch loop, the smallest LightningModule a user would
write, and DANNLitModule, on the same DANN step (dann_lightning.experiments.benchmark).

All three do the identical step (one forward pass of the feature extractor over the concatenated
source and target batch, cross-entropy + binary cross-entropy through the gradient reversal layer,
Adam, the paper's lambda ramp and LR annealing) with the same networks, batch and optimizer, on
in-memory data. The plain loop is the floor; DANN / minimal is what this library adds on top of
Lightning. skada's DANN is timed too when it is installed (never a dependency). A scaling run
times an epoch on tabular data of 1e4, 1e5 and 1e6 rows (32 features) and reports epoch time and
peak resident memory.

    python scripts/benchmark.py                 # the step-time table
    python scripts/benchmark.py --scaling       # + the scaling table (each size in its own process)
    python scripts/benchmark.py --only moons --scaling-only   # subsets
    python scripts/benchmark.py --steps 40 --warmup 10 --repeats 1   # a quick check that it runs
"""

from __future__ import annotations

import argparse
import platform
import sys

import lightning as L
import torch

from dann_lightning.experiments.benchmark import step_table
from dann_lightning.experiments.scaling import scaling_table
from dann_lightning.experiments.timing import cpu_ticks, stolen_share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="timed steps per run (default 300)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps first (default 50)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per contender and case; medians are reported")
    parser.add_argument("--only", help="time only the cases whose name contains this text, e.g. 'moons'")
    parser.add_argument("--scaling", action="store_true", help="also the 1e4 / 1e5 / 1e6-row scaling table")
    parser.add_argument("--scaling-only", action="store_true", help="only the scaling table")
    parser.add_argument("--batch-size", type=int, default=256, help="batch size of the scaling runs")
    args = parser.parse_args()
    print(f"python scripts/benchmark.py {' '.join(sys.argv[1:])}".strip())
    print(
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, lightning {L.__version__}, CPU\n"
    )
    before = cpu_ticks()
    if not args.scaling_only:
        print(step_table(args.steps, args.warmup, args.repeats, args.only))
    if args.scaling or args.scaling_only:
        print()
        print(scaling_table(args.batch_size))
    stolen = stolen_share(before, cpu_ticks())
    if stolen is not None:
        print(f"\nCPU time stolen by the hypervisor during the run: {stolen:.0%}")


if __name__ == "__main__":
    main()
