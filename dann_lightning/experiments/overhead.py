"""Where a small model's training step goes: ``DANNLitModule`` as shipped, without its extra
training scalars, without any training ``self.log``, beside the minimal LightningModule and the
plain loop; and a profile of what the library's own functions cost per step.
``scripts/step_overhead.py`` runs it.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from functools import partial
from pathlib import Path

import lightning as L

from dann_lightning import DANNLitModule
from dann_lightning.experiments.benchmark import Case, dann_module, minimal_module, trainer_step_ms


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


VARIANTS: dict[str, Callable[[Case], L.LightningModule]] = {
    "minimal LightningModule": minimal_module,
    "shipped": dann_module,
    "train/loss only": partial(dann_module, cls=LossOnly),
    "no training logs": partial(dann_module, cls=NoTrainingLogs),
}
PACKAGE = Path(__file__).resolve().parents[1]


def profile_fit(build: Callable[[Case], L.LightningModule], case: Case, steps: int) -> pstats.Stats:
    """cProfile of a whole timed fit of ``build(case)`` (``steps`` steps after 20 warm-up ones)."""
    profile = cProfile.Profile()
    profile.runcall(trainer_step_ms, build, case, steps, 20, 0)
    return pstats.Stats(profile)


def library_costs(stats: pstats.Stats, steps: int, top: int = 15) -> list[str]:
    """The functions of ``dann_lightning`` (not these studies) with the most time per step: a
    Markdown table of cumulative and own microseconds per step and calls per step, under the
    profiler (which slows every call alike)."""
    rows = []
    for name, cost in stats.get_stats_profile().func_profiles.items():
        path = Path(cost.file_name)
        if not path.is_relative_to(PACKAGE) or path.is_relative_to(Path(__file__).parent):
            continue
        calls = int(cost.ncalls.split("/")[0])
        where = f"{path.relative_to(PACKAGE.parent)}:{cost.line_number} {name}"
        rows.append((cost.cumtime / steps * 1e6, cost.tottime / steps * 1e6, calls / steps, where))
    rows.sort(reverse=True)
    lines = ["| function | cumulative µs per step | own µs per step | calls per step |", "|---|---|---|---|"]
    lines += [f"| `{where}` | {cum:.0f} | {own:.0f} | {calls:.2f} |" for cum, own, calls, where in rows[:top]]
    return lines
