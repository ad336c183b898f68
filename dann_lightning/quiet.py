"""A Trainer for fits run from Python (the estimators, the studies, the benchmarks): no logger,
checkpoints, progress bar or summary, and Lightning's informational messages silenced.

One place for these settings, so that the estimators and the studies train alike.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightning as L
from lightning.pytorch.utilities.warnings import PossibleUserWarning

QUIET_TRAINER_OPTIONS: dict[str, Any] = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "num_sanity_val_steps": 0,
}


def quiet_trainer(*, validate_at_end_only: bool = False, **options: Any) -> L.Trainer:
    """A ``Trainer`` with [`QUIET_TRAINER_OPTIONS`][dann_lightning.quiet.QUIET_TRAINER_OPTIONS]
    under ``options`` (which win).

    ``validate_at_end_only=True`` validates once, after the last epoch (what ``lambda_max="auto"``
    needs to choose its candidate); otherwise validation is off unless ``options`` turn it on.

    Examples:
        >>> trainer = quiet_trainer(max_epochs=3, accelerator="cpu")
        >>> trainer.max_epochs, trainer.logger is None, trainer.limit_val_batches
        (3, True, 0)
    """
    settings = {**QUIET_TRAINER_OPTIONS}
    if validate_at_end_only:
        settings.update(limit_val_batches=1.0, check_val_every_n_epoch=options.get("max_epochs") or 1)
    else:
        settings["limit_val_batches"] = 0
    settings.update(options)
    with quiet_lightning():
        return L.Trainer(**settings)


@contextmanager
def quiet_lightning(verbose: bool = False) -> Iterator[None]:
    """Silence Lightning's informational messages and advice about data loaders, unless ``verbose``."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # In-memory arrays need no worker processes; this advice is about file-backed datasets.
            warnings.filterwarnings("ignore", category=PossibleUserWarning)
            # Lightning's own use of a torch API that torch deprecates: nothing a caller can change.
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
