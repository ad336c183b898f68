"""``dann-lightning``: LightningCLI's fit / validate / test / predict, and analyze, export, configs.

``--config`` takes a YAML file or the name of a built-in config (``dann-lightning configs`` lists
them). Without ``--config``, ``fit`` runs the built-in experiment, DANN on the two-moons shift
(``configs/moons.yaml``) and ends by printing the checkpoint it wrote; ``validate``, ``test`` and
``predict`` given ``--ckpt_path`` alone rebuild the model and the data module from the
configuration the checkpoint holds, and ``fit --ckpt_path`` alone resumes the run with its own
configuration, the Trainer's settings included.
"""

from __future__ import annotations

import argparse
import filecmp
import platform
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import BasePredictionWriter, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback

from dann_lightning import __version__, builtin_configs
from dann_lightning.callbacks import PredictionWriter
from dann_lightning.checkpoints import (
    check_checkpoint_file,
    check_output_directories,
    read_checkpoint,
    require_configuration,
    saved_configuration,
)
from dann_lightning.errors import CheckpointError, ConfigurationError, DANNError, MissingFileError

BUILTIN_CONFIG = builtin_configs.resolve("moons")
SUBCOMMANDS = tuple(LightningCLI.subcommands())  # fit, validate, test, predict
# What `dann-lightning --help` says of each subcommand; LightningCLI's own are dispatched to it.
DESCRIPTIONS = {
    "fit": "train; without --config, the built-in moons experiment",
    "validate": "one pass over the validation data (source, and target as an oracle) of --ckpt_path",
    "test": "the test metrics (test/target_acc) of --ckpt_path",
    "predict": "the predicted class and probabilities of --ckpt_path for every row, to predictions.csv",
    "analyze": "compare checkpoints: accuracies, selection scores, proxy A-distance, embedding plots",
    "export": "write the model of a checkpoint for deployment (.pt2 / ONNX), taking raw inputs",
    "configs": "list the built-in configs, print one, or copy one out to edit (--out DIR)",
}
OURS = ("analyze", "export", "configs")
# `--ckpt_path` values Lightning resolves itself, not files.
SPECIAL_CHECKPOINTS = ("last", "best", "hpc", "registry")
# Where `dann-lightning fit` keeps, in each checkpoint, the settings of its run besides the model's
# and the data module's (which LightningCLI stores itself): the Trainer's, the seed, the optimizer's.
RUN_SETTINGS = "dann_lightning_run_settings"


def with_builtin_config(args: list[str]) -> list[str]:
    """The command line LightningCLI parses: ``--config NAME`` of a built-in config made its file;
    without ``--config``, the configuration a ``--ckpt_path`` holds (``fit``, to resume, with the
    run's settings) or else the built-in moons config, inserted after the subcommand."""
    if not args or args[0] not in SUBCOMMANDS:
        return args
    rest, given = _resolve_config_values(args[1:])
    if given:
        return [args[0], *rest]
    ckpt_path = _option_value(rest, "--ckpt_path")
    if ckpt_path is not None and ckpt_path not in SPECIAL_CHECKPOINTS:
        return [args[0], "--config", config_from_checkpoint(ckpt_path, args[0]), *rest]
    return [args[0], "--config", str(BUILTIN_CONFIG), *rest]


def _resolve_config_values(args: list[str]) -> tuple[list[str], bool]:
    resolved, given, index = [], False, 0
    while index < len(args):
        arg = args[index]
        if arg in ("-c", "--config") and index + 1 < len(args):
            resolved += [arg, _config_file(args[index + 1])]
            given, index = True, index + 2
            continue
        if arg.startswith("--config="):
            arg, given = "--config=" + _config_file(arg.removeprefix("--config=")), True
        resolved.append(arg)
        index += 1
    return resolved, given


def _config_file(value: str) -> str:
    """A ``--config`` value: a file as given, a built-in name as its packaged file, a YAML mapping as given."""
    if Path(value).is_file():
        return value
    builtin = builtin_configs.resolve(value)
    if builtin is not None:
        return str(builtin)
    try:
        if isinstance(yaml.safe_load(value), dict):  # jsonargparse also takes the config itself
            return value
    except yaml.YAMLError:
        pass
    raise ConfigurationError(builtin_configs.unknown_config_message(value))


