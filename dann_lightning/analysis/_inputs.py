"""Checking feature arrays handed to the analysis functions."""

from __future__ import annotations

import numpy as np
import torch

from dann_lightning.errors import DataError


def as_feature_matrix(values: object, name: str, *, min_samples: int = 1) -> np.ndarray:
    """A finite float64 ``(N, D)`` array, or ValueError naming ``name`` and what was wrong."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.ndim != 2:
        raise DataError(f"{name} must be a 2-D array (samples, features), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(f"{name} must hold real numbers, got dtype {array.dtype}")
    if len(array) < min_samples:
        raise DataError(f"{name} needs at least {min_samples} samples, got {len(array)}")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise DataError(f"{name} holds NaN or inf (first in row {row})")
    return array.astype(np.float64, copy=False)


def check_same_width(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise DataError(f"{a_name} has {a.shape[1]} features per sample but {b_name} has {b.shape[1]}")
