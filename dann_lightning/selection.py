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
| ``ensv`` | every candidate's target predictions | higher | several candidates |
| ``mixval`` | predictions on mixes of target inputs | higher | classes, the networks |
| ``dev`` | features of both domains, losses on labelled source rows | lower | labelled source rows |
| ``iwcv`` | importance-weighted losses on labelled source rows | lower | labelled source rows |
| ``iwa`` | importance-weighted squared errors on labelled source rows | lower | labelled source rows |
| ``reverse`` | target labels carried back to labelled source rows | higher | classes, labelled source rows |
| ``source_acc`` | predictions on labelled source rows | higher | classes, labelled source rows |

The scores with a metric (``entropy``, ``im``, ``snd``, ``consistency``, ``dev``, ``source_acc``)
can be logged for one model; the others compare the candidates of ``lambda_max="auto"``
([`criteria`][dann_lightning.criteria] computes each, row by row).

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
from dann_lightning.criteria import (
    CandidateOutputs,
    consistency_rows,
    dev_rows,
    ensv_rows,
    entropy_rows,
    im_rows,
    iwa_rows,
    iwcv_rows,
    mixval_rows,
    reverse_rows,
    snd_rows,
    source_acc_rows,
)

Reads = Literal["target_logits", "target_inputs", "source_logits", "features", "candidates"]


@dataclass(frozen=True)
class ScoreSpec:
    """One label-free score: what it reads, which way is better, what it needs; how to build its
    logged metric from the number of outputs (``None``: it compares candidates and is not logged
    per model); and its value per candidate and validation row for ``lambda_max="auto"``."""

    make: Callable[[int, dict], Metric] | None  # (outputs per row, {"max_samples": n} or {}) -> the metric
    reads: Reads
    higher_is_better: bool
    rows: Callable[[CandidateOutputs], Tensor]
    needs_classes: bool = True
    needs_source_labels: bool = False
    can_combine: bool = False  # lambda_keep="combination": weighs the candidates (IWA)


SCORE_SPECS: dict[str, ScoreSpec] = {
    "entropy": ScoreSpec(lambda classes, cap: PredictionEntropy(), "target_logits", False, entropy_rows),
    "im": ScoreSpec(lambda classes, cap: InformationMaximization(classes), "target_logits", True, im_rows),
    "snd": ScoreSpec(lambda classes, cap: SoftNeighborhoodDensity(**cap), "target_logits", True, snd_rows),
    "consistency": ScoreSpec(
        lambda classes, cap: NeighbourhoodConsistency(classes, **cap), "target_inputs", True, consistency_rows
    ),
    "ensv": ScoreSpec(None, "candidates", True, ensv_rows, needs_classes=False),
    "mixval": ScoreSpec(None, "candidates", True, mixval_rows),
    "dev": ScoreSpec(
        lambda outputs, cap: DeepEmbeddedValidation(**cap),
        "features",
        False,
        dev_rows,
        needs_classes=False,
        needs_source_labels=True,
    ),
    "iwcv": ScoreSpec(None, "candidates", False, iwcv_rows, needs_classes=False, needs_source_labels=True),
    "iwa": ScoreSpec(
        None, "candidates", False, iwa_rows, needs_classes=False, needs_source_labels=True, can_combine=True
    ),
    "reverse": ScoreSpec(None, "candidates", True, reverse_rows, needs_source_labels=True),
    "source_acc": ScoreSpec(
        lambda classes, cap: MulticlassAccuracy(classes, average="micro"),
        "source_logits",
        True,
        source_acc_rows,
        needs_source_labels=True,
    ),
}
"""Every label-free score, by name."""

LambdaCriterion = Literal[
    "consistency", "source_acc", "entropy", "im", "snd", "dev", "ensv", "mixval", "iwcv", "iwa", "reverse"
]
"""The scores ``lambda_max="auto"`` can choose its candidate by (``lambda_criterion``)."""
LOGGED_SCORES = tuple(name for name, spec in SCORE_SPECS.items() if spec.make is not None)


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
        check_choice("selection score", name, LOGGED_SCORES)
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


__all__ = ["LOGGED_SCORES", "SCORE_SPECS", "LambdaCriterion", "ScoreSpec", "SelectionScore", "SelectionScoreName"]