def _option_value(args: list[str], option: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == option and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(option + "="):
            return arg.removeprefix(option + "=")
    return None


def config_from_checkpoint(ckpt_path: str | Path, subcommand: str = "test") -> str:
    """The ``model`` and ``data`` configuration (YAML) a checkpoint written by ``dann-lightning fit``
    holds; for ``fit`` (resuming the run), with the run's Trainer settings, seed and optimizer too.

    LightningCLI saves each one's ``class_path`` and init arguments as ``_class_path`` and the
    other keys of ``hyper_parameters`` / ``datamodule_hyper_parameters``; a model trained in Python
    has no data module configuration there, and is refused rather than run on the wrong data.
    ``fit`` keeps the rest (:class:`SaveRunSettings`); a checkpoint without it is refused by ``fit``
    rather than resumed with the Trainer's defaults (1000 epochs, none of the run's callbacks).
    """
    path, checkpoint = read_checkpoint(ckpt_path)
    pass_config = f"pass --config with the config it was trained with, e.g. `dann-lightning {subcommand} --config "
    require_configuration(
        path, checkpoint, ("model", "data"), instead=f"{pass_config}my_experiment.yaml --ckpt_path {path}`"
    )
    config = saved_configuration(checkpoint)
    if subcommand == "fit":
        settings = checkpoint.get(RUN_SETTINGS)
        if not isinstance(settings, dict):
            beside = path.parent.parent / "config.yaml"  # where LightningCLI saved the run's config
            raise CheckpointError(
                f"checkpoint {path} does not hold the Trainer settings of its run (it was written before "
                f"dann-lightning kept them, or not by `dann-lightning fit`): to resume it, {pass_config}"
                f"{beside if beside.is_file() else 'my_experiment.yaml'} --ckpt_path {path}`"
            )
        config = {**settings, **config}
    return yaml.safe_dump(config, sort_keys=False)


def build_cli(args: list[str] | None = None, *, run: bool = True, **cli_kwargs: Any) -> LightningCLI:
    """The LightningCLI behind ``dann-lightning``.

    ``run=False`` parses and instantiates only (no subcommand in ``args``); ``cli_kwargs`` go to
    ``LightningCLI`` (e.g. ``save_config_callback=None``).
    """
    if args is None:
        # Rewrite the command line itself: LightningCLI warns when given both argv and args.
        sys.argv[1:] = with_builtin_config(sys.argv[1:])
    elif run:
        args = with_builtin_config(list(args))
    else:  # no subcommand: parse as `fit` would
        args = with_builtin_config(["fit", *args])[1:]
    cli_kwargs.setdefault("save_config_callback", SaveRunSettings)
    # No abbreviated options: `--trainer.max_epoch` must be an error, not `max_epochs`.
    strict = {"allow_abbrev": False}
    cli_kwargs.setdefault(
        "parser_kwargs",
        {"prog": "dann-lightning", "allow_abbrev": False, **{name: strict for name in SUBCOMMANDS}},
    )
    return DANNLightningCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        save_config_kwargs={"overwrite": True},
        run=run,
        **cli_kwargs,
    )


class SaveRunSettings(SaveConfigCallback):
    """LightningCLI's ``config.yaml`` in the log folder, and in every checkpoint the settings of the
    run that LightningCLI does not store there (the Trainer's, the seed, the optimizer's), so that
    ``fit --ckpt_path`` alone resumes the run as it was configured."""

    run_settings: dict[str, Any] | None = None

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        dumped = yaml.safe_load(self.parser.dump(self.config, skip_default=True))  # portable across versions
        self.run_settings = {key: value for key, value in dumped.items() if key not in ("model", "data", "ckpt_path")}

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        if self.run_settings is not None:
            checkpoint[RUN_SETTINGS] = self.run_settings


