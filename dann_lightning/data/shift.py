"""ShiftDataModule: any generated domain shift of ``dann_lightning.datasets``, by name, as DANN batches."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from typing_extensions import override

from dann_lightning.checks import check_choice, check_int
from dann_lightning.data.domain import TrainOn
from dann_lightning.data.images import augment_training_batch
from dann_lightning.data.splits_module import SplitsDataModule
from dann_lightning.data.transforms import ChannelNormalizer, Standardizer
from dann_lightning.datasets.registry import (
    IMAGE_SHIFTS,
    REGRESSION_SHIFTS,
    check_shift_options,
    make_shift,
    shift_options,
)
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.errors import ConfigurationError


class ShiftDataModule(SplitsDataModule):
    """A generated shift ([`make_shift`][dann_lightning.datasets.make_shift]: two moons, the Gaussian
    families, breast cancer, wine, the tabular recalibration, digits -> digits-M, the regression
    shifts) as DANN batches; needs no files.

    The target training split yields features only; validation and test splits are labelled (the
    target's are oracles). Every split is scaled with statistics of the source training split
    (per feature for rows, per channel for images), kept in the ``state_dict`` with the feature
    columns and classes, so a resumed or evaluated run scales its data as training did. Regression
    targets are standardised too (``standardize_target``); metrics and predictions are in their units.

    Args:
        shift: the shift's name, a key of ``dann_lightning.datasets.SHIFTS``.
        seed: seed of the draw; the same seed and options give the same data.
        options: the shift's options (its generator's keywords), e.g. ``{"angle": 50}`` for
            ``"moons"``; in a config, ``--data.init_args.options.angle=50`` changes one.
        train_on: ``"source"``, or ``"target"`` for the oracle upper bound: the labelled target
            training split trains the model in the source's place (a regression oracle validates on
            the target's validation rows too); run it with ``lambda_max=0``.
        standardize_target: regression: standardise the targets with the source training targets' statistics.
        augment_shift: images: translate each training image by up to this many pixels, afresh at every step.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.
        more_options: in Python, options may also come as keywords: ``ShiftDataModule("moons", angle=50)``.

    Examples:
        >>> data = ShiftDataModule("gaussian_covariate", seed=1, options={"dim": 4, "n_samples": 200}, batch_size=32)
        >>> data.setup("fit")
        >>> data.classes, len(data.source_train), tuple(data.example_input().shape)
        (['0', '1', '2'], 200, (2, 4))
    """

    def __init__(
        self,
        shift: str = "moons",
        seed: int = 0,
        options: Mapping[str, Any] | None = None,
        *,
        train_on: TrainOn = "source",
        standardize_target: bool = True,
        augment_shift: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
        **more_options: Any,
    ) -> None:
        twice = sorted(set(options or {}) & set(more_options))
        if twice:
            raise ConfigurationError(f"ShiftDataModule got {twice} both in options and as keywords: give each once")
        chosen = {**(options or {}), **more_options}
        check_shift_options(shift, chosen, what="ShiftDataModule shift")
        images = shift in IMAGE_SHIFTS
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            task="regression" if shift in REGRESSION_SHIFTS else "classification",
            standardize_target=standardize_target,
            scaler=ChannelNormalizer() if images else Standardizer(),
        )
        check_int("ShiftDataModule seed", seed, minimum=0)
        check_choice("train_on", train_on, TrainOn)
        if check_int("augment_shift", augment_shift, minimum=0) and not images:
            raise ConfigurationError(
                f"augment_shift={augment_shift!r} translates images, but shift {shift!r} serves feature rows: "
                f"leave it 0 (image shifts: {', '.join(IMAGE_SHIFTS)})"
            )
        self.shift, self.seed, self.options = shift, seed, chosen
        self.train_on, self.augment_shift, self.images = train_on, augment_shift, images
        self.build_seconds: float | None = None  # how long the draw took
        self._scaling_rows: Any = None  # what the scaler is fitted on
        if type(self) is ShiftDataModule:  # the old-named subclasses keep their own arguments
            self.save_hyperparameters()

    def option(self, name: str) -> Any:
        """The value of the shift's option ``name``: as given, else the generator's default."""
        return self.options[name] if name in self.options else shift_options(self.shift)[name]

    @override
    def _load_splits(self) -> DomainSplits:
        start = time.perf_counter()
        splits = make_shift(self.shift, seed=self.seed, **self.options)
        self.build_seconds = time.perf_counter() - start
        # A classification oracle scales with the source's statistics, a regression oracle with its own
        # training rows' (as MoonsDataModule, DigitsDataModule and RegressionShiftDataModule did).
        self._scaling_rows = splits.source_train[0]
        if self.train_on == "target":
            regression = self.task == "regression"
            source_val = splits.target_val if regression else splits.source_val
            splits = replace(splits, source_train=splits.target_train, source_val=source_val)
            self._scaling_rows = splits.source_train[0] if regression else self._scaling_rows
        return splits

    @override
    def _load_raw_splits(self) -> Any:
        self._read_splits()
        return torch.as_tensor(self._scaling_rows)

    @override
    def model_inputs(self, input_shape: Sequence[int] | None = None) -> Any:
        if not self.images:
            return super().model_inputs(input_shape)
        from dann_lightning.preprocessing import standardized_inputs  # preprocessing imports the data package

        return standardized_inputs(
            self.scaler,
            input_shape,
            classes=self.known_classes(),
            image_size=self.option("image_size"),
            describe_images=self.describe_raw_images,
        )

    def describe_raw_images(self, shape: str, colour: str) -> str:
        """What a raw image is, in words: what an export records."""
        return f"float32 {shape} images with values in [0, 1] (as make_digits_shift draws them), un-normalised"

    @override
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.augment_shift and self.trainer is not None and self.trainer.training:
            return augment_training_batch(batch, self.augment_shift)
        return batch
