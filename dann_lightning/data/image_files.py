"""ImageFilesDataModule: a domain pair from image data sets on disk (MNIST -> MNIST-M, SVHN ->
MNIST, MNIST -> USPS, Office-31 A -> W, ...), read by [`dann_lightning.data.files`][dann_lightning.data.files]."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from typing_extensions import override

from dann_lightning.checks import check_choice, check_int, check_real, choices_of
from dann_lightning.data.domain import TrainOn
from dann_lightning.data.files import (
    load_image_folder,
    load_mnist,
    load_mnistm,
    load_svhn,
    load_usps,
    to_image_size,
)
from dann_lightning.data.images import ImageDataModule
from dann_lightning.data.transforms import ChannelNormalizer
from dann_lightning.errors import ConfigurationError, DataError

DatasetName = Literal["mnist", "mnist-m", "usps", "svhn", "image-folder"]
DATASETS = choices_of(DatasetName)


class NormalizedImages(Dataset):
    """uint8 ``(N, C, H, W)`` images served as float32, normalised per channel on the fly (so a data
    set is held in memory at a quarter of its float size). Yields ``(x, y)``, or ``x`` without labels."""

    def __init__(self, images: Tensor, labels: Tensor | None, normalizer: ChannelNormalizer) -> None:
        self.images, self.labels, self.normalizer = images, labels, normalizer

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Any:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        x = self.normalizer.transform(self.images[indices].float())  # fitted on the uint8 scale
        if self.labels is None:
            return list(x)
        return list(zip(x, self.labels[indices], strict=True))


def load_domain(
    name: DatasetName, root: str | Path, split: str, *, image_size: int, photos: str | Path | None, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Images, labels and (for an image folder) class names of one split of a named data set.

    An image folder has no split of its own: ``"train"`` and ``"test"`` both read all its images.
    """
    check_choice("data set", name, DatasetName)
    if name == "image-folder":
        return load_image_folder(root, image_size)
    if name == "mnist-m":
        return (*load_mnistm(root, split, photos=photos, seed=seed), None)  # type: ignore[arg-type]
    loader = {"mnist": load_mnist, "usps": load_usps, "svhn": load_svhn}[name]
    return (*loader(root, split), None)  # type: ignore[operator]


