"""A weighted combination of candidates as one feature extractor and one classifier, so that
``forward``, ``test``, ``predict`` and export run it as they run a single model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dann_lightning.choice import combine


class CandidateFeatures(nn.Module):
    """Every candidate's features of the same rows, stacked: ``(rows, candidates, ...)``."""

    def __init__(self, feature_extractors: Sequence[nn.Module]) -> None:
        super().__init__()
        self.feature_extractors = nn.ModuleList(feature_extractors)

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([net(x) for net in self.feature_extractors], dim=1)


class WeightedHeads(nn.Module):
    """Each candidate's classifier on its features, combined with fixed weights
    ([`combine`][dann_lightning.choice.combine]): log-probabilities as class logits, or numbers.

    Examples:
        >>> import torch
        >>> heads = WeightedHeads([nn.Identity(), nn.Identity()], torch.tensor([0.5, 0.5]), classification=False)
        >>> heads(torch.tensor([[[1.0], [3.0]]]))
        tensor([[2.]])
    """

    def __init__(self, classifiers: Sequence[nn.Module], weights: Tensor, classification: bool) -> None:
        super().__init__()
        self.classifiers = nn.ModuleList(classifiers)
        self.register_buffer("weights", weights.detach().clone().float())
        self.classification = classification

    def forward(self, features: Tensor) -> Tensor:
        outputs = [head(features[:, index]) for index, head in enumerate(self.classifiers)]
        return combine(outputs, self.weights, self.classification)
