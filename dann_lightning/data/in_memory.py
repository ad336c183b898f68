"""In-memory tensors served a whole batch at a time, and arrays checked on the way in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from dann_lightning.errors import DataError
from dann_lightning.labels import check_labels


class InMemoryDataset(TensorDataset):
    """A ``TensorDataset`` that fetches a whole batch with one indexing operation.

    PyTorch's ``DataLoader`` calls ``__getitems__`` with the batch's indices; the batch comes back
    already stacked, so it must be paired with :meth:`collate` (a pass-through) instead of the
    default per-sample collation. ``DomainDataModule`` does this for every ``TensorDataset`` it
    is given, shuffled and sharded by the same samplers as before.

    Examples:
        >>> data = InMemoryDataset(torch.arange(10.0).view(5, 2), torch.arange(5))
        >>> x, y = InMemoryDataset.collate(data.__getitems__([4, 0]))
        >>> x.tolist(), y.tolist()
        ([[8.0, 9.0], [0.0, 1.0]], [4, 0])
    """

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, ...]:
        if isinstance(indices, Tensor):
            index = indices.long()
        else:  # the samplers' list of ints: numpy converts it several times faster than torch.as_tensor
            index = torch.from_numpy(np.fromiter(indices, dtype=np.int64, count=len(indices)))
        return tuple(tensor[index] for tensor in self.tensors)

    @staticmethod
    def collate(batch: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        return batch


def batched_view(dataset: Any) -> InMemoryDataset | None:
    """The same tensors as an :class:`InMemoryDataset` if ``dataset`` is a plain ``TensorDataset``.

    Subclasses are left alone: their ``__getitem__`` may do more than index.
    """
    if isinstance(dataset, InMemoryDataset):
        return dataset
    if type(dataset) is TensorDataset:
        return InMemoryDataset(*dataset.tensors)
    return None


def features_tensor(array: Any, name: str) -> Tensor:
    """A finite float32 tensor of ``array`` (numpy or torch), or DataError naming ``name``."""
    tensor = _as_numeric_tensor(array, name)
    if tensor.ndim < 2:
        raise DataError(f"{name} must have shape (rows, features...), got shape {tuple(tensor.shape)}")
    tensor = tensor.float() if tensor.dtype != torch.float32 else tensor
    finite = torch.isfinite(tensor.reshape(len(tensor), -1)).all(dim=1)
    if not bool(finite.all()):
        raise DataError(f"{name} holds NaN or inf; the first such row is {int((~finite).nonzero()[0, 0])}")
    return tensor


def labels_tensor(array: Any, name: str, rows: int, rows_name: str) -> Tensor:
    """An int64 tensor of class indices with ``rows`` entries, or DataError naming ``name``.

    Whole numbers stored as floats (numpy's default dtype) are taken as class indices.
    """
    tensor = _as_numeric_tensor(array, name)
    if tensor.ndim == 2 and tensor.shape[1] == 1:  # a column vector
        tensor = tensor.reshape(-1)
    if tensor.is_floating_point():
        whole = torch.isfinite(tensor) & (tensor == tensor.round())
        if not bool(whole.all()):
            bad = int((~whole).nonzero()[0, 0])
            raise DataError(f"{name} must hold integer class indices; row {bad} holds {tensor[bad].tolist()}")
        tensor = tensor.long()
    check_labels(tensor, None, name)
    if len(tensor) != rows:
        raise DataError(f"{name} has {len(tensor)} labels but {rows_name} has {rows} rows")
    return tensor.long()


def targets_tensor(array: Any, name: str, rows: int, rows_name: str) -> Tensor:
    """A finite float32 tensor of regression targets, ``(rows,)`` or ``(rows, k)``, or DataError
    naming ``name`` and the first bad row."""
    tensor = _as_numeric_tensor(array, name).float()
    if tensor.ndim not in (1, 2):
        raise DataError(f"{name} must have shape (rows,) or (rows, outputs), got shape {tuple(tensor.shape)}")
    finite = torch.isfinite(tensor.reshape(len(tensor), -1)).all(dim=1)
    if not bool(finite.all()):
        bad = int((~finite).nonzero()[0, 0])
        raise DataError(f"{name} row {bad} holds {tensor[bad].tolist()}: regression targets must be finite numbers")
    if len(tensor) != rows:
        raise DataError(f"{name} has {len(tensor)} targets but {rows_name} has {rows} rows")
    return tensor


def _as_numeric_tensor(array: Any, name: str) -> Tensor:
    if isinstance(array, Tensor):
        tensor = array.detach().cpu()
    else:
        values = np.asarray(array)
        if values.dtype == object or not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
            raise DataError(f"{name} must be numeric, got an array of dtype {values.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(values))
    if tensor.is_complex():
        raise DataError(f"{name} must be real numbers, got dtype {tensor.dtype}")
    if tensor.dtype == torch.bool:
        tensor = tensor.long()
    if len(tensor) == 0:
        raise DataError(f"{name} is empty: it needs at least one row")
    return tensor
