"""The embedded regression shifts as a data module (their generator lives in
``dann_lightning.datasets.regression``)."""

from __future__ import annotations

from typing import Literal

from dann_lightning.checks import check_choice
from dann_lightning.data.shift import ShiftDataModule
from dann_lightning.datasets.regression import (
    DIABETES_COLUMNS,
    N_WAVES,
    NOISE_STD,
    SPARSE_KEEP,
    RegressionShiftKind,
    check_regression_shift_arguments,
    make_regression_shift,
)
from dann_lightning.datasets.splits import DomainSplits

RegressionShift = DomainSplits  # what make_regression_shift returned before DomainSplits

__all__ = [
    "DIABETES_COLUMNS",
    "NOISE_STD",
    "N_WAVES",
    "SPARSE_KEEP",
    "RegressionShift",
    "RegressionShiftDataModule",
    "RegressionShiftKind",
    "check_regression_shift_arguments",
    "make_regression_shift",
]


class RegressionShiftDataModule(ShiftDataModule):
    """An embedded regression shift ([`make_regression_shift`][dann_lightning.datasets.make_regression_shift])
    as DANN batches, needing no files: ``ShiftDataModule("regression", ...)`` under its earlier name and arguments.

    The target training split yields features only; validation and test splits are labelled (the
    target's are oracles). Features are standardised with source training statistics, and the
    targets too (``standardize_target``), both kept in the ``state_dict``; metrics and predictions
    are in the targets' own units.

    Args:
        kind: ``"covariate"``, ``"sparse"``, ``"diabetes_bmi"`` or ``"diabetes_age"``.
        n_samples: training rows per domain (synthetic kinds).
        n_features: features per row, 8 to 20 (synthetic kinds).
        n_val: validation rows per domain (synthetic kinds).
        n_test: target test rows (synthetic kinds).
        seed: seed of the draw.
        standardize_target: standardise the targets with the source training targets' statistics.
        train_on: ``"source"``, or ``"target"`` for the oracle upper bound: the model trains on the
            labelled target training rows (and validates on the target's) in the source's place;
            run it with ``lambda_max=0``.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        kind: RegressionShiftKind = "covariate",
        n_samples: int = 2000,
        n_features: int = 10,
        n_val: int = 500,
        n_test: int = 1000,
        seed: int = 0,
        *,
        standardize_target: bool = True,
        train_on: Literal["source", "target"] = "source",
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        check_regression_shift_arguments("RegressionShiftDataModule", kind, n_samples, n_features, n_val, n_test, seed)
        check_choice("RegressionShiftDataModule train_on", train_on, ("source", "target"))
        options = {"kind": kind, "n_samples": n_samples, "n_features": n_features, "n_val": n_val, "n_test": n_test}
        super().__init__(
            "regression",
            seed,
            options,
            train_on=train_on,
            standardize_target=standardize_target,
            batch_size=batch_size,
            num_workers=num_workers,
        )
        self.save_hyperparameters()