class ImageFilesDataModule(ImageDataModule):
    """Source and target image data sets read from files you have; nothing is downloaded.

    Data sets (see [`dann_lightning.data.files`][dann_lightning.data.files] for each file format):
    ``"mnist"`` (IDX files), ``"mnist-m"`` (built from the MNIST files in its root and the photos in
    ``photos``, as the paper built it from BSDS500), ``"usps"`` (``usps.bz2``, ``usps.t.bz2``), ``"svhn"``
    (``train_32x32.mat``, ``test_32x32.mat``) and ``"image-folder"`` (``root/<class>/<image>``, as
    Office-31 and Office-Home ship; both domains must have the same class folders).

    Splits: each domain's training split loses ``val_fraction`` (seeded) to validation; the target
    test split is the data set's test split. An image folder has none, so its test split is all of
    its images (the usual Office protocol: adapt to and test on the whole target domain, whose
    labels are never trained on). Images are resized to ``image_size`` square with ``channels``
    channels, and normalised per channel with the source training split's statistics (kept in the
    ``state_dict``).

    Args:
        source: name of the source data set, one of ``DATASETS``.
        source_root: folder of the source files.
        target: name of the target data set.
        target_root: folder of the target files.
        photos: folder of photos for ``"mnist-m"`` (default: scikit-learn's two sample photos).
        image_size: side of the square images the network gets.
        channels: 3 (grey replicated) or 1 (colour to grey).
        val_fraction: fraction of each training split held out for validation.
        max_samples: use at most this many images of each split (a seeded subset): quick runs.
        augment_shift: translate training images by up to this many pixels, afresh at every step.
        train_on: ``"source"``, or ``"target"`` for the oracle: the labelled target training split
            replaces the source.
        seed: seed of the splits, the subsets and the MNIST-M patches.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        source: DatasetName,
        source_root: str,
        target: DatasetName,
        target_root: str,
        photos: str | None = None,
        image_size: int = 28,
        channels: int = 3,
        val_fraction: float = 0.1,
        max_samples: int | None = None,
        augment_shift: int = 0,
        train_on: TrainOn = "source",
        seed: int = 0,
        *,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            image_size=image_size, augment_shift=augment_shift, batch_size=batch_size, num_workers=num_workers
        )
        for role, name in [("source", source), ("target", target)]:
            check_choice(f"{role} data set", name, DatasetName)
        check_choice("train_on", train_on, TrainOn)
        if channels not in (1, 3):
            raise ConfigurationError(f"channels must be 1 or 3, got {channels!r}")
        check_int("image_size", image_size, minimum=1)
        check_real("val_fraction", val_fraction, minimum=0.0, maximum=1.0, strict=True)
        if max_samples is not None:  # a training and a validation image at least
            check_int("max_samples", max_samples, minimum=2)
        check_int("augment_shift", augment_shift, minimum=0)
        self.save_hyperparameters()
        self.class_names: list[str] | None = None
        self._splits: dict[str, tuple[Tensor, Tensor]] | None = None

    @property
    @override
    def classes(self) -> list[str] | None:
        """The class names: an image folder's class folders, the ten digits for the digit data sets;
        known after ``setup`` or from a checkpoint's ``state_dict``."""
        if self.class_names is None and self._splits is not None:
            return [str(digit) for digit in range(10)]  # MNIST, MNIST-M, USPS, SVHN
        return self.class_names

    @override
    def describe_raw_images(self, shape: str, colour: str) -> str:
        size = self.image_size
        return (
            f"float32 {shape} {colour} pixel values 0..255, un-normalised: each image decoded to RGB and resized "
            f"to the training size {size}x{size} (bilinear) as the data module reads it, rounded to whole values"
        )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "classes": self.classes}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("classes"):
            self.class_names = list(state_dict["classes"])
        super().load_state_dict(state_dict)

    @override
    def _load_raw_splits(self) -> Tensor:
        self._splits = self._load()
        return self._splits["source_train"][0]

    def _load(self) -> dict[str, tuple[Tensor, Tensor]]:
        h = self.hparams
        rng = np.random.default_rng(h.seed)
        splits: dict[str, tuple[Tensor, Tensor]] = {}
        names: dict[str, list[str] | None] = {}
        for role, name, root in [("source", h.source, h.source_root), ("target", h.target, h.target_root)]:
            images, labels, names[role] = load_domain(
                name, root, "train", image_size=h.image_size, photos=h.photos, seed=h.seed
            )
            images, labels = self._subset(images, labels, rng)
            order = rng.permutation(len(images))
            n_val = max(1, round(h.val_fraction * len(images)))
            for split, index in [("val", order[:n_val]), ("train", order[n_val:])]:
                splits[f"{role}_{split}"] = (to_image_size(images[index], h.image_size, h.channels), labels[index])
        if names["source"] != names["target"] and None not in (names["source"], names["target"]):
            raise DataError(
                f"source and target image folders must hold the same class folders: {h.source_root} has "
                f"{names['source']}, {h.target_root} has {names['target']}"
            )
        self.class_names = names["source"] or names["target"]
        images, labels, _ = load_domain(
            h.target, h.target_root, "test", image_size=h.image_size, photos=h.photos, seed=h.seed
        )
        images, labels = self._subset(images, labels, rng)
        splits["target_test"] = (to_image_size(images, h.image_size, h.channels), labels)
        return {key: (images, torch.as_tensor(labels, dtype=torch.long)) for key, (images, labels) in splits.items()}

    def _subset(self, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[Any, Any]:
        limit = self.hparams.max_samples
        if limit is None or len(images) <= limit:
            return images, labels
        index = np.sort(rng.choice(len(images), size=limit, replace=False))
        return images[index], labels[index]

    @override
    def _build_datasets(self) -> None:
        assert self._splits is not None
        s, norm = self._splits, self.scaler
        labelled_train = s["target_train"] if self.hparams.train_on == "target" else s["source_train"]
        self.source_train = NormalizedImages(*labelled_train, norm)
        self.source_val = NormalizedImages(*s["source_val"], norm)
        self.target_train = NormalizedImages(s["target_train"][0], None, norm)
        self.target_val = NormalizedImages(*s["target_val"], norm)
        self.target_test = NormalizedImages(*s["target_test"], norm)
