import math

import lightning as L
import pytest
from lightning.pytorch.callbacks import ModelCheckpoint

from dann_lightning import schedules
from dann_lightning.errors import DANNError
from tests.conftest import make_datamodule, make_module, make_trainer


@pytest.mark.parametrize(
    ("p", "expected"), [(0.0, 0.0), (0.5, 2 / (1 + math.exp(-5)) - 1), (1.0, 2 / (1 + math.exp(-10)) - 1)]
)
def test_ganin_lambda_values(p, expected):
    assert schedules.lambda_factor("ganin", p, gamma=10.0) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("p", "expected"), [(0.0, 1.0), (0.5, 6**-0.75), (1.0, 11**-0.75)])
def test_ganin_lr_values(p, expected):
    assert schedules.lr_factor("ganin", p, alpha=10.0, beta=0.75) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_constant_schedules(p):
    assert schedules.lambda_factor("constant", p) == 1.0
    assert schedules.lr_factor("constant", p) == 1.0


def test_cosine_lr_ends_at_zero():
    assert schedules.lr_factor("cosine", 0.0) == 1.0
    assert schedules.lr_factor("cosine", 0.5) == pytest.approx(0.5)
    assert schedules.lr_factor("cosine", 1.0) == pytest.approx(0.0, abs=1e-12)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(DANNError, match=r"unknown lambda_schedule 'linear'; valid: 'ganin', 'constant'"):
        schedules.lambda_factor("linear", 0.5)
    with pytest.raises(DANNError, match=r"unknown lr_schedule 'step'; valid: 'ganin', 'constant', 'cosine'"):
        schedules.lr_factor("step", 0.5)


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_progress_outside_unit_interval_is_rejected(p):
    with pytest.raises(DANNError, match=r"\[0, 1\]"):
        schedules.lambda_factor("ganin", p)


class RecordSchedules(L.Callback):
    """Lambda and LR seen by each training batch, in order."""

    def __init__(self):
        self.lambdas, self.lrs = [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.lambdas.append(pl_module.current_lambda())


def expected_lambdas(total, lambda_max=1.0):
    return [lambda_max * (2 / (1 + math.exp(-10 * i / total)) - 1) for i in range(total)]


@pytest.mark.parametrize("limit", [{"max_epochs": 3}, {"max_steps": 7, "max_epochs": -1}])
def test_training_follows_the_schedules_with_max_epochs_or_max_steps(tmp_path, limit):
    # 64 samples / batch 16 = 4 batches per epoch: 12 batches by epochs, 7 by steps.
    record = RecordSchedules()
    module = make_module(lambda_max=0.8)
    trainer = make_trainer(tmp_path, callbacks=[record], limit_val_batches=0, **limit)
    trainer.fit(module, make_datamodule())
    total = 12 if "max_epochs" in limit and limit["max_epochs"] == 3 else 7
    assert len(record.lambdas) == total
    assert record.lambdas == pytest.approx(expected_lambdas(total, 0.8), rel=1e-6)
    # The LR seen at batch i was set by i scheduler steps: lr_0 / (1 + 10 i / total) ** 0.75.
    assert record.lrs == pytest.approx([1e-2 / (1 + 10 * i / total) ** 0.75 for i in range(total)], rel=1e-6)


def test_schedules_continue_after_resume(tmp_path):
    # An uninterrupted 4-epoch run writing a checkpoint per epoch, then a run resumed from the
    # checkpoint after epoch 2: the resumed batches see the values the full run saw, not a restart.
    full = RecordSchedules()
    every_epoch = ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, filename="{epoch}")
    trainer = make_trainer(
        tmp_path, callbacks=[full, every_epoch], enable_checkpointing=True, limit_val_batches=0, max_epochs=4
    )
    trainer.fit(make_module(), make_datamodule())

    resumed = RecordSchedules()
    trainer = make_trainer(tmp_path, callbacks=[resumed], limit_val_batches=0, max_epochs=4)
    resumed_module = make_module(seed=1)
    trainer.fit(resumed_module, make_datamodule(), ckpt_path=tmp_path / "epoch=1.ckpt")

    assert len(full.lambdas) == 16
    assert len(resumed.lambdas) == 8
    assert resumed.lambdas == pytest.approx(expected_lambdas(16, resumed_module.hparams.lambda_max)[8:], rel=1e-6)
    assert resumed.lambdas == pytest.approx(full.lambdas[8:], rel=1e-6)
    assert resumed.lrs == pytest.approx(full.lrs[8:], rel=1e-6)
