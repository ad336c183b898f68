"""The paper's convolutional feature extractors for digits (MNIST) and house numbers (SVHN)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dann_lightning.checks import check_int
from dann_lightning.errors import ConfigurationError
from dann_lightning.nets.domain_norm import NormName, make_norm2d


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
