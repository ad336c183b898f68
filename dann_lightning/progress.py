"""Training progress ``p`` in [0, 1], read from the Trainer: what the schedules are functions of."""

from __future__ import annotations

import math

import lightning as L

from dann_lightning.errors import ConfigurationError


def total_training_batches(trainer: L.Trainer, optimizer_steps_per_batch: float = 1.0) -> int:
    """Training batches the run will see per device, from ``max_epochs`` and/or ``max_steps``.

    ``max_steps`` counts optimizer steps: ``1 / accumulate_grad_batches`` per batch in automatic
    optimization, one per optimizer stepped in manual optimization.
    """
    limits = []
    per_epoch = trainer.num_training_batches
    if trainer.max_epochs not in (None, -1) and math.isfinite(per_epoch):
        limits.append(int(per_epoch) * max(trainer.max_epochs, 1))
    if trainer.max_steps not in (None, -1):
        limits.append(math.ceil(trainer.max_steps / optimizer_steps_per_batch))
    if not limits:
        raise ConfigurationError(
            "the lambda and learning-rate schedules need a finite training length: set trainer max_epochs "
            "or max_steps (got max_epochs=-1 and max_steps=-1, or a training loader without a length)"
        )
    return max(min(limits), 1)


def training_progress(trainer: L.Trainer, optimizer_steps_per_batch: float = 1.0) -> float:
    """Fraction of training batches done before the current one; continues across a resume."""
    done = trainer.fit_loop.total_batch_idx
    return min(max(done, 0) / total_training_batches(trainer, optimizer_steps_per_batch), 1.0)
