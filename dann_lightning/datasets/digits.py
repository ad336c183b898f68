"""Digits -> digits-M: the MNIST -> MNIST-M shift of Ganin et al. (2016), built from what
scikit-learn ships (``load_digits``: 1797 real handwritten digits of 8x8; ``load_sample_images``:
two colour photographs), so a real image-domain shift runs offline in minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.datasets.photos import blend_with_photos, load_photos, resize
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.errors import ConfigurationError

TargetDomain = Literal["digits", "digits-m"]
MIN_IMAGE_SIZE = 8


def make_digits_shift(
    image_size: int = 32,
    target_domain: TargetDomain = "digits-m",
    blends_per_digit: int = 1,
    val_fraction: float = 0.1,
    test_fraction: float = 0.4,
    photos: str | Path | None = None,
    seed: int = 0,
) -> DomainSplits:
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
    # details["indices"]: each split's rows of load_digits() (repeated in target_train when blended several times)
    return DomainSplits(
        source_train=grey(source_train),
        source_val=grey(source_val),
        target_train=target["train"],
        target_val=target["val"],
        target_test=target["test"],
        name="digits",
        classes=[str(digit) for digit in range(10)],
        details={"indices": indices},
    )


def _stratified_halves(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint, shuffled index arrays, each with half of every class."""
    first, second = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        first.append(members[0::2])
        second.append(members[1::2])
    return rng.permutation(np.concatenate(first)), rng.permutation(np.concatenate(second))
