"""What the training step trains: one or more candidates, each a set of the three networks with its
own ``lambda_max``, and which of them the model keeps.

[`DANNLitModule`][dann_lightning.DANNLitModule] loops over its candidates in the training and
validation steps. With a number for ``lambda_max`` there is one,
[`FixedLambda`][dann_lightning.candidates.FixedLambda]: the model's own networks. With
``lambda_max="auto"`` there are several,
[`LambdaSearch`][dann_lightning.lambda_search.LambdaSearch], and a label-free score keeps one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from dann_lightning.metrics import DomainMetrics


class Candidates(nn.Module):
    """The candidates of a model: their networks, their ``lambda_max`` and metrics, and the kept one.

    A subclass names what the optimizers train ([`trained`][dann_lightning.candidates.Candidates.trained])
    and how validation ends ([`end_validation`][dann_lightning.candidates.Candidates.end_validation]);
    the other hooks do nothing here.
    """

    lambdas: tuple[float, ...]

    def trained(self, model: nn.Module) -> list[nn.Module]:
        """Each candidate's networks (``feature_extractor``, ``classifier``, ``discriminator``), in order."""
        raise NotImplementedError

    def metrics_of(self, index: int) -> DomainMetrics:
        """The validation metrics of candidate ``index``."""
        raise NotImplementedError

    @property
    def kept_index(self) -> int:
        """Index of the kept candidate; -1 while none is chosen."""
        raise NotImplementedError

    @property
    def kept_lambda(self) -> float:
        """``lambda_max`` of the kept candidate (0 while none is chosen)."""
        return self.lambdas[self.kept_index] if self.kept_index >= 0 else 0.0

    def start_from(self, model: nn.Module) -> None:
        """Give every candidate ``model``'s current weights (after lazy layers took their widths)."""

    def check_fit(self, trainer: Any, data: Any) -> None:
        """Raise ``ConfigurationError`` before training when the candidates cannot be chosen among."""

    def update(
        self, index: int, domain: str, inputs: Tensor, features: Tensor, logits: Tensor, labels: Tensor | None
    ) -> None:
        """Take candidate ``index``'s outputs on one validation batch (to score it)."""

    def end_validation(self, model: nn.Module, *, sanity_checking: bool) -> Mapping[str, Any]:
        """What to log at the end of a validation epoch (after choosing, where there is a choice)."""
        raise NotImplementedError

    def end_training(self, model: nn.Module) -> None:
        """Leave ``model`` holding the kept candidate's weights."""


class FixedLambda(Candidates):
    """One candidate, the model's own networks, with a fixed ``lambda_max``.

    Args:
        lambda_max: the final weight of the reversed domain gradient.
        metrics: the model's metrics (owned by the model: not registered here again).
    """

    def __init__(self, lambda_max: float, metrics: DomainMetrics) -> None:
        super().__init__()
        self.lambdas = (float(lambda_max),)
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
