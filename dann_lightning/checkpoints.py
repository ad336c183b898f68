"""Checkpoints in and out: the one loader of a run's model and data module (what the CLI, ``export``
and ``analyze`` restore), and the checks that keep checkpoints and logs safe (readable inputs,
writable outputs, before any work)."""

from __future__ import annotations

import pickle
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
    with _explained_load_errors(checkpoint_path):
        return load(checkpoint_path, *args, **kwargs)


@contextmanager
def _explained_load_errors(checkpoint_path: Any) -> Iterator[None]:
    """Lightning's failures to rebuild a module, as :class:`CheckpointError` naming the file and what to do."""
    try:
        yield
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


# Where LightningCLI (`dann-lightning fit`) stores the model's and the data module's configuration.
SECTIONS = {"model": "hyper_parameters", "data": "datamodule_hyper_parameters"}
NOT_FROM_THE_CLI = "it was not written by `dann-lightning fit`"


def read_checkpoint(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """``path`` checked, and its contents as a weights-only load gives them (tensors memory-mapped).

    A file holding objects a weights-only load refuses reads as ``{}``: nothing the CLI writes.
    """
    path = check_checkpoint_file(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError:
        checkpoint = {}
    return path, checkpoint if isinstance(checkpoint, dict) else {}


def saved_configuration(checkpoint: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``model`` and ``data`` configuration LightningCLI stored in ``checkpoint``, as a config
    file writes them (``class_path``, ``init_args``); a section it did not store is left out.

    Examples:
        >>> saved_configuration({"hyper_parameters": {"_class_path": "a.B", "_instantiator": "x", "lr": 0.1}})
        {'model': {'class_path': 'a.B', 'init_args': {'lr': 0.1}}}
    """
    config = {}
    for key, section in SECTIONS.items():
        saved = checkpoint.get(section)
        if isinstance(saved, Mapping) and isinstance(saved.get("_class_path"), str) and "_instantiator" in saved:
            init_args = {name: value for name, value in saved.items() if not name.startswith("_")}
            config[key] = {"class_path": saved["_class_path"], "init_args": init_args}
    return config


def require_configuration(path: Path, checkpoint: Mapping[str, Any], needed: Sequence[str], instead: str) -> None:
    """Raise :class:`CheckpointError` unless ``checkpoint`` holds each ``needed`` section's
    configuration (``"model"``, ``"data"``); the message ends with ``instead``, what to do."""
    saved = saved_configuration(checkpoint)
    missing = [key for key in needed if key not in saved]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} does not hold the {' and '.join(missing)} configuration ({NOT_FROM_THE_CLI}): {instead}"
        )


def load_run(
    path: str | Path, *, needs_data: bool, instead: str
) -> tuple[L.LightningModule, L.LightningDataModule | None]:
    """The model and the data module of a checkpoint written by ``dann-lightning fit``, on the CPU.

    The model is built as the class its configuration names (``DANNLitModule``, ``CDANLitModule``,
    a user's subclass), its weights restored. The data module is built from its stored
    configuration and its ``state_dict`` (fitted statistics, feature and class names) restored
    from the checkpoint: no training file is read, and they may be gone. It is ``None`` when the
    checkpoint holds no data configuration, unless ``needs_data``: then, as for a file without the
    model configuration (one saved from Python), :class:`CheckpointError` ends with ``instead``.
    Every checkpoint ``dann-lightning fit`` of 0.1.0 wrote loads.
    """
    path, checkpoint = read_checkpoint(path)
    require_configuration(path, checkpoint, ("model", "data") if needs_data else ("model",), instead)
    with _explained_load_errors(path):
        model = L.LightningModule.load_from_checkpoint(path, map_location="cpu")
    return model, load_datamodule(path) if "data" in saved_configuration(checkpoint) else None


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
