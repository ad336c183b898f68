"""Tables as DANN data: source and target rows from CSV / NPZ / Parquet files or arrays, or the
embedded tabular shift. Features are standardised with statistics of the source training split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset
from typing_extensions import override

from dann_lightning.checks import check_int, check_real
from dann_lightning.data.fitted import ScaledDataModule
from dann_lightning.data.tabular_io import (
    Selected,
    Table,
    TableSource,
    check_has_label,
    feature_names_without_label,
    read_table,
    select,
)
from dann_lightning.data.tabular_shift import check_shift_arguments, make_tabular_shift
from dann_lightning.data.transforms import Standardizer
from dann_lightning.errors import ConfigurationError, DataError

__all__ = ["TabularDataModule", "TabularShiftDataModule", "TabularSplits", "make_tabular_shift"]

Labelled = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TabularSplits:
    """Raw (unscaled) features and labels of every split; ``None`` where the data has none."""

    features: list[str]
    source_train: Labelled
    source_val: Labelled | None
    target_train: np.ndarray
    target_val: Labelled | None
    target_test: tuple[np.ndarray, np.ndarray | None] | None
    target_test_name: str = "target_test"


class _StandardizedTables(ScaledDataModule):
    """Builds the datasets from :class:`TabularSplits`, scaled by a source-fitted standardiser that
    is kept in the data module's ``state_dict`` (restored runs scale as training did), with the
    feature columns it was fitted on."""

    def __init__(self, *, batch_size: int, num_workers: int) -> None:
        super().__init__(Standardizer(), batch_size=batch_size, num_workers=num_workers)
        self._splits: TabularSplits | None = None
        self._restored_features: list[str] | None = None

    def _load_splits(self) -> TabularSplits:
        raise NotImplementedError

    @property
    def feature_names(self) -> list[str]:
        """The feature columns, in the order the model sees them (after ``setup``)."""
        if self._splits is None:
            raise RuntimeError(f"{type(self).__name__}.feature_names is known after setup()")
        return list(self._splits.features)

    @override
    def setup(self, stage: str) -> None:
        super().setup(stage)
        assert self._splits is not None
        test = self._splits.target_test
        if stage == "test" and test is not None and test[1] is None:
            raise DataError(
                f"stage 'test' measures accuracy on the target, but {self._splits.target_test_name} has no labels. "
                "Pass target_test: labelled rows with the same feature columns (predict needs no labels)."
            )

    @override
    def _load_raw_splits(self) -> torch.Tensor:
        self._splits = self._load_splits()
        self._check_restored_features()
        return torch.as_tensor(self._splits.source_train[0], dtype=torch.float64)

    @override
    def _build_datasets(self) -> None:
        splits = self._splits
        assert splits is not None

        def dataset(x: np.ndarray, y: np.ndarray | None = None) -> TensorDataset:
            features = self.scaler.transform(torch.as_tensor(x, dtype=torch.float32))
            return TensorDataset(features) if y is None else TensorDataset(features, torch.as_tensor(y))

        self.source_train = dataset(*splits.source_train)
        self.source_val = dataset(*splits.source_val) if splits.source_val is not None else None
        self.target_train = dataset(splits.target_train)  # features only: target labels never train
        self.target_val = dataset(*splits.target_val) if splits.target_val is not None else None
        self.target_test = dataset(*splits.target_test) if splits.target_test is not None else None

    @override
    def state_dict(self) -> dict[str, Any]:
        features = self._splits.features if self._splits is not None else self._restored_features
        return {**super().state_dict(), "features": list(features or [])}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Columns first: a checkpoint of other columns leaves the statistics as they were.
        self._restored_features = list(state_dict.get("features", [])) or None
        if self._splits is not None:
            self._check_restored_features()
        super().load_state_dict(state_dict)

    def _check_restored_features(self) -> None:
        assert self._splits is not None
        if self._restored_features is not None and self._restored_features != self._splits.features:
            raise DataError(
                f"the checkpoint was trained on feature columns {self._restored_features}, but this data has "
                f"{self._splits.features}: give the same columns in the same order (features)"
            )


class TabularDataModule(_StandardizedTables):
    """Source and target tables from files or arrays, as DANN batches.

    Files: ``.csv`` (comma-separated, a header line naming the columns), ``.tsv``, either one
    gzipped (``.csv.gz``), ``.npz`` (one array per column; a 2-D array counts as that many
    feature columns under its key), and ``.parquet`` (needs ``pyarrow``). Arrays: an ``(x, y)``
    pair, ``x`` alone for an unlabelled target, or a mapping of column name to values (a dict, a
    pandas DataFrame).

    Every feature must be a number: non-numeric (categorical) columns are rejected, naming them
    (encode them as numbers first, or leave them out with ``features``), and so is every missing
    or non-finite cell, naming its line (text files) or row. Labels are integer class indices.

    Splits: ``val_fraction`` of the source rows is held out for validation (``val/source_acc``).
    The target may lack the label column. When it has labels, ``val_fraction`` of its rows is held
    out for the oracle ``val/target_acc`` and the labels go nowhere else: training sees target
    features only. Test and predict read ``target_test`` when given, else every target row (DANN
    saw their features, never their labels). Features are standardised with the mean and standard
    deviation of the source training split only, kept in the data module's ``state_dict``.

    Args:
        source: labelled source rows: a file path or arrays.
        target: target rows, labelled or not: a file path or arrays.
        target_test: optional rows to test on (labelled) or predict; default: the target rows.
        label: the label column (CSV, Parquet, column mappings) or array key (NPZ).
        features: the feature columns, in order; default: every column but the label, which must
            then be the same in source and target (in any order).
        val_fraction: fraction of the rows held out for validation, in ``[0, 1)``.
        seed: seed of the train / validation split.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> data = TabularDataModule(
        ...     source=(rng.normal(size=(100, 3)), rng.integers(0, 2, 100)),
        ...     target=rng.normal(1.0, 2.0, size=(80, 3)),  # unlabelled
        ...     batch_size=16,
        ... )
        >>> data.setup("fit")
        >>> len(data.source_train), len(data.source_val), len(data.target_train), data.target_val
        (80, 20, 80, None)
    """

    def __init__(
        self,
        source: TableSource,
        target: TableSource,
        target_test: TableSource | None = None,
        *,
        label: str = "label",
        features: list[str] | None = None,
        val_fraction: float = 0.2,
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        if not isinstance(label, str) or not label:
            raise ConfigurationError(f"TabularDataModule label must be a non-empty column name, got {label!r}")
        if features is not None:
            if isinstance(features, str) or not all(isinstance(name, str) for name in features):
                raise ConfigurationError(f"TabularDataModule features must be a list of column names, got {features!r}")
            if not features:
                raise ConfigurationError(
                    "TabularDataModule features is empty: name at least one column, or None for all"
                )
            duplicates = sorted({name for name in features if list(features).count(name) > 1})
            if duplicates:
                raise ConfigurationError(f"TabularDataModule features names {duplicates} more than once")
        # [0, 1): 0 holds nothing out, 1 would leave no training rows (check_real has no half-open range).
        if check_real("TabularDataModule val_fraction", val_fraction, minimum=0.0) >= 1:
            raise ConfigurationError(
                f"TabularDataModule val_fraction must be a finite number >= 0 and < 1, got {val_fraction!r}"
            )
        check_int("TabularDataModule seed", seed)
        for name, value in [("source", source), ("target", target)]:
            if value is None:
                raise ConfigurationError(f"TabularDataModule {name} is required: a file path or arrays")

        # Hyperparameters (saved in checkpoints) hold file names as strings, and no arrays.
        paths = {"source": source, "target": target, "target_test": target_test}
        source, target, target_test = (_path_or_none(value) for value in paths.values())
        self.save_hyperparameters(ignore=[name for name, value in paths.items() if _path_or_none(value) is None])
        self._sources = paths
        self.label = label
        self.features = list(features) if features is not None else None
        self.val_fraction = float(val_fraction)
        self.seed = seed

    def _load_splits(self) -> TabularSplits:
        tables = {role: read_table(value, role) for role, value in self._sources.items() if value is not None}
        check_has_label(tables["source"], self.label)
        names = self._feature_columns(tables)
        selected = {
            role: select(table, self.label, names, require_label=role == "source") for role, table in tables.items()
        }
        _check_widths(selected, tables)

        source_seed, target_seed = np.random.SeedSequence(self.seed).spawn(2)
        source = selected["source"]
        assert source.y is not None
        train, val = self._split(len(source.x), source_seed, tables["source"])
        target = selected["target"]
        if target.y is None:
            target_train, target_val = target.x, None
        else:
            t_train, t_val = self._split(len(target.x), target_seed, tables["target"])
            target_train = target.x[t_train]
            target_val = (target.x[t_val], target.y[t_val]) if len(t_val) else None
        test_role = "target_test" if "target_test" in selected else "target"
        test = selected[test_role]
        return TabularSplits(
            features=source.features,
            source_train=(source.x[train], source.y[train]),
            source_val=(source.x[val], source.y[val]) if len(val) else None,
            target_train=target_train,
            target_val=target_val,
            target_test=(test.x, test.y),
            target_test_name=tables[test_role].name,
        )

    def _feature_columns(self, tables: dict[str, Table]) -> list[str] | None:
        """The feature columns every table must have: ``features``, else the source's non-label columns."""
        arrays = [table.name for table in tables.values() if table.kind == "arrays"]
        if arrays:
            if self.features is not None:
                raise DataError(
                    f"features names columns, but {arrays[0]} has none: pass a mapping of column name to "
                    "values, or leave features unset"
                )
            return None
        if self.features is not None:
            return self.features
        source = tables["source"]
        names = feature_names_without_label(source, self.label)
        for role, table in tables.items():
            other = feature_names_without_label(table, self.label)
            if role != "source" and set(other) != set(names):
                only_source = [name for name in names if name not in other]
                only_other = [name for name in other if name not in names]
                raise DataError(
                    f"{source.name} and {table.name} have different feature columns (label {self.label!r} aside): "
                    f"only in {role}: {only_other}, only in source: {only_source}. Make them match, or list "
                    "the shared columns in features."
                )
        return names

    def _split(self, rows: int, seed: np.random.SeedSequence, table: Table) -> tuple[np.ndarray, np.ndarray]:
        """Sorted row indices of the training and the validation part."""
        n_val = round(rows * self.val_fraction)
        if self.val_fraction > 0:
            n_val = max(n_val, 1)
        if n_val >= rows:
            raise DataError(
                f"{table.name} has {rows} row(s): val_fraction={self.val_fraction} leaves none for training"
            )
        order = np.random.default_rng(seed).permutation(rows)
        return np.sort(order[n_val:]), np.sort(order[:n_val])


