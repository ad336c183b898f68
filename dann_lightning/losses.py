"""Pure functional losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SOURCE, TARGET = 0.0, 1.0  # domain labels of the discriminator


def domain_labels(n_source: int, n_target: int, device: torch.device | None = None) -> Tensor:
    """``n_source`` zeros then ``n_target`` ones, float32: the discriminator's targets."""
    return torch.cat([torch.full((n_source,), SOURCE, device=device), torch.full((n_target,), TARGET, device=device)])


def domain_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Binary cross-entropy of domain logits, in float32 (safe under mixed precision)."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels)


def classification_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy of class logits, in float32."""
    return F.cross_entropy(logits.float(), labels)
