"""Timing a training run: the step timer every study uses, an epoch timer, and the CPU time a
virtual machine's host took (which makes timings noisy)."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L


class StepTimer(L.Callback):
    """Wall time from the start of one training batch to the start of the next.

    That interval is everything a step costs the user: fetching the batch, the forward and
    backward passes, the optimizer and scheduler steps, and the Trainer's bookkeeping after the
    batch (logging, progress tracking, callbacks). Timing only ``on_train_batch_start`` to
    ``on_train_batch_end`` would leave out the batch fetch and the logger connector's work at the
    batch end. A run of ``n`` batches records ``n - 1`` times.

    Examples:
        >>> timer = StepTimer()
        >>> for batch in range(3):
        ...     timer.on_train_batch_start(None, None, None, batch)
        >>> len(timer.times)
        2
    """

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.times.append(now - self._last)
        self._last = now


class EpochTimer(L.Callback):
    """Wall time of the last training epoch, in ``seconds``."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.start


def cpu_ticks() -> tuple[int, int] | None:
    """(all, stolen) CPU ticks since boot from Linux's /proc/stat; ``None`` elsewhere. Steal is the
    time a virtual machine's CPUs wanted to run but the host ran something else."""
    stat = Path("/proc/stat")
    if not stat.is_file():
        return None
    fields = [int(value) for value in stat.read_text().splitlines()[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def stolen_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of CPU time the hypervisor took between two :func:`cpu_ticks` readings."""
    if before is None or after is None or after[0] <= before[0]:
        return None
    return (after[1] - before[1]) / (after[0] - before[0])
