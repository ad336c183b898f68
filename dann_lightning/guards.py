"""The checks that keep a fit safe, as Lightning hooks of a mixin: options the Trainer would ignore,
output directories that cannot be written, a training length the schedules cannot use, and a loss
that diverged, never checkpointed. Each fails in seconds, before anything is trained or written.

They run from the module's own hooks rather than as a callback: Lightning calls every callback at
every per-step hook, which costs a small model's step more than these checks do.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from typing_extensions import override

from dann_lightning.checkpoints import check_output_directories
from dann_lightning.data.contract import domain_data
from dann_lightning.divergence import DivergenceWatch
from dann_lightning.options import check_trainer_options
from dann_lightning.progress import total_training_batches


class RunGuards(L.LightningModule):
    """Mixed into [`DANNLitModule`][dann_lightning.DANNLitModule]: its ``divergence_watch``, the fit
    checks of its options and of its candidates (``candidates.check_fit``)."""

    divergence_watch: DivergenceWatch

    @override
    def configure_callbacks(self) -> list[L.Callback]:
        # The first hook Lightning calls once the model is attached, before it checks the Trainer's
        # options itself: the place to name this module's option to use instead.
        check_trainer_options(self.trainer, self.hparams.optimization)
        return []

    @override
    def on_fit_start(self) -> None:
        check_output_directories(self.trainer)
        self.candidates.check_fit(self.trainer, domain_data(self.trainer.datamodule))

    @override
    def on_train_start(self) -> None:
        total_training_batches(self.trainer)  # the schedules need a finite run: say so before any step
        self.divergence_watch.on_train_start(self.trainer, self)

    @override
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.divergence_watch.on_train_batch_end(self.trainer, self, outputs, batch, batch_idx)

    @override
    def on_train_epoch_end(self) -> None:
        self.divergence_watch.check(self.trainer)

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.divergence_watch.on_save_checkpoint(self.trainer, self, checkpoint)  # never save a diverged model
