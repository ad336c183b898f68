"""The slow half of tests/unit/test_faults.py: fits, subprocesses and whole runs."""

import signal

import torch

from tests.conftest import REPO
from tests.unit.test_faults import run_cli


def test_a_run_killed_mid_epoch_resumes_from_last_ckpt_to_the_uninterrupted_weights(tmp_path):
    quick = [
        f"--config={REPO / 'configs' / 'moons.yaml'}",
        "--trainer.max_epochs=4",
        "--trainer.check_val_every_n_epoch=2",
        "--trainer.enable_progress_bar=false",
        "--data.init_args.options.n_samples=320",  # 5 batches per epoch
    ]
    uninterrupted = tmp_path / "uninterrupted"
    uninterrupted.mkdir()
    assert run_cli(uninterrupted, *quick).returncode == 0

    killed = tmp_path / "killed"
    killed.mkdir()
    kill = '{"class_path": "tests.fault_callbacks.SigkillAt", "init_args": {"batch": 12}}'  # epoch 2, batch 2
    keep = '{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"save_last": true}}'
    result = run_cli(killed, *quick, f"--trainer.callbacks=[{keep}, {kill}]")
    assert result.returncode == -signal.SIGKILL
    last = killed / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 1  # the end of epoch 1 survived intact

    assert run_cli(killed, *quick, f"--ckpt_path={last}").returncode == 0
    final = {
        name: torch.load(d / "lightning_logs" / v / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
        for name, d, v in [("uninterrupted", uninterrupted, "version_0"), ("resumed", killed, "version_1")]
    }
    for key, value in final["uninterrupted"].items():
        torch.testing.assert_close(final["resumed"][key], value, rtol=0, atol=0)
