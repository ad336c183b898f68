"""What the label predictor predicts: classes or numbers. The one training step of
[`DANNLitModule`][dann_lightning.DANNLitModule] is the same for both; the loss on the source
labels, the label checks and the evaluation metrics are the only parts that differ, and live here.

| task | outputs per row | losses | evaluation metrics | selection scores |
|---|---|---|---|---|
| ``"classification"`` | ``num_classes`` logits | ``"cross_entropy"`` | ``acc`` | entropy, im, snd, dev |
| ``"regression"`` | ``num_outputs`` numbers | ``"mse"``, ``"huber"`` | ``mae``, ``rmse``, ``r2`` | dev |

Examples:
    >>> import torch
    >>> task = make_task("regression", num_outputs=1, loss="huber")
    >>> task.width, task.metric_names, task.selection_scores
    (1, ('mae', 'rmse', 'r2'), ('dev',))
    >>> round(task.loss(torch.tensor([[1.0], [3.0]]), torch.tensor([1.0, 1.0])).item(), 4)
    0.75
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError, R2Score

from dann_lightning.checks import check_choice
from dann_lightning.errors import ConfigurationError, DataError
from dann_lightning.labels import check_labels
from dann_lightning.losses import classification_loss

if TYPE_CHECKING:
    from dann_lightning.data.contract import DomainData

TaskName = Literal["classification", "regression"]
LossName = Literal["cross_entropy", "mse", "huber"]
LOSSES: dict[str, tuple[str, ...]] = {"classification": ("cross_entropy",), "regression": ("mse", "huber")}
# Selection scores and lambda_max="auto" criteria that need no classes: DEV weighs any per-sample loss.
REGRESSION_SCORES = ("dev",)
REGRESSION_CRITERIA = ("dev", "iwcv", "iwa", "ensv")


class ClassificationTask:
    """Class logits, cross-entropy, accuracy: what DANN was written for."""

    name = "classification"
    has_classes = True  # outputs are class logits
    default_lambda_margin = 1.0  # lambda_max="auto", measured on the shift suite (docs/when-dann-helps.md)
    metric_names = ("acc",)
    selection_scores = ("entropy", "im", "snd", "dev")

    def __init__(self, num_classes: int) -> None:
        self.width = num_classes

    def loss(self, outputs: Tensor, labels: Tensor, weights: Tensor | None = None) -> Tensor:
        """Cross-entropy; with ``weights``, the mean of the rows' weighted losses."""
        if weights is None:
            return classification_loss(outputs, labels)
        return (weights * self.sample_losses(outputs, labels)).mean()

    def sample_losses(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(outputs.float(), labels, reduction="none")

    def metrics(self) -> dict[str, Metric]:
        return {"acc": MulticlassAccuracy(self.width, average="micro")}

    def update_metric(self, metric: Metric, outputs: Tensor, labels: Tensor) -> None:
        metric.update(outputs, labels)

    def check_labels(self, labels: Tensor, domain: str) -> None:
        check_labels(labels, self.width, domain)

    def check_outputs(self, logits: Tensor) -> Tensor:
        """The classifier's output, checked: shape ``(batch, num_classes)``."""
        if logits.ndim != 2 or logits.shape[1] != self.width:
            raise ConfigurationError(
                f"classifier must return logits of shape (batch, num_classes) = ({len(logits)}, {self.width}), "
                f"got shape {tuple(logits.shape)}"
            )
        return logits

    def check_data(self, data: DomainData | None) -> None:
        """Before training: the data names as many classes as the model has, its labels lie within them."""
        if data is None:
            return
        if data.classes is not None and len(data.classes) != self.width:
            raise ConfigurationError(
                f"num_classes={self.width}, but the data has {len(data.classes)} classes {list(data.classes)}: "
                "leave num_classes out to take it from the data, or name every class in the data module's classes"
            )
        data.check_labels(self.width)

    def in_label_units(self, values: Tensor | None, data: DomainData | None) -> Tensor | None:
        """Class logits or labels: as they are."""
        return values


class RegressionTask:
    """``num_outputs`` numbers per row, a mean squared or Huber loss, MAE / RMSE / R²."""

    name = "regression"
    has_classes = False
    default_lambda_margin = 2.0  # lambda_max="auto": at 1, a small regression split kept a losing candidate
    metric_names = ("mae", "rmse", "r2")
    selection_scores = REGRESSION_SCORES

    def __init__(self, num_outputs: int, loss: str = "mse") -> None:
        self.width = num_outputs
        self._loss: Callable[..., Tensor] = F.mse_loss if loss == "mse" else F.huber_loss

    def _aligned(self, outputs: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Outputs ``(N, k)`` and labels ``(N,)`` or ``(N, k)`` as float32 of one shape."""
        labels = labels.float()
        return outputs.float(), labels[:, None] if labels.ndim == 1 else labels

    def loss(self, outputs: Tensor, labels: Tensor, weights: Tensor | None = None) -> Tensor:
        """The regression loss (``weights`` apply to classes only: none here)."""
        return self._loss(*self._aligned(outputs, labels))

    def sample_losses(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return self._loss(*self._aligned(outputs, labels), reduction="none").mean(dim=1)

    def metrics(self) -> dict[str, Metric]:
        return {"mae": MeanAbsoluteError(), "rmse": MeanSquaredError(squared=False), "r2": R2Score()}

    def update_metric(self, metric: Metric, outputs: Tensor, labels: Tensor) -> None:
        outputs, labels = self._aligned(outputs, labels)
        if isinstance(metric, R2Score):  # R² per output, averaged; needs (N,) for one output
            if self.width == 1:
                outputs, labels = outputs.squeeze(1), labels.squeeze(1)
            metric.update(outputs, labels)
        else:  # MAE and RMSE over every cell
            metric.update(outputs.flatten(), labels.flatten())

    def check_labels(self, labels: Tensor, domain: str) -> None:
        if not labels.is_floating_point():
            raise DataError(
                f"{domain} labels must be numbers (a floating-point dtype) for task='regression', got dtype "
                f"{labels.dtype}: a data module of classes belongs to task='classification'"
            )
        expected = {1: "(rows,) or (rows, 1)"}.get(self.width, f"(rows, {self.width})")
        width = labels.shape[1] if labels.ndim == 2 else 1 if labels.ndim == 1 else None
        if width != self.width:
            raise DataError(
                f"{domain} labels must have shape {expected} for num_outputs={self.width}, got {tuple(labels.shape)}"
            )

    def check_outputs(self, outputs: Tensor) -> Tensor:
        """The predictor's output, checked: shape ``(batch, num_outputs)``."""
        if outputs.ndim == 2 and outputs.shape[1] == self.width:
            return outputs
        found = outputs.shape[1] if outputs.ndim == 2 else "none (a 1-D output)" if outputs.ndim == 1 else "?"
        raise ConfigurationError(
            f"classifier must return numbers of shape (batch, num_outputs) = ({len(outputs)}, {self.width}), got "
            f"shape {tuple(outputs.shape)}: its output width is {found}, num_outputs is {self.width}. Make its last "
            f"layer output {self.width} number(s) (e.g. nn.Linear(..., {self.width})), or set num_outputs to match"
        )

    def check_data(self, data: DomainData | None) -> None:
        """Before training: nothing to check beyond the first batch's labels."""

    def in_label_units(self, values: Tensor | None, data: DomainData | None) -> Tensor | None:
        """Predictions or labels in the units the data module read them in (undoing its label scaling)."""
        return values if values is None or data is None else data.unscale_targets(values)


Task = ClassificationTask | RegressionTask


def make_task(
    task: str, *, num_classes: int | None = None, num_outputs: int | None = None, loss: str | None = None
) -> Task:
    """The task object for ``DANNLitModule(task=..., num_classes=..., num_outputs=..., loss=...)``
    (classification: ``num_classes`` must be known)."""
    if task == "regression":
        return RegressionTask(num_outputs or 1, loss or "mse")
    assert num_classes is not None
    return ClassificationTask(num_classes)


def check_task_options(
    task: str,
    *,
    num_classes: int | None,
    num_outputs: int | None,
    loss: str | None,
    selection_scores: object,
    lambda_max: object,
    lambda_criterion: str,
    target_objectives: Sequence[str] = (),
) -> None:
    """Raise [`ConfigurationError`][dann_lightning.errors.ConfigurationError] for an option the
    task does not take, saying what applies instead."""
    check_choice("task", task, TaskName)
    if loss is not None:
        check_choice("loss", loss, LossName)
        if loss not in LOSSES[task]:
            raise ConfigurationError(
                f"loss={loss!r} is not a {task} loss; with task={task!r} use one of "
                f"{', '.join(map(repr, LOSSES[task]))}"
            )
    if task == "classification":
        if num_outputs is not None:
            raise ConfigurationError(
                f"num_outputs={num_outputs!r} is for task='regression'; a classifier's width is num_classes"
            )
        return
    if num_classes is not None:
        raise ConfigurationError(
            f"num_classes={num_classes!r} does not apply to task='regression', which predicts numbers: "
            "give num_outputs (numbers per row, default 1) instead"
        )
    integer = isinstance(num_outputs, int) and not isinstance(num_outputs, bool)
    if num_outputs is not None and not (integer and num_outputs >= 1):
        raise ConfigurationError(f"num_outputs must be an integer >= 1, got {num_outputs!r}")
    if selection_scores is not None:
        needs_classes = [score for score in selection_scores if score not in REGRESSION_SCORES]
        if needs_classes:
            raise ConfigurationError(
                f"selection_scores {needs_classes} need class probabilities and do not apply to task='regression'; "
                f"what applies: {list(REGRESSION_SCORES)} (importance-weighted source loss), or [] for none"
            )
    if target_objectives:
        raise ConfigurationError(
            f"mcc_weight, entropy_weight and label_shift read class predictions and do not apply to "
            f"task='regression'; {', '.join(target_objectives)} uses them: leave them at 0 / false"
        )
    if lambda_max == "auto" and lambda_criterion not in REGRESSION_CRITERIA:
        raise ConfigurationError(
            f"lambda_criterion={lambda_criterion!r} needs classes and does not apply to task='regression'; with "
            f"lambda_max='auto' use one of {list(REGRESSION_CRITERIA)}"
        )


__all__ = [
    "LOSSES",
    "ClassificationTask",
    "LossName",
    "RegressionTask",
    "Task",
    "TaskName",
    "check_task_options",
    "make_task",
]
