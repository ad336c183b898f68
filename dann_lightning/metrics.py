"""The metrics of a domain-adversarial model, one object per stage and quantity: epoch means of the
training losses, the task's metrics per evaluation stage and domain (class accuracy; MAE, RMSE and
R² for regression), the discriminator's accuracy and the unsupervised selection scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from dann_lightning.analysis.scores import SelectionScoreName
from dann_lightning.domain_head import DomainHead
from dann_lightning.errors import ConfigurationError
from dann_lightning.selection import SelectionScore
from dann_lightning.tasks import ClassificationTask, Task

TRAINING_MEANS = ("cls_loss", "domain_loss", "domain_acc")


class TrainingMeans:
    """Epoch means of several per-batch scalars, weighted by batch size. A step keeps its detached
    values (no host-device sync, none of a Metric's per-update bookkeeping); the epoch end stacks
    and reduces them, across processes where a strategy is given.

    Examples:
        >>> means = TrainingMeans()
        >>> means.update([torch.tensor(1.0), torch.tensor(4.0)], 3)
        >>> means.update([torch.tensor(2.0), torch.tensor(0.0)], 1)
        >>> means.compute()
        tensor([1.2500, 3.0000])
    """

    def __init__(self) -> None:
        self.rows: list[list[Tensor]] = []
        self.weights: list[int] = []

    def update(self, values: Sequence[Tensor], weight: int) -> None:
        self.rows.append([value.detach() for value in values])  # stacked at the epoch end
        self.weights.append(weight)

    def compute(self, strategy: Any = None) -> Tensor:
        """The weighted means (summed over processes by ``strategy.reduce``, if given), then forget the rows."""
        rows = torch.stack([torch.stack(row) for row in self.rows]).double()
        weights = torch.tensor(self.weights, dtype=torch.float64, device=rows.device)
        totals = torch.cat([(rows * weights[:, None]).sum(dim=0), weights.sum()[None]])
        if strategy is not None:
            totals = strategy.reduce(totals, reduce_op="sum")
        self.rows, self.weights = [], []
        return (totals[:-1] / totals[-1]).float()


class DomainMetrics(nn.Module):
    """Metrics logged as ``train/<loss>`` (epoch means), ``<stage>/<domain>_<metric>`` (``acc``;
    ``mae``, ``rmse``, ``r2`` for regression), ``val/domain_acc`` and ``val/<score>``.

    Update it with what a step computed
    ([`update_training`][dann_lightning.metrics.DomainMetrics.update_training],
    [`update`][dann_lightning.metrics.DomainMetrics.update]), then log
    [`metrics`][dann_lightning.metrics.DomainMetrics.metrics] as Metric objects: Lightning reduces
    them across processes and resets them.

    Args:
        num_classes: classes of the label classifier.
        head: the domain head (which domains exist, how the discriminator is scored).
        selection_scores: names from [`SCORES`][dann_lightning.analysis.scores.SCORES].
        task: what the model predicts (a [`RegressionTask`][dann_lightning.tasks.RegressionTask] or
            [`ClassificationTask`][dann_lightning.tasks.ClassificationTask]); default:
            classification into ``num_classes`` classes.
    """

    def __init__(
        self,
        num_classes: int,
        head: DomainHead,
        selection_scores: Sequence[SelectionScoreName],
        task: Task | None = None,
    ) -> None:
        super().__init__()
        self.head = head
        self.task = ClassificationTask(num_classes) if task is None else task
        self.training_means = TrainingMeans()
        self.evaluation = nn.ModuleDict(
            {
                f"{stage}_{domain}_{name}": metric
                for stage in ("val", "test")
                for domain in head.domain_names
                for name, metric in self.task.metrics().items()
            }
        )
        self.domain_accuracy = head.accuracy_metric()
        losses = self.task.sample_losses
        self.scores = nn.ModuleDict({name: SelectionScore(name, num_classes, losses) for name in selection_scores})

    def update_training(self, batch_size: int, cls_loss: Tensor, domain_loss: Tensor, domain_acc: Tensor) -> None:
        """Take one training batch's classification loss, domain loss and discriminator accuracy."""
        self.training_means.update((cls_loss, domain_loss, domain_acc), batch_size)

    def update(
        self,
        stage: str,
        domain: str,
        features: Tensor,
        logits: Tensor,
        labels: Tensor | None,
        domain_logits: Tensor | None = None,
    ) -> None:
        """Take one evaluation batch of ``domain``: its features, class logits, labels (if any)
        and, at validation, the discriminator's logits."""
        if labels is not None:
            for name in self.task.metric_names:
                self.task.update_metric(self.evaluation[f"{stage}_{domain}_{name}"], logits, labels)
        if stage != "val":
            return
        if domain_logits is not None:
            domain_ids = torch.full((len(domain_logits),), self.head.domain_id(domain), device=domain_logits.device)
            self.domain_accuracy.update(domain_logits, domain_ids)
        for score in self.scores.values():
            score.update(domain, None, features, logits, labels)

    def training_epoch_means(self, strategy: Any = None) -> dict[str, float]:
        """``train/cls_loss``, ``train/domain_loss``, ``train/domain_acc``: the epoch's means (over
        every process, given the Trainer's strategy); empty when no batch was seen."""
        if not self.training_means.rows:
            return {}
        means = self.training_means.compute(strategy).tolist()
        return {f"train/{name}": mean for name, mean in zip(TRAINING_MEANS, means, strict=True)}

    def metrics(self, stage: str) -> dict[str, Metric]:
        """The metrics of evaluation ``stage`` that saw data, by their logged names."""
        metrics: dict[str, Metric] = {
            f"{stage}/{key.split('_', 1)[1]}": metric
            for key, metric in self.evaluation.items()
            if key.startswith(f"{stage}_")
        }
        if stage == "val":
            metrics["val/domain_acc"] = self.domain_accuracy
            for name, score in self.scores.items():
                if score.has_data:
                    metrics[f"val/{name}"] = score.metric
                else:  # e.g. DEV without labelled source validation rows
                    score.metric.reset()
        return {name: metric for name, metric in metrics.items() if metric.update_called}


def loader_domain(loaders: Any, stage: str, dataloader_idx: int, head: DomainHead) -> str:
    """Which domain an evaluation loader holds: its key in a dict of loaders, else by position
    (validation: the sources then the target; test: the target)."""
    if isinstance(loaders, Mapping):
        domain = list(loaders)[dataloader_idx]
    else:
        order = head.domain_names if stage == "val" else ["target"]
        domain = order[dataloader_idx] if dataloader_idx < len(order) else f"#{dataloader_idx}"
    if domain not in head.domain_names:
        valid = ", ".join(repr(name) for name in head.domain_names)
        raise ConfigurationError(
            f"{stage} dataloaders must be a dict with keys among {valid} (or a list in that order); "
            f"got loader {domain!r}"
        )
    return domain
