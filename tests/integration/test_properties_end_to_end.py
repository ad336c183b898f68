"""The slow half of tests/unit/test_properties.py: fits, subprocesses and whole runs."""

import lightning as L
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from torch import nn

from dann_lightning import DANNLitModule
from dann_lightning.errors import DataError
from dann_lightning.nets import MLP, DomainDiscriminator
from tests.conftest import make_trainer
from tests.unit.test_properties import cases, datamodule_for


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=cases)
def test_a_training_step_on_valid_input_gives_finite_losses_and_invalid_input_is_rejected(tmp_path, case):
    L.seed_everything(case["seed"], verbose=False)
    module = DANNLitModule(
        feature_extractor=MLP(case["in_features"], [8], activation="tanh"),
        classifier=nn.Linear(8, case["num_classes"]),
        discriminator=DomainDiscriminator(8, [8]),
        num_classes=case["num_classes"],
    )
    trainer = make_trainer(tmp_path, max_steps=1, log_every_n_steps=1, limit_val_batches=0)
    datamodule, valid = datamodule_for(case)
    if not valid:
        event("invalid")
        with pytest.raises(DataError):
            trainer.fit(module, datamodule)
        assert trainer.global_step == 0  # rejected before any training step
        return
    event("valid")
    trainer.fit(module, datamodule)
    assert trainer.global_step == 1
    for name in ("train/loss", "train/cls_loss", "train/domain_loss"):
        assert torch.isfinite(trainer.callback_metrics[name]), name
