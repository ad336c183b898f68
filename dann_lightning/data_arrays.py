"""Arrays in memory as a standardised DANN data module: what the scikit-learn estimators train on."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import Tensor

from dann_lightning.data.domain import DomainDataModule
from dann_lightning.data.transforms import Standardizer
from dann_lightning.preprocessing import Unstandardize, standardized_inputs


class StandardizedArraysDataModule(DomainDataModule):
    """[`DomainDataModule.from_arrays`][dann_lightning.data.DomainDataModule.from_arrays] with the
    features standardised by a [`Standardizer`][dann_lightning.data.Standardizer] fitted on the
    labelled source rows, and regression labels by their mean and standard deviation. A model
    exported from it folds both in (``model_inputs``, ``unscale_targets``): it takes raw rows and
    returns numbers in the labels' units. Build it with
    ``fit_arrays``.

    Attributes:
        scaler: the fitted ``Standardizer`` (``None`` without standardisation).
        target_statistics: regression: the labels' ``(mean, std)`` (``None`` without standardisation).
    """

    scaler: Standardizer | None = None
    target_statistics: tuple[float, float] | None = None
    class_names: list[str] | None = None

    @classmethod
    def fit_arrays(
        cls,
        x_source: np.ndarray,
        y_source: np.ndarray,
        x_target: np.ndarray,
        *,
        task: Literal["classification", "regression"] = "classification",
        standardize: bool = True,
        val_fraction: float | None = None,
        seed: int = 0,
        classes: Sequence[Any] | None = None,
        batch_size: int = 64,
        **loader_options: Any,
    ) -> StandardizedArraysDataModule:
        """Fit the statistics on every labelled source row, hold out ``val_fraction`` of them as
        ``source_val`` (stratified by class, drawn by ``seed``), and serve the scaled splits.

        Args:
            x_source: labelled source rows ``(n, features)``.
            y_source: class indices ``0 .. k - 1``, or numbers for ``task="regression"``.
            x_target: unlabelled target rows ``(m, features)``.
            task: ``"classification"`` or ``"regression"``.
            standardize: scale features (and regression labels) with the source statistics.
            val_fraction: fraction of the source rows held out for validation; ``None``: none.
            seed: seed of the held-out draw and of the shuffling.
            classes: class ``i``'s name (what predictions and exports name the classes).
            batch_size: samples per domain per step, at most the smaller domain's training rows.
            loader_options: ``num_workers``, ``pin_memory``.

        Examples:
            >>> rng = np.random.default_rng(0)
            >>> x, y = rng.normal(5.0, 2.0, size=(100, 3)), rng.normal(50.0, 10.0, 100)
            >>> data = StandardizedArraysDataModule.fit_arrays(
            ...     x, y, x + 1, task="regression", val_fraction=0.2, batch_size=16
            ... )
            >>> len(data.source_train), len(data.source_val), data.target_statistics == (y.mean(), y.std())
            (80, 20, True)
            >>> data.unscale_targets(torch.zeros(1, dtype=torch.float64)).item() == float(y.mean())
            True
        """
        scaler = Standardizer().fit(torch.from_numpy(np.asarray(x_source, dtype=np.float64))) if standardize else None
        y = np.asarray(y_source)
        statistics = None
        if task == "regression" and standardize:
            std = float(np.std(y))
            statistics = (float(np.mean(y)), std if std > 0 else 1.0)
            y = ((y - statistics[0]) / statistics[1]).astype(np.float32)
        x_source, x_target = standardized_rows(scaler, x_source), standardized_rows(scaler, x_target)
        held_out = {}
        if val_fraction is not None:
            x_source, x_val, y, y_val = train_test_split(
                x_source, y, test_size=val_fraction, random_state=seed, stratify=y if task == "classification" else None
            )
            held_out = {"x_source_val": x_val, "y_source_val": y_val}
        batch_size = min(batch_size, len(x_source), len(x_target))
        data = cls.from_arrays(
            x_source, y, x_target, **held_out, task=task, batch_size=batch_size, shuffle_seed=seed, **loader_options
        )
        assert isinstance(data, StandardizedArraysDataModule)
        data.scaler, data.target_statistics = scaler, statistics
        data.class_names = [str(name) for name in classes] if classes is not None else None
        return data

    @property
    def classes(self) -> list[str] | None:
        return self.class_names

    def unscale_targets(self, values: Tensor) -> Tensor:
        """Standardised regression labels (or predictions of them) back in the labels' units."""
        if self.target_statistics is None:
            return values
        mean, std = self.target_statistics
        return values * std + mean

    def model_inputs(self, input_shape: Sequence[int] | None = None) -> Any:
        """Raw rows, with the fitted ``scaler`` and the label unscaling to fold into a deployed model."""
        shape = input_shape or tuple(self.source_train.tensors[0].shape[1:])
        if self.scaler is None:
            return dataclasses.replace(super().model_inputs(shape), postprocessing=self._unscaling())
        return standardized_inputs(self.scaler, shape, classes=self.classes, target_statistics=self.target_statistics)

    def _unscaling(self) -> Unstandardize | None:
        return Unstandardize(*self.target_statistics) if self.target_statistics is not None else None


def standardized_rows(scaler: Standardizer | None, x: np.ndarray) -> np.ndarray:
    """``x`` scaled in float64 (as it was fitted), then float32: what the networks compute in."""
    if scaler is None:
        return np.ascontiguousarray(x, dtype=np.float32)
    return scaler.transform(torch.from_numpy(np.asarray(x, dtype=np.float64))).float().numpy()
