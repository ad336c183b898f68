"""The pretrained-backbone recipe of the common DANN implementations as options of
[`DANNLitModule`][dann_lightning.DANNLitModule]: a learning-rate multiplier per network, a
bottleneck between the feature extractor and the heads, frozen batch-norm statistics.

``lr_multipliers`` multiply the ``lr_scale`` of the optimizer's parameter groups (the one mechanism
[`parameter_groups`][dann_lightning.nets.parameter_groups] and
[`ResNetFeatures`][dann_lightning.nets.ResNetFeatures] already use), through the optimizer factory:
so they apply in both optimization modes, and to every candidate of ``lambda_max="auto"`` (copies of
the networks, found by name when the optimizers are built).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from torch import Tensor, nn
from torch.optim import Optimizer

from dann_lightning.checks import check_int
from dann_lightning.errors import ConfigurationError
from dann_lightning.nets.backbones import BATCH_NORMS

RECIPE_OPTIONS = ("lr_multipliers", "bottleneck_dim", "freeze_batch_norm")
NETWORKS = ("feature_extractor", "classifier", "discriminator")


class WithBottleneck(nn.Module):
    """A feature extractor followed by the bottleneck of the common DANN implementations:
    ``Linear(bottleneck_dim) -> BatchNorm1d -> ReLU -> Dropout(0.5)``.

    Examples:
        >>> import torch
        >>> net = WithBottleneck(nn.Flatten(), 8, in_features=12)
        >>> net.out_features, net(torch.zeros(4, 3, 2, 2)).shape
        (8, torch.Size([4, 8]))
    """

    def __init__(self, features: nn.Module, bottleneck_dim: int, *, in_features: int | None = None) -> None:
        super().__init__()
        linear = nn.Linear(in_features, bottleneck_dim) if in_features else nn.LazyLinear(bottleneck_dim)
        self.features = features
        self.bottleneck = nn.Sequential(linear, nn.BatchNorm1d(bottleneck_dim), nn.ReLU(), nn.Dropout(0.5))
        self.out_features = bottleneck_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.bottleneck(self.features(x))


def check_recipe_options(
    lr_multipliers: Mapping[str, float] | None, bottleneck_dim: int | None, freeze_batch_norm: bool
) -> None:
    """Raise [`ConfigurationError`][dann_lightning.errors.ConfigurationError] naming a bad recipe option.

    Examples:
        >>> check_recipe_options({"backbone": 0.1}, None, False)
        Traceback (most recent call last):
        ...
        dann_lightning.errors.ConfigurationError: lr_multipliers names 'backbone', which is not a network of ...
    """
    if bottleneck_dim is not None:
        check_int("bottleneck_dim", bottleneck_dim, minimum=1)
    if not isinstance(freeze_batch_norm, bool):
        raise ConfigurationError(f"freeze_batch_norm must be true or false, got {freeze_batch_norm!r}")
    if lr_multipliers is None:
        return
    if not isinstance(lr_multipliers, Mapping):
        raise ConfigurationError(f"lr_multipliers must map network names to numbers, got {lr_multipliers!r}")
    valid = network_names(bottleneck_dim)
    for name, value in lr_multipliers.items():
        if name not in valid:
            raise ConfigurationError(
                f"lr_multipliers names {name!r}, which is not a network of the model; valid: {', '.join(valid)}"
                f"{'' if bottleneck_dim else ' (bottleneck with bottleneck_dim)'}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"lr_multipliers[{name!r}] must be a finite number >= 0, got {value!r}")


def network_names(bottleneck_dim: int | None) -> tuple[str, ...]:
    """The networks ``lr_multipliers`` may name."""
    return ("feature_extractor", "bottleneck", "classifier", "discriminator") if bottleneck_dim else NETWORKS


def apply_recipe(
    model: nn.Module,
    lr_multipliers: Mapping[str, float] | None,
    bottleneck_dim: int | None,
    freeze_batch_norm: bool,
) -> None:
    """Give ``model`` (its networks and optimizer factories set) the recipe: the bottleneck appended
    to its ``feature_extractor``, the feature extractor's batch norms frozen, the optimizer
    factories wrapped to scale each network's learning rate. Nothing changes with the defaults."""
    check_recipe_options(lr_multipliers, bottleneck_dim, freeze_batch_norm)
    if freeze_batch_norm:
        freeze_batch_norm_statistics(model.feature_extractor)
    if bottleneck_dim:
        width = getattr(model.feature_extractor, "out_features", None)
        model.feature_extractor = WithBottleneck(
            model.feature_extractor, bottleneck_dim, in_features=width if isinstance(width, int) else None
        )
    if lr_multipliers and any(value != 1 for value in lr_multipliers.values()):
        for attribute in ("optimizer_factory", "discriminator_optimizer_factory"):
            setattr(model, attribute, NetworkLearningRates(getattr(model, attribute), model, dict(lr_multipliers)))


