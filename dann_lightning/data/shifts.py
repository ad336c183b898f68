"""The shift suite's tasks under their earlier names: ``make_shift`` returns a ``ShiftTask``, the
[`DomainSplits`][dann_lightning.datasets.DomainSplits] of ``dann_lightning.datasets.make_shift`` as
float32 rows and int64 labels, with :meth:`ShiftTask.datamodule` to serve them. The generators
themselves live in ``dann_lightning.datasets``.

Examples:
    >>> task = make_shift("gaussian_covariate", seed=0, kind="rotation", dim=4)
    >>> task.x_source.shape, task.x_target.dtype, task.y_target.dtype, task.num_classes
    ((1000, 4), dtype('float32'), dtype('int64'), 3)
    >>> make_shift("gaussian", seed=0)
    Traceback (most recent call last):
    ...
    dann_lightning.errors.ConfigurationError: unknown shift task 'gaussian'; valid: 'moons', ...
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from dann_lightning.checks import check_choice, check_int
from dann_lightning.data.domain import DomainDataModule
from dann_lightning.data.transforms import Standardizer
from dann_lightning.datasets.gaussian import LOG2_SCALE, ROTATION_DEGREES, CovariateKind
from dann_lightning.datasets.gaussian_families import (
    gaussian_class_conditional_shift,
    gaussian_covariate_shift,
    gaussian_subspace_shift,
    label_proportion_shift,
)
from dann_lightning.datasets.moons import moons_shift
from dann_lightning.datasets.registry import check_shift_options
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.datasets.subpopulations import breast_cancer_shift, wine_shift
from dann_lightning.datasets.tabular import tabular_shift
from dann_lightning.errors import ConfigurationError, DataError

SPLITS = ("source", "target", "source_val", "target_test")

__all__ = ["LOG2_SCALE", "ROTATION_DEGREES", "SHIFT_TASKS", "CovariateKind", "ShiftName", "ShiftTask", "make_shift"]

ShiftName = Literal[
    "moons",
    "gaussian_covariate",
    "gaussian_class_conditional",
    "gaussian_subspace",
    "label_proportion",
    "breast_cancer",
    "wine",
    "tabular",
]


@dataclass(frozen=True, eq=False)
class ShiftTask:
    """One draw of a shift task as the suite reads it: float32 rows, int64 labels in ``[0, num_classes)``.

    ``y_target`` labels the target training rows for evaluation only (the oracle ``val/target_acc``
    and an oracle model trained on the target): a DANN run never trains on it. A view of a
    generator's [`DomainSplits`][dann_lightning.datasets.DomainSplits] (:meth:`from_splits`).

    Examples:
        >>> task = make_shift("moons", seed=0, n_samples=200, n_val=50, n_test=100)
        >>> task.in_features, len(task.x_target), len(task.x_target_test)
        (2, 200, 100)
    """

    name: str
    x_source: np.ndarray
    y_source: np.ndarray
    x_target: np.ndarray
    y_target: np.ndarray
    x_source_val: np.ndarray
    y_source_val: np.ndarray
    x_target_test: np.ndarray
    y_target_test: np.ndarray
    num_classes: int
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_int("ShiftTask num_classes", self.num_classes, minimum=2)
        for split in SPLITS:
            x = np.ascontiguousarray(getattr(self, f"x_{split}"), dtype=np.float32)
            y = np.ascontiguousarray(getattr(self, f"y_{split}"), dtype=np.int64)
            if x.ndim != 2 or y.shape != (len(x),):
                raise DataError(f"x_{split} must be (rows, features) and y_{split} (rows,): got {x.shape}, {y.shape}")
            if x.shape[1] != np.shape(self.x_source)[1]:
                raise DataError(f"x_{split} has {x.shape[1]} features but x_source {np.shape(self.x_source)[1]}")
            if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                raise DataError(f"y_{split} must lie in [0, {self.num_classes}), got {y.min()}..{y.max()}")
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)

    @classmethod
    def from_splits(cls, splits: DomainSplits) -> ShiftTask:
        """The task of a generator's classification ``splits``."""
        pairs = [splits.source_train, splits.target_train, splits.source_val, splits.target_test]
        return cls(splits.name, *(array for pair in pairs for array in pair), splits.num_classes, splits.details)

    @property
    def in_features(self) -> int:
        """Features per row."""
        return self.x_source.shape[1]

    def datamodule(self, batch_size: int = 64, *, standardize: bool = True, **loader_options: Any) -> DomainDataModule:
        """The task as a :class:`DomainDataModule` (:meth:`DomainDataModule.from_arrays`).

        Serves source val as ``val/source_acc``, the labelled target training rows as the oracle
        ``val/target_acc`` (transductive, as in domain-adaptation papers), and the target test rows
        for ``test``. Target labels never reach the training batches.

        Args:
            batch_size: rows per domain per step.
            standardize: scale every split by the mean and standard deviation of ``x_source`` (a
                [`Standardizer`][dann_lightning.data.Standardizer]; not kept in a checkpoint: the
                same seed redraws them).
            loader_options: ``num_workers``, ``pin_memory``, ``shuffle_seed``.

        Examples:
            >>> data = make_shift("wine").datamodule(batch_size=16)
            >>> data.setup("fit")
            >>> batch, _, _ = next(iter(data.train_dataloader()))
            >>> tuple(batch["source"][0].shape), tuple(batch["target"][0].shape)
            ((16, 13), (16, 13))
        """
        if not isinstance(standardize, bool):
            raise ConfigurationError(f"datamodule standardize must be True or False, got {standardize!r}")
        scale = _scaled_by(self.x_source) if standardize else (lambda x: x)
        return DomainDataModule.from_arrays(
            scale(self.x_source),
            self.y_source,
            scale(self.x_target),
            self.y_target,
            x_source_val=scale(self.x_source_val),
            y_source_val=self.y_source_val,
            x_target_test=scale(self.x_target_test),
            y_target_test=self.y_target_test,
            batch_size=batch_size,
            **loader_options,
        )


