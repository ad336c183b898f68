"""Readers for the public image data sets of domain adaptation, from files the user has (nothing
is downloaded): MNIST (IDX), MNIST-M (built from MNIST and a folder of photos), USPS (LIBSVM
``usps.bz2``), SVHN (``.mat``) and ``root/<class>/<image>`` folders (Office-31, Office-Home).

Every reader returns ``(images, labels)``: ``(N, C, H, W)`` uint8 and ``(N,)`` int64. A missing
file or a malformed one raises an error naming the file and what was expected.
"""

from __future__ import annotations

import bz2
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from dann_lightning.checks import check_choice, choices_of
from dann_lightning.data.images import PHOTO_SUFFIXES, blend_with_photos, load_photos, read_rgb
from dann_lightning.errors import DataError, MissingFileError

Split = Literal["train", "test"]
SPLITS = choices_of(Split)
LoadedImages = tuple[np.ndarray, np.ndarray]

# IDX type codes (http://yann.lecun.com/exdb/mnist/): numpy dtype, big-endian.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
USPS_FILES = {"train": "usps", "test": "usps.t"}
SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat"}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (the MNIST format), plain or gzip-compressed, as a numpy array.

    Layout: two zero bytes, a type code, the number of dimensions ``d``, ``d`` big-endian uint32
    sizes, then the values, big-endian.
    """
    file = Path(path)
    data = _read_bytes(file)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataError(
            f"{file} is not an IDX file: expected two zero bytes and a type code in "
            f"{sorted(hex(k) for k in _IDX_TYPES)}, got {data[:4].hex() or 'an empty file'}"
        )
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{file}: IDX header promises {ndim} dimensions but the file ends after {len(data)} bytes")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{file}: an IDX array of shape {shape} and type {dtype} takes {expected} bytes, got {len(data)}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist(root: str | Path, split: Split = "train") -> LoadedImages:
    """MNIST from its four IDX files in ``root`` (as distributed, ``.gz`` or unpacked):
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``. Images ``(N, 1, 28, 28)``."""
    check_choice("split", split, Split, error=DataError)
    image_name, label_name = MNIST_FILES[split]
    image_file, label_file = _find(root, image_name, "MNIST"), _find(root, label_name, "MNIST")
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{image_file}: expected uint8 images of shape (N, rows, cols), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(
            f"{label_file}: expected {len(images)} labels, one per image of {image_file.name}; got {labels.shape}"
        )
    return images[:, None], labels.astype(np.int64)


def make_mnistm(images: np.ndarray, photos: str | Path | None, seed: int = 0) -> np.ndarray:
    """MNIST-M from grey digits: ``|patch - digit|`` per channel, each digit on a patch cropped at a
    random place of a random photo from the folder ``photos`` (the paper used BSDS500).

    Args:
        images: ``(N, 1, H, W)`` uint8 grey digits.
        photos: folder of photos at least ``H x W`` (``None``: scikit-learn's two sample photos).
        seed: seed of the patch choice.

    Returns:
        ``(N, 3, H, W)`` uint8.
    """
    height, width = images.shape[-2:]
    photo_list = load_photos(photos, min_size=max(height, width))
    rng = np.random.default_rng(seed)
    out = np.empty((len(images), 3, height, width), dtype=np.uint8)
    for start in range(0, len(images), 4096):  # in chunks: float copies of 60000 images would take 0.5 GB
        chunk = images[start : start + 4096, 0].astype(np.float32) / 255.0
        out[start : start + 4096] = np.round(blend_with_photos(chunk, photo_list, rng) * 255.0).astype(np.uint8)
    return out


def load_mnistm(
    root: str | Path, split: Split = "train", photos: str | Path | None = None, seed: int = 0
) -> LoadedImages:
    """MNIST-M built from the MNIST files in ``root`` and the photos in ``photos`` (see
    [`make_mnistm`][dann_lightning.data.files.make_mnistm]); the test split is seeded apart from the training split."""
    images, labels = load_mnist(root, split)
    return make_mnistm(images, photos, seed=seed * 2 + SPLITS.index(split)), labels


def load_usps(root: str | Path, split: Split = "train") -> LoadedImages:
    """USPS in the LIBSVM format torchvision also reads: ``usps`` / ``usps.t`` (or ``.bz2``) in
    ``root``, one image per line, ``label index:value ...`` with labels 1..10 (digit + 1), 256
    pixel values in [-1, 1] and indices 1..256. Images ``(N, 1, 16, 16)``, labels 0..9."""
    check_choice("split", split, Split, error=DataError)
    file = _find(root, USPS_FILES[split], "USPS")
    lines = [line for line in _read_bytes(file).decode("ascii", errors="replace").splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{file} holds no line; expected 'label index:value ...' lines (LIBSVM format)")
    images = np.zeros((len(lines), 256), dtype=np.float32)
    labels = np.empty(len(lines), dtype=np.int64)
    for row, line in enumerate(lines):
        fields = line.split()
        try:
            labels[row] = int(float(fields[0])) - 1
            for field in fields[1:]:
                index, value = field.split(":")
                images[row, int(index) - 1] = float(value)
        except (ValueError, IndexError) as error:
            raise DataError(
                f"{file} line {row + 1}: expected 'label index:value ...' with label 1..10 and indices 1..256, "
                f"got {line[:60]!r}"
            ) from error
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{file}: labels must lie in 1..10 (digit + 1), got {labels.min() + 1}..{labels.max() + 1}")
    pixels = np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return pixels.reshape(-1, 1, 16, 16), labels


def load_svhn(root: str | Path, split: Split = "train") -> LoadedImages:
    """SVHN's cropped digits, ``train_32x32.mat`` / ``test_32x32.mat`` in ``root`` (read with scipy):
    ``X`` of shape ``(32, 32, 3, N)`` uint8 and ``y`` of shape ``(N, 1)``, 10 standing for the digit
    0. Images ``(N, 3, 32, 32)``, labels 0..9."""
    check_choice("split", split, Split, error=DataError)
    from scipy.io import loadmat

    file = _find(root, SVHN_FILES[split], "SVHN", compressed=False)
    try:
        mat = loadmat(file)
    except Exception as error:
        raise DataError(f"cannot read {file}: expected a MATLAB .mat file with arrays X and y ({error})") from error
    if "X" not in mat or "y" not in mat:
        raise DataError(
            f"{file}: expected arrays 'X' and 'y', found {sorted(k for k in mat if not k.startswith('__'))}"
        )
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"]).reshape(-1)
    if x.ndim != 4 or x.shape[2] != 3 or x.shape[3] != len(y):
        raise DataError(f"{file}: expected X of shape (H, W, 3, N) with N = len(y) = {len(y)}, got {x.shape}")
    labels = y.astype(np.int64) % 10
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)).astype(np.uint8), labels


def load_image_folder(root: str | Path, image_size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``root/<class>/<image>`` (the layout of Office-31 and Office-Home): every image, resized to
    ``image_size`` square (bilinear, with PIL), and its class index in the sorted class names.

    Returns:
        Images ``(N, 3, S, S)`` uint8, labels ``(N,)`` int64 and the class names.
    """
    from PIL import Image

    base = Path(root)
    if not base.is_dir():
        raise MissingFileError(f"image folder {base} does not exist (expected root/<class>/<image> files)")
    classes = sorted(p.name for p in base.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"image folder {base} has no class folder (expected root/<class>/<image> files)")
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (base / name).rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
        for file in files:
            picture = Image.fromarray(read_rgb(file)).resize((image_size, image_size), Image.BILINEAR)
            images.append(np.asarray(picture, dtype=np.uint8).transpose(2, 0, 1))
            labels.append(label)
    if not images:
        raise DataError(f"image folder {base}: its class folders hold no image ({', '.join(PHOTO_SUFFIXES)})")
    return np.stack(images), np.asarray(labels, dtype=np.int64), classes


def _find(root: str | Path, name: str, dataset: str, compressed: bool = True) -> Path:
    """``root/name``, or its ``.gz`` / ``.bz2`` form; FileNotFoundError naming what was looked for."""
    base = Path(root)
    candidates = [base / name] + ([base / f"{name}.gz", base / f"{name}.bz2"] if compressed else [])
    for path in candidates:
        if path.is_file():
            return path
    where = f"folder {base}" if base.is_dir() else f"folder {base}, which does not exist"
    raise MissingFileError(
        f"{dataset} file {name} not found in {where}; looked for {', '.join(p.name for p in candidates)}"
    )


def _read_bytes(file: Path) -> bytes:
    if not file.is_file():
        raise MissingFileError(f"{file} does not exist")
    opener: Callable = {".gz": gzip.open, ".bz2": bz2.open}.get(file.suffix, open)
    try:
        with opener(file, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {file}: {error}") from error


def to_image_size(images: np.ndarray, image_size: int, channels: int) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` -> uint8 ``(N, channels, image_size, image_size)``: resized (bilinear)
    and with grey replicated to 3 channels, or colour turned grey (ITU-R 601 luma). In chunks, so
    that no float copy of a whole data set is made."""
    from dann_lightning.data.images import resize

    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels!r}")
    out = torch.empty((len(images), channels, image_size, image_size), dtype=torch.uint8)
    luma = torch.tensor([0.299, 0.587, 0.114])[:, None, None]
    for start in range(0, len(images), 4096):
        x = resize(torch.as_tensor(images[start : start + 4096]).float(), image_size)
        if x.shape[1] == 3 and channels == 1:
            x = (x * luma).sum(1, keepdim=True)
        elif x.shape[1] != channels:
            x = x.expand(-1, channels, -1, -1)
        out[start : start + 4096] = x.round().clamp_(0, 255).to(torch.uint8)
    return out
