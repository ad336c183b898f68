"""DDP on CPU: two processes (gloo), launched the way a user would, through the CLI."""

import os
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dann_lightning import DANNLitModule
from dann_lightning.data import ShiftDataModule
from tests.conftest import REPO, make_trainer


@pytest.mark.parametrize("config", ["moons.yaml", "moons_manual.yaml"])
def test_ddp_validation_equals_a_single_process_evaluation_of_the_same_weights(tmp_path, config):
    command = [
        sys.executable,
        "-m",
        "dann_lightning",
        "fit",
        f"--config={REPO / 'configs' / config}",
        "--trainer.accelerator=cpu",
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
        "--trainer.max_epochs=2",
        "--trainer.check_val_every_n_epoch=1",
        "--trainer.enable_progress_bar=false",
        "--data.init_args.options.n_val=101",  # odd: ranks get 51 and 50 samples, none repeated
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    run = tmp_path / "lightning_logs" / "version_0"
    events = EventAccumulator(str(run))
    events.Reload()
    ddp_value = events.Scalars("val/target_acc")[-1].value

    checkpoint = run / "checkpoints" / "last.ckpt"
    model = DANNLitModule.load_from_checkpoint(checkpoint)
    trainer = make_trainer(tmp_path)
    trainer.validate(model, ShiftDataModule("moons", options={"n_val": 101}), ckpt_path=checkpoint, verbose=False)
    assert ddp_value == pytest.approx(trainer.callback_metrics["val/target_acc"].item(), abs=1e-6)
    # 101 samples: an accuracy is a multiple of 1/101, which a padded (repeated) shard would break.
    assert round(ddp_value * 101, 4) == pytest.approx(round(ddp_value * 101), abs=1e-3)
    assert torch.load(checkpoint, weights_only=True)["global_step"] > 0
