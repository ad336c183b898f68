"""The slow half of tests/unit/test_multisource.py: fits, subprocesses and whole runs."""

import torch

from tests.conftest import make_trainer
from tests.unit.test_multisource import moons_with_two_sources, multi_source_module


def test_two_source_rotations_train_and_log_per_source_metrics(tmp_path):
    datamodule = moons_with_two_sources()
    trainer = make_trainer(tmp_path, max_epochs=15, check_val_every_n_epoch=15, log_every_n_steps=5)
    trainer.fit(multi_source_module(), datamodule)
    metrics = trainer.callback_metrics
    assert {"val/source_0_acc", "val/source_1_acc", "val/target_acc", "val/domain_acc"} <= set(metrics)
    assert metrics["val/source_0_acc"] > 0.8 and metrics["val/source_1_acc"] > 0.8
    assert 0.0 <= metrics["val/domain_acc"] <= 1.0
    assert torch.isfinite(metrics["train/domain_loss"])
    # Three domains: the loss of a discriminator that knows nothing is log 3, not log 2.
    assert metrics["train/domain_loss"] < 1.2
