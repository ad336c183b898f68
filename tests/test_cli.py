import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import dann_lightning
from dann_lightning import DANNLitModule, builtin_configs
from dann_lightning.cli import BUILTIN_CONFIG, build_cli, cli_main, with_builtin_config
from dann_lightning.data import ShiftDataModule
from tests.conftest import REPO, make_datamodule, make_module, make_trainer
from tests.image_folders import RESNET_CONFIG_STAND_IN, write_digits_user_files, write_office_user_files
from tests.unit.test_file_loaders import write_mnist_mnistm_user_files

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
# Configs that read files a user has: a function writing tiny stand-ins where the config expects
# them, relative to the working directory, before the smoke test runs the config.
USER_FILES: dict[str, Callable[[Path], None]] = {
    # The example tables ship with the repository; the config names them relative to its root.
    "tabular_files.yaml": lambda root: shutil.copytree(REPO / "examples" / "tabular", root / "examples" / "tabular"),
    "regression_files.yaml": lambda root: shutil.copytree(
        REPO / "examples" / "regression", root / "examples" / "regression"
    ),
    "mnist_mnistm.yaml": write_mnist_mnistm_user_files,
    "image_folders_offline.yaml": write_digits_user_files,
    "image_folders_resnet.yaml": write_office_user_files,
}
# Configs whose data, as shipped, has no labelled target rows to test on: what `test` adds.
TEST_ROWS = {"tabular_files.yaml": ["--data.init_args.target_test=examples/tabular/target_test.csv"]}
# Configs that need what this machine lacks (torchvision): the stand-in they run with here.
STAND_INS = {"image_folders_resnet.yaml": RESNET_CONFIG_STAND_IN}
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


PACKAGED = Path(str(builtin_configs.CONFIGS))
# The command that makes the packaged copies the repository's again (configs/ is the source).
RESYNC = (
    "rm -f dann_lightning/configs/*.yaml && cp configs/*.yaml dann_lightning/configs/ && "
    "cp examples/tabular/*.csv dann_lightning/configs/examples/tabular/ && "
    "cp examples/regression/*.csv dann_lightning/configs/examples/regression/"
)
EXAMPLE_TABLES = ("tabular", "regression")  # the folders of examples/ whose tables are packaged


def test_packaged_configs_are_the_repository_configs():
    # configs/ and examples/tabular/ are what one edits in a clone; the wheel runs the copies.
    pairs = {REPO / "configs" / path.name: path for path in PACKAGED.glob("*.yaml")}
    for folder in EXAMPLE_TABLES:
        tables = PACKAGED / "examples" / folder
        pairs |= {path: tables / path.name for path in (REPO / "examples" / folder).glob("*.csv")}
    assert {path.name for path in CONFIGS} == {path.name for path in PACKAGED.glob("*.yaml")}, f"resync: {RESYNC}"
    differ = [str(path.relative_to(REPO)) for path, copy in pairs.items() if path.read_bytes() != copy.read_bytes()]
    assert not differ, f"the packaged copies of {differ} differ from the repository's; resync: {RESYNC}"
    assert builtin_configs.example_files("tabular_files") == [
        "examples/tabular/source.csv",
        "examples/tabular/target.csv",
        "examples/tabular/target_test.csv",
    ]
    assert builtin_configs.example_files("regression_files") == [
        "examples/regression/source.csv",
        "examples/regression/target.csv",
        "examples/regression/target_test.csv",
    ]


def test_builtin_default_is_configs_moons_yaml():
    assert BUILTIN_CONFIG == PACKAGED / "moons.yaml"
    assert BUILTIN_CONFIG.read_text() == (REPO / "configs" / "moons.yaml").read_text()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit"], ["fit", "--config", str(BUILTIN_CONFIG)]),
        (["test", "--ckpt_path=last"], ["test", "--config", str(BUILTIN_CONFIG), "--ckpt_path=last"]),
        (["fit", "--config", "digits"], ["fit", "--config", str(PACKAGED / "digits.yaml")]),
        (["fit", "-c", "moons_cdan.yaml"], ["fit", "-c", str(PACKAGED / "moons_cdan.yaml")]),
        (
            ["predict", "--config=tabular_files", "--ckpt_path=x"],
            ["predict", f"--config={PACKAGED / 'tabular_files.yaml'}", "--ckpt_path=x"],
        ),
        (["fit", "--config", "configs/moons.yaml"], ["fit", "--config", "configs/moons.yaml"]),  # a file: as given
        (["fit", "--config", "{trainer: {max_epochs: 1}}"], ["fit", "--config", "{trainer: {max_epochs: 1}}"]),
        (["--help"], ["--help"]),
    ],
)
def test_builtin_config_is_used_only_without_a_config(monkeypatch, args, expected):
    monkeypatch.chdir(REPO)
    assert with_builtin_config(args) == expected


