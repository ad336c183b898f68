"""The base of the data modules that serve one DomainSplits: scaled with source statistics, with the
feature columns, classes and (regression) target scaling it was trained on kept in the ``state_dict``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset
from typing_extensions import override

from dann_lightning.checks import check_choice
from dann_lightning.data.fitted import ScaledDataModule
from dann_lightning.data.transforms import FittedStatistics, Standardizer
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.errors import ConfigurationError, DANNError, DataError
from dann_lightning.tasks import TaskName


class SplitsDataModule(ScaledDataModule):
    """Serves a [`DomainSplits`][dann_lightning.datasets.DomainSplits], scaled by statistics of its source
    training split (a [`Standardizer`][dann_lightning.data.Standardizer] for rows, by default) that are
    kept in the data module's ``state_dict`` (restored runs scale as training did), with the
    feature columns and the class names it was trained on. A subclass reads or draws the splits
    (``_load_splits``).

    With ``task="regression"`` and ``standardize_target``, the targets are standardised too, with
    the mean and standard deviation of the source training targets (in the ``state_dict`` as
    ``target_mean`` and ``target_std``); [`unscale_targets`][dann_lightning.data.TabularDataModule.unscale_targets]
    undoes it, which the model calls for its metrics and predictions: both in the file's units."""

    def __init__(
        self,
        *,
        batch_size: int,
        num_workers: int,
        task: str = "classification",
        standardize_target: bool = True,
        scaler: FittedStatistics | None = None,
    ) -> None:
        super().__init__(scaler or Standardizer(), batch_size=batch_size, num_workers=num_workers)
        check_choice(f"{type(self).__name__} task", task, TaskName)
        if not isinstance(standardize_target, bool):
            raise ConfigurationError(f"standardize_target must be true or false, got {standardize_target!r}")
        self.task = task
        self.standardize_target = standardize_target
        self._target_statistics: tuple[float, float] | None = None  # mean, std of the source targets
        self._splits: DomainSplits | None = None
        self._restored: dict[str, list[str]] = {}  # "features", "classes" of a loaded state_dict
        # Columns and classes a subclass was given: known without reading data.
        self._given_features: list[str] | None = None
        self._given_classes: list[str] | None = None

    def _load_splits(self) -> DomainSplits:
        raise NotImplementedError

    def _read_splits(self) -> DomainSplits:
        if self._splits is None:
            self._splits = self._load_splits()
            self._check_restored()
        return self._splits

    @property
    def feature_names(self) -> list[str]:
        """The feature columns, in the order the model sees them (read from the data, or restored
        from a checkpoint)."""
        if self._splits is None and "features" in self._restored:
            return list(self._restored["features"])
        if self._splits is None and self._given_features:
            return list(self._given_features)  # as given: no file read (predict may have only its new rows)
        return list(self._read_splits().feature_names or [])

    @property
    @override
    def classes(self) -> list[str]:
        """The class names, index ``i`` naming class ``i`` (read from the data, or restored from a
        checkpoint); ``None`` for regression."""
        if self.task == "regression":
            return None
        if self._splits is None and "classes" in self._restored:
            return list(self._restored["classes"])
        if self._splits is None and self._given_classes:
            return list(self._given_classes)
        return list(self._read_splits().classes or [])

    @override
    def setup(self, stage: str) -> None:
        super().setup(stage)
        assert self._splits is not None
        test = self._splits.target_test
        if stage == "test" and test is not None and test[1] is None:
            name = self._splits.details.get("target_test_name", "target_test")
            raise DataError(
                f"stage 'test' measures accuracy on the target, but {name} has no labels. "
                "Pass target_test: labelled rows with the same feature columns (predict needs no labels)."
            )

    def prediction_ids(self) -> tuple[str, np.ndarray] | None:
        """The ``id`` column's name and values for the rows ``predict`` serves, in order, or ``None``."""
        return self._splits.details.get("target_test_ids") if self._splits is not None else None

    @override
    def model_inputs(self, input_shape: Sequence[int] | None = None) -> Any:
        """Raw feature rows, their column names and the fitted standardisation to fold in: read from the
        ``state_dict`` (a data module restored from a checkpoint needs no data files)."""
        from dann_lightning.preprocessing import standardized_inputs  # preprocessing imports the data package

        try:
            classes = self.known_classes()
        except (DANNError, OSError):  # read from data files that are gone: the export names classes by index
            classes = None
        features = self.state_dict().get("features")
        return standardized_inputs(
            self.scaler, input_shape, features=features, classes=classes, target_statistics=self.target_statistics
        )

    @override
    def _load_raw_splits(self) -> torch.Tensor:
        return torch.as_tensor(self._read_splits().source_train[0])  # the scaler fits in float64

    def _dataset(self, x: np.ndarray, y: np.ndarray | None = None) -> TensorDataset:
        features = self.scaler.transform(torch.as_tensor(x, dtype=torch.float32))
        if y is None:
            return TensorDataset(features)
        if self.task != "regression":
            return TensorDataset(features, torch.as_tensor(y))
        mean, std = self._target_statistics or (0.0, 1.0)
        return TensorDataset(features, torch.as_tensor((y - mean) / std, dtype=torch.float32))

    @property
    def target_statistics(self) -> tuple[float, float] | None:
        """Regression: the mean and standard deviation the targets were standardised with (what an
        export folds in to give numbers in the label's units); ``None`` when they are not."""
        return self._target_statistics

    def unscale_targets(self, values: torch.Tensor) -> torch.Tensor:
        """Standardised regression targets (or predictions of them) back in the data's units."""
        if self._target_statistics is None:
            return values
        mean, std = self._target_statistics
        return values * std + mean

    def _fit_target_statistics(self) -> None:
        if self.task == "regression" and self.standardize_target and self._target_statistics is None:
            y = torch.as_tensor(np.asarray(self._splits.source_train[1], dtype=np.float64))
            targets = Standardizer().fit(y.reshape(-1, 1))  # one mean and std over every output
            self._target_statistics = (float(targets.mean[0]), float(targets.std[0]))

    @override
    def _build_datasets(self) -> None:
        splits = self._splits
        assert splits is not None
        self._fit_target_statistics()
        dataset = self._dataset
        self.source_train = dataset(*splits.source_train)
        self.source_val = dataset(*splits.source_val) if splits.source_val is not None else None
        self.target_train = dataset(splits.target_train[0])  # features only: target labels never train
        self.target_val = dataset(*splits.target_val) if splits.target_val is not None else None
        self.target_test = dataset(*splits.target_test) if splits.target_test is not None else None

    @override
    def state_dict(self) -> dict[str, Any]:
        known = {"features": self.feature_names, "classes": self.classes} if self._splits is not None else {}
        if not known.get("features", True):  # rows without column names, or images
            del known["features"]
        targets = {}
        if self._target_statistics is not None:
            targets = dict(zip(("target_mean", "target_std"), self._target_statistics, strict=True))
        return {**super().state_dict(), **self._restored, **known, **targets}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Columns and classes first: a checkpoint of other ones leaves the statistics as they were.
        self._restored = {key: list(state_dict[key]) for key in ("features", "classes") if state_dict.get(key)}
        if "target_mean" in state_dict:  # before the datasets are rebuilt with them
            self._target_statistics = (float(state_dict["target_mean"]), float(state_dict["target_std"]))
        if self._splits is not None:
            self._check_restored()
        super().load_state_dict(state_dict)

    def _check_restored(self) -> None:
        assert self._splits is not None
        for key, what in [("features", "feature columns"), ("classes", "classes")]:
            restored = self._restored.get(key)
            found = self._splits.feature_names if key == "features" else self._splits.classes
            if restored is not None and restored != found:
                raise DataError(
                    f"the checkpoint was trained on the {what} {restored}, but this data has {found}: give the "
                    f"same {what} in the same order ({key})"
                )
