"""The preprocessing a deployed model folds in: the data module's source-fitted standardisation, and
what the model's raw inputs are.

A data module standardises what it serves (a [`Standardizer`][dann_lightning.data.Standardizer] per
feature for tables, a ``ChannelNormalizer`` per channel for images), so a trained network has only
ever seen standardised inputs. [`Standardize`][dann_lightning.preprocessing.Standardize] is that step
as an ``nn.Module``, placed first in the exported model: a deployment feeds raw rows or pixels and
needs none of this package, nor the statistics beside the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from dann_lightning.data.contract import domain_data
from dann_lightning.data.transforms import ChannelNormalizer, FittedStatistics, Standardizer, standardize
from dann_lightning.errors import ConfigurationError

TABLE_INPUT = "float32 rows (N, F) of raw feature values, unstandardised, the columns in {order} order"


class Standardize(nn.Module):
    """``(x - mean) / std`` in float32: per feature of ``(N, F)`` rows, or per channel of
    ``(N, C, H, W)`` images (``per_channel``). The statistics are buffers: saved with the model,
    never trained. The data's own standardisation as a module: build it from the fitted
    ``Standardizer`` or ``ChannelNormalizer`` (:meth:`from_statistics`); the arithmetic is theirs
    (``dann_lightning.data.transforms.standardize``).

    Args:
        mean: one value per feature (or channel).
        std: as ``mean``, all positive.
        per_channel: broadcast over the image height and width.

    Examples:
        >>> standardize = Standardize([1.0, 10.0], [2.0, 5.0])
        >>> standardize(torch.tensor([[3.0, 0.0]]))
        tensor([[ 1., -2.]])
    """

    def __init__(self, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor, *, per_channel: bool = False):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float32).detach().clone()
        std = torch.as_tensor(std, dtype=torch.float32).detach().clone()
        if mean.ndim != 1 or mean.shape != std.shape or len(mean) == 0:
            raise ConfigurationError(
                f"Standardize needs mean and std of one equal length (one value per feature or channel), got shapes "
                f"{tuple(mean.shape)} and {tuple(std.shape)}"
            )
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
            raise ConfigurationError(f"Standardize needs a finite mean and a finite std > 0, got std {std.tolist()}")
        self.per_channel = per_channel
        shape = (-1, 1, 1) if per_channel else (-1,)
        self.register_buffer("mean", mean.view(shape))
        self.register_buffer("std", std.view(shape))

    @classmethod
    def from_statistics(cls, statistics: FittedStatistics) -> Standardize:
        """The module of a fitted (or checkpoint-restored) ``Standardizer`` or ``ChannelNormalizer``; their
        float64 statistics are cast to float32, the dtype the model computes in."""
        if not isinstance(statistics, Standardizer | ChannelNormalizer):
            raise ConfigurationError(
                f"cannot fold {type(statistics).__name__} into a model: expected a Standardizer or a ChannelNormalizer"
            )
        if statistics.mean is None or statistics.std is None:
            raise ConfigurationError(
                f"{type(statistics).__name__} is not fitted: set the data module up (setup('fit')) or train "
                "first, or export from a checkpoint"
            )
        if isinstance(statistics, Standardizer) and statistics.mean.ndim != 1:
            raise ConfigurationError(
                f"only feature rows can be folded in: the Standardizer was fitted on samples of shape "
                f"{tuple(statistics.mean.shape)}, expected (F,)"
            )
        return cls(statistics.mean, statistics.std, per_channel=isinstance(statistics, ChannelNormalizer))

    def forward(self, x: Tensor) -> Tensor:
        return standardize(x, self.mean, self.std)

    def describe(self) -> dict[str, Any]:
        """What ``export.json`` records of this step: its kind, axis, formula and statistics."""
        return {
            "kind": "standardize",
            "axis": "channel" if self.per_channel else "feature",
            "formula": "(x - mean) / std",
            "mean": self.mean.flatten().tolist(),
            "std": self.std.flatten().tolist(),
            "folded_into_model": True,
        }


class Unstandardize(nn.Module):
    """``x * std + mean``: regression outputs back in the label's units (the inverse of a data
    module's target standardisation, folded into an exported regressor).

    Examples:
        >>> Unstandardize(100.0, 10.0)(torch.tensor([[0.5]]))
        tensor([[105.]])
    """

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ConfigurationError(f"Unstandardize needs a finite mean and a finite std > 0, got {mean}, {std}")
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean

    def describe(self) -> dict[str, Any]:
        return {"kind": "unstandardize_outputs", "mean": float(self.mean), "std": float(self.std)}


@dataclass(frozen=True)
class ModelInputs:
    """What a data module tells a deployment about the model's inputs.

    Attributes:
        input_shape: one raw sample's shape, no batch dimension.
        preprocessing: the step to fold in before the feature extractor, or ``None``.
        description: what a raw input is, in words.
        feature_names: the feature columns in input order (tables), else ``None``.
        class_names: class ``i``'s name for logit ``i``, when the data module knows them.
        postprocessing: the step to fold in after the model, or ``None``: for a regressor trained on
            standardised targets, the [`Unstandardize`][dann_lightning.preprocessing.Unstandardize]
            back to the label's units.
    """

    input_shape: tuple[int, ...] | None
    preprocessing: nn.Module | None
    description: str
    feature_names: list[str] | None = None
    class_names: list[str] | None = None
    postprocessing: nn.Module | None = None


def model_inputs(datamodule: object, input_shape: Sequence[int] | None = None) -> ModelInputs:
    """The raw inputs of a model trained on ``datamodule``: their shape, the standardisation to fold in,
    the feature and class names.

    A data module that implements [`DomainData`][dann_lightning.data.contract.DomainData] says this
    itself (its ``model_inputs``); one that does not serves its inputs as the model sees them, with
    nothing to fold in. ``input_shape``, when given, is checked against the data's statistics.
    """
    data = domain_data(datamodule)
    return data.model_inputs(input_shape) if data is not None else unscaled_inputs(input_shape)


def unscaled_inputs(input_shape: Sequence[int] | None = None, *, classes: list[str] | None = None) -> ModelInputs:
    """The inputs of a data module that standardises nothing: served as they are, nothing folded in."""
    shape = tuple(input_shape) if input_shape is not None else None
    description = "inputs as the data module serves them (it folds no standardisation into the model)"
    return ModelInputs(shape, None, description, None, _names(classes))


def standardized_inputs(
    statistics: FittedStatistics,
    input_shape: Sequence[int] | None = None,
    *,
    features: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    image_size: int | None = None,
    describe_images: Callable[[str, str], str] | None = None,
    target_statistics: tuple[float, float] | None = None,
) -> ModelInputs:
    """The raw inputs of a data module that standardises with ``statistics`` (a fitted or restored
    ``Standardizer`` or ``ChannelNormalizer``): what every scaling data module's ``model_inputs`` returns.

    Args:
        statistics: folded into the model as [`Standardize`][dann_lightning.preprocessing.Standardize].
        input_shape: one raw sample's shape, checked against the statistics (and ``image_size``).
        features: the feature columns in input order (tables).
        classes: class ``i``'s name for logit ``i``.
        image_size: the side images were trained at (images).
        describe_images: ``(shape, colour) -> words`` of a raw image, where the data module knows its scale.
        target_statistics: regression: the ``(mean, std)`` the targets were standardised with.
    """
    features, classes = _names(features), _names(classes)
    shape = tuple(input_shape) if input_shape is not None else None
    preprocessing = Standardize.from_statistics(statistics)
    width = len(preprocessing.mean)
    if not preprocessing.per_channel:
        trained: tuple[int, ...] | None = (width,)
        description = TABLE_INPUT.format(order="feature_names" if features else "the data's")
    else:
        trained = (width, image_size, image_size) if isinstance(image_size, int) else None
        size_text = f"{image_size}, {image_size}" if image_size is not None else "H, W"
        colour = "RGB" if width == 3 else "grey (ITU-R 601 luma of RGB)"
        describe = describe_images or _images_as_held
        description = describe(f"(N, {width}, {size_text})", colour)
    if shape is not None:
        _check_shape(shape, width, trained, per_channel=preprocessing.per_channel)
    postprocessing = Unstandardize(*target_statistics) if target_statistics is not None else None
    return ModelInputs(shape or trained, preprocessing, description, features, classes, postprocessing)


def _images_as_held(shape: str, colour: str) -> str:
    return f"float32 {shape} images on the scale the data module holds them, before its per-channel normalisation"


def _check_shape(shape: tuple[int, ...], width: int, trained: tuple[int, ...] | None, *, per_channel: bool) -> None:
    if per_channel and trained is None and (len(shape) != 3 or shape[0] != width):
        trained_text = f"(C, H, W) images with C = {width} channels"
    elif trained is not None and shape != trained:
        trained_text = f"{'images' if per_channel else 'rows'} of shape {list(trained)}"
    else:
        return
    raise ConfigurationError(
        f"input_shape {list(shape)} does not match the data module's statistics: the model was trained on "
        f"{trained_text}; give that shape, or leave input_shape out"
    )


def _names(value: Any) -> list[str] | None:
    if value is None or isinstance(value, str) or not isinstance(value, Sequence) or len(value) == 0:
        return None
    return [str(name) for name in value]
