"""Standardisation fitted on the source domain only, restorable from a checkpoint: per feature
(tables) or per channel (images).

The one standardisation of the package: :func:`standardize` is the arithmetic,
:class:`Standardizer` / :class:`ChannelNormalizer` fit and keep its statistics (data modules, the
shift suite, regression targets), and ``preprocessing.Standardize`` folds the same statistics into
an exported model.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dann_lightning.errors import CheckpointError, ConfigurationError, DataError


def standardize(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``(x - mean) / std``, broadcasting ``mean`` and ``std`` over the leading (batch) axes.

    Examples:
        >>> standardize(torch.tensor([[3.0, 0.0]]), torch.tensor([1.0, 10.0]), torch.tensor([2.0, 5.0]))
        tensor([[ 1., -2.]])
    """
    return (x - mean) / std


class FittedStatistics:
    """A mean and a standard deviation from one fit, restorable from a checkpoint.

    Its ``state_dict`` holds plain tensors, so a data module keeps it in the checkpoint and a
    resumed or evaluated run transforms its data exactly as training did.
    """

    dtype = torch.float64  # of the statistics once restored

    def __init__(self) -> None:
        self.mean: Tensor | None = None
        self.std: Tensor | None = None

    @property
    def fitted(self) -> bool:
        return self.mean is not None

    def fit(self, x: Tensor) -> FittedStatistics:
        raise NotImplementedError

    def transform(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Tensor]:
        if self.mean is None or self.std is None:
            return {}
        return {"mean": self.mean.clone(), "std": self.std.clone()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if not state:
            return
        missing = {"mean", "std"} - set(state)
        if missing:
            raise CheckpointError(
                f"{type(self).__name__} state lacks {sorted(missing)}; expected keys 'mean' and 'std'"
            )
        self.mean, self.std = state["mean"].to(self.dtype), state["std"].to(self.dtype)

    def _fitted_statistics(self) -> tuple[Tensor, Tensor]:
        if self.mean is None or self.std is None:
            raise ConfigurationError(f"{type(self).__name__}.transform called before fit or load_state_dict")
        return self.mean, self.std


class Standardizer(FittedStatistics):
    """Per-feature ``(x - mean) / std`` with statistics from one fit (the source training split), in
    float64; a constant feature keeps its values centred (its std counts as 1).

    Examples:
        >>> scaler = Standardizer().fit(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
        >>> scaler.transform(torch.tensor([[2.0, 7.0]]))
        tensor([[0., 2.]])
    """

    def fit(self, x: Tensor) -> Standardizer:
        if len(x) == 0:
            raise DataError("cannot fit a Standardizer on an empty tensor")
        x = x.double()
        self.mean = x.mean(dim=0)
        std = x.std(dim=0, correction=0)
        # A constant feature keeps its values centred instead of dividing by zero.
        self.std = torch.where(std > 0, std, torch.ones_like(std))
        return self

    def transform(self, x: Tensor) -> Tensor:
        mean, std = self._fitted_statistics()
        if x.shape[1:] != mean.shape:
            raise DataError(
                f"Standardizer was fitted on features of shape {tuple(mean.shape)}, got {tuple(x.shape[1:])}"
            )
        return standardize(x.double(), mean, std).to(x.dtype)


class ChannelNormalizer(FittedStatistics):
    """Per-channel ``(x - mean) / std`` of ``(N, C, H, W)`` images, statistics from one fit."""

    dtype = torch.float32

    def fit(self, images: Tensor) -> ChannelNormalizer:
        """Mean and standard deviation of each channel of ``(N, C, H, W)`` images (any dtype; read in
        chunks, so uint8 data sets need no float copy)."""
        if images.ndim != 4 or len(images) == 0:
            raise DataError(f"ChannelNormalizer fits (N, C, H, W) images, N > 0; got shape {tuple(images.shape)}")
        total = torch.zeros(images.shape[1], dtype=torch.float64)
        squares = torch.zeros_like(total)
        for start in range(0, len(images), 4096):
            chunk = images[start : start + 4096].double().transpose(0, 1).flatten(1)
            total += chunk.sum(1)
            squares += chunk.square().sum(1)
        count = images.numel() // images.shape[1]
        mean = total / count
        std = (squares / count - mean.square()).clamp_min(0).sqrt()
        # A constant channel keeps its values centred instead of dividing by zero.
        self.mean, self.std = mean.float(), torch.where(std > 1e-12, std, torch.ones_like(std)).float()
        return self

    def transform(self, images: Tensor) -> Tensor:
        mean, std = self._fitted_statistics()
        if images.ndim != 4 or images.shape[1] != len(mean):
            raise DataError(
                f"ChannelNormalizer was fitted on {len(mean)}-channel images, got shape {tuple(images.shape)}"
            )
        return standardize(images, mean[:, None, None], std[:, None, None])
