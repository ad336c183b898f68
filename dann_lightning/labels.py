"""The one check of class labels: training batches, in-memory datasets and arrays all go through it."""

from __future__ import annotations

import torch
from torch import Tensor

from dann_lightning.errors import DataError


def check_labels(labels: Tensor, num_classes: int | None, domain: str, *, indexed: bool = False) -> None:
    """Raise :class:`~dann_lightning.errors.DataError` unless ``labels`` are class indices.

    Class indices have an integer dtype, shape ``(n,)`` and, when ``num_classes`` is given, values
    in ``[0, num_classes)``. One host sync when ``num_classes`` is given, none otherwise.

    Args:
        labels: the labels to check.
        num_classes: the number of classes, or ``None`` to check dtype and shape only.
        domain: what the labels belong to (``"source"``, ``"source_train"``, ``"y_source"``), for
            the message.
        indexed: the positions of ``labels`` mean something to the user (a dataset, an array;
            not a shuffled batch): the message then names the first bad label's index.

    Examples:
        >>> check_labels(torch.tensor([0, 2, 1]), 3, "source")
        >>> check_labels(torch.tensor([0, 3, 1]), 3, "source_train", indexed=True)
        Traceback (most recent call last):
        ...
        dann_lightning.errors.DataError: source_train label 3 at index 1 lies outside [0, num_classes=3)
    """
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise DataError(f"{domain} labels must be integer class indices, got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise DataError(f"{domain} labels must be one per row, shape (rows,), got shape {tuple(labels.shape)}")
    if num_classes is None:
        return
    outside = (labels < 0) | (labels >= num_classes)
    if bool(outside.any()):
        index = int(outside.nonzero()[0, 0])
        where = f" at index {index}" if indexed else ""
        raise DataError(f"{domain} label {int(labels[index])}{where} lies outside [0, num_classes={num_classes})")