def test_an_unknown_config_name_lists_the_builtin_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", "digts"])
    assert exit_info.value.code == (
        "dann-lightning: error: --config 'digts' is neither a file nor a built-in config; the built-in configs are: "
        "digits, digits_cdan, digits_source_only, digits_target_only, image_folders_offline, image_folders_resnet, "
        "mnist_mnistm, moons, moons_cdan, moons_manual, "
        "moons_select, moons_source_only, moons_target_only, regression_example, regression_files, "
        "regression_source_only, tabular_example, tabular_files "
        "(`dann-lightning configs` says what each runs)"
    )


def test_help_lists_every_subcommand_and_builtin_config(capsys):
    cli_main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: dann-lightning [-h] [--version] SUBCOMMAND ...")
    for subcommand in ("fit", "validate", "test", "predict", "analyze", "export", "configs"):
        assert f"\n  {subcommand} " in out, subcommand
    assert all(name in out for name in builtin_configs.names())
    cli_main(["--version"])
    assert capsys.readouterr().out == (
        f"dann-lightning {dann_lightning.__version__} (torch {torch.__version__}, lightning "
        f"{__import__('lightning').__version__}, Python {sys.version.split()[0]})\n"
    )


@pytest.mark.parametrize(
    ("args", "given"), [([], "no subcommand given"), (["fitt", "--config", "moons"], "unknown subcommand 'fitt'")]
)
def test_a_missing_or_unknown_subcommand_lists_them_all(capsys, args, given):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(args)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"dann-lightning: error: {given}; expected one of: fit, validate, test, predict, analyze, export, configs "
        "(`dann-lightning --help` says what each does)\n"
    )


@pytest.mark.slow
def test_console_script_explains_itself(tmp_path):
    # The installed `dann-lightning` script (next to this Python), as a user runs it.
    script = Path(sys.executable).with_name("dann-lightning")
    result = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("usage: dann-lightning") and "  export " in result.stdout
    assert "tabular_files" in result.stdout


def test_fit_help_is_lightningclis(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: dann-lightning [options] fit") and "--trainer.max_epochs" in out


def test_configs_lists_prints_and_copies_a_config_with_its_example_files(tmp_path, capsys):
    cli_main(["configs"])
    listed = capsys.readouterr().out
    # One column of names, as wide as the longest one (regression_source_only), then what each runs.
    width = max(len(name) for name in builtin_configs.names()) + 2
    assert f"{'moons':<{width}}DANN on the two-moons shift of Ganin et al. (2016)\n" in listed
    assert all(f"\n{name} " in "\n" + listed for name in builtin_configs.names())
    cli_main(["configs", "digits.yaml"])
    assert capsys.readouterr().out == (REPO / "configs" / "digits.yaml").read_text()

    out = tmp_path / "mine"
    for _ in range(2):  # copying the same files again overwrites nothing
        cli_main(["configs", "tabular_files", "--out", str(out)])
    assert (out / "tabular_files.yaml").read_text() == (REPO / "configs" / "tabular_files.yaml").read_text()
    for table in ("examples/tabular/source.csv", "examples/tabular/target.csv", "examples/tabular/target_test.csv"):
        assert (out / table).read_bytes() == (REPO / table).read_bytes()
    assert f"run it from {out} (cd {out} && dann-lightning fit --config tabular_files.yaml)" in capsys.readouterr().out

    (out / "tabular_files.yaml").write_text("# my edits\n")
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["configs", "tabular_files", "--out", str(out)])
    assert exit_info.value.code == (
        f"dann-lightning: error: {out / 'tabular_files.yaml'} already exists and differs from the built-in "
        "tabular_files: remove it or choose another --out"
    )
    assert (out / "tabular_files.yaml").read_text() == "# my edits\n"
    with pytest.raises(SystemExit, match=r"^dann-lightning: error: config 'nope' is neither a file nor a built-in"):
        cli_main(["configs", "nope"])


def test_a_builtin_config_missing_its_files_says_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--config", "tabular_files", *quiet(tmp_path)])
    message = exit_info.value.code
    assert message.startswith("dann-lightning: error: source file 'examples/tabular/source.csv' does not exist")
    assert message.endswith(
        "(the built-in config tabular_files reads files relative to the working directory: "
        "`dann-lightning configs tabular_files --out DIR` copies it with its example files; run it from DIR)"
    )


