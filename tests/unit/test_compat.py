"""The private Lightning names in dann_lightning/compat.py, and checkpoints of earlier releases.

Each test here fails loudly when a Lightning release changes what compat.py relies on.
"""

import pytest
import torch

from dann_lightning import CDANLitModule, DANNLitModule, compat
from dann_lightning.cli import build_cli
from tests.conftest import REPO, make_module

OLD_CHECKPOINTS = REPO / "tests" / "data" / "checkpoints_0.1.0"


def test_lightning_hands_the_cli_configuration_to_save_hyperparameters(tmp_path):
    assert compat._given_hyperparameters is not None, "Lightning no longer has _given_hyperparameters"
    cli = build_cli([f"--trainer.default_root_dir={tmp_path}"], run=False)
    assert cli.model.hparams["feature_extractor"]["class_path"] == "dann_lightning.nets.MLP"
    assert not compat.instantiated_from_config()  # only while LightningCLI builds the model


def test_a_module_built_in_python_keeps_its_networks_out_of_the_hyperparameters():
    module = make_module()
    assert not {"feature_extractor", "classifier", "discriminator", "optimizer"} & set(module.hparams)


@pytest.mark.parametrize(
    ("name", "cls", "optimization"),
    [
        ("moons", DANNLitModule, "automatic"),
        ("moons_manual", DANNLitModule, "manual"),
        ("moons_cdan", CDANLitModule, "automatic"),
    ],
)
def test_checkpoints_of_0_1_0_load_as_the_class_they_name(name, cls, optimization):
    restored = DANNLitModule.load_from_checkpoint(OLD_CHECKPOINTS / f"{name}.ckpt")
    assert type(restored) is cls
    assert restored.hparams.optimization == optimization
    x = torch.randn(16, 2)
    with torch.no_grad():
        logits = restored.eval()(x)
    # The saved weights, applied by hand: 2 -> 8 (tanh) -> 2, as the 0.1.0 configs built them.
    saved = torch.load(OLD_CHECKPOINTS / f"{name}.ckpt", weights_only=True)["state_dict"]
    features = torch.tanh(x @ saved["feature_extractor.layers.0.weight"].T + saved["feature_extractor.layers.0.bias"])
    expected = features @ saved["classifier.weight"].T + saved["classifier.bias"]
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-6)
