"""What the training step trains: one or more candidates, each a set of the three networks with its
own [setting][dann_lightning.candidate_settings.CandidateSetting] (``lambda_max`` and target
objectives), and what the model keeps of them.

[`DANNLitModule`][dann_lightning.DANNLitModule] loops over its candidates in the training and
validation steps. With a number for ``lambda_max`` there is one,
[`FixedLambda`][dann_lightning.candidates.FixedLambda]: the model's own networks. With
``lambda_max="auto"`` there are several,
[`LambdaSearch`][dann_lightning.lambda_search.LambdaSearch], and a criterion keeps one of them, or
a weighted combination of all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dann_lightning.candidate_settings import CandidateSetting
from dann_lightning.metrics import DomainMetrics
from dann_lightning.target_terms import TargetTerms


class Candidates(nn.Module):
    """The candidates of a model: their networks, settings, target objectives and metrics, and what
    is kept.

    A subclass names what the optimizers train ([`trained`][dann_lightning.candidates.Candidates.trained])
    and how validation ends ([`end_validation`][dann_lightning.candidates.Candidates.end_validation]);
    the other hooks do nothing here.
    """

    settings: tuple[CandidateSetting, ...]
    terms: nn.ModuleList  # one TargetTerms per candidate

    @property
    def lambdas(self) -> tuple[float, ...]:
        """Each candidate's ``lambda_max``."""
        return tuple(setting.lambda_max for setting in self.settings)

    def trained(self, model: nn.Module) -> list[nn.Module]:
        """Each candidate's networks (``feature_extractor``, ``classifier``, ``discriminator``), in order."""
        raise NotImplementedError

    def metrics_of(self, index: int) -> DomainMetrics:
        """The validation metrics of candidate ``index``."""
        raise NotImplementedError

    @property
    def kept_index(self) -> int:
        """Index of the kept candidate (with a combination: its largest weight); -1 while none is chosen."""
        raise NotImplementedError

    @property
    def kept_lambda(self) -> float:
        """``lambda_max`` of the kept candidate (0 while none is chosen)."""
        return self.lambdas[self.kept_index] if self.kept_index >= 0 else 0.0

    @property
    def reads_target_predictions(self) -> bool:
        """Whether any candidate's loss needs the classifier's outputs on target rows."""
        return any(terms.reads_target_predictions for terms in self.terms)

    def deployed(self, model: nn.Module) -> tuple[nn.Module, nn.Module]:
        """The feature extractor and classifier ``forward``, ``test``, ``predict`` and export run."""
        return model.feature_extractor, model.classifier

    def start_from(self, model: nn.Module) -> None:
        """Give every candidate ``model``'s current weights (after lazy layers took their widths)."""

    def check_fit(self, trainer: Any, data: Any) -> None:
        """Raise ``ConfigurationError`` before training when the candidates cannot be chosen among."""

    def update(
        self, domain: str, inputs: Tensor, labels: Tensor | None, outputs: Sequence[Mapping[str, Tensor]]
    ) -> None:
        """Take every candidate's ``features`` and ``logits`` on one validation batch (to score them)."""

    def end_training_epoch(self, strategy: Any) -> None:
        """Re-estimate what the target objectives estimate over an epoch (label-shift weights)."""
        for terms in self.terms:
            terms.end_epoch(strategy)

    def end_validation(self, model: nn.Module, *, sanity_checking: bool) -> Mapping[str, Any]:
        """What to log at the end of a validation epoch (after choosing, where there is a choice)."""
        raise NotImplementedError

    def end_training(self, model: nn.Module) -> None:
        """Leave ``model`` holding the kept candidate's weights."""


class FixedLambda(Candidates):
    """One candidate, the model's own networks, with a fixed setting.

    Args:
        setting: ``lambda_max`` and the target objectives.
        metrics: the model's metrics (owned by the model: not registered here again).
        num_classes: the classifier's outputs.
        mcc_temperature: MCC's softmax temperature.
    """

    def __init__(
        self, setting: CandidateSetting, metrics: DomainMetrics, num_classes: int, mcc_temperature: float = 2.5
    ) -> None:
        super().__init__()
        self.settings = (setting,)
        self.terms = nn.ModuleList([TargetTerms(setting, num_classes, mcc_temperature)])
        self._metrics = [metrics]  # a list: the model registers them, a second registration would not help

    def trained(self, model: nn.Module) -> list[nn.Module]:
        return [model]

    def metrics_of(self, index: int) -> DomainMetrics:
        return self._metrics[index]

    @property
    def kept_index(self) -> int:
        return 0

    def end_validation(self, model: nn.Module, *, sanity_checking: bool) -> Mapping[str, Any]:
        return self._metrics[0].metrics("val")  # Metric objects: Lightning reduces and resets them


def sum_over_candidates(parts: list[tuple[Tensor, Tensor, Tensor]]) -> tuple[Tensor, Tensor, Tensor]:
    """``(classification loss, domain loss, discriminator accuracy)`` of every candidate on one batch
    -> the summed losses (each candidate's parameters get exactly their own gradient) and the mean
    accuracy. One candidate's pass through untouched: no extra operation on the step's path."""
    if len(parts) == 1:
        return parts[0]
    cls_loss, domain_loss, accuracy = (torch.stack(values).sum() for values in zip(*parts, strict=True))
    return cls_loss, domain_loss, accuracy / len(parts)
