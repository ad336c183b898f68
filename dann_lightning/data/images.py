"""Image helpers shared by the digit shifts and the file loaders: photos, MNIST-M blending, resizing,
per-channel normalisation and light augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from typing_extensions import override

from dann_lightning.data.fitted import ScaledDataModule
from dann_lightning.data.transforms import ChannelNormalizer
from dann_lightning.errors import DataError, MissingFileError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def sample_photos() -> list[np.ndarray]:
    """The two colour photographs scikit-learn ships (``load_sample_images``), ``(H, W, 3)`` uint8."""
    from sklearn.datasets import load_sample_images

    return [np.asarray(image, dtype=np.uint8) for image in load_sample_images().images]


def read_rgb(path: Path) -> np.ndarray:
    """One image file as ``(H, W, 3)`` uint8 RGB; ValueError naming the file if PIL cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"cannot read image file {path}: expected an image PIL can open ({error})") from error


def load_photos(folder: str | Path | None, min_size: int = 1) -> list[np.ndarray]:
    """Photos to blend digits with: every image in ``folder`` (``None``: scikit-learn's two samples).

    Raises:
        MissingFileError: ``folder`` does not exist.
        DataError: the folder holds no image file, or none at least ``min_size`` pixels on each side.
    """
    if folder is None:
        photos = sample_photos()
    else:
        root = Path(folder)
        if not root.is_dir():
            raise MissingFileError(f"photos folder {root} does not exist (expected a folder of image files)")
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        if not paths:
            raise DataError(f"photos folder {root} holds no image file (expected one of {', '.join(PHOTO_SUFFIXES)})")
        photos = [read_rgb(p) for p in paths]
    large = [p for p in photos if min(p.shape[:2]) >= min_size]
    if not large:
        where = "the sample photos" if folder is None else f"photos folder {folder}"
        raise DataError(f"{where}: no photo is at least {min_size}x{min_size} pixels, the size of a patch")
    return large


def blend_with_photos(digits: np.ndarray, photos: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The MNIST-M recipe (Ganin et al. 2016): ``|patch - digit|`` per channel.

    Args:
        digits: ``(N, H, W)`` grey digits in ``[0, 1]`` (ink = 1).
        photos: ``(h, w, 3)`` uint8 photos at least ``H x W``; each digit gets a patch cropped at a
            random place of a random photo.
        rng: the random generator deciding photos and places.

    Returns:
        ``(N, 3, H, W)`` float32 in ``[0, 1]``.
    """
    n, height, width = digits.shape
    out = np.empty((n, 3, height, width), dtype=np.float32)
    choice = rng.integers(len(photos), size=n)
    for i in range(n):
        photo = photos[choice[i]]
        top = rng.integers(photo.shape[0] - height + 1)
        left = rng.integers(photo.shape[1] - width + 1)
        patch = photo[top : top + height, left : left + width].astype(np.float32).transpose(2, 0, 1) / 255.0
        out[i] = np.abs(patch - digits[i][None])
    return out


def resize(images: Tensor, size: int) -> Tensor:
    """``(N, C, h, w)`` -> ``(N, C, size, size)``, bilinear (antialiased when shrinking)."""
    if images.shape[-2:] == (size, size):
        return images
    shrinking = min(images.shape[-2:]) > size
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrinking)


def random_shift(images: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Translate each ``(C, H, W)`` image of a batch by up to ``max_shift`` pixels in each direction,
    borders replicated."""
    if max_shift <= 0:
        return images
    n, channels, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4, mode="replicate").flatten(2)
    device = images.device
    draw_on = generator.device if generator is not None else device
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1, 1), generator=generator, device=draw_on).to(device)
    rows = dy + torch.arange(height, device=device)[:, None]
    cols = dx + torch.arange(width, device=device)
    index = (rows * (width + 2 * max_shift) + cols).flatten(1)[:, None].expand(-1, channels, -1)
    return padded.gather(2, index).view(n, channels, height, width)


def augment_training_batch(batch: Any, max_shift: int) -> Any:
    """Shift every image of a DANN training batch ``{"source": (x, y), "target": x | (x, ...)}`` by up
    to ``max_shift`` pixels (on the batch's device, the global torch RNG)."""
    if max_shift <= 0 or not isinstance(batch, dict):
        return batch
    out = dict(batch)
    for domain, entry in batch.items():
        if isinstance(entry, Tensor):
            out[domain] = random_shift(entry, max_shift)
        elif isinstance(entry, (tuple, list)) and entry and isinstance(entry[0], Tensor) and entry[0].ndim == 4:
            out[domain] = [random_shift(entry[0], max_shift), *entry[1:]]
    return out


class ImageDataModule(ScaledDataModule):
    """What the image data modules share: per-channel normalisation with the source training
    split's statistics (``scaler``, a :class:`ChannelNormalizer` kept in the ``state_dict``: a
    resumed or evaluated run normalises as training did), and random shifts of training images
    when ``augment_shift`` > 0.

    Args:
        image_size: the side of the square images served.
        augment_shift: translate each training image by up to this many pixels, afresh at every step.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.
    """

    def __init__(self, *, image_size: int, augment_shift: int, batch_size: int, num_workers: int) -> None:
        super().__init__(ChannelNormalizer(), batch_size=batch_size, num_workers=num_workers)
        self.image_size = image_size
        self.augment_shift = augment_shift

    @property
    def normalizer(self) -> ChannelNormalizer:
        """``scaler``, under its earlier name."""
        return self.scaler

    @override
    def model_inputs(self, input_shape: Sequence[int] | None = None) -> Any:
        """Raw images of the training size, with the fitted per-channel normalisation to fold in."""
        from dann_lightning.preprocessing import standardized_inputs  # preprocessing imports the data package

        return standardized_inputs(
            self.scaler,
            input_shape,
            classes=self.known_classes(),
            image_size=self.image_size,
            describe_images=self.describe_raw_images,
        )

    def describe_raw_images(self, shape: str, colour: str) -> str:
        """What a raw image is, in words, given its ``shape`` text and ``colour``: what an export records."""
        return f"float32 {shape} images on the scale the data module holds them, before its per-channel normalisation"

    @override
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.trainer is not None and self.trainer.training:
            return augment_training_batch(batch, self.augment_shift)
        return batch
