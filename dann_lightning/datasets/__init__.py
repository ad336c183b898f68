"""Domain-shift generators: seeded, offline arrays, no Lightning. Every generator returns one
[`DomainSplits`][dann_lightning.datasets.DomainSplits]; ``dann_lightning.data.ShiftDataModule``
serves any of them to a Trainer.

Examples:
    >>> splits = make_shift("moons", seed=0, n_samples=200)
    >>> splits.source_train[0].shape, splits.target_train[0].shape, splits.classes
    ((200, 2), (200, 2), ['0', '1'])
"""

from dann_lightning.datasets.digits import make_digits_shift
from dann_lightning.datasets.moons import make_moons_shift
from dann_lightning.datasets.registry import (
    HELDOUT_SHIFTS,
    IMAGE_SHIFTS,
    REGRESSION_SHIFTS,
    SHIFTS,
    make_shift,
    shift_options,
)
from dann_lightning.datasets.regression import make_regression_shift
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.datasets.tabular import make_tabular_shift

__all__ = [
    "HELDOUT_SHIFTS",
    "IMAGE_SHIFTS",
    "REGRESSION_SHIFTS",
    "SHIFTS",
    "DomainSplits",
    "make_digits_shift",
    "make_moons_shift",
    "make_regression_shift",
    "make_shift",
    "make_tabular_shift",
    "shift_options",
]