def _path_or_none(value: Any) -> str | None:
    return os.fspath(value) if isinstance(value, (str, os.PathLike)) else None


def _check_widths(selected: dict[str, Selected], tables: dict[str, Table]) -> None:
    width = selected["source"].x.shape[1]
    for role, chosen in selected.items():
        if chosen.x.shape[1] != width:
            raise DataError(
                f"{tables['source'].name} has {width} feature values per row, {tables[role].name} has "
                f"{chosen.x.shape[1]}: source and target need the same features"
            )


class TabularShiftDataModule(_StandardizedTables):
    """The embedded tabular shift ([`make_tabular_shift`][dann_lightning.data.make_tabular_shift]) as DANN batches;
    needs no files.

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
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        check_shift_arguments("TabularShiftDataModule", n_samples, n_features, strength, n_val, n_test, seed)
        self.save_hyperparameters()

    def _load_splits(self) -> TabularSplits:
        h = self.hparams
        shift = make_tabular_shift(h.n_samples, h.n_features, h.strength, h.n_val, h.n_test, h.seed)
        return TabularSplits(
            features=[f"x{index}" for index in range(h.n_features)],
            source_train=shift.source_train,
            source_val=shift.source_val,
            target_train=shift.target_train[0],
            target_val=shift.target_val,
            target_test=shift.target_test,
        )
