"""One image file to one network input, with torch operations (torchvision is not needed): decode,
resize to a square, crop (random resized at training, centre at evaluation), flip, normalise.

Every image is first decoded (PIL) and resized to ``resize_size`` square, rounded to whole pixel
values: what the in-memory path keeps, so that streaming and in-memory serve the same pixels. The
random draws use torch's global generator, which PyTorch seeds apart in every DataLoader worker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from dann_lightning.checks import choices_of
from dann_lightning.data.transforms import ChannelNormalizer, standardize
from dann_lightning.datasets.photos import resize
from dann_lightning.errors import DataError

# The statistics torchvision's ImageNet weights were trained with, on the 0..1 scale.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Normalize = Literal["auto", "imagenet", "source", "none"]
NORMALIZE = choices_of(Normalize)
_RATIOS = (3 / 4, 4 / 3)  # aspect ratios of a random resized crop (torchvision's)


def decode_image(path: str | Path, channels: int = 3) -> Tensor:
    """The file at ``path`` as a uint8 ``(channels, H, W)`` tensor (RGB, or ITU-R 601 luma for 1 channel).

    The whole image is decoded here, so a truncated file fails now, named.

    Raises:
        DataError: naming ``path``, when PIL cannot open or fully decode it.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB" if channels == 3 else "L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot decode image file {path}: {error} (on_bad_image: skip drops such files)") from error
    tensor = torch.from_numpy(pixels.copy())
    return tensor.permute(2, 0, 1) if tensor.ndim == 3 else tensor[None]


def check_image_header(path: str | Path) -> str | None:
    """Why PIL cannot identify the file at ``path`` (reading its header only), or ``None`` when it can."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path):
            return None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return f"{type(error).__name__}: {error}"


def fixed_statistics(normalize: str, channels: int) -> ChannelNormalizer:
    """A [`ChannelNormalizer`][dann_lightning.data.transforms.ChannelNormalizer] on the 0..255 scale for
    ``"imagenet"`` (ImageNet's statistics; grey: their mean) or ``"none"`` (0..1), which need no data.

    Examples:
        >>> fixed_statistics("none", 3).std.tolist()
        [255.0, 255.0, 255.0]
    """
    statistics = ChannelNormalizer()
    if normalize == "imagenet":
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        if channels == 1:
            mean, std = mean.mean(0, keepdim=True), std.mean(0, keepdim=True)
        statistics.mean, statistics.std = mean * 255.0, std * 255.0
    else:
        statistics.mean, statistics.std = torch.zeros(channels), torch.full((channels,), 255.0)
    return statistics


@dataclass(frozen=True)
class ImageTransform:
    """Resize, crop and flip with torch operations.

    Args:
        image_size: side of the square the network gets.
        resize_size: side of the square each decoded image is resized to first (``>= image_size``);
            evaluation crops its centre ``image_size`` square.
        random_resized_crop: training crops a random part (area fraction in ``crop_scale``, aspect
            ratio 3/4..4/3) and resizes it to ``image_size``; else the centre crop, as evaluated.
        crop_scale: the area fractions of a random resized crop.
        horizontal_flip: training flips half the images left to right.

    Examples:
        >>> transform = ImageTransform(image_size=4, resize_size=6)
        >>> image = transform.resized(torch.zeros(3, 12, 9, dtype=torch.uint8))
        >>> tuple(image.shape), tuple(transform.evaluate(image).shape)
        ((3, 6, 6), (3, 4, 4))
    """

    image_size: int
    resize_size: int
    random_resized_crop: bool = False
    crop_scale: tuple[float, float] = (0.08, 1.0)
    horizontal_flip: bool = False

    def resized(self, image: Tensor) -> Tensor:
        """uint8 ``(C, H, W)`` -> uint8 ``(C, R, R)``, ``R = resize_size`` (bilinear, antialiased when shrinking)."""
        if image.shape[-2:] == (self.resize_size, self.resize_size):
            return image
        return resize(image[None].float(), self.resize_size)[0].round_().clamp_(0, 255).to(torch.uint8)

    def evaluate(self, image: Tensor) -> Tensor:
        """The centre ``image_size`` square of a resized image, as float32 pixel values."""
        top = (self.resize_size - self.image_size) // 2
        return image[:, top : top + self.image_size, top : top + self.image_size].float()

    def train(self, image: Tensor) -> Tensor:
        """A resized image cropped (random resized crop, or the centre) and maybe flipped, as float32."""
        if self.random_resized_crop:
            top, left, height, width = self._crop_box()
            crop = image[None, :, top : top + height, left : left + width].float()
            x = resize(crop, self.image_size)[0] if (height, width) != (self.image_size,) * 2 else crop[0]
        else:
            x = self.evaluate(image)
        if self.horizontal_flip and bool(torch.rand(()) < 0.5):
            x = x.flip(-1)
        return x

    def _crop_box(self) -> tuple[int, int, int, int]:
        """``(top, left, height, width)`` of a random resized crop of the ``resize_size`` square."""
        side = self.resize_size
        for _ in range(10):
            area = side * side * float(torch.empty(()).uniform_(*self.crop_scale))
            ratio = math.exp(float(torch.empty(()).uniform_(math.log(_RATIOS[0]), math.log(_RATIOS[1]))))
            width, height = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
            if 0 < width <= side and 0 < height <= side:
                top = int(torch.randint(0, side - height + 1, ()))
                left = int(torch.randint(0, side - width + 1, ()))
                return top, left, height, width
        return 0, 0, side, side  # the whole square, as torchvision falls back for a square image


def normalized(x: Tensor, statistics: ChannelNormalizer) -> Tensor:
    """``(x - mean) / std`` per channel of one ``(C, H, W)`` image or a batch, on the 0..255 scale."""
    return standardize(x, statistics.mean[:, None, None], statistics.std[:, None, None])
