"""Unpacking and checking the batches DANNLitModule receives."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from dann_lightning.errors import ConfigurationError, DataError
from dann_lightning.labels import check_labels

__all__ = [
    "check_labels",
    "check_training_batch",
    "training_batch",
    "unpack_evaluation_batch",
    "unpack_training_batch",
]


def unpack_training_batch(batch: Mapping[str, Any]) -> tuple[list[tuple[Tensor, Tensor]], Tensor]:
    """``{"source": (x_s, y_s) | [(x_1, y_1), ...], "target": x_t | (x_t,) | (x_t, y_t)}`` ->
    ``([(x_s, y_s), ...], x_t)``: one pair per source domain.

    Target labels, if the dataset yields them, are dropped here: they never reach a loss.
    """
    if not isinstance(batch, Mapping) or "source" not in batch or "target" not in batch:
        keys = list(batch) if isinstance(batch, Mapping) else "n/a"
        raise DataError(
            f"a training batch must be a dict {{'source': (x_s, y_s), 'target': x_t}}, "
            f"got {type(batch).__name__} with keys {keys}"
        )
    source, target = batch["source"], batch["target"]
    sources = [source] if isinstance(source, (tuple, list)) and isinstance(source[0], Tensor) else list(source)
    for pair in sources:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], Tensor):
            raise DataError("the 'source' entry of a training batch must be (x_s, y_s), or a list of such pairs")
    x_t = target if isinstance(target, Tensor) else target[0]
    return [(x, y) for x, y in sources], x_t


def unpack_evaluation_batch(batch: Any) -> tuple[Tensor, Tensor | None]:
    """``x``, ``(x,)`` or ``(x, y)`` -> ``(x, y or None)``."""
    if isinstance(batch, Tensor):
        return batch, None
    if len(batch) == 1:
        return batch[0], None
    return batch[0], batch[1]


def check_training_batch(
    sources: list[tuple[Tensor, Tensor]],
    x_t: Tensor,
    num_classes: int | None,
    num_sources: int = 1,
    *,
    labels_check: Callable[[Tensor, str], None] | None = None,
) -> None:
    """Source count, shapes and label range of one training batch (syncs with the device: call
    once per fit). ``labels_check(labels, domain)`` replaces the class-index check (regression)."""
    if len(sources) != num_sources:
        raise ConfigurationError(
            f"the batch holds {len(sources)} source domain(s) but the model was built with num_sources={num_sources}"
        )
    for k, (x_s, y_s) in enumerate(sources):
        name = "source" if len(sources) == 1 else f"source {k}"
        if x_s.shape[1:] != x_t.shape[1:]:
            raise DataError(
                f"source and target features must share one shape: {name} batch has shape {tuple(x_s.shape)}, "
                f"target batch has shape {tuple(x_t.shape)}"
            )
        if labels_check is None:
            check_labels(y_s, num_classes, name)
        else:
            labels_check(y_s, name)


def training_batch(
    batch: Mapping[str, Any], head: Any, checked_for: Any = None
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x_source, y_source, x_target, domain ids)`` of a training batch, the sources concatenated.

    ``checked_for``: a model whose ``task``, ``num_classes`` and ``num_sources`` the batch is checked
    against (syncs with the device: pass it for the first batch of a fit only).
    """
    sources, x_t = unpack_training_batch(batch)
    if checked_for is not None:
        model = checked_for
        check_training_batch(sources, x_t, model.num_classes, model.num_sources, labels_check=model.task.check_labels)
    x_s = torch.cat([x for x, _ in sources]) if len(sources) > 1 else sources[0][0]
    y_s = torch.cat([y for _, y in sources]) if len(sources) > 1 else sources[0][1]
    return x_s, y_s, x_t, head.labels([len(x) for x, _ in sources], len(x_t), x_t.device)
