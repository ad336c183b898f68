"""Pretrained backbones (torchvision's ResNets), their local weights and per-network learning rates."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from dann_lightning.checks import check_choice, check_real, choices_of
from dann_lightning.errors import CheckpointError, MissingDependencyError, MissingFileError

ResNetArch = Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


RESNETS = choices_of(ResNetArch)


def _import_torchvision_models():
    try:
        from torchvision import models
    except Exception as error:  # ImportError, or a torchvision built for another torch
        raise MissingDependencyError(
            "ResNetFeatures needs torchvision, which is not installed or does not import "
            f"({type(error).__name__}: {error}). Install the torchvision matching your torch "
            "(pip install torchvision; see https://pytorch.org), or use MNISTFeatures / SVHNFeatures, "
            "which need nothing more."
        ) from error
    return models


# Every batch-norm layer torch has, by public names (their common base class is private).
BATCH_NORMS = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LazyBatchNorm1d, nn.LazyBatchNorm2d, nn.LazyBatchNorm3d,
    nn.SyncBatchNorm,
)


class ResNetFeatures(nn.Module):
    """A torchvision ResNet without its last layer: images in, pooled features out (512 for
    resnet18/34, 2048 for the deeper ones). Needs ``torchvision`` (optional: imported only here).

    Nothing is downloaded: ``weights`` is the path of a state dict on disk (e.g. torchvision's
    ImageNet ``resnet50-*.pth``, fetched by you beforehand); its ``fc.*`` entries are ignored.
    Pretrained layers learn at ``lr_scale`` times the optimizer's learning rate (default 0.1 with
    ``weights``, 1 without), through
    [`parameter_groups`][dann_lightning.nets.ResNetFeatures.parameter_groups], which
    ``DANNLitModule`` reads.

    Args:
        arch: one of [`RESNETS`][dann_lightning.nets.RESNETS].
        weights: path of a local state dict, or ``None`` for random initialisation.
        lr_scale: learning-rate factor of the backbone (default: 0.1 with ``weights``, else 1).
        freeze_batch_norm: keep BatchNorm running statistics as loaded (eval mode) while training,
            the usual choice for small batches on a pretrained backbone.
    """

    def __init__(
        self,
        arch: ResNetArch = "resnet50",
        weights: str | None = None,
        *,
        lr_scale: float | None = None,
        freeze_batch_norm: bool = False,
    ) -> None:
        super().__init__()
        check_choice("ResNet arch", arch, ResNetArch)
        scale = (0.1 if weights else 1.0) if lr_scale is None else lr_scale
        check_real("ResNetFeatures lr_scale", scale, minimum=0.0)
        models = _import_torchvision_models()
        backbone = getattr(models, arch)(weights=None)
        if weights is not None:
            load_backbone_weights(backbone, weights)
        self.out_features = backbone.fc.in_features
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.lr_scale = float(scale)
        self.freeze_batch_norm = freeze_batch_norm
        self.pretrained = weights is not None  # ImageFolderDataModule(normalize="auto") reads it

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def train(self, mode: bool = True) -> ResNetFeatures:
        super().train(mode)
        if mode and self.freeze_batch_norm:
            for layer in self.backbone.modules():
                if isinstance(layer, BATCH_NORMS):
                    layer.eval()
        return self

    def parameter_groups(self) -> list[dict]:
        """One group, the backbone, at ``lr_scale`` times the optimizer's learning rate."""
        return [{"params": list(self.parameters()), "lr_scale": self.lr_scale}]


def load_backbone_weights(backbone: nn.Module, path: str | Path, *, head: str | None = "fc") -> None:
    """Load a local state dict into ``backbone``, its ``head.*`` entries ignored (the classification
    layer the backbone drops); an error names the file and the first keys that do not fit.

    Raises:
        MissingFileError: the file does not exist.
        CheckpointError: it is not a state dict, or its keys or shapes do not fit ``backbone``.
    """
    file = Path(path)
    if not file.is_file():
        raise MissingFileError(
            f"weights file {file} does not exist (expected a local state dict; nothing is downloaded)"
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"cannot read weights file {file}: expected a torch state dict ({error})") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"weights file {file} holds a {type(state).__name__}, expected a state dict")
    prefix = f"{head}." if head else None
    state = {k: v for k, v in state.items() if prefix is None or not k.startswith(prefix)}
    expected = {k: v for k, v in backbone.state_dict().items() if prefix is None or not k.startswith(prefix)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k}: file {tuple(state[k].shape)}, network {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and isinstance(state[k], Tensor) and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"weights file {file} does not fit the network: missing {_first(missing)}, unexpected "
            f"{_first(unexpected)}{f', other shapes {_first(shapes)}' if shapes else ''} (keys of the "
            f"network: {_first(list(expected))}); give the weights of this architecture"
        )
    backbone.load_state_dict(state, strict=False)


def _first(keys: list[str], count: int = 5) -> str:
    """The first ``count`` of ``keys`` as a list, with how many there are when there are more."""
    return f"{keys[:count]}" if len(keys) <= count else f"{keys[:count]} (and {len(keys) - count} more)"


def parameter_groups(*modules: nn.Module) -> list[dict] | None:
    """Optimizer parameter groups of ``modules``: each module's own ``parameter_groups()`` where it has
    one (entries may carry an ``lr_scale``), else one group of its parameters. ``None`` when no module
    defines groups, so that a plain optimizer keeps its single group."""
    if not any(hasattr(module, "parameter_groups") for module in modules):
        return None
    groups: list[dict] = []
    for module in modules:
        if hasattr(module, "parameter_groups"):
            groups.extend(module.parameter_groups())
        else:
            groups.append({"params": list(module.parameters())})
    return [group for group in groups if group["params"]]


def scale_learning_rates(optimizer: torch.optim.Optimizer) -> None:
    """Multiply each parameter group's learning rate by its ``lr_scale`` (kept in the group)."""
    for group in optimizer.param_groups:
        group["lr"] *= group.get("lr_scale", 1.0)
