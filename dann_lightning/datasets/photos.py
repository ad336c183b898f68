"""Photos and image helpers of the digit shifts: scikit-learn's sample photos, image files, the
MNIST-M blend, resizing. Plain numpy and torch: no Lightning."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from torch import Tensor

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
