"""Pure functional losses, computed in float32 (safe under mixed precision).

Domain labels are integer domain ids (see :mod:`dann_lightning.domain_head`): 0 for the source and
1 for the target with one source; ``0 .. K-1`` for ``K`` sources and ``K`` for the target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def classification_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy of class logits."""
    return F.cross_entropy(logits.float(), labels)


def domain_loss(logits: Tensor, domain_ids: Tensor, reduction: str = "mean") -> Tensor:
    """The discriminator's loss: binary cross-entropy of one logit per sample (source 0, target 1),
    or cross-entropy of ``K + 1`` logits per sample over the domain ids."""
    if logits.ndim == 1:
        return F.binary_cross_entropy_with_logits(logits.float(), domain_ids.float(), reduction=reduction)
    return F.cross_entropy(logits.float(), domain_ids, reduction=reduction)


def weighted_domain_loss(logits: Tensor, domain_ids: Tensor, source_weights: Tensor | None = None) -> Tensor:
    """[`domain_loss`][dann_lightning.losses.domain_loss] with the first ``len(source_weights)`` rows
    (the source rows) weighted, the others by 1: the mean of the weighted per-row losses."""
    if source_weights is None:
        return domain_loss(logits, domain_ids)
    per_row = domain_loss(logits, domain_ids, reduction="none")
    weights = torch.cat([source_weights.float(), per_row.new_ones(len(per_row) - len(source_weights))])
    return (weights * per_row).mean()
