"""The discriminator's side of the task: domain ids, labels, loss and accuracy, for one source
(a binary discriminator) or several (a ``K + 1``-way one).

One domain-id convention for the whole package: source ``k`` has id ``k``, the target has id
``K`` (the number of sources). With one source that is 0 for the source and 1 for the target.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

from dann_lightning.errors import ConfigurationError

SOURCE_DOMAIN = 0  # the (first) source
TARGET_DOMAIN = 1  # the target, with one source


class DomainHead:
    """Labels, loss and accuracy of the discriminator for ``num_sources`` source domains.

    Examples:
        >>> head = DomainHead(num_sources=1)
        >>> head.labels([2], 3, torch.device("cpu"))
        tensor([0, 0, 1, 1, 1])
        >>> DomainHead(num_sources=2).labels([1, 2], 1, torch.device("cpu"))
        tensor([0, 1, 1, 2])
    """

    def __init__(self, num_sources: int) -> None:
        self.num_sources = num_sources
        self.source_names = ["source"] if num_sources == 1 else [f"source_{k}" for k in range(num_sources)]
        self.domain_names = [*self.source_names, "target"]
        self._labels: dict[tuple, Tensor] = {}

    @property
    def binary(self) -> bool:
        return self.num_sources == 1

    @property
    def target_id(self) -> int:
        return self.num_sources

    def domain_id(self, name: str) -> int:
        """The id of a domain named as in :attr:`domain_names`."""
        return self.domain_names.index(name)

    def labels(self, source_sizes: list[int], n_target: int, device: torch.device) -> Tensor:
        """Domain ids of a batch laid out as the sources in order, then the target (int64)."""
        key = (*source_sizes, n_target, device)
        labels = self._labels.get(key)  # batch sizes repeat: build each labelling once
        if labels is None:
            sizes = torch.tensor([*source_sizes, n_target], device=device)
            labels = torch.repeat_interleave(torch.arange(self.num_sources + 1, device=device), sizes)
            self._labels[key] = labels
        return labels

    def check_logits(self, logits: Tensor, n: int) -> Tensor:
        """The discriminator's output, checked: shape ``(n,)`` when binary, ``(n, K + 1)`` otherwise."""
        if not self.binary:
            domains = self.num_sources + 1
            if logits.shape != (n, domains):
                raise ConfigurationError(
                    f"with num_sources={self.num_sources} the discriminator must return {domains} logits per "
                    f"sample, shape ({n}, {domains}), got shape {tuple(logits.shape)}"
                )
            return logits
        if logits.shape not in ((n,), (n, 1)):
            raise ConfigurationError(
                f"discriminator must return one logit per sample, shape ({n},) or ({n}, 1), "
                f"got shape {tuple(logits.shape)}"
            )
        return logits.reshape(n)

    def accuracy(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Fraction of samples whose domain the discriminator tells right."""
        predicted = (logits > 0).long() if self.binary else logits.argmax(dim=1)
        return (predicted == labels).float().mean()

    def accuracy_metric(self) -> Metric:
        """A torchmetrics accuracy of the discriminator, for evaluation loops."""
        return BinaryAccuracy() if self.binary else MulticlassAccuracy(self.num_sources + 1, average="micro")
