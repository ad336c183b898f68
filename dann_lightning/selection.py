"""One registry of the label-free scores: what each reads, which way is better, what it needs.

Everything that scores a model without target labels goes through here: the ``val/<score>``
metrics a model logs ([`DomainMetrics`][dann_lightning.metrics.DomainMetrics]), the criterion of
``lambda_max="auto"`` ([`LambdaSearch`][dann_lightning.lambda_search.LambdaSearch]), ``analyze``
and the study scripts.

| name | reads | better | needs |
|---|---|---|---|
| ``entropy`` | target predictions | lower | classes |
| ``im`` | target predictions | higher | classes |
| ``snd`` | target predictions | higher | classes |
| ``consistency`` | target inputs and predicted classes | higher | classes |
| ``dev`` | features of both domains, losses on labelled source rows | lower | labelled source rows |
| ``source_acc`` | predictions on labelled source rows | higher | classes, labelled source rows |

Examples:
    >>> import torch
    >>> score = SelectionScore("entropy", num_classes=2)
    >>> score.update("target", inputs=None, features=None, logits=torch.tensor([[9.0, -9.0], [-9.0, 9.0]]))
    >>> score.higher_is_better, round(score.compute(), 4)
    (False, 0.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy

from dann_lightning.analysis.scores import (
    DeepEmbeddedValidation,
    InformationMaximization,
    NeighbourhoodConsistency,
    PredictionEntropy,
    SelectionScoreName,
    SoftNeighborhoodDensity,
)
from dann_lightning.checks import check_choice

Reads = Literal["target_logits", "target_inputs", "source_logits", "features"]


@dataclass(frozen=True)
class ScoreSpec:
    """One label-free score: how to build its metric from the number of outputs, what it reads,
    which way is better and what it needs."""

    make: Callable[[int, dict], Metric]  # (outputs per row, {"max_samples": n} or {}) -> the metric
    reads: Reads
    higher_is_better: bool
    needs_classes: bool = True
    needs_source_labels: bool = False


SCORE_SPECS: dict[str, ScoreSpec] = {
    "entropy": ScoreSpec(lambda classes, cap: PredictionEntropy(), "target_logits", higher_is_better=False),
    "im": ScoreSpec(lambda classes, cap: InformationMaximization(classes), "target_logits", higher_is_better=True),
    "snd": ScoreSpec(lambda classes, cap: SoftNeighborhoodDensity(**cap), "target_logits", higher_is_better=True),
    "consistency": ScoreSpec(
        lambda classes, cap: NeighbourhoodConsistency(classes, **cap), "target_inputs", higher_is_better=True
    ),
    "dev": ScoreSpec(
        lambda outputs, cap: DeepEmbeddedValidation(**cap),
        "features",
        higher_is_better=False,
        needs_classes=False,
        needs_source_labels=True,
    ),
    "source_acc": ScoreSpec(
        lambda classes, cap: MulticlassAccuracy(classes, average="micro"),
        "source_logits",
        higher_is_better=True,
        needs_source_labels=True,
    ),
}
"""Every label-free score, by name."""

LambdaCriterion = Literal["consistency", "source_acc", "entropy", "im", "snd", "dev"]
"""The scores ``lambda_max="auto"`` can choose its candidate by (``lambda_criterion``)."""


class SelectionScore(nn.Module):
    """One score of [`SCORE_SPECS`][dann_lightning.selection.SCORE_SPECS], fed with every validation
    batch of every domain; it takes from each what it reads.

    Args:
        name: the score's name.
        num_classes: the classifier's outputs (classes; numbers per row for regression).
        sample_losses: per-row loss of outputs and labels (what ``"dev"`` weighs); default cross-entropy.
        max_samples: rows per domain the scores with an N x N cost (SND, consistency, DEV) use at
            most, evenly spaced; default: each score's own.
    """

    def __init__(
        self,
        name: str,
        num_classes: int,
        sample_losses: Callable[[Tensor, Tensor], Tensor] | None = None,
        max_samples: int | None = None,
    ) -> None:
        super().__init__()
        check_choice("selection score", name, tuple(SCORE_SPECS))
        self.name = name
        self.metric = self.spec.make(num_classes, {} if max_samples is None else {"max_samples": max_samples})
        self.sample_losses = sample_losses or _cross_entropy_per_sample

    @property
    def spec(self) -> ScoreSpec:
        return SCORE_SPECS[self.name]  # looked up, not held: the registry's builders do not pickle

    @property
    def higher_is_better(self) -> bool:
        return self.spec.higher_is_better

    @property
    def needs_source_labels(self) -> bool:
        return self.spec.needs_source_labels

    @property
    def has_data(self) -> bool:
        """Whether it was fed what it needs (``"dev"``: rows of both domains)."""
        if isinstance(self.metric, DeepEmbeddedValidation):
            return self.metric.has_both_domains
        return bool(self.metric.update_called)

    def update(
        self, domain: str, inputs: Tensor | None, features: Tensor | None, logits: Tensor, labels: Tensor | None = None
    ) -> None:
        """Take one validation batch of ``domain`` (``"target"`` or a source's name)."""
        reads = self.spec.reads
        if domain == "target":
            if reads == "target_logits":
                self.metric.update(logits)
            elif reads == "target_inputs":
                self.metric.update(inputs, logits)
            elif reads == "features":
                self.metric.update(features)
        elif labels is not None:  # a labelled source
            if reads == "source_logits":
                self.metric.update(logits, labels)
            elif reads == "features":
                self.metric.update(features, losses=self.sample_losses(logits, labels))

    def compute(self) -> float:
        """The score (NaN when it saw nothing it reads), then forget the batches."""
        value = float(self.metric.compute()) if self.has_data else float("nan")
        self.metric.reset()
        return value


def _cross_entropy_per_sample(logits: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(logits.float(), labels, reduction="none")


__all__ = ["SCORE_SPECS", "LambdaCriterion", "ScoreSpec", "SelectionScore", "SelectionScoreName"]