def test_analyze_and_export_errors_are_one_line(tmp_path):
    missing = tmp_path / "missing.ckpt"
    for args in (["analyze", str(missing)], ["export", "--ckpt_path", str(missing), "--out", str(tmp_path)]):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(args)
        assert exit_info.value.code == f"dann-lightning: error: checkpoint {missing} does not exist (or is not a file)"


@pytest.mark.slow
def test_test_and_predict_from_a_checkpoint_alone_rebuild_its_model_and_data(tmp_path):
    # Not the moons config's angle (35): the data must come from the checkpoint, not the default.
    small = [f"--data.init_args.options.{name}={n}" for name, n in [("n_samples", 200), ("n_val", 50), ("n_test", 100)]]
    cli = build_cli(["fit", "--data.init_args.options.angle=50", *small, *QUICK, *quiet(tmp_path / "fit")])
    checkpoint = cli.trainer.checkpoint_callback.best_model_path
    tested = build_cli(["test", f"--ckpt_path={checkpoint}", "--data.init_args.batch_size=50", *quiet(tmp_path)])
    assert type(tested.datamodule) is ShiftDataModule and tested.datamodule.shift == "moons"
    assert (tested.datamodule.option("angle"), tested.datamodule.hparams.batch_size) == (50, 50)  # an override on top
    x_test, y_test = tested.datamodule.target_test.tensors  # 100 rows, as the checkpoint's options say
    with torch.no_grad():
        by_hand = (tested.model.eval()(x_test).argmax(dim=1) == y_test).float().mean().item()
    assert len(y_test) == 100 and tested.trainer.callback_metrics["test/target_acc"].item() == pytest.approx(by_hand)
    assert tested.model.hparams.feature_extractor == cli.model.hparams.feature_extractor

    predicted = build_cli(["predict", "--ckpt_path", checkpoint, *quiet(tmp_path)])
    assert (Path(predicted.trainer.log_dir) / "predictions.csv").is_file()


def test_a_checkpoint_of_a_model_trained_in_python_needs_its_config(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=1, limit_val_batches=0)
    trainer.fit(make_module(), make_datamodule())
    trainer.save_checkpoint(tmp_path / "python.ckpt")
    ckpt = tmp_path / "python.ckpt"
    for subcommand in ("test", "fit"):  # fit: resuming it, instead of resuming on the moons
        with pytest.raises(SystemExit) as exit_info:
            cli_main([subcommand, "--ckpt_path", str(ckpt), *quiet(tmp_path)])
        assert exit_info.value.code == (
            f"dann-lightning: error: checkpoint {ckpt} does not hold the model and data configuration (it was not "
            "written by `dann-lightning fit`): pass --config with the config it was trained with, e.g. "
            f"`dann-lightning {subcommand} --config my_experiment.yaml --ckpt_path {ckpt}`"
        )


def test_fit_names_its_last_checkpoint_and_the_best_by_a_monitored_metric():
    last = ModelCheckpoint(save_last=True)
    last.last_model_path, last.best_model_path = "a/last.ckpt", "a/epoch=9.ckpt"
    latest = ModelCheckpoint()  # without save_last or a metric: its "best" is the latest saved
    latest.best_model_path = "b/epoch=9.ckpt"
    best = ModelCheckpoint(monitor="val/snd", mode="max", save_last=True)
    best.last_model_path, best.best_model_path = "c/last.ckpt", "c/best-snd-epoch=4.ckpt"
    unsaved = ModelCheckpoint(monitor="val/snd")
    trainer = SimpleNamespace(checkpoint_callbacks=[last, latest, best, unsaved])
    assert dann_lightning.cli.written_checkpoints(trainer) == [
        "checkpoint: a/last.ckpt",
        "checkpoint: b/epoch=9.ckpt",
        "checkpoint: c/last.ckpt",
        "best checkpoint (val/snd): c/best-snd-epoch=4.ckpt",
    ]


