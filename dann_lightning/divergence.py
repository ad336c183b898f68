"""DivergenceWatch: stop training at a non-finite loss, before a checkpoint of it is written."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor
from typing_extensions import override

from dann_lightning.checks import check_int
from dann_lightning.errors import DivergenceError

WATCHED_LOSSES = {
    "cls_loss": "the classification loss (train/cls_loss)",
    "domain_loss": "the domain loss (train/domain_loss)",
}


class DivergenceWatch(L.Callback):
    """Raise [`DivergenceError`][dann_lightning.errors.DivergenceError] once a watched training loss is not finite.

    Reads ``cls_loss`` and ``domain_loss`` from what ``training_step`` returns. The losses of recent
    batches are kept as (detached) tensors and checked together, one host-device sync per check:
    every ``check_every_n_batches`` batches, at each epoch end, and before any checkpoint is written,
    so a diverged model never overwrites a checkpoint. [`DANNLitModule`][dann_lightning.DANNLitModule] runs
    one from its own hooks (a callback would cost Lightning's dispatch at every step); add one to the
    Trainer's callbacks to check more often, or to watch another module.

    Args:
        check_every_n_batches: batches between two checks at most.
    """

    def __init__(self, check_every_n_batches: int = 50) -> None:
        self.check_every_n_batches = check_int("check_every_n_batches", check_every_n_batches, minimum=1)
        self._recent: list[tuple[int, list[Tensor]]] = []  # (training batch index, its watched losses)

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._recent = []

    @override
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not isinstance(outputs, dict) or not WATCHED_LOSSES.keys() <= outputs.keys():
            return
        # Detached (a kept graph would hold its activations), stacked and read only at the check.
        self._recent.append((trainer.fit_loop.total_batch_idx, [outputs[name].detach() for name in WATCHED_LOSSES]))
        if len(self._recent) >= self.check_every_n_batches:
            self.check(trainer)

    @override
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check(trainer)

    @override
    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if trainer.training:
            self.check(trainer)

    def check(self, trainer: L.Trainer) -> None:
        """Check the losses since the last check (one sync) and forget them."""
        recent, self._recent = self._recent, []
        if not recent:
            return
        finite = torch.stack([torch.stack(losses).float() for _, losses in recent]).isfinite()
        bad_rows = (~finite.all(dim=1)).nonzero().flatten().tolist()
        if not bad_rows:
            return
        at, first_bad = recent[bad_rows[0]][0], finite[bad_rows[0]].tolist()
        names = [name for name, ok in zip(WATCHED_LOSSES.values(), first_bad, strict=True) if not ok]
        raise DivergenceError(
            f"training diverged: {' and '.join(names)} became non-finite at training batch {at} "
            f"(global step {trainer.global_step}, epoch {trainer.current_epoch}). Training stopped; "
            "checkpoints written before are intact. Try a lower learning rate or lambda_max, or gradient clipping."
        )