def freeze_batch_norm_statistics(network: nn.Module) -> int:
    """Keep every batch-norm layer of ``network`` in evaluation mode, also while training: its running
    statistics stay as loaded (its scale and shift still learn). Returns how many layers.

    A forward pre-hook puts the layer in evaluation mode before each call, so ``model.train()``
    cannot undo it and copies of the network (``lambda_max="auto"``) keep it.

    Examples:
        >>> import torch
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
        >>> freeze_batch_norm_statistics(net)
        1
        >>> _ = net.train()(torch.randn(8, 2))
        >>> net[1].running_mean.tolist(), net[1].training
        ([0.0, 0.0], False)
    """
    layers = [layer for layer in network.modules() if isinstance(layer, BATCH_NORMS)]
    for layer in layers:
        layer.register_forward_pre_hook(_evaluation_mode)
    return len(layers)


def _evaluation_mode(layer: nn.Module, inputs: Any) -> None:
    layer.train(False)


class NetworkLearningRates:
    """An optimizer factory that gives the parameters of each named network of ``model`` (and of its
    candidates) its multiplier: it splits the parameter groups it is given by network and multiplies
    their ``lr_scale`` (which ``optimization.build_optimizer`` applies).

    Args:
        factory: the optimizer factory it wraps.
        model: the model whose ``candidates.trained(model)`` hold the networks.
        multipliers: network name (``feature_extractor``, ``bottleneck``, ``classifier``,
            ``discriminator``) to learning-rate multiplier; 1 for the others.
    """

    def __init__(self, factory: Callable[..., Optimizer], model: nn.Module, multipliers: dict[str, float]) -> None:
        self.factory, self.model, self.multipliers = factory, model, multipliers

    def __call__(self, params: Any) -> Optimizer:
        entries = list(params)
        groups = entries if entries and isinstance(entries[0], dict) else [{"params": entries}]
        scales = self.scales()
        split: list[dict] = []
        for group in groups:
            by_scale: dict[float, list] = {}
            for param in group["params"]:
                by_scale.setdefault(scales.get(id(param), 1.0), []).append(param)
            for scale, members in by_scale.items():
                entry = {**group, "params": members}
                if scale != 1.0:
                    entry["lr_scale"] = group.get("lr_scale", 1.0) * scale
                split.append(entry)
        return self.factory(split)

    def scales(self) -> dict[int, float]:
        """``id(parameter)`` -> multiplier, over every candidate's networks."""
        scales: dict[int, float] = {}
        for nets in self.model.candidates.trained(self.model):
            for name, network in named_networks(nets).items():
                multiplier = float(self.multipliers.get(name, 1.0))
                for param in network.parameters():
                    scales[id(param)] = multiplier
        return scales


def named_networks(nets: nn.Module) -> dict[str, nn.Module]:
    """The networks of one candidate by the names ``lr_multipliers`` uses (a bottleneck apart)."""
    networks = {name: getattr(nets, name) for name in NETWORKS}
    features = networks.pop("feature_extractor")
    if isinstance(features, WithBottleneck):
        return {"feature_extractor": features.features, "bottleneck": features.bottleneck, **networks}
    return {"feature_extractor": features, **networks}
