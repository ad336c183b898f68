"""The slow half of tests/unit/test_compat.py: fits, subprocesses and whole runs."""

from pathlib import Path

import torch

from dann_lightning.cli import build_cli
from dann_lightning.data import MoonsDataModule
from tests.conftest import REPO
from tests.unit.test_compat import OLD_CHECKPOINTS

# The data section of configs/moons.yaml before the configs named ShiftDataModule: such configs still run.
OLD_MOONS_DATA = """data:
  class_path: dann_lightning.data.MoonsDataModule
  init_args:
    n_samples: 1000
    noise: 0.1
    angle: 35.0
    seed: 0
    batch_size: 64
"""


def old_style_moons_config(directory: Path) -> Path:
    """configs/moons.yaml with the data section of 0.1.0 (``MoonsDataModule`` and its own arguments)."""
    shipped = (REPO / "configs" / "moons.yaml").read_text()
    config = directory / "moons_0.1.0.yaml"
    config.write_text(shipped[: shipped.index("data:\n")] + OLD_MOONS_DATA)
    return config


# The 0.1.0 checkpoints were written by `dann-lightning fit --config configs/<name>.yaml` for one
# epoch, with 8-wide networks (feature_dim 8 for CDAN) to keep the files small.
NARROW = [
    "--model.init_args.feature_extractor.init_args.hidden_features=[8]",
    "--model.init_args.classifier.init_args.in_features=8",
    "--model.init_args.discriminator.init_args.hidden_features=[8]",
    "--model.init_args.discriminator.init_args.in_features=8",
]


def test_an_automatic_checkpoint_of_0_1_0_resumes_counting_its_optimizer_steps(tmp_path):
    # 0.1.0 counted this run's 15 optimizer steps in the manual loop's tracker; 2 more steps must
    # reach max_steps=17 (without the carried count, global_step would restart at 0).
    old = OLD_CHECKPOINTS / "moons.ckpt"
    assert torch.load(old, weights_only=True)["global_step"] == 15
    cli = build_cli(
        [
            "fit",
            "--config",
            str(old_style_moons_config(tmp_path)),  # as a 0.1.0 user resumes: with the config of then
            *NARROW,
            f"--ckpt_path={old}",
            "--trainer.max_steps=17",
            "--trainer.logger=false",
            "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={tmp_path}",
        ]
    )
    assert type(cli.datamodule) is MoonsDataModule and cli.datamodule.option("angle") == 35.0
    saved_scaler = torch.load(old, weights_only=True)["MoonsDataModule"]["scaler"]
    torch.testing.assert_close(cli.datamodule.scaler.state_dict()["mean"], saved_scaler["mean"], rtol=0, atol=0)
    assert cli.trainer.global_step == 17
    assert cli.trainer.fit_loop.epoch_loop.batch_progress.total.completed == 17
