"""Callbacks that log what a target-label-free user can look at: embeddings and the proxy A-distance.

Both run on every ``every_n_epochs``-th validation (sanity checks aside), keep at most
``max_samples`` validation points per domain, and do their work once, at the end of it. Under DDP they use the
samples of process 0 and share its result.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from dann_lightning.analysis.embedding import ProjectionMethod, embedding_figure
from dann_lightning.analysis.pad import PADClassifier, proxy_a_distance
from dann_lightning.errors import ConfigurationError


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

    Args:
        every_n_epochs: run on every n-th validation.
        max_samples: features kept per domain.
        classifier: ``"svm"`` (the paper's) or ``"logistic"`` (faster).
    """

    def __init__(self, every_n_epochs: int = 1, max_samples: int = 500, classifier: PADClassifier = "logistic") -> None:
        super().__init__(every_n_epochs, max_samples)
        if classifier not in ("svm", "logistic"):
            raise ConfigurationError(f"unknown classifier {classifier!r}; valid: logistic, svm")
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
            pl_module.log("val/pad", value)


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