@pytest.mark.slow
def test_fit_from_a_checkpoint_alone_resumes_the_run_with_its_own_configuration(tmp_path, capsys):
    # Not the moons config's lambda_max or epochs: all of it must come from the checkpoint.
    cli = build_cli(["fit", "--model.init_args.lambda_max=0.5", *QUICK, *quiet(tmp_path / "run")])
    checkpoint = cli.trainer.checkpoint_callback.last_model_path
    assert capsys.readouterr().out.splitlines()[-1] == f"checkpoint: {checkpoint}"  # the last line of fit

    resumed = build_cli(["fit", "--ckpt_path", checkpoint, "--trainer.max_epochs=2"])
    assert resumed.model.hparams.lambda_max == 0.5
    assert type(resumed.datamodule) is type(cli.datamodule)
    assert resumed.trainer.limit_train_batches == 3  # the run's Trainer settings, the command line's on top
    assert (resumed.trainer.current_epoch, resumed.trainer.global_step) == (2, 6)  # one more epoch, not two
    assert resumed.trainer.default_root_dir == str(tmp_path / "run")
    assert Path(resumed.trainer.log_dir).name == "version_1"

    # A checkpoint written before fit kept the Trainer settings: named, with the run's config.yaml to pass.
    older = Path(checkpoint).with_name("older.ckpt")
    saved = torch.load(checkpoint, weights_only=True)
    del saved["dann_lightning_run_settings"]
    torch.save(saved, older)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["fit", "--ckpt_path", str(older)])
    assert exit_info.value.code == (
        f"dann-lightning: error: checkpoint {older} does not hold the Trainer settings of its run (it was written "
        "before dann-lightning kept them, or not by `dann-lightning fit`): to resume it, pass --config with the "
        "config it was trained with, e.g. `dann-lightning fit --config "
        f"{tmp_path / 'run' / 'lightning_logs' / 'version_0' / 'config.yaml'} --ckpt_path {older}`"
    )


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[path.name for path in CONFIGS])
def test_every_shipped_config_fits_tests_and_reloads(tmp_path, monkeypatch, config):
    monkeypatch.chdir(tmp_path)
    if config.name in USER_FILES:
        USER_FILES[config.name](tmp_path)
    test_rows = TEST_ROWS.get(config.name, []) + STAND_INS.get(config.name, [])
    # By name: the packaged copy of the config.
    cli = build_cli(["fit", "--config", config.stem, *test_rows, *QUICK, *quiet(tmp_path)])
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

    tested = build_cli(["test", "--config", str(config), *test_rows, f"--ckpt_path={checkpoint}", *quiet(tmp_path)])
    if cli.model.hparams.task == "regression":
        metric = "test/target_rmse"
        assert 0.0 < tested.trainer.callback_metrics[metric] < float("inf")
    else:
        metric = "test/target_acc"
        assert 0.0 <= tested.trainer.callback_metrics[metric] <= 1.0
    # From the checkpoint alone: the model and data module it was trained with (test rows included).
    alone = build_cli(["test", f"--ckpt_path={checkpoint}", *quiet(tmp_path)])
    assert type(alone.datamodule) is type(cli.datamodule)
    assert alone.trainer.callback_metrics[metric] == tested.trainer.callback_metrics[metric]


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
    # Its last line says where the checkpoint went (under the working directory, without a root dir).
    last_line = result.stdout.splitlines()[-1]
    assert last_line.startswith("checkpoint: ")
    assert Path(last_line.removeprefix("checkpoint: ")).samefile(run / "checkpoints" / "last.ckpt")
    assert list((run / "checkpoints").glob("*.ckpt"))
    assert "dann_lightning.data.ShiftDataModule" in (run / "config.yaml").read_text()
    events = EventAccumulator(str(run))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    # train/loss every step and as epoch means: Lightning writes them as train/loss_step and _epoch.
    expected = {"train/loss_step", "train/loss_epoch", "train/domain_loss", "train/lambda", "train/lr"}
    assert expected | {"val/source_acc", "val/target_acc", "val/domain_acc"} <= scalars
    lambdas = [event.value for event in events.Scalars("train/lambda")]
    assert lambdas == sorted(lambdas) and lambdas[-1] > 0.9  # two epochs: the ramp runs to the end


@pytest.mark.slow
def test_cli_chooses_lambda_automatically_and_the_checkpoint_keeps_the_choice(tmp_path):
    args = ["--model.init_args.lambda_max=auto", "--model.init_args.lambda_candidates=[0, 1]"]
    cli = build_cli(["fit", *args, *QUICK, *quiet(tmp_path)])
    chosen = cli.model.lambda_search.chosen_lambda
    assert chosen in (0.0, 1.0)
    metrics = cli.trainer.callback_metrics
    assert metrics["val/auto/lambda_max"].item() == chosen
    assert {"val/auto/iwa_lambda_0", "val/auto/iwa_lambda_1"} <= set(metrics)
    events = EventAccumulator(str(Path(cli.trainer.log_dir)))
    events.Reload()
    assert "val/auto/lambda_max" in events.Tags()["scalars"]
    restored = DANNLitModule.load_from_checkpoint(cli.trainer.checkpoint_callback.best_model_path)
    assert restored.lambda_search.chosen_lambda == chosen
