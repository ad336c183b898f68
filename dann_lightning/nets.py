"""Plain ``nn.Module`` building blocks, configurable from YAML (``nn.Sequential`` is not)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

from dann_lightning.checks import check_choice, check_int, check_real, choices_of
from dann_lightning.domain_head import TARGET_DOMAIN
from dann_lightning.errors import CheckpointError, ConfigurationError, MissingDependencyError, MissingFileError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name; ValueError listing the valid names otherwise."""
    return ACTIVATIONS[check_choice("activation", name, sorted(ACTIVATIONS))]()


class MLP(nn.Module):
    """A multilayer perceptron: ``Linear -> [BatchNorm] -> activation -> [Dropout]`` per hidden layer.

    With ``out_features=None`` the output is the last hidden layer, activated: a feature
    extractor. With ``out_features`` set, a final ``Linear`` follows: a head.

    With ``in_features=None`` the first layer is an ``nn.LazyLinear``: its input width is taken
    from the first batch it sees ([`DANNLitModule`][dann_lightning.DANNLitModule] shows it one
    sample of the data before training, so the optimizer sees every weight).

    Args:
        in_features: width of the input; ``None``: from the data.
        hidden_features: widths of the hidden layers, in order (may be empty for a head).
        out_features: width of a final linear layer, or ``None`` to end at the last hidden layer.
        activation: one of [`ACTIVATIONS`][dann_lightning.nets.ACTIVATIONS].
        dropout: dropout probability after each hidden activation.
        batch_norm: insert ``BatchNorm1d`` before each hidden activation.

    Examples:
        >>> import torch
        >>> features = MLP(2, [16, 16], activation="tanh")
        >>> head = MLP(features.out_features, [], 3)
        >>> head(features(torch.zeros(5, 2))).shape
        torch.Size([5, 3])
    """

    def __init__(
        self,
        in_features: int | None = None,
        hidden_features: Sequence[int] = (),
        out_features: int | None = None,
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        hidden_features = list(hidden_features)
        for name, width in [("in_features", in_features), ("out_features", out_features)] + [
            (f"hidden_features[{i}]", w) for i, w in enumerate(hidden_features)
        ]:
            if width is not None:
                check_int(f"MLP {name}", width, minimum=1)
        if out_features is None and not hidden_features:
            raise ConfigurationError("MLP needs hidden_features or out_features; both are empty")
        if not 0.0 <= dropout < 1.0:
            raise ConfigurationError(f"MLP dropout must lie in [0, 1), got {dropout}")
        make_activation(activation)  # fail on a bad name before building anything

        layers: list[nn.Module] = []
        width = in_features
        for hidden in hidden_features:
            layers.append(_linear(width, hidden))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(make_activation(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden
        if out_features is not None:
            layers.append(_linear(width, out_features))
            width = out_features
        self.layers = nn.Sequential(*layers)
        self.in_features = in_features
        self.out_features = width

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def _linear(in_features: int | None, out_features: int) -> nn.Module:
    return nn.LazyLinear(out_features) if in_features is None else nn.Linear(in_features, out_features)


class DomainDiscriminator(MLP):
    """A domain classifier head: features in, one logit per sample out, shape ``(N,)``.

    The gradient reversal layer sits in [`DANNLitModule`][dann_lightning.DANNLitModule], not here, so the
    same head can be trained directly (manual optimization, proxy A-distance). ``in_features=None``
    takes the feature width from the first batch, as [`MLP`][dann_lightning.nets.MLP] does.

    Examples:
        >>> import torch
        >>> DomainDiscriminator(8, [16])(torch.zeros(4, 8)).shape
        torch.Size([4])
    """

    def __init__(
        self,
        in_features: int | None = None,
        hidden_features: Sequence[int] = (100,),
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__(in_features, hidden_features, 1, activation=activation, dropout=dropout, batch_norm=batch_norm)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).squeeze(-1)


def default_discriminator(num_sources: int = 1) -> nn.Module:
    """The discriminator [`DANNLitModule`][dann_lightning.DANNLitModule] builds when given none: the
    paper's MNIST one, one hidden layer of 100 ReLU units, its input width taken from the features;
    one logit per sample, or ``num_sources + 1`` with several sources."""
    if num_sources == 1:
        return DomainDiscriminator(None, (100,))
    return MLP(None, (100,), num_sources + 1)


# ---------------------------------------------------------------------- normalisation

NormName = Literal["none", "batch", "domain"]
NORMS = choices_of(NormName)


class DomainBatchNorm(nn.Module):
    """Domain-specific batch normalisation (DSBN, Chang et al., CVPR 2019): one ``BatchNorm`` per
    domain, each with its own affine parameters and running statistics.

    [`DANNLitModule`][dann_lightning.DANNLitModule] switches every ``DomainBatchNorm`` of the feature extractor
    to the domain of the batch it passes (source or target; this needs ``feature_pass="separate"``),
    evaluates each validation loader with its own domain's statistics, and leaves them on the target
    otherwise: the deployed model normalises with target statistics. Other code switches them with
    [`set_domain`][dann_lightning.nets.set_domain].

    Args:
        num_features: channels (``C`` of ``(N, C, ...)``).
        dims: 1 for ``(N, C)`` or ``(N, C, L)`` inputs (``BatchNorm1d``), 2 for images (``BatchNorm2d``).
        num_domains: how many domains (0 = source, 1 = target).

    Examples:
        >>> import torch
        >>> from dann_lightning.domain_head import SOURCE_DOMAIN, TARGET_DOMAIN
        >>> norm = DomainBatchNorm(4)
        >>> _ = norm.train()(torch.randn(8, 4, 5, 5) + 3)  # the target's statistics move ...
        >>> norm.norms[TARGET_DOMAIN].running_mean.mean() > 0.2, norm.norms[SOURCE_DOMAIN].running_mean.abs().max() == 0
        (tensor(True), tensor(True))
    """

    def __init__(self, num_features: int, dims: int = 2, num_domains: int = 2) -> None:
        super().__init__()
        if dims not in (1, 2):
            raise ConfigurationError(f"DomainBatchNorm dims must be 1 or 2, got {dims!r}")
        norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.norms = nn.ModuleList(norm(num_features) for _ in range(num_domains))
        self.domain = TARGET_DOMAIN

    def forward(self, x: Tensor) -> Tensor:
        return self.norms[self.domain](x)


def set_domain(module: nn.Module, domain: int) -> None:
    """Switch every [`DomainBatchNorm`][dann_lightning.nets.DomainBatchNorm] inside ``module`` to ``domain``
    (0 source, 1 target)."""
    for layer in module.modules():
        if isinstance(layer, DomainBatchNorm):
            if not 0 <= domain < len(layer.norms):
                raise ConfigurationError(f"domain must lie in [0, {len(layer.norms)}), got {domain!r}")
            layer.domain = domain


def has_domain_norm(module: nn.Module) -> bool:
    """Whether ``module`` holds a [`DomainBatchNorm`][dann_lightning.nets.DomainBatchNorm]."""
    return any(isinstance(layer, DomainBatchNorm) for layer in module.modules())


def make_norm2d(norm: NormName, channels: int) -> nn.Module:
    """``"none"`` (identity), ``"batch"`` (``BatchNorm2d``) or ``"domain"``
    ([`DomainBatchNorm`][dann_lightning.nets.DomainBatchNorm])."""
    check_choice("norm", norm, NormName)
    if norm == "none":
        return nn.Identity()
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    return DomainBatchNorm(channels)


# ---------------------------------------------------------------------- the paper's CNNs


def _conv_output(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _check_image_size(network: str, image_size: int, layers: Sequence[tuple[str, int, int, int]]) -> int:
    """Side of the last feature map for ``(name, kernel, stride, padding)`` layers; ValueError if a
    layer would leave nothing."""
    check_int(f"{network} image_size", image_size, minimum=1)
    size = image_size
    for name, kernel, stride, padding in layers:
        size = _conv_output(size, kernel, stride, padding)
        if size < 1:
            smallest = next(s for s in range(image_size, 10_000) if _output_side(s, layers) >= 1)
            raise ConfigurationError(
                f"{network} cannot take {image_size}x{image_size} images: nothing is left after its {name}; "
                f"it needs image_size >= {smallest}"
            )
    return size


def _output_side(size: int, layers: Sequence[tuple[str, int, int, int]]) -> int:
    for _, kernel, stride, padding in layers:
        size = _conv_output(size, kernel, stride, padding)
        if size < 1:
            return 0
    return size


class MNISTFeatures(nn.Module):
    """The feature extractor of the paper's MNIST network (Ganin et al. 2016, figure 4a):
    ``conv 5x5, 32 -> ReLU -> max-pool 2x2 -> conv 5x5, 48 -> ReLU -> max-pool 2x2 -> flatten``.

    No padding, as in the paper: 28x28 inputs give ``48 * 4 * 4 = 768`` features. Other sizes work
    (``out_features`` follows), down to 16x16. The paper's heads are ``MLP(out_features, [100, 100],
    num_classes)`` for labels and ``DomainDiscriminator(out_features, [100])`` for domains.

    Args:
        image_size: side of the square input images.
        in_channels: 3 for colour (or grey replicated), 1 for grey.
        norm: ``"none"`` (the paper), ``"batch"`` (``BatchNorm2d`` after each convolution) or
            ``"domain"`` ([`DomainBatchNorm`][dann_lightning.nets.DomainBatchNorm]: per-domain statistics, needs
            ``DANNLitModule(feature_pass="separate")``).
        channels: widths of the two convolutions.
        dropout: dropout probability on the flattened features.

    Examples:
        >>> import torch
        >>> net = MNISTFeatures(image_size=28)
        >>> net.out_features, net(torch.zeros(2, 3, 28, 28)).shape
        (768, torch.Size([2, 768]))
    """

    def __init__(
        self,
        image_size: int = 28,
        in_channels: int = 3,
        *,
        norm: NormName = "none",
        channels: Sequence[int] = (32, 48),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        first, second = _check_widths("MNISTFeatures", channels, 2)
        layers = [("conv1", 5, 1, 0), ("pool1", 2, 2, 0), ("conv2", 5, 1, 0), ("pool2", 2, 2, 0)]
        side = _check_image_size("MNISTFeatures", image_size, layers)
        _check_dropout("MNISTFeatures", dropout)
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, first, 5),
            make_norm2d(norm, first),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(first, second, 5),
            make_norm2d(norm, second),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dropout(dropout) if dropout else nn.Identity(),
        )
        self.image_size = image_size
        self.out_features = second * side * side

    def forward(self, x: Tensor) -> Tensor:
        _check_input("MNISTFeatures", x, self.image_size)
        return self.layers(x)


class SVHNFeatures(nn.Module):
    """The feature extractor of the paper's SVHN network (Ganin et al. 2016, figure 4b):
    ``conv 5x5, 64 -> ReLU -> max-pool 3x3 /2 -> conv 5x5, 64 -> ReLU -> max-pool 3x3 /2 ->
    conv 5x5, 128 -> ReLU -> flatten``.

    Convolutions pad by 2 and pools by 1 (the paper does not say; without padding a 32x32 input
    would vanish), so 32x32 inputs give ``128 * 8 * 8 = 8192`` features. The paper's heads are
    ``MLP(out_features, [3072, 2048], num_classes)`` and ``DomainDiscriminator(out_features,
    [1024, 1024])``.

    Args:
        image_size: side of the square input images (padding keeps any size alive).
        in_channels: 3 for colour, 1 for grey.
        norm: ``"none"``, ``"batch"`` or ``"domain"``, as in [`MNISTFeatures`][dann_lightning.nets.MNISTFeatures].
        channels: widths of the three convolutions.
        dropout: dropout probability on the flattened features.

    Examples:
        >>> import torch
        >>> SVHNFeatures(image_size=32)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 8192])
    """

    def __init__(
        self,
        image_size: int = 32,
        in_channels: int = 3,
        *,
        norm: NormName = "none",
        channels: Sequence[int] = (64, 64, 128),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        first, second, third = _check_widths("SVHNFeatures", channels, 3)
        side = _check_image_size(
            "SVHNFeatures",
            image_size,
            [("conv1", 5, 1, 2), ("pool1", 3, 2, 1), ("conv2", 5, 1, 2), ("pool2", 3, 2, 1), ("conv3", 5, 1, 2)],
        )
        _check_dropout("SVHNFeatures", dropout)
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, first, 5, padding=2),
            make_norm2d(norm, first),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.Conv2d(first, second, 5, padding=2),
            make_norm2d(norm, second),
            nn.ReLU(),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.Conv2d(second, third, 5, padding=2),
            make_norm2d(norm, third),
            nn.ReLU(),
            nn.Flatten(),
            nn.Dropout(dropout) if dropout else nn.Identity(),
        )
        self.image_size = image_size
        self.out_features = third * side * side

    def forward(self, x: Tensor) -> Tensor:
        _check_input("SVHNFeatures", x, self.image_size)
        return self.layers(x)


def _check_widths(network: str, channels: Sequence[int], count: int) -> list[int]:
    widths = list(channels)
    if len(widths) != count:
        raise ConfigurationError(f"{network} channels must be {count} positive integers, got {channels!r}")
    return [check_int(f"{network} channels[{i}]", width, minimum=1) for i, width in enumerate(widths)]


def _check_dropout(network: str, dropout: float) -> None:
    if not 0.0 <= dropout < 1.0:
        raise ConfigurationError(f"{network} dropout must lie in [0, 1), got {dropout}")


def _check_input(network: str, x: Tensor, image_size: int) -> None:
    if x.ndim != 4 or x.shape[-2:] != (image_size, image_size):
        raise ConfigurationError(
            f"{network} was built for (N, C, {image_size}, {image_size}) images, got shape {tuple(x.shape)}; "
            f"set its image_size to the data's"
        )


# ---------------------------------------------------------------------- ResNet (optional torchvision)

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

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def train(self, mode: bool = True) -> ResNetFeatures:
        super().train(mode)
        if mode and self.freeze_batch_norm:
            for layer in self.backbone.modules():
                if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                    layer.eval()
        return self

    def parameter_groups(self) -> list[dict]:
        """One group, the backbone, at ``lr_scale`` times the optimizer's learning rate."""
        return [{"params": list(self.parameters()), "lr_scale": self.lr_scale}]


def load_backbone_weights(backbone: nn.Module, path: str | Path) -> None:
    """Load a local state dict into ``backbone``, ignoring its ``fc.*`` head; errors name the file."""
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
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as error:  # a tensor of another shape
        raise CheckpointError(f"weights file {file} does not fit the network: {error}") from error
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise CheckpointError(
            f"weights file {file} does not fit the network: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )


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
