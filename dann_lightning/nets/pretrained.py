"""Backbone: any network named by its import path (``torchvision.models.resnet50``, a ``timm``
constructor, your own), its classification head removed, with its published or local weights."""

from __future__ import annotations

import importlib
from typing import Any

from torch import Tensor, nn

from dann_lightning.errors import ConfigurationError, MissingDependencyError
from dann_lightning.nets.backbones import load_backbone_weights

HEADS = ("fc", "classifier", "head", "heads")  # torchvision's names of the last layer, in that order


def import_object(path: str) -> Any:
    """The object a dotted import path names (``"torchvision.models.resnet50"``).

    Examples:
        >>> import_object("torch.nn.Linear").__name__
        'Linear'
    """
    module_name, _, name = path.rpartition(".")
    if not module_name:
        raise ConfigurationError(
            f"network must be a dotted import path such as torchvision.models.resnet50, got {path!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # ImportError, or a package built for another torch
        raise MissingDependencyError(
            f"cannot import {module_name} for the backbone {path} ({type(error).__name__}: {error}); install it "
            "(torchvision: pip install torchvision matching your torch, see https://pytorch.org)"
        ) from error
    if not hasattr(module, name):
        raise ConfigurationError(f"{module_name} has no {name!r} (backbone network {path!r})")
    return getattr(module, name)


class Backbone(nn.Module):
    """A network built by the callable at ``network`` (a class or a function), its classification
    head replaced by the identity: images in, pooled features out (``out_features`` of them).

    Weights: ``weights`` is passed to the network's constructor (torchvision: a weights enum name
    such as ``"IMAGENET1K_V2"`` or ``"DEFAULT"``, downloaded by torchvision into
    ``~/.cache/torch/hub/checkpoints`` on first use); ``weights_path`` loads a local state dict
    instead (no network access; its head entries are ignored; keys that do not fit are named).
    Either marks the backbone ``pretrained``: ``ImageFolderDataModule(normalize="auto")`` then
    normalises with ImageNet's statistics.

    Args:
        network: import path of a callable returning an ``nn.Module``, e.g. ``torchvision.models.resnet50``.
        weights: the constructor's ``weights`` argument (left out when ``None``).
        weights_path: a local state dict to load after building.
        head: the attribute holding the classification head; ``"auto"``: the first of ``fc``,
            ``classifier``, ``head``, ``heads`` the network has; ``None``: keep the network whole.
        init_args: more keyword arguments for the constructor.

    Examples:
        >>> import torch
        >>> net = Backbone("torch.nn.Sequential", head=None)
        >>> net.out_features is None, net(torch.ones(1, 2)).tolist()
        (True, [[1.0, 1.0]])
    """

    def __init__(
        self,
        network: str,
        weights: str | None = None,
        weights_path: str | None = None,
        *,
        head: str | None = "auto",
        init_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if weights is not None and weights_path is not None:
            raise ConfigurationError("give the backbone weights (published, by name) or weights_path (local), not both")
        arguments = dict(init_args or {})
        if weights is not None:
            arguments["weights"] = weights
        built = import_object(network)(**arguments)
        if not isinstance(built, nn.Module):
            raise ConfigurationError(f"backbone network {network} built a {type(built).__name__}, not an nn.Module")
        head_name = _head_name(built, head, network)
        self.out_features = _in_features(getattr(built, head_name)) if head_name else None
        if weights_path is not None:
            load_backbone_weights(built, weights_path, head=head_name)
        if head_name:
            setattr(built, head_name, nn.Identity())
        self.network = built
        self.pretrained = weights is not None or weights_path is not None

    def forward(self, x: Tensor) -> Tensor:
        return self.network(x)


def _head_name(network: nn.Module, head: str | None, path: str) -> str | None:
    if head is None:
        return None
    if head != "auto":
        if not hasattr(network, head):
            raise ConfigurationError(f"backbone network {path} has no attribute {head!r} (head)")
        return head
    found = next((name for name in HEADS if isinstance(getattr(network, name, None), nn.Module)), None)
    if found is None:
        raise ConfigurationError(
            f"backbone network {path} has none of the heads {list(HEADS)}: name its head attribute, or head: null"
        )
    return found


def _in_features(head: nn.Module) -> int | None:
    """The input width of a head: its first ``Linear``'s (a head may be a ``Sequential``)."""
    linear = next((layer for layer in head.modules() if isinstance(layer, nn.Linear)), None)
    return None if linear is None else linear.in_features
