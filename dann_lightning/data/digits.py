"""Digits -> digits-M: the MNIST -> MNIST-M shift of Ganin et al. (2016), built from what
scikit-learn ships (``load_digits``: 1797 real handwritten digits of 8x8; ``load_sample_images``:
two colour photographs), so a real image-domain shift runs offline in minutes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import TensorDataset
from typing_extensions import override

from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.data.domain import TrainOn
from dann_lightning.data.images import ImageDataModule, blend_with_photos, load_photos, resize
from dann_lightning.errors import ConfigurationError

TargetDomain = Literal["digits", "digits-m"]
MIN_IMAGE_SIZE = 8


@dataclass(frozen=True)
class DigitsShift:
    """Images ``(N, 3, S, S)`` float32 in ``[0, 1]`` and labels ``(N,)`` int64 of each split, and
    ``indices``: each split's rows of ``sklearn.datasets.load_digits()`` (repeated in
    ``target_train`` when digits are blended several times)."""

    source_train: tuple[np.ndarray, np.ndarray]
    source_val: tuple[np.ndarray, np.ndarray]
    target_train: tuple[np.ndarray, np.ndarray]
    target_val: tuple[np.ndarray, np.ndarray]
    target_test: tuple[np.ndarray, np.ndarray]
    indices: dict[str, np.ndarray]


def make_digits_shift(
    image_size: int = 32,
    target_domain: TargetDomain = "digits-m",
    blends_per_digit: int = 1,
    val_fraction: float = 0.1,
    test_fraction: float = 0.4,
    photos: str | Path | None = None,
    seed: int = 0,
) -> DigitsShift:
    """Split scikit-learn's digits into two disjoint halves, the source and the target domain.

    Each half takes every other image of each class (in a seeded order), so the halves share the
    class balance and no image is in both. The source half is upscaled to ``image_size`` and its grey
    replicated to three channels; ``val_fraction`` of it is held out. The target half is split into
    validation (``val_fraction``), test (``test_fraction``) and training (the rest), and rendered as
    ``target_domain``:

    - ``"digits-m"``: the MNIST-M recipe, ``|patch - digit|`` per channel with a ``image_size``
      square patch cropped at a random place of a random photo (``photos``: a folder of images;
      default: scikit-learn's two sample photos).
    - ``"digits"``: as the source (no shift: a sanity check, where adaptation should change nothing).

    ``blends_per_digit`` renders each target *training* digit that many times, each time on another
    random patch: more target variety for the discriminator to see, the same digits (no new labels).
    Validation and test digits are rendered once.

    Args:
        image_size: side of the square images, at least 8.
        target_domain: ``"digits-m"`` or ``"digits"``.
        blends_per_digit: renderings of each target training digit.
        val_fraction: fraction of each half held out for validation.
        test_fraction: fraction of the target half held out for the test.
        photos: folder of photos for the patches, or ``None`` for scikit-learn's.
        seed: the same seed gives the same arrays.

    Raises:
        ConfigurationError: (a ``ValueError``) an unknown ``target_domain`` (the message lists the
            valid ones), or a size or fraction out of range.
        DataError: photos smaller than ``image_size``.
    """
    check_choice("target_domain", target_domain, TargetDomain)
    check_int("image_size", image_size, minimum=MIN_IMAGE_SIZE)
    check_int("blends_per_digit", blends_per_digit, minimum=1)
    for name, value in [("val_fraction", val_fraction), ("test_fraction", test_fraction)]:
        check_real(name, value, minimum=0.0, maximum=1.0, strict=True)
    if val_fraction + test_fraction >= 1.0:
        raise ConfigurationError(
            f"val_fraction + test_fraction must leave target training images: got {val_fraction} + {test_fraction} >= 1"
        )
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = resize(torch.as_tensor(digits.images / 16.0, dtype=torch.float32)[:, None], image_size)[:, 0].numpy()
    images = images.clip(0.0, 1.0)
    labels = digits.target.astype(np.int64)

    split_seeds = np.random.SeedSequence(seed).spawn(3)
    source_idx, target_idx = _stratified_halves(labels, np.random.default_rng(split_seeds[0]))
    n_source_val = round(val_fraction * len(source_idx))
    n_target_val, n_test = round(val_fraction * len(target_idx)), round(test_fraction * len(target_idx))
    source_val, source_train = source_idx[:n_source_val], source_idx[n_source_val:]
    target_val = target_idx[:n_target_val]
    target_test = target_idx[n_target_val : n_target_val + n_test]
    target_train = np.tile(target_idx[n_target_val + n_test :], blends_per_digit)
    indices = {
        "source_train": source_train,
        "source_val": source_val,
        "target_train": target_train,
        "target_val": target_val,
        "target_test": target_test,
    }

    def grey(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.repeat(images[index][:, None], 3, axis=1), labels[index]

    if target_domain == "digits":
        target = {
            name: grey(index) for name, index in [("val", target_val), ("test", target_test), ("train", target_train)]
        }
    else:
        photo_list = load_photos(photos, min_size=image_size)
        rng = np.random.default_rng(split_seeds[1])
        target = {}
        # Test and validation first: their patches do not change with blends_per_digit.
        for name, index in [("val", target_val), ("test", target_test), ("train", target_train)]:
            target[name] = (blend_with_photos(images[index], photo_list, rng), labels[index])
    return DigitsShift(
        source_train=grey(source_train),
        source_val=grey(source_val),
        target_train=target["train"],
        target_val=target["val"],
        target_test=target["test"],
        indices=indices,
    )


def _stratified_halves(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint, shuffled index arrays, each with half of every class."""
    first, second = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        first.append(members[0::2])
        second.append(members[1::2])
    return rng.permutation(np.concatenate(first)), rng.permutation(np.concatenate(second))


class DigitsDataModule(ImageDataModule):
    """Digits -> digits-M: scikit-learn's handwritten digits as the source, the same recipe as
    MNIST-M on the other half of the digits as the target. Nothing is downloaded.

    See [`make_digits_shift`][dann_lightning.data.make_digits_shift] for the split and the rendering.
    Images are ``(3, S, S)`` normalised per channel with the mean and standard deviation of the
    source training split (kept in the data module's ``state_dict``, so a resumed or evaluated run
    normalises as training did).
    The target training split yields images only.

    Args:
        image_size: side of the square images (default 28, MNIST's).
        target_domain: ``"digits-m"`` (the shift) or ``"digits"`` (no shift).
        blends_per_digit: renderings of each target training digit on different photo patches.
        augment_shift: translate each training image (both domains) by up to this many pixels,
            afresh at every step; 0 turns augmentation off.
        train_on: ``"source"``, or ``"target"`` for the oracle upper bound: the classifier is trained
            on the labelled target training split (every rendering) in place of the source.
        val_fraction: fraction of each domain's half held out for validation.
        test_fraction: fraction of the target half held out for the test.
        photos: folder of photos for the target patches; default: scikit-learn's two sample photos.
        seed: seed of the split and the rendering.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        image_size: int = 28,
        target_domain: TargetDomain = "digits-m",
        blends_per_digit: int = 1,
        augment_shift: int = 0,
        train_on: TrainOn = "source",
        val_fraction: float = 0.1,
        test_fraction: float = 0.4,
        photos: str | None = None,
        seed: int = 0,
        *,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            image_size=image_size, augment_shift=augment_shift, batch_size=batch_size, num_workers=num_workers
        )
        check_choice("target_domain", target_domain, TargetDomain)
        check_choice("train_on", train_on, TrainOn)
        check_int("image_size", image_size, minimum=MIN_IMAGE_SIZE)
        check_int("blends_per_digit", blends_per_digit, minimum=1)
        check_int("augment_shift", augment_shift, minimum=0)
        self.save_hyperparameters()
        self.build_seconds: float | None = None
        self._raw: DigitsShift | None = None

    @override
    @property
    @override
    def classes(self) -> list[str]:
        """The ten digits, ``"0"`` to ``"9"``."""
        return [str(digit) for digit in range(10)]

    @override
    def describe_raw_images(self, shape: str, colour: str) -> str:
        return f"float32 {shape} images with values in [0, 1] (as make_digits_shift draws them), un-normalised"

    def _load_raw_splits(self) -> torch.Tensor:
        h = self.hparams
        start = time.perf_counter()
        self._raw = make_digits_shift(
            h.image_size, h.target_domain, h.blends_per_digit, h.val_fraction, h.test_fraction, h.photos, h.seed
        )
        self.build_seconds = time.perf_counter() - start
        return torch.as_tensor(self._raw.source_train[0])

    @override
    def _build_datasets(self) -> None:
        assert self._raw is not None
        raw = self._raw

        def images(split: tuple[np.ndarray, np.ndarray]) -> torch.Tensor:
            return self.scaler.transform(torch.as_tensor(split[0]))

        def labelled(split: tuple[np.ndarray, np.ndarray]) -> TensorDataset:
            return TensorDataset(images(split), torch.as_tensor(split[1]))

        labelled_train = raw.target_train if self.hparams.train_on == "target" else raw.source_train
        self.source_train = labelled(labelled_train)
        self.source_val = labelled(raw.source_val)
        self.target_train = TensorDataset(images(raw.target_train))
        self.target_val = labelled(raw.target_val)
        self.target_test = labelled(raw.target_test)
