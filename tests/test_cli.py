import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dann_lightning import DANNLitModule
from dann_lightning.cli import BUILTIN_CONFIG, build_cli, with_builtin_config
from tests.conftest import REPO
from tests.test_file_loaders import write_mnist_mnistm_user_files

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
# Configs that read files a user has: a function writing tiny stand-ins where the config expects
# them, relative to the working directory, before the smoke test runs the config.
USER_FILES: dict[str, Callable[[Path], None]] = {
    # The example tables ship with the repository; the config names them relative to its root.
    "tabular_files.yaml": lambda root: shutil.copytree(REPO / "examples" / "tabular", root / "examples" / "tabular"),
    "mnist_mnistm.yaml": write_mnist_mnistm_user_files,
}
QUICK = [
    "--trainer.max_epochs=1",
    "--trainer.check_val_every_n_epoch=1",
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=2",
]


def quiet(root: Path) -> list[str]:
    return [f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false"]


def test_configs_directory_holds_the_shipped_experiments():
    names = {path.name for path in CONFIGS}
    assert {"moons.yaml", "moons_source_only.yaml"} <= names


def test_builtin_default_is_configs_moons_yaml():
    assert Path(str(BUILTIN_CONFIG)).read_text() == (REPO / "configs" / "moons.yaml").read_text()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit"], ["fit", "--config", str(BUILTIN_CONFIG)]),
        (["test", "--ckpt_path=x"], ["test", "--config", str(BUILTIN_CONFIG), "--ckpt_path=x"]),
        (["fit", "--config", "a.yaml"], ["fit", "--config", "a.yaml"]),
        (["fit", "--config=a.yaml"], ["fit", "--config=a.yaml"]),
        (["--help"], ["--help"]),
    ],
)
def test_builtin_config_is_used_only_without_a_config(args, expected):
    assert with_builtin_config(args) == expected


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[path.name for path in CONFIGS])
def test_every_shipped_config_fits_tests_and_reloads(tmp_path, monkeypatch, config):
    monkeypatch.chdir(tmp_path)
    if config.name in USER_FILES:
        USER_FILES[config.name](tmp_path)
    cli = build_cli(["fit", "--config", str(config), *QUICK, *quiet(tmp_path)])
    checkpoint = cli.trainer.checkpoint_callback.best_model_path
    assert Path(checkpoint).is_file()
    assert any(name.startswith("val/") for name in cli.trainer.callback_metrics)

    # Through the CLI alone: the checkpoint holds the network configuration, and loads safely.
    restored = DANNLitModule.load_from_checkpoint(checkpoint)
    class_path = torch.load(checkpoint, weights_only=True)["hyper_parameters"]["_class_path"]
    assert class_path == "dann_lightning." + type(cli.model).__name__
    assert type(restored) is type(cli.model)  # a CDANLitModule checkpoint loads as one
    x = next(iter(cli.datamodule.test_dataloader()["target"]))[0]
    cli.model.eval()
    restored.eval()
    with torch.no_grad():
        torch.testing.assert_close(restored(x), cli.model(x), rtol=0, atol=0)

    tested = build_cli(["test", "--config", str(config), f"--ckpt_path={checkpoint}", *quiet(tmp_path)])
    assert 0.0 <= tested.trainer.callback_metrics["test/target_acc"] <= 1.0


def test_unknown_schedule_name_lists_the_valid_ones(tmp_path, capsys):
    with pytest.raises(SystemExit):
        build_cli(["fit", "--model.init_args.lambda_schedule=linear", *quiet(tmp_path)])
    err = capsys.readouterr().err
    assert "linear" in err and "ganin" in err and "constant" in err


@pytest.mark.slow
def test_console_entry_point_trains_the_builtin_moons_and_logs_to_tensorboard(tmp_path):
    # One real process: `python -m dann_lightning fit` with nothing but a short run asked for.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dann_lightning",
            "fit",
            "--trainer.max_epochs=2",
            "--trainer.check_val_every_n_epoch=1",
            "--trainer.limit_val_batches=2",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "lightning_logs" / "version_0"
    assert list((run / "checkpoints").glob("*.ckpt"))
    assert "MoonsDataModule" in (run / "config.yaml").read_text()
    events = EventAccumulator(str(run))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    # train/loss every step and as epoch means: Lightning writes them as train/loss_step and _epoch.
    expected = {"train/loss_step", "train/loss_epoch", "train/domain_loss", "train/lambda", "train/lr"}
    assert expected | {"val/source_acc", "val/target_acc", "val/domain_acc"} <= scalars
    lambdas = [event.value for event in events.Scalars("train/lambda")]
    assert lambdas == sorted(lambdas) and lambdas[-1] > 0.9  # two epochs: the ramp runs to the end


def test_cli_chooses_lambda_automatically_and_the_checkpoint_keeps_the_choice(tmp_path):
    args = ["--model.init_args.lambda_max=auto", "--model.init_args.lambda_candidates=[0, 1]"]
    cli = build_cli(["fit", *args, *QUICK, *quiet(tmp_path)])
    chosen = cli.model.lambda_search.chosen_lambda
    assert chosen in (0.0, 1.0)
    metrics = cli.trainer.callback_metrics
    assert metrics["val/auto/lambda_max"].item() == chosen
    assert {"val/auto/consistency_lambda_0", "val/auto/consistency_lambda_1"} <= set(metrics)
    events = EventAccumulator(str(Path(cli.trainer.log_dir)))
    events.Reload()
    assert "val/auto/lambda_max" in events.Tags()["scalars"]
    restored = DANNLitModule.load_from_checkpoint(cli.trainer.checkpoint_callback.best_model_path)
    assert restored.lambda_search.chosen_lambda == chosen
