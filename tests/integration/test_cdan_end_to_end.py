"""The slow half of tests/unit/test_cdan.py: fits, subprocesses and whole runs."""

import pytest
import torch
from torch import nn

from dann_lightning import CDANLitModule
from dann_lightning.nets import MLP, DomainDiscriminator
from tests.conftest import make_datamodule, make_trainer
from tests.unit.test_cdan import cdan


@pytest.mark.parametrize("optimization", ["automatic", "manual"])
def test_cdan_trains_and_its_checkpoint_reloads(tmp_path, optimization):
    module = cdan(feature_dim=16, optimization=optimization)
    trainer = make_trainer(tmp_path, max_epochs=6, log_every_n_steps=1)
    trainer.fit(module, make_datamodule(n=128))
    assert torch.isfinite(trainer.callback_metrics["train/domain_loss"])
    assert trainer.callback_metrics["val/source_acc"] > 0.9
    path = tmp_path / "cdan.ckpt"
    trainer.save_checkpoint(path)
    restored = CDANLitModule.load_from_checkpoint(
        path,
        feature_extractor=MLP(2, [16], activation="tanh"),
        classifier=nn.Linear(16, 2),
        discriminator=DomainDiscriminator(32, [8]),
    )
    assert restored.hparams.feature_dim == 16 and restored.hparams.entropy_conditioning
    x = torch.randn(8, 2)
    module.eval()
    restored.eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(x), module(x))
