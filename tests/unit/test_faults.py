"""Faults: divergence, damaged checkpoints, unwritable directories, a killed run, bad CLI input."""

import os
import subprocess
import sys
import zipfile

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from dann_lightning import DANNLitModule
from dann_lightning.checkpoints import check_checkpoint_file
from dann_lightning.cli import build_cli, cli_main
from dann_lightning.divergence import DivergenceWatch
from dann_lightning.errors import CheckpointError, DivergenceError, OutputDirectoryError
from tests.conftest import REPO, make_datamodule, make_module, make_trainer, tiny_networks


class NaNAfter(nn.Module):
    """Passes inputs through, then turns them into NaN from its ``calls``-th training call on."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls, self.seen = calls, 0

    def forward(self, x):
        if self.training:
            self.seen += 1
            if self.seen > self.calls:
                return x * float("nan")
        return x


class CountBatches(L.Callback):
    def __init__(self):
        self.batches = 0

    def on_train_batch_end(self, *args):
        self.batches += 1


def networks_turning_nan_after(calls: int) -> dict[str, nn.Module]:
    networks = tiny_networks()
    networks["classifier"] = nn.Sequential(NaNAfter(calls), networks["classifier"])
    return networks


def test_divergence_stops_training_naming_the_batch_and_the_loss_and_keeps_earlier_checkpoints(tmp_path):
    module = DANNLitModule(**networks_turning_nan_after(9), num_classes=2)  # batch 9 is in epoch 2
    saved = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, filename="{epoch}", save_last=True)
    trainer = make_trainer(tmp_path, max_epochs=5, callbacks=[saved], enable_checkpointing=True, limit_val_batches=0)
    with pytest.raises(
        DivergenceError, match=r"the classification loss \(train/cls_loss\) became non-finite at training batch 9"
    ):
        trainer.fit(module, make_datamodule())
    # 4 batches per epoch: epochs 0 and 1 were saved; nothing of the diverged epoch 2 was written.
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["epoch=0.ckpt", "epoch=1.ckpt", "last.ckpt"]
    for name in ("epoch=1.ckpt", "last.ckpt"):
        restored = DANNLitModule.load_from_checkpoint(tmp_path / "ckpt" / name, **networks_turning_nan_after(10**9))
        assert all(torch.isfinite(p).all() for p in restored.parameters())
        assert torch.load(tmp_path / "ckpt" / name, weights_only=True)["epoch"] == 1


def test_divergence_inside_a_long_epoch_is_caught_when_the_window_fills(tmp_path):
    # No epoch end before batch 12: the window of 4 batches forces the checks.
    module = DANNLitModule(**networks_turning_nan_after(6), num_classes=2)
    counted, watch = CountBatches(), DivergenceWatch(check_every_n_batches=4)
    trainer = make_trainer(tmp_path, max_steps=12, limit_val_batches=0, callbacks=[counted, watch])
    data = make_datamodule(n=16 * 16)  # 16 batches an epoch
    with pytest.raises(DivergenceError, match=r"became non-finite at training batch 6 "):
        trainer.fit(module, data)
    assert counted.batches == 8  # found at the end of batch 8 (index 7), when the second window is full


def test_a_damaged_or_foreign_checkpoint_is_named(tmp_path):
    module = make_module()
    trainer = make_trainer(tmp_path, max_steps=1, limit_val_batches=0)
    trainer.fit(module, make_datamodule())
    good = tmp_path / "good.ckpt"
    trainer.save_checkpoint(good)

    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    foreign = tmp_path / "tensor.ckpt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    corrupted = tmp_path / "corrupted.ckpt"
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        member = archive.infolist()[-1]
    data[member.header_offset + 40] ^= 0xFF  # flip a byte inside a stored member
    corrupted.write_bytes(bytes(data))

    cases = [
        (tmp_path / "missing.ckpt", r"missing.ckpt does not exist"),
        (truncated, r"truncated.ckpt cannot be read"),
        (text, r"notes.ckpt cannot be read"),
        (foreign, r"tensor.ckpt is not a Lightning checkpoint"),
    ]
    for path, message in cases:
        with pytest.raises(CheckpointError, match=message):
            DANNLitModule.load_from_checkpoint(path, **tiny_networks())
    with pytest.raises(CheckpointError, match=r"corrupted.ckpt (is damaged|cannot be read)"):
        check_checkpoint_file(corrupted)
    with pytest.raises(
        CheckpointError, match=r"good.ckpt does not hold the network configuration.*pass feature_extractor="
    ):
        DANNLitModule.load_from_checkpoint(good)
    restored = DANNLitModule.load_from_checkpoint(good, **tiny_networks())
    saved = torch.load(good, weights_only=True)["state_dict"]
    assert restored.state_dict().keys() == saved.keys()
    for key, value in saved.items():  # the trained weights, not those tiny_networks() drew
        torch.testing.assert_close(restored.state_dict()[key], value, rtol=0, atol=0)


def test_a_damaged_checkpoint_given_to_the_cli_is_named(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match=r"bad.ckpt cannot be read"):
        build_cli(["test", f"--ckpt_path={bad}", f"--trainer.default_root_dir={tmp_path}"])


@pytest.mark.parametrize("where", ["default_root_dir", "checkpoint dirpath"])
def test_an_unwritable_output_directory_fails_before_the_first_step(tmp_path, where):
    blocker = tmp_path / "a_file"
    blocker.write_text("a file where a directory should be")
    counter = CountBatches()
    callbacks = [counter]
    kwargs = {"default_root_dir": tmp_path}
    if where == "default_root_dir":
        kwargs["default_root_dir"] = blocker / "logs"
    else:
        callbacks.append(ModelCheckpoint(dirpath=blocker / "ckpt"))
    trainer = make_trainer(tmp_path, callbacks=callbacks, enable_checkpointing=where != "default_root_dir", **kwargs)
    with pytest.raises(OutputDirectoryError, match=r"cannot write to the .*a_file/(logs|ckpt) \(Not a directory\)"):
        trainer.fit(make_module(), make_datamodule())
    assert counter.batches == 0


def test_the_cli_rejects_an_unwritable_root_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OutputDirectoryError, match=r"default_root_dir .*a_file/run"):
        build_cli(["fit", f"--trainer.default_root_dir={blocker / 'run'}"])


@pytest.mark.parametrize(
    ("argument", "named"),
    [
        ("--model.init_args.lambda_maxx=1", "lambda_maxx"),
        ("--model.init_args.lambda_max=strong", "lambda_max"),
        ("--trainer.max_epoch=3", "max_epoch"),
        ("--model.init_args.optimization=semi", "optimization"),
    ],
)
def test_unknown_keys_and_wrong_types_in_the_cli_name_the_key(tmp_path, capsys, argument, named):
    with pytest.raises(SystemExit):
        build_cli(["fit", argument, f"--trainer.default_root_dir={tmp_path}"])
    assert named in capsys.readouterr().err


def test_a_shift_option_of_the_wrong_type_is_named(tmp_path):
    # options is a free mapping to the parser: the shift's own check names the option and the value.
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--data.init_args.options.angle=[1, 2]", f"--trainer.default_root_dir={tmp_path}"])
    assert exit_info.value.code == "dann-lightning: error: moons angle must be a finite number, got [1, 2]"


def test_unknown_key_in_a_config_file_is_named(tmp_path, capsys):
    config = tmp_path / "typo.yaml"
    config.write_text((REPO / "configs" / "moons.yaml").read_text().replace("max_epochs: 200", "max_epoch: 200"))
    with pytest.raises(SystemExit):
        build_cli(["fit", f"--config={config}", f"--trainer.default_root_dir={tmp_path}"])
    assert "max_epoch" in capsys.readouterr().err


def run_cli(tmp_path, *args):
    command = [sys.executable, "-m", "dann_lightning", "fit", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
