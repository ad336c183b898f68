"""``dann-lightning``: LightningCLI with fit / validate / test / predict.

Without ``--config`` a subcommand runs the built-in experiment, DANN on the two-moons shift
(``configs/moons.yaml``); with ``--config`` it runs what the file says.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.cli import LightningCLI

from dann_lightning.callbacks import PredictionWriter
from dann_lightning.checkpoints import check_checkpoint_file, check_output_directories
from dann_lightning.errors import DANNError

BUILTIN_CONFIG = files("dann_lightning") / "configs" / "moons.yaml"
SUBCOMMANDS = ("fit", "validate", "test", "predict")


def with_builtin_config(args: list[str]) -> list[str]:
    """Insert ``--config <built-in moons config>`` after the subcommand when no config is given."""
    if not args or args[0] not in SUBCOMMANDS:
        return args
    if any(a in ("-c", "--config") or a.startswith("--config=") for a in args[1:]):
        return args
    return [args[0], "--config", str(BUILTIN_CONFIG), *args[1:]]


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
    # No abbreviated options: `--trainer.max_epoch` must be an error, not `max_epochs`.
    strict = {"allow_abbrev": False}
    cli_kwargs.setdefault("parser_kwargs", {"allow_abbrev": False, **{name: strict for name in SUBCOMMANDS}})
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
        if ckpt_path not in (None, "last", "best", "hpc", "registry"):
            check_checkpoint_file(ckpt_path)

    def before_fit(self) -> None:
        check_output_directories(self.trainer)

    def before_predict(self) -> None:
        # Without a writer of its own, `predict` would compute predictions and keep them nowhere.
        if not any(isinstance(callback, BasePredictionWriter) for callback in self.trainer.callbacks):
            self.trainer.callbacks.append(PredictionWriter(Path(self.trainer.log_dir) / "predictions.csv"))

    def after_predict(self) -> None:
        for callback in self.trainer.callbacks:
            if isinstance(callback, PredictionWriter) and callback.written is not None:
                print(f"predictions written to {callback.written.resolve()}")


def cli_main(args: list[str] | None = None) -> None:
    """Entry point of the ``dann-lightning`` console script and ``python -m dann_lightning``.

    ``dann-lightning analyze CKPT ...`` compares checkpoints (see
    :mod:`dann_lightning.analysis.report`), ``dann-lightning export --ckpt_path CKPT --out DIR`` writes
    the deployable model (see :mod:`dann_lightning.export`); every other subcommand is LightningCLI's.
    """
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["analyze"]:
        from dann_lightning.analysis.report import main

        main(argv[1:])
        return
    try:
        if argv[:1] == ["export"]:
            from dann_lightning.export import main as export_main

            export_main(argv[1:])
        else:
            build_cli(args)
    except DANNError as error:  # a user's mistake or a run's fault: the message, not a traceback
        sys.exit(f"dann-lightning: error: {error}")