def written_checkpoints(trainer: L.Trainer) -> list[str]:
    """What ``fit`` prints at its end: ``checkpoint: PATH`` of the last checkpoint each
    ModelCheckpoint wrote, and its best one where it monitors a metric."""
    lines = []
    for callback in trainer.checkpoint_callbacks:
        if not isinstance(callback, ModelCheckpoint):
            continue
        # Without a monitored metric, the "best" checkpoint is only the latest one saved.
        latest = callback.last_model_path or (callback.best_model_path if callback.monitor is None else "")
        if latest:
            lines.append(f"checkpoint: {latest}")
        if callback.monitor is not None and callback.best_model_path:
            lines.append(f"best checkpoint ({callback.monitor}): {callback.best_model_path}")
    return lines


class DANNLightningCLI(LightningCLI):
    """LightningCLI that checks, before any work, the checkpoint it is given and the directories it
    will write to, and names them in its errors."""

    def parse_arguments(self, parser: Any, args: Any) -> None:
        super().parse_arguments(parser, args)
        # LightningCLI (>= 2.6) reads the hyperparameters of --ckpt_path right after parsing,
        # before any hook: check the file here, so that a bad one is named instead of failing
        # inside torch.load.
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path not in (None, *SPECIAL_CHECKPOINTS):
            check_checkpoint_file(ckpt_path)

    def before_fit(self) -> None:
        check_output_directories(self.trainer)

    def after_fit(self) -> None:
        if self.trainer.is_global_zero:
            for line in written_checkpoints(self.trainer):
                print(line)

    def before_predict(self) -> None:
        # Without a writer of its own, `predict` would compute predictions and keep them nowhere.
        if not any(isinstance(callback, BasePredictionWriter) for callback in self.trainer.callbacks):
            self.trainer.callbacks.append(PredictionWriter(Path(self.trainer.log_dir) / "predictions.csv"))

    def after_predict(self) -> None:
        for callback in self.trainer.callbacks:
            if isinstance(callback, PredictionWriter) and callback.written is not None:
                print(f"predictions written to {callback.written.resolve()}")


def help_text() -> str:
    """What ``dann-lightning --help`` prints: every subcommand and every built-in config."""
    width = max(map(len, (*SUBCOMMANDS, *OURS)))
    lines = [
        "usage: dann-lightning [-h] [--version] SUBCOMMAND ...",
        "",
        "Domain-adversarial training (DANN) with PyTorch Lightning. `dann-lightning SUBCOMMAND --help`",
        "lists the options of one; fit, validate, test and predict are LightningCLI's.",
        "",
        "subcommands:",
    ]
    for name in (*SUBCOMMANDS, *OURS):
        description = DESCRIPTIONS.get(name) or _first_line(getattr(L.Trainer, name, None))
        lines.append(f"  {name:<{width}}  {description}")
    lines += ["", "built-in configs (--config NAME, or a YAML file; `dann-lightning configs` says what each runs):"]
    lines += textwrap.wrap(", ".join(builtin_configs.names()), width=96, initial_indent="  ", subsequent_indent="  ")
    lines += [
        "",
        "Without --config, fit runs moons and prints the checkpoint it wrote; given --ckpt_path, fit",
        "resumes that run as configured, and validate, test and predict rebuild the model and data",
        "module the checkpoint was trained with (add --config to choose others).",
        "",
        "options:",
        "  -h, --help  show this summary and exit",
        "  --version   show the versions of dann-lightning, torch, lightning and Python, and exit",
    ]
    return "\n".join(lines)


def _first_line(function: Any) -> str:
    return (getattr(function, "__doc__", None) or "").strip().split("\n")[0]


def version_text() -> str:
    """What ``dann-lightning --version`` prints."""
    return (
        f"dann-lightning {__version__} "
        f"(torch {torch.__version__}, lightning {L.__version__}, Python {platform.python_version()})"
    )


