"""Callbacks that log what a target-label-free user can look at: embeddings and the proxy A-distance;
and one that writes predictions to a file.

The two validation callbacks run on every ``every_n_epochs``-th validation (sanity checks aside), keep at most
``max_samples`` validation points per domain, and do their work once, at the end of it. Under DDP they use the
samples of process 0 and share its result.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from dann_lightning.analysis.embedding import ProjectionMethod, embedding_figure
from dann_lightning.analysis.pad import DEFAULT_PAD_CLASSIFIER, PADClassifier, pad_name, proxy_a_distance
from dann_lightning.data.contract import DomainData, domain_data
from dann_lightning.errors import ConfigurationError, DataError, OutputDirectoryError


class _ValidationSample(L.Callback):
    """Keeps up to ``max_samples`` features (and labels) per domain from the validation steps.

    Reads what ``DANNLitModule.validation_step`` returns: ``{"domain", "features", "labels", ...}``.
    """

    def __init__(self, every_n_epochs: int, max_samples: int) -> None:
        if every_n_epochs < 1:
            raise ConfigurationError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        if max_samples < 2:
            raise ConfigurationError(f"max_samples must be >= 2, got {max_samples}")
        self.every_n_epochs = every_n_epochs
        self.max_samples = max_samples
        self._features: dict[str, list[torch.Tensor]] = {}
        self._labels: dict[str, list[torch.Tensor | None]] = {}
        self._validations = 0

    def _active(self, trainer: L.Trainer) -> bool:
        return not trainer.sanity_checking and self._validations % self.every_n_epochs == 0

    @override
    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._validations += 1
        self._features, self._labels = {}, {}

    @override
    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self._active(trainer) or not isinstance(outputs, dict) or "features" not in outputs:
            return
        domain = outputs["domain"]
        kept = sum(len(f) for f in self._features.get(domain, []))
        room = self.max_samples - kept
        if room <= 0:
            return
        self._features.setdefault(domain, []).append(outputs["features"][:room].detach().flatten(1).float().cpu())
        labels = outputs.get("labels")
        self._labels.setdefault(domain, []).append(None if labels is None else labels[:room].detach().cpu())

    def _sample(self, domain: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        if domain not in self._features:
            return None, None
        features = torch.cat(self._features[domain]).numpy()
        labels = self._labels[domain]
        return features, (None if any(lab is None for lab in labels) else torch.cat(labels).numpy())


class ProxyADistanceCallback(_ValidationSample):
    """Logs ``val/pad``, the proxy A-distance between source and target validation features.

    The number is ``proxy_a_distance`` of the first ``max_samples`` validation features per
    domain, with its defaults (the paper's linear SVM, seed 0): the PAD ``dann-lightning analyze``
    reports for the checkpoint of that validation, when both keep the same samples (one process,
    the same ``max_samples``; 1000 in both by default). Under DDP the samples are process 0's.

    Args:
        every_n_epochs: run on every n-th validation.
        max_samples: features kept per domain (the first in the validation loader's order).
        classifier: ``"svm"`` (linear SVM, the paper's; logged as ``val/pad``) or ``"logistic"``
            (logistic regression; logged as ``val/pad_logistic``, so one name keeps one meaning).
    """

    def __init__(
        self, every_n_epochs: int = 1, max_samples: int = 1000, classifier: PADClassifier = DEFAULT_PAD_CLASSIFIER
    ) -> None:
        super().__init__(every_n_epochs, max_samples)
        self.metric_name = "val/" + pad_name(classifier)  # checks classifier, listing the choices
        self.classifier = classifier

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._active(trainer):
            return
        source, _ = self._sample("source")
        target, _ = self._sample("target")
        value = float("nan")
        if trainer.is_global_zero and source is not None and target is not None and min(len(source), len(target)) >= 2:
            value = proxy_a_distance(source, target, classifier=self.classifier)
        value = trainer.strategy.broadcast(value, src=0)
        if value == value:  # not nan: both domains were there
            pl_module.log(self.metric_name, value)


class EmbeddingPlotCallback(_ValidationSample):
    """Logs a 2-D embedding of source and target validation features to TensorBoard (``val/embedding``).

    Colour is the domain, the marker the class where labels exist, as in the paper's figures.

    Args:
        every_n_epochs: run on every n-th validation.
        max_samples: features kept per domain.
        method: ``"tsne"`` (the paper's) or ``"pca"`` (fast).
    """

    def __init__(self, every_n_epochs: int = 10, max_samples: int = 300, method: ProjectionMethod = "tsne") -> None:
        super().__init__(every_n_epochs, max_samples)
        if method not in ("tsne", "pca"):
            raise ConfigurationError(f"unknown method {method!r}; valid: pca, tsne")
        self.method = method

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._active(trainer) or not trainer.is_global_zero:
            return
        source, source_labels = self._sample("source")
        target, target_labels = self._sample("target")
        if source is None or target is None:
            return
        loggers = [logger for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]
        if not loggers:
            rank_zero_warn("EmbeddingPlotCallback logs to TensorBoard; the Trainer has no TensorBoardLogger")
            return
        figure = embedding_figure(
            source, target, source_labels, target_labels, method=self.method, title=f"epoch {trainer.current_epoch}"
        )
        for logger in loggers:
            logger.experiment.add_figure("val/embedding", figure, global_step=trainer.global_step, close=False)


PREDICTION_FORMATS = (".csv", ".npz")


class PredictionWriter(BasePredictionWriter):
    """Writes what ``trainer.predict`` returns, class logits, to one file: CSV or NPZ, by the extension.

    For a regression model (``DANNLitModule(task="regression")``) the ``prediction`` column
    (``prediction_<k>`` per output with several) holds the predicted numbers, in the data's units.

    One row per sample, in the order of the data set. CSV columns: the data module's id column
    when it has one (``TabularDataModule(id=...)``), else ``index`` (the sample's position in the
    data set); ``prediction``, the most probable class by name (the data module's ``classes``,
    else its index); and ``prob_<class>`` per class (softmax of the logits). NPZ arrays: the same,
    with ``prediction`` as class indices, ``classes`` their names, ``probabilities`` and
    ``logits``. With several predict loaders a ``dataloader`` column/array says which one a row
    comes from (and rows are named by ``index``).

    The file is written once, when prediction ends, to a temporary file then moved into place: an
    existing file is replaced whole or not at all. Its directory is checked before the first batch.
    Under DDP the processes' rows are gathered and process 0 writes them.

    Args:
        path: the file to write; ``.csv`` or ``.npz``.

    Examples:
        >>> writer = PredictionWriter("out/predictions.npz")
        >>> writer.path.suffix
        '.npz'
    """

    def __init__(self, path: str | Path = "predictions.csv") -> None:
        super().__init__(write_interval="batch")
        self.path = Path(path)
        if self.path.suffix.lower() not in PREDICTION_FORMATS:
            raise ConfigurationError(
                f"PredictionWriter path {str(path)!r} must end in one of {', '.join(PREDICTION_FORMATS)} "
                "(the format follows the extension)"
            )
        self.written: Path | None = None  # where the last prediction run was written
        self._rows: list[tuple[int, torch.Tensor, torch.Tensor]] = []

    @override
    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._rows, self.written = [], None
        if trainer.is_global_zero:
            _check_writable(self.path.parent)

    @override
    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        if not isinstance(prediction, torch.Tensor) or prediction.ndim != 2:
            found = f"shape {tuple(prediction.shape)}" if isinstance(prediction, torch.Tensor) else type(prediction)
            raise DataError(
                f"PredictionWriter expects predict_step to return class logits of shape (batch, num_classes); "
                f"got {found} from {type(pl_module).__name__}"
            )
        if batch_indices is None:  # the loader's sampler is not tracked: rows come in loader order
            start = sum(len(logits) for loader, _, logits in self._rows if loader == dataloader_idx)
            batch_indices = range(start, start + len(prediction))
        indices = torch.as_tensor(list(batch_indices), dtype=torch.long)
        self._rows.append((dataloader_idx, indices, prediction.detach().float().cpu()))

    @override
    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rows = self._rows
        if trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered: list[Any] = [None] * trainer.world_size
            torch.distributed.all_gather_object(gathered, rows)
            rows = [row for rank_rows in gathered for row in rank_rows]
        if trainer.is_global_zero and rows:
            regression = getattr(getattr(pl_module, "task", None), "name", None) == "regression"
            self.written = self._write(rows, trainer.datamodule, regression)
        self._rows = []

    def _write(
        self, rows: list[tuple[int, torch.Tensor, torch.Tensor]], datamodule: Any, regression: bool = False
    ) -> Path:
        loaders = torch.cat([torch.full_like(indices, loader) for loader, indices, _ in rows])
        indices = torch.cat([indices for _, indices, _ in rows])
        logits = torch.cat([logits for _, _, logits in rows])
        order = np.lexsort((indices.numpy(), loaders.numpy()))  # by loader, then by position in it
        loaders, indices, logits = loaders[order], indices[order], logits[order]
        probabilities = torch.softmax(logits, dim=1).double().numpy()
        predicted = logits.argmax(dim=1).numpy()
        data = domain_data(datamodule)
        classes = data.classes if data is not None else None
        if classes is None or len(classes) != logits.shape[1]:
            classes = [str(index) for index in range(logits.shape[1])]
        several_loaders = len(set(loaders.tolist())) > 1
        ids = None if several_loaders or data is None else _prediction_ids(data, len(indices))
        name, row_names = ("index", indices.numpy()) if ids is None else (ids[0], ids[1][indices.numpy()])
        columns = {name: row_names}
        if several_loaders:
            columns = {"dataloader": loaders.numpy(), **columns}

        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            if regression:
                _write_numbers(temporary, self.path.suffix.lower(), columns, logits.double().numpy())
            elif self.path.suffix.lower() == ".npz":
                with open(temporary, "wb") as file:
                    # Ids as strings: object arrays would need pickle to load.
                    arrays = {key: v.astype(str) if v.dtype == object else v for key, v in columns.items()}
                    np.savez(
                        file,
                        **arrays,
                        prediction=predicted,
                        classes=np.array(classes, dtype=str),
                        probabilities=probabilities,
                        logits=logits.numpy(),
                    )
            else:
                with open(temporary, "w", newline="") as file:
                    writer = csv.writer(file)
                    writer.writerow([*columns, "prediction", *(f"prob_{c}" for c in classes)])
                    for row in range(len(predicted)):
                        named = [values[row] for values in columns.values()]
                        probs = [f"{p:.9g}" for p in probabilities[row]]
                        writer.writerow([*named, classes[predicted[row]], *probs])
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)
        return self.path


def _write_numbers(path: Path, suffix: str, columns: dict[str, np.ndarray], values: np.ndarray) -> None:
    """Regression predictions: ``prediction`` (one output) or ``prediction_<k>`` per output."""
    names = ["prediction"] if values.shape[1] == 1 else [f"prediction_{k}" for k in range(values.shape[1])]
    if suffix == ".npz":
        with open(path, "wb") as file:
            arrays = {key: v.astype(str) if v.dtype == object else v for key, v in columns.items()}
            np.savez(file, **arrays, prediction=values[:, 0] if values.shape[1] == 1 else values)
        return
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([*columns, *names])
        for row in range(len(values)):
            writer.writerow([*(v[row] for v in columns.values()), *(f"{value:.9g}" for value in values[row])])


def _prediction_ids(data: DomainData, rows: int) -> tuple[str, np.ndarray] | None:
    """The data module's id column for the predicted rows (``prediction_ids()``), if it has one."""
    ids = data.prediction_ids()
    if ids is None or len(ids[1]) < rows:
        return None
    return ids[0], np.asarray(ids[1])


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise OutputDirectoryError(
            f"PredictionWriter cannot write to {directory} ({error.strerror or error}); choose a writable path"
        ) from error
