"""Where a small model's training step goes: DANNLitModule as shipped, without its extra training
scalars (only ``train/loss`` logged), and without any training ``self.log``, against the plain loop.

    python scripts/step_overhead.py            # moons MLP, batch 128; 3 paired repeats
    python scripts/step_overhead.py --case 1   # batch 1024
    python scripts/step_overhead.py --profile  # + the top of a cProfile of the shipped step
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).parent))
import benchmark  # the cases, the floor and the quiet Trainer of the benchmark

from dann_lightning import DANNLitModule, DomainDataModule


class LossOnly(DANNLitModule):
    """The shipped module, logging only ``train/loss`` while training (its other scalars skipped)."""

    def log_dict(self, *args, **kwargs):
        if not self.training:
            super().log_dict(*args, **kwargs)


class NoTrainingLogs(LossOnly):
    """The shipped module with no ``self.log`` at all while training."""

    def log(self, *args, **kwargs):
        if not self.training:
            super().log(*args, **kwargs)


def step_ms(cls: type[DANNLitModule], case: benchmark.Case, steps: int, warmup: int) -> float:
    L.seed_everything(0, verbose=False)
    x_s, y_s, x_t = benchmark.arrays(case, case.batch_size * 8)
    data = DomainDataModule.from_arrays(x_s, y_s, x_t, batch_size=case.batch_size)
    model = cls(
        **case.networks(), num_classes=case.num_classes, optimizer=lambda p: torch.optim.Adam(p, lr=benchmark.LR)
    )
    timer = benchmark.StepTimer()
    benchmark.quiet_trainer(timer, max_steps=warmup + steps + 1).fit(model, data)
    return statistics.median(timer.times[warmup:]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", type=int, default=0, help="index into benchmark.CASES (default 0: MLP, batch 128)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    case = benchmark.CASES[args.case]
    print(f"python scripts/step_overhead.py --case {args.case}: {case.name}, median ms per step (300 steps)")
    variants = {"shipped": DANNLitModule, "train/loss only": LossOnly, "no training logs": NoTrainingLogs}
    rows = {name: [] for name in ["plain loop", *variants]}
    for _ in range(args.repeats):
        rows["plain loop"].append(benchmark.plain_step_ms(case, 300, 50, 0))
        for name, cls in variants.items():
            rows[name].append(step_ms(cls, case, 300, 50))
    floor = statistics.median(rows["plain loop"])
    for name, times in rows.items():
        ms = statistics.median(times)
        print(f"| {name} | {ms:.2f} | {ms / floor:.2f}x |")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(step_ms, DANNLitModule, case, 300, 20)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