def configs_main(argv: list[str]) -> None:
    """``dann-lightning configs [NAME] [--out DIR]``: list, print, or copy out a built-in config."""
    parser = argparse.ArgumentParser(prog="dann-lightning configs", description=DESCRIPTIONS["configs"])
    parser.add_argument("name", nargs="?", help="a built-in config; without it, list them")
    parser.add_argument("--out", help="folder to copy it to (with the example files it reads); without it, print it")
    args = parser.parse_args(argv)
    if args.name is None:
        if args.out is not None:
            parser.error("--out needs a config NAME")
        names = builtin_configs.names()
        width = max(map(len, names))
        for name in names:
            print(f"{name:<{width}}  {builtin_configs.description(name)}")
        print("\nrun one: dann-lightning fit --config NAME; copy one to edit: dann-lightning configs NAME --out DIR")
        return
    source = builtin_configs.resolve(args.name)
    if source is None:
        raise ConfigurationError(builtin_configs.unknown_config_message(args.name, option="config "))
    if args.out is None:
        print(source.read_text(), end="")
        return
    name = source.stem
    copies = {source: Path(args.out) / source.name}
    for relative in builtin_configs.example_files(name):
        copies[source.parent / relative] = Path(args.out) / relative
    for origin, target in copies.items():  # nothing is overwritten: check every target first
        if target.exists() and not (target.is_file() and filecmp.cmp(origin, target, shallow=False)):
            raise ConfigurationError(
                f"{target} already exists and differs from the built-in {name}: remove it or choose another --out"
            )
    for origin, target in copies.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, target)
        print(f"wrote {target}")
    if len(copies) > 1:
        print(
            f"{source.name} names its example files relative to the working directory: run it from "
            f"{args.out} (cd {args.out} && dann-lightning fit --config {source.name})"
        )


def _hint(error: DANNError, argv: list[str]) -> str:
    """For a file a built-in config names and the working directory lacks: where to get it."""
    if not isinstance(error, MissingFileError) or not argv or argv[0] not in SUBCOMMANDS:
        return ""
    given = [value for option in ("-c", "--config") if (value := _option_value(argv, option)) is not None]
    names = [Path(value).stem for value in given if builtin_configs.resolve(value) and not Path(value).is_file()]
    if not names:
        return ""
    name = names[0]
    if builtin_configs.example_files(name):
        where = f"`dann-lightning configs {name} --out DIR` copies it with its example files; run it from DIR"
    else:
        where = f"its comments say which (`dann-lightning configs {name}`)"
    return f" (the built-in config {name} reads files relative to the working directory: {where})"


def cli_main(args: list[str] | None = None) -> None:
    """Entry point of the ``dann-lightning`` console script and ``python -m dann_lightning``.

    ``dann-lightning analyze CKPT ...`` compares checkpoints (see
    :mod:`dann_lightning.analysis.report`), ``dann-lightning export --ckpt_path CKPT --out DIR`` writes
    the deployable model (see :mod:`dann_lightning.export`), ``dann-lightning configs`` lists the
    built-in configs; every other subcommand is LightningCLI's. Errors of the library are printed
    as one line, ``dann-lightning: error: ...``, with exit status 1.
    """
    argv = list(sys.argv[1:] if args is None else args)
    command = argv[0] if argv else None
    if command in ("-h", "--help"):
        print(help_text())
        return
    if command == "--version":
        print(version_text())
        return
    if command is None or (not command.startswith("-") and command not in (*SUBCOMMANDS, *OURS)):
        given = "no subcommand given" if command is None else f"unknown subcommand {command!r}"
        print(
            f"dann-lightning: error: {given}; expected one of: {', '.join((*SUBCOMMANDS, *OURS))} "
            "(`dann-lightning --help` says what each does)",
            file=sys.stderr,
        )
        sys.exit(2)
    try:
        if command == "analyze":
            from dann_lightning.analysis.report import main as analyze_main

            analyze_main(argv[1:])
        elif command == "export":
            from dann_lightning.export import main as export_main

            export_main(argv[1:])
        elif command == "configs":
            configs_main(argv[1:])
        else:
            build_cli(args)
    except DANNError as error:  # a user's mistake or a run's fault: the message, not a traceback
        sys.exit(f"dann-lightning: error: {error}{_hint(error, argv)}")
