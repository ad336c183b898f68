"""DANNLitModule: domain-adversarial training (Ganin et al., JMLR 2016) as a LightningModule."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn
from torch.optim.lr_scheduler import LambdaLR
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy
from torchmetrics.functional.classification import binary_accuracy
from typing_extensions import override

from dann_lightning.data.domain import DomainDataModule
from dann_lightning.grl import GradientReversal
from dann_lightning.progress import training_progress
from dann_lightning.schedules import (
    LAMBDA_SCHEDULES,
    LR_SCHEDULES,
    LambdaScheduleName,
    LRScheduleName,
    check_schedule_name,
    lambda_factor,
    lr_factor,
)

try:  # Set while LightningCLI instantiates a model: the networks then arrive as plain config.
    from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
except ImportError:  # pragma: no cover - older Lightning: checkpoints then need the networks passed in
    _given_hyperparameters = None

SOURCE, TARGET = 0.0, 1.0  # domain labels of the discriminator
_PYTHON_OBJECT_ARGS = ["feature_extractor", "classifier", "discriminator", "optimizer"]


class DANNLitModule(L.LightningModule):
    """Domain-adversarial neural network: a feature extractor shared by a label classifier and,
    through a gradient reversal layer, a domain discriminator.

    Loss = cross-entropy of the classifier on source samples + binary cross-entropy of the
    discriminator on source (label 0) and target (label 1) features. The reversal layer scales the
    discriminator's gradient into the feature extractor by ``-lambda_p``, so the features learn to
    fool the discriminator while the discriminator learns to tell the domains apart.
    ``lambda_p = lambda_max * schedule(p)`` with ``p`` the fraction of training batches done.

    ``lambda_max=0`` is exactly source-only training of the feature extractor and classifier (the
    baseline), as long as the networks have no batch statistics that the joint source + target
    forward pass would share (``BatchNorm``).

    Args:
        feature_extractor: maps inputs to features.
        classifier: maps features to ``num_classes`` logits.
        discriminator: maps features to one logit per sample, shape ``(N,)`` or ``(N, 1)``.
        num_classes: number of classes.
        optimizer: builds the optimizer from the parameters of all three networks
            (default: Adam, learning rate 1e-3).
        lambda_max: final weight of the adversarial gradient; 0 trains source-only.
        lambda_schedule: ``"ganin"`` (the paper's ramp from 0 to ``lambda_max``) or ``"constant"``.
        gamma: steepness of the ``"ganin"`` ramp.
        lr_schedule: ``"ganin"`` (``lr_0 / (1 + lr_alpha p) ** lr_beta``), ``"cosine"`` or
            ``"constant"``, stepped every optimizer step.
        lr_alpha: ``alpha`` of the ``"ganin"`` LR annealing.
        lr_beta: ``beta`` of the ``"ganin"`` LR annealing.
    """

    def __init__(
        self,
        feature_extractor: nn.Module,
        classifier: nn.Module,
        discriminator: nn.Module,
        *,
        num_classes: int,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lambda_max: float = 1.0,
        lambda_schedule: LambdaScheduleName = "ganin",
        gamma: float = 10.0,
        lr_schedule: LRScheduleName = "ganin",
        lr_alpha: float = 10.0,
        lr_beta: float = 0.75,
    ) -> None:
        super().__init__()
        for name, net in [
            ("feature_extractor", feature_extractor),
            ("classifier", classifier),
            ("discriminator", discriminator),
        ]:
            if not isinstance(net, nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module, got {type(net).__name__}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        _check_real("lambda_max", lambda_max, minimum=0.0)
        _check_real("gamma", gamma, minimum=0.0, strict=True)
        _check_real("lr_alpha", lr_alpha, minimum=0.0)
        _check_real("lr_beta", lr_beta, minimum=0.0)
        check_schedule_name(LAMBDA_SCHEDULES, lambda_schedule, "lambda_schedule")
        check_schedule_name(LR_SCHEDULES, lr_schedule, "lr_schedule")
        if not callable(optimizer):
            raise TypeError(f"optimizer must be a callable taking parameters, got {type(optimizer).__name__}")

        from_cli = _given_hyperparameters is not None and _given_hyperparameters.get() is not None
        self.save_hyperparameters(ignore=[] if from_cli else _PYTHON_OBJECT_ARGS)

        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.discriminator = discriminator
        self.grl = GradientReversal(coeff=0.0)
        self.optimizer_factory = optimizer
        self.num_classes = num_classes

        self.val_domain_acc = BinaryAccuracy()
        self.class_acc = nn.ModuleDict(
            {
                f"{stage}_{domain}": MulticlassAccuracy(num_classes, average="micro")
                for stage in ("val", "test")
                for domain in ("source", "target")
            }
        )
        self._first_batch_checked = False

    @override
    def forward(self, x: Tensor) -> Tensor:
        """Class logits: the deployed model. The discriminator is not used."""
        return self.classifier(self.feature_extractor(x))

    def current_lambda(self) -> float:
        """``lambda_p`` for the current training batch."""
        hp = self.hparams
        return hp.lambda_max * lambda_factor(hp.lambda_schedule, training_progress(self.trainer), gamma=hp.gamma)

    # ------------------------------------------------------------------ training

    @override
    def on_fit_start(self) -> None:
        self._first_batch_checked = False
        datamodule = getattr(self.trainer, "datamodule", None)
        if isinstance(datamodule, DomainDataModule):
            datamodule.check_labels(self.num_classes)

    @override
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        x_s, y_s, x_t = _unpack_training_batch(batch)
        if not self._first_batch_checked:
            self._check_training_batch(x_s, y_s, x_t)
        self.grl.coeff = lambda_p = self.current_lambda()

        features = self.feature_extractor(torch.cat([x_s, x_t]))
        class_logits = self._class_logits(features[: len(x_s)])
        domain_logits = self._domain_logits(self.grl(features))
        domain_labels = _domain_labels(len(x_s), len(x_t), device=domain_logits.device)

        cls_loss = F.cross_entropy(class_logits.float(), y_s)
        domain_loss = F.binary_cross_entropy_with_logits(domain_logits.float(), domain_labels)
        loss = cls_loss + domain_loss

        if self.trainer._logger_connector.should_update_logs:
            self._log_training_step(
                batch_size=len(x_s),
                lambda_p=lambda_p,
                loss=loss,
                cls_loss=cls_loss,
                domain_loss=domain_loss,
                domain_acc=binary_accuracy(domain_logits.detach(), domain_labels),
            )
        return loss

    def _log_training_step(self, batch_size: int, lambda_p: float, **values: Tensor) -> None:
        # Called only on the steps the Trainer writes (every `log_every_n_steps`), as Lightning's
        # LearningRateMonitor does: each `self.log` costs more than a small model's whole step.
        for name, value in values.items():
            self.log(f"train/{name}", value, prog_bar=name == "loss", batch_size=batch_size)
        self.log("train/lambda", lambda_p, batch_size=batch_size)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=batch_size)

    def _check_training_batch(self, x_s: Tensor, y_s: Tensor, x_t: Tensor) -> None:
        """Checks that need a host-device sync: run on the first batch of a fit only."""
        if x_s.shape[1:] != x_t.shape[1:]:
            raise ValueError(
                f"source and target features must share one shape: source batch has shape {tuple(x_s.shape)}, "
                f"target batch has shape {tuple(x_t.shape)}"
            )
        _check_labels(y_s, self.num_classes, "source")
        self._first_batch_checked = True

    def _class_logits(self, features: Tensor) -> Tensor:
        logits = self.classifier(features)
        if logits.shape != (len(features), self.num_classes):
            raise ValueError(
                f"classifier must return logits of shape (batch, num_classes) = ({len(features)}, {self.num_classes}), "
                f"got shape {tuple(logits.shape)}"
            )
        return logits

    def _domain_logits(self, features: Tensor) -> Tensor:
        logits = self.discriminator(features)
        n = len(features)
        if logits.shape not in ((n,), (n, 1)):
            raise ValueError(
                f"discriminator must return one logit per sample, shape ({n},) or ({n}, 1), "
                f"got shape {tuple(logits.shape)}"
            )
        return logits.reshape(n)

    # ------------------------------------------------------------------ evaluation

    @override
    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluation_step("val", batch, dataloader_idx)

    @override
    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluation_step("test", batch, dataloader_idx)

    @override
    def on_validation_epoch_end(self) -> None:
        self._log_evaluation_metrics("val")

    @override
    def on_test_epoch_end(self) -> None:
        self._log_evaluation_metrics("test")

    @override
    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        x, _ = _unpack_evaluation_batch(batch)
        return self(x)

    def _evaluation_step(self, stage: str, batch: Any, dataloader_idx: int) -> None:
        domain = self._evaluation_domain(stage, dataloader_idx)
        x, y = _unpack_evaluation_batch(batch)
        features = self.feature_extractor(x)
        if y is not None:
            self.class_acc[f"{stage}_{domain}"].update(self._class_logits(features), y)
        if stage == "val":
            domain_logits = self._domain_logits(features)
            label = SOURCE if domain == "source" else TARGET
            self.val_domain_acc.update(domain_logits, torch.full_like(domain_logits, label))

    def _evaluation_domain(self, stage: str, dataloader_idx: int) -> str:
        """Which domain an evaluation loader holds: its key in a dict of loaders, else by position
        (validation: ``[source, target]``; test: ``[target]``)."""
        loaders = self.trainer.val_dataloaders if stage == "val" else self.trainer.test_dataloaders
        if isinstance(loaders, Mapping):
            domain = list(loaders)[dataloader_idx]
        else:
            order = ("source", "target") if stage == "val" else ("target",)
            domain = order[dataloader_idx] if dataloader_idx < len(order) else f"#{dataloader_idx}"
        if domain not in ("source", "target"):
            raise ValueError(
                f"{stage} dataloaders must be a dict with keys 'source' and/or 'target' (or a list read as "
                f"[source, target]); got loader {domain!r}"
            )
        return domain

    def _log_evaluation_metrics(self, stage: str) -> None:
        metrics = {
            f"{stage}/{key.split('_', 1)[1]}_acc": m for key, m in self.class_acc.items() if key.startswith(stage)
        }
        if stage == "val":
            metrics["val/domain_acc"] = self.val_domain_acc
        for name, metric in metrics.items():
            if metric.update_called:
                self.log(name, metric.compute())
            metric.reset()

    # ------------------------------------------------------------------ optimization

    @override
    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.optimizer_factory(self.parameters())
        total_steps = self.trainer.estimated_stepping_batches
        if not math.isfinite(total_steps):
            raise ValueError("the learning-rate schedule needs a finite training length: set max_epochs or max_steps")
        schedule, alpha, beta = self.hparams.lr_schedule, self.hparams.lr_alpha, self.hparams.lr_beta

        def factor(step: int) -> float:
            return lr_factor(schedule, min(step / max(total_steps, 1), 1.0), alpha=alpha, beta=beta)

        scheduler = LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _unpack_training_batch(batch: Mapping[str, Any]) -> tuple[Tensor, Tensor, Tensor]:
    if not isinstance(batch, Mapping) or "source" not in batch or "target" not in batch:
        raise ValueError(
            "a training batch must be a dict {'source': (x_s, y_s), 'target': x_t}, "
            f"got {type(batch).__name__} with keys {list(batch) if isinstance(batch, Mapping) else 'n/a'}"
        )
    source, target = batch["source"], batch["target"]
    if not isinstance(source, (tuple, list)) or len(source) != 2:
        raise ValueError("the 'source' entry of a training batch must be (x_s, y_s)")
    # Target labels, if the dataset yields them, are dropped here: never trained on.
    x_t = target if isinstance(target, Tensor) else target[0]
    return source[0], source[1], x_t


def _unpack_evaluation_batch(batch: Any) -> tuple[Tensor, Tensor | None]:
    if isinstance(batch, Tensor):
        return batch, None
    if len(batch) == 1:
        return batch[0], None
    return batch[0], batch[1]


def _domain_labels(n_source: int, n_target: int, device: torch.device) -> Tensor:
    return torch.cat([torch.full((n_source,), SOURCE, device=device), torch.full((n_target,), TARGET, device=device)])


def _check_labels(labels: Tensor, num_classes: int, domain: str) -> None:
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{domain} labels must be integer class indices, got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"{domain} labels must have shape (batch,), got {tuple(labels.shape)}")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise ValueError(f"{domain} label {bad} lies outside [0, num_classes={num_classes})")


def _check_real(name: str, value: float, *, minimum: float, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
