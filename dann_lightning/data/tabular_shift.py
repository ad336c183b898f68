"""The embedded tabular shift as a data module (its generator lives in ``dann_lightning.datasets.tabular``)."""

from __future__ import annotations

from dann_lightning.data.shift import ShiftDataModule
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.datasets.tabular import (
    LOG_SCALE_STD,
    OFFSET_STD,
    ROTATION_DEGREES,
    check_shift_arguments,
    make_tabular_shift,
)

TabularShift = DomainSplits  # what make_tabular_shift returned before DomainSplits

__all__ = [
    "LOG_SCALE_STD",
    "OFFSET_STD",
    "ROTATION_DEGREES",
    "TabularShift",
    "TabularShiftDataModule",
    "check_shift_arguments",
    "make_tabular_shift",
]


class TabularShiftDataModule(ShiftDataModule):
    """The embedded tabular shift ([`make_tabular_shift`][dann_lightning.datasets.make_tabular_shift]) as
    DANN batches, needing no files: ``ShiftDataModule("tabular", ...)`` under its earlier name and arguments.

    The source is a 20-feature binary ``make_classification`` problem, the target the same
    problem recalibrated: features rescaled, offset and partly rotated by ``strength``. The target
    training split yields features only; validation and test splits are labelled (the target's
    are oracles). Standardised with source training statistics, kept in the ``state_dict``.

    Args:
        n_samples: training rows per domain.
        n_features: features per row.
        strength: size of the shift (0: none; 1: the default benchmark).
        n_val: validation rows per domain.
        n_test: target test rows.
        seed: seed of the draw and of the shift.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        n_samples: int = 2000,
        n_features: int = 20,
        strength: float = 1.0,
        n_val: int = 500,
        n_test: int = 1000,
        seed: int = 0,
        *,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        check_shift_arguments("TabularShiftDataModule", n_samples, n_features, strength, n_val, n_test, seed)
        options = {"n_samples": n_samples, "n_features": n_features, "strength": strength, "n_val": n_val}
        options["n_test"] = n_test
        super().__init__("tabular", seed, options, batch_size=batch_size, num_workers=num_workers)
        self.save_hyperparameters()
