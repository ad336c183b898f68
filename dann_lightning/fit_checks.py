"""The checks a fit runs once, before its first training step: so that a bad setting fails in
seconds, before anything is trained or written, instead of at the first checkpoint or schedule step."""

from __future__ import annotations

import lightning as L
from typing_extensions import override

from dann_lightning.checkpoints import check_output_directories
from dann_lightning.data.contract import domain_data
from dann_lightning.progress import total_training_batches


class FitChecks(L.Callback):
    """Added by [`DANNLitModule`][dann_lightning.DANNLitModule] to every fit: output directories
    writable, the candidates choosable (``lambda_max="auto"`` has validation data to score), the
    training length finite (the schedules are functions of it)."""

    @override
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        check_output_directories(trainer)
        pl_module.candidates.check_fit(trainer, domain_data(trainer.datamodule))

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        total_training_batches(trainer)