def _scaled_by(x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    standardizer = Standardizer().fit(torch.as_tensor(x))
    return lambda rows: standardizer.transform(torch.as_tensor(rows)).numpy()


def _as_task(generator: Callable[..., DomainSplits], name: str) -> Callable[..., ShiftTask]:
    @functools.wraps(generator)
    def task(**options: Any) -> ShiftTask:
        return ShiftTask.from_splits(generator(**options))

    task.__name__ = task.__qualname__ = name
    return task


moons_task = _as_task(moons_shift, "moons_task")
tabular_task = _as_task(tabular_shift, "tabular_task")
gaussian_covariate_task = _as_task(gaussian_covariate_shift, "gaussian_covariate_task")
gaussian_class_conditional_task = _as_task(gaussian_class_conditional_shift, "gaussian_class_conditional_task")
gaussian_subspace_task = _as_task(gaussian_subspace_shift, "gaussian_subspace_task")
label_proportion_task = _as_task(label_proportion_shift, "label_proportion_task")
breast_cancer_task = _as_task(breast_cancer_shift, "breast_cancer_task")
wine_task = _as_task(wine_shift, "wine_task")

SHIFT_TASKS: dict[str, Callable[..., ShiftTask]] = {
    "moons": moons_task,
    "gaussian_covariate": gaussian_covariate_task,
    "gaussian_class_conditional": gaussian_class_conditional_task,
    "gaussian_subspace": gaussian_subspace_task,
    "label_proportion": label_proportion_task,
    "breast_cancer": breast_cancer_task,
    "wine": wine_task,
    "tabular": tabular_task,
}
"""Every shift task by name: the generator that draws it, keyword options only."""


def make_shift(name: ShiftName, *, seed: int = 0, **options: Any) -> ShiftTask:
    """Draw the shift task ``name`` (a key of :data:`SHIFT_TASKS`) with the family's ``options``.

    Raises:
        ConfigurationError: an unknown ``name`` or option, or an option's bad value.

    Examples:
        >>> make_shift("moons", radius=3)
        Traceback (most recent call last):
        ...
        dann_lightning.errors.ConfigurationError: unknown option 'radius' for shift task 'moons'; valid: ...
    """
    check_shift_options(check_choice("shift task", name, ShiftName), options, what="shift task")
    return SHIFT_TASKS[name](seed=seed, **options)
