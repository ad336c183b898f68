"""What a Lightning user expects of any LightningModule: callback_metrics after every batch, the
progress bar, monitors of ModelCheckpoint and EarlyStopping, LearningRateMonitor, in both modes."""

import csv
import itertools

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from tests.conftest import make_datamodule, make_module, make_trainer

MODES = ["automatic", "manual"]


class LatestLoss(L.Callback):
    """After each training batch: the batch's loss and what the Trainer shows for it."""

    def __init__(self):
        self.rows = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        shown = trainer.progress_bar_metrics["train/loss_step"]
        self.rows.append((outputs["loss"].item(), trainer.callback_metrics["train/loss"].item(), shown))


@pytest.mark.parametrize("optimization", MODES)
def test_every_batch_leaves_its_loss_in_callback_metrics_and_the_progress_bar(tmp_path, optimization):
    latest = LatestLoss()
    trainer = make_trainer(tmp_path, max_epochs=1, limit_val_batches=0, callbacks=[latest], log_every_n_steps=50)
    trainer.fit(make_module(optimization=optimization), make_datamodule(n=15 * 16))
    assert len(latest.rows) == 15
    for loss, in_callback_metrics, in_progress_bar in latest.rows:
        assert in_callback_metrics == pytest.approx(loss)
        assert in_progress_bar == pytest.approx(loss, rel=1e-6)
    # After the epoch: train/loss is the epoch mean (equal batches: the mean of the batch losses).
    mean = sum(loss for loss, *_ in latest.rows) / 15
    assert trainer.callback_metrics["train/loss"].item() == pytest.approx(mean, rel=1e-5)


@pytest.mark.parametrize("optimization", MODES)
def test_a_short_bf16_epoch_leaves_a_finite_loss(tmp_path, optimization):
    trainer = make_trainer(tmp_path, max_epochs=1, limit_val_batches=0, precision="bf16-mixed")
    trainer.fit(make_module(optimization=optimization), make_datamodule(n=15 * 16))
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


class EpochLosses(L.Callback):
    """train/loss as each training epoch ends, when ModelCheckpoint reads it."""

    def __init__(self):
        self.values: list[float] = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.values.append(trainer.callback_metrics["train/loss"].item())


@pytest.mark.parametrize("optimization", MODES)
def test_model_checkpoint_monitors_the_training_loss(tmp_path, optimization):
    best = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="train/loss", save_top_k=1, mode="min")
    epoch_losses = EpochLosses()  # Lightning runs ModelCheckpoint after the other callbacks
    trainer = make_trainer(
        tmp_path, max_epochs=3, limit_val_batches=0, callbacks=[epoch_losses, best], enable_checkpointing=True
    )
    trainer.fit(make_module(optimization=optimization), make_datamodule())
    assert len(epoch_losses.values) == 3 and len(set(epoch_losses.values)) == 3
    assert best.best_model_score.item() == min(epoch_losses.values)  # the lowest epoch mean was kept
    assert (tmp_path / "ckpt").joinpath(best.best_model_path).is_file()
    assert len(best.best_k_models) == 1


@pytest.mark.parametrize("optimization", MODES)
def test_early_stopping_monitors_the_target_accuracy(tmp_path, optimization):
    # An improvement of a whole unit of accuracy never happens: stop after patience + 1 validations.
    stop = EarlyStopping(monitor="val/target_acc", mode="max", patience=1, min_delta=1.0)
    trainer = make_trainer(tmp_path, max_epochs=10, callbacks=[stop])
    trainer.fit(make_module(optimization=optimization), make_datamodule())
    assert trainer.current_epoch == 2
    assert stop.stopped_epoch == 1


@pytest.mark.parametrize("optimization", MODES)
def test_learning_rate_monitor_logs_every_optimizers_schedule(tmp_path, optimization):
    logger = CSVLogger(tmp_path, name="csv")
    monitor = LearningRateMonitor(logging_interval="step")
    trainer = make_trainer(
        tmp_path, max_epochs=2, limit_val_batches=0, logger=logger, callbacks=[monitor], log_every_n_steps=1
    )
    trainer.fit(make_module(optimization=optimization), make_datamodule())
    with open(logger.log_dir + "/metrics.csv") as file:
        rows = list(csv.DictReader(file))
    names = ["lr-Adam"] if optimization == "automatic" else ["lr-Adam", "lr-Adam-1"]
    for name in names:
        lrs = [float(row[name]) for row in rows if row.get(name)]
        assert len(lrs) == 8  # 4 batches an epoch, logged before each
        assert lrs[0] == pytest.approx(1e-2)
        assert all(later < earlier for earlier, later in itertools.pairwise(lrs))  # the "ganin" annealing
