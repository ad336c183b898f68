"""Digits -> digits-M as a data module (its generator lives in ``dann_lightning.datasets.digits``)."""

from __future__ import annotations

from dann_lightning.checks import check_choice, check_int
from dann_lightning.data.domain import TrainOn
from dann_lightning.data.shift import ShiftDataModule
from dann_lightning.data.transforms import ChannelNormalizer
from dann_lightning.datasets.digits import MIN_IMAGE_SIZE, TargetDomain, make_digits_shift
from dann_lightning.datasets.splits import DomainSplits

DigitsShift = DomainSplits  # what make_digits_shift returned before DomainSplits

__all__ = ["MIN_IMAGE_SIZE", "DigitsDataModule", "DigitsShift", "TargetDomain", "make_digits_shift"]


class DigitsDataModule(ShiftDataModule):
    """Digits -> digits-M: scikit-learn's handwritten digits as the source, the same recipe as
    MNIST-M on the other half of the digits as the target. Nothing is downloaded:
    ``ShiftDataModule("digits", ...)`` under its earlier name and arguments.

    See [`make_digits_shift`][dann_lightning.datasets.make_digits_shift] for the split and the rendering.
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
        check_choice("target_domain", target_domain, TargetDomain)
        check_choice("train_on", train_on, TrainOn)
        check_int("image_size", image_size, minimum=MIN_IMAGE_SIZE)
        check_int("blends_per_digit", blends_per_digit, minimum=1)
        options = {
            "image_size": image_size,
            "target_domain": target_domain,
            "blends_per_digit": blends_per_digit,
            "val_fraction": val_fraction,
            "test_fraction": test_fraction,
            "photos": photos,
        }
        super().__init__(
            "digits",
            seed,
            options,
            train_on=train_on,
            augment_shift=augment_shift,
            batch_size=batch_size,
            num_workers=num_workers,
        )
        self.save_hyperparameters()

    @property
    def normalizer(self) -> ChannelNormalizer:
        """``scaler``, under its earlier name."""
        return self.scaler
