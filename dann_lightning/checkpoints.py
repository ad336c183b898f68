"""Checks that keep checkpoints and logs safe: readable inputs, writable outputs, before any work."""

from __future__ import annotations

import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from dann_lightning.errors import CheckpointError, OutputDirectoryError

ModuleType = TypeVar("ModuleType", bound=L.LightningModule)


def load_checkpoint(
    cls: type[ModuleType], load: Callable[..., ModuleType], checkpoint_path: Any, *args: Any, **kwargs: Any
) -> ModuleType:
    """``load(checkpoint_path, ...)`` (Lightning's ``load_from_checkpoint`` of ``cls``), with the
    file checked first, the subclass a CLI-written checkpoint names built instead of ``cls``, and
    every failure raised as :class:`CheckpointError` naming the file and what to do."""
    if isinstance(checkpoint_path, (str, Path)):
        check_checkpoint_file(checkpoint_path)
        # Lightning drops `_class_path` for a class without **kwargs, and would build `cls` from a
        # subclass's checkpoint (e.g. a CDANLitModule's): build the class it names.
        subclass = saved_subclass(checkpoint_path, cls)
        if subclass is not None:
            return subclass.load_from_checkpoint(checkpoint_path, *args, **kwargs)
    try:
        return load(checkpoint_path, *args, **kwargs)
    except KeyError as error:
        raise CheckpointError(
            f"checkpoint {checkpoint_path} is not a Lightning checkpoint: it lacks {error}"
        ) from error
    except TypeError as error:
        if "missing" not in str(error):
            raise
        raise CheckpointError(
            f"checkpoint {checkpoint_path} does not hold the network configuration ({error}): it was written "
            "by a model built in Python; pass feature_extractor=, classifier= and discriminator= again"
        ) from error


def check_checkpoint_file(path: str | Path) -> Path:
    """Raise :class:`CheckpointError` naming ``path`` unless it is an intact ``torch.save`` archive.

    Reads the archive's index and checksums, not its tensors: a truncated or foreign file is
    reported with its name instead of failing deep inside ``torch.load``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (or is not a file)")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:  # ValueError: mangled names
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({error}): expected a file written by torch.save / "
            "Trainer.save_checkpoint; it may be truncated or in another format"
        ) from error
    if damaged is not None:
        raise CheckpointError(f"checkpoint {path} is damaged: its member {damaged!r} fails the checksum")
    return path


def saved_subclass(path: str | Path, base: type, key: str = "hyper_parameters") -> type | None:
    """The strict subclass of ``base`` a CLI-written checkpoint names (``_class_path`` under
    ``key``: ``"datamodule_hyper_parameters"`` for the data module), if any.

    Only a class already imported is returned: nothing named in a checkpoint is imported or run.
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    class_path = checkpoint.get(key, {}).get("_class_path")
    if not isinstance(class_path, str) or "." not in class_path:
        return None
    module_name, name = class_path.rsplit(".", 1)
    candidate = getattr(sys.modules.get(module_name), name, None)
    if isinstance(candidate, type) and issubclass(candidate, base) and candidate is not base:
        return candidate
    return None


def load_datamodule(path: str | Path) -> L.LightningDataModule:
    """The data module of a checkpoint written by LightningCLI, built as the class it names.

    Lightning before 2.6.1 builds the bare ``LightningDataModule`` from
    ``LightningDataModule.load_from_checkpoint`` (its ``__init__`` took no ``**kwargs``, so the
    class path was dropped): load through the named class instead, where it is imported.
    """
    datamodule_class = saved_subclass(path, L.LightningDataModule, key="datamodule_hyper_parameters")
    return (datamodule_class or L.LightningDataModule).load_from_checkpoint(path)


def check_output_directories(trainer: L.Trainer) -> None:
    """Raise :class:`OutputDirectoryError` unless every log and checkpoint directory can be written.

    Lightning creates checkpoint directories at the first save, after an epoch of training: this
    check creates them (and writes and removes a probe file) before the first step instead.
    """
    directories = {"default_root_dir": trainer.default_root_dir}
    for logger in trainer.loggers:
        if logger.save_dir is not None:
            directories[f"{type(logger).__name__} save_dir"] = logger.save_dir
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.dirpath is not None:
            directories["ModelCheckpoint dirpath"] = callback.dirpath
    for role, directory in directories.items():
        if "://" in str(directory):  # remote file systems: left to fsspec
            continue
        try:
            Path(directory).mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-probe-"):
                pass
        except OSError as error:
            raise OutputDirectoryError(
                f"cannot write to the {role} {directory!s} ({error.strerror or error}); "
                "choose a writable directory (e.g. --trainer.default_root_dir) before training"
            ) from error
