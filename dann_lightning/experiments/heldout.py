"""The held-out tasks: shift families no default, criterion or option of the library was chosen on.

Run them only once the defaults are fixed, and report them in their own table, as a user's first
contact would see them; change nothing after seeing them (issue 25). Each task draws through
``dann_lightning.datasets.make_shift`` (the suite's own ``make_shift`` serves the tuned families
only), as the same float32 / int64 :class:`~dann_lightning.data.shifts.ShiftTask` the suite reads.

Examples:
    >>> task = HELDOUT_TASKS["drift"].draw(seed=0)
    >>> task.name, task.num_classes, task.x_source.dtype
    ('drift', 2, dtype('float32'))
"""

from __future__ import annotations

from dataclasses import dataclass

from dann_lightning.data.shifts import ShiftTask
from dann_lightning.datasets import HELDOUT_SHIFTS, make_shift
from dann_lightning.experiments.suite import Task

__all__ = ["HELDOUT_TASKS", "HeldoutTask"]


@dataclass(frozen=True)
class HeldoutTask(Task):
    """A suite :class:`~dann_lightning.experiments.suite.Task` of any family of ``dann_lightning.datasets.SHIFTS``."""

    def draw(self, seed: int) -> ShiftTask:
        return ShiftTask.from_splits(make_shift(self.shift, seed=seed, **self.options))


HELDOUT_TASKS: dict[str, Task] = {family: HeldoutTask(family) for family in HELDOUT_SHIFTS}
"""One task per held-out family (``dann_lightning.datasets.HELDOUT_SHIFTS``), at its defaults, named as the family."""
