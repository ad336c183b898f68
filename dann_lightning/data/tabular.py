"""Tables as DANN data: source and target rows from CSV / NPZ / Parquet files or arrays, or the
embedded tabular shift. Features are standardised with statistics of the source training split.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from typing_extensions import override

from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.data.classes import check_classes, classes_of, encode
from dann_lightning.data.fitted import ScaledDataModule
from dann_lightning.data.tabular_io import (
    Selected,
    Table,
    TableSource,
    check_has_label,
    column_values,
    feature_names_without_label,
    read_table,
    select,
)
from dann_lightning.data.tabular_shift import check_shift_arguments, make_tabular_shift
from dann_lightning.data.transforms import Standardizer
from dann_lightning.errors import ConfigurationError, DANNError, DataError
from dann_lightning.tasks import TaskName

__all__ = ["TabularDataModule", "TabularShiftDataModule", "TabularSplits", "make_tabular_shift"]

Labelled = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TabularSplits:
    """Raw (unscaled) features and class indices (regression: float64 targets, and no classes) of
    every split; ``None`` where the data has none."""

    features: list[str]
    classes: list[str]
    source_train: Labelled
    source_val: Labelled | None
    target_train: np.ndarray
    target_val: Labelled | None
    target_test: tuple[np.ndarray, np.ndarray | None] | None
    target_test_name: str = "target_test"
    target_test_ids: tuple[str, np.ndarray] | None = None  # the id column's name and values


class _StandardizedTables(ScaledDataModule):
    """Builds the datasets from :class:`TabularSplits`, scaled by a source-fitted standardiser that
    is kept in the data module's ``state_dict`` (restored runs scale as training did), with the
    feature columns and the class names it was trained on.

    With ``task="regression"`` and ``standardize_target``, the targets are standardised too, with
    the mean and standard deviation of the source training targets (in the ``state_dict`` as
    ``target_mean`` and ``target_std``); [`unscale_targets`][dann_lightning.data.TabularDataModule.unscale_targets]
    undoes it, which the model calls for its metrics and predictions: both in the file's units."""

    def __init__(
        self, *, batch_size: int, num_workers: int, task: str = "classification", standardize_target: bool = True
    ) -> None:
        super().__init__(Standardizer(), batch_size=batch_size, num_workers=num_workers)
        check_choice(f"{type(self).__name__} task", task, TaskName)
        if not isinstance(standardize_target, bool):
            raise ConfigurationError(f"standardize_target must be true or false, got {standardize_target!r}")
        self.task = task
        self.standardize_target = standardize_target
        self._target_statistics: tuple[float, float] | None = None  # mean, std of the source targets
        self._splits: TabularSplits | None = None
        self._restored: dict[str, list[str]] = {}  # "features", "classes" of a loaded state_dict
        # Columns and classes a subclass was given: known without reading data.
        self._given_features: list[str] | None = None
        self._given_classes: list[str] | None = None

    def _load_splits(self) -> TabularSplits:
        raise NotImplementedError

    def _read_splits(self) -> TabularSplits:
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
        return list(self._read_splits().features)

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
        return list(self._read_splits().classes)

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

    def prediction_ids(self) -> tuple[str, np.ndarray] | None:
        """The ``id`` column's name and values for the rows ``predict`` serves, in order, or ``None``."""
        return self._splits.target_test_ids if self._splits is not None else None

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
        return standardized_inputs(self.scaler, input_shape, features=features, classes=classes)

    @override
    def _load_raw_splits(self) -> torch.Tensor:
        return torch.as_tensor(self._read_splits().source_train[0], dtype=torch.float64)

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
            y = np.asarray(self._splits.source_train[1], dtype=np.float64)
            std = float(y.std())
            self._target_statistics = (float(y.mean()), std if std > 0 else 1.0)

    @override
    def _build_datasets(self) -> None:
        splits = self._splits
        assert splits is not None
        self._fit_target_statistics()
        dataset = self._dataset
        self.source_train = dataset(*splits.source_train)
        self.source_val = dataset(*splits.source_val) if splits.source_val is not None else None
        self.target_train = dataset(splits.target_train)  # features only: target labels never train
        self.target_val = dataset(*splits.target_val) if splits.target_val is not None else None
        self.target_test = dataset(*splits.target_test) if splits.target_test is not None else None

    @override
    def state_dict(self) -> dict[str, Any]:
        known = {"features": self.feature_names, "classes": self.classes} if self._splits is not None else {}
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
            restored, found = self._restored.get(key), getattr(self._splits, key)
            if restored is not None and restored != found:
                raise DataError(
                    f"the checkpoint was trained on the {what} {restored}, but this data has {found}: give the "
                    f"same {what} in the same order ({key})"
                )


NonFinite = Literal["error", "drop"]


class TabularDataModule(_StandardizedTables):
    """Source and target tables from files or arrays, as DANN batches.

    Files: ``.csv`` (comma-separated, a header line naming the columns), ``.tsv``, either one
    gzipped (``.csv.gz``), ``.npz`` (one array per column; a 2-D array counts as that many
    feature columns under its key), and ``.parquet`` (needs ``pyarrow``). Arrays: an ``(x, y)``
    pair, ``x`` alone for an unlabelled target, or a mapping of column name to values (a dict, a
    pandas DataFrame).

    Every feature must be a number: non-numeric (categorical) columns are rejected, naming them
    (encode them as numbers first, or leave them out with ``exclude`` or ``features``), and so is
    every missing or non-finite cell, naming its file, line (text files) or row, and column
    (``non_finite="drop"`` drops those rows instead, with a warning). Labels are class names as
    written (``yes`` / ``no``, ``churned``, ``3``): the classes are the distinct source labels,
    integers in numeric order, names alphabetically (or ``classes``, given); ``classes``,
    ``num_classes`` and ``feature_names`` tell the model and predictions. A checkpoint keeps the
    classes, the feature columns and the statistics: predict reads new rows alone.

    Splits: ``val_fraction`` of the source rows is held out for validation (``val/source_acc``).
    The target may lack the label column. When it has labels, ``val_fraction`` of its rows is held
    out for the oracle ``val/target_acc`` and the labels go nowhere else: training sees target
    features only. Test reads ``target_test`` when given, else every target row (DANN saw their
    features, never their labels); predict reads ``predict`` when given, else the same rows.
    ``target_test`` and ``predict`` rows are matched to the feature columns by name: any column
    order, extra columns ignored. Features are standardised with the mean and standard deviation
    of the source training split only, kept in the data module's ``state_dict``.

    Args:
        source: labelled source rows: a file path or arrays.
        target: target rows, labelled or not: a file path or arrays.
        target_test: optional rows to test on (labelled) or predict; default: the target rows.
        predict: optional rows to predict (no label needed): what ``dann-lightning predict`` and
            ``trainer.predict`` read; needs neither ``source`` nor ``target`` when a checkpoint is
            restored (their paths may no longer exist).
        label: the label column (CSV, Parquet, column mappings) or array key (NPZ).
        features: the feature columns, in order; default: every column but the label, ``id`` and
            ``exclude``, which must then be the same in source and target (in any order).
        exclude: columns that are not features (e.g. a date, a free-text note).
        id: a column identifying each row: never a feature, written beside each prediction.
        classes: the class names in order, when the source lacks some class or the order matters.
        task: ``"classification"`` (labels are classes) or ``"regression"`` (the label column holds
            numbers: a non-numeric or non-finite one is an error naming its file, row and column).
        standardize_target: regression only: standardise the targets with the source training
            targets' mean and standard deviation (kept in the ``state_dict``); metrics and
            predictions are in the file's units all the same.
        non_finite: ``"error"`` (default: name the first missing or non-finite feature cell) or
            ``"drop"`` (drop the rows that have one, with a warning).
        val_fraction: fraction of the rows held out for validation, in ``[0, 1)``.
        seed: seed of the train / validation split.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> data = TabularDataModule(
        ...     source={"a": rng.normal(size=100), "b": rng.normal(size=100), "label": rng.choice(["no", "yes"], 100)},
        ...     target={"a": rng.normal(1.0, 2.0, 80), "b": rng.normal(size=80)},  # unlabelled
        ...     batch_size=16,
        ... )
        >>> data.setup("fit")
        >>> data.feature_names, data.classes, data.num_classes
        (['a', 'b'], ['no', 'yes'], 2)
        >>> len(data.source_train), len(data.source_val), len(data.target_train), data.target_val
        (80, 20, 80, None)
    """

    def __init__(
        self,
        source: TableSource,
        target: TableSource,
        target_test: TableSource | None = None,
        *,
        predict: TableSource | None = None,
        label: str = "label",
        features: list[str] | None = None,
        exclude: list[str] | None = None,
        id: str | None = None,
        classes: list[str] | None = None,
        task: TaskName = "classification",
        standardize_target: bool = True,
        non_finite: NonFinite = "error",
        val_fraction: float = 0.2,
        seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            batch_size=batch_size, num_workers=num_workers, task=task, standardize_target=standardize_target
        )
        if task == "regression" and classes is not None:
            raise ConfigurationError(
                f"TabularDataModule classes={classes!r} does not apply to task='regression', whose label column "
                "holds numbers: leave classes out"
            )
        if not isinstance(label, str) or not label:
            raise ConfigurationError(f"TabularDataModule label must be a non-empty column name, got {label!r}")
        features = _check_columns("features", features, allow_empty=False)
        exclude = _check_columns("exclude", exclude, allow_empty=True) or []
        if id is not None and (not isinstance(id, str) or not id):
            raise ConfigurationError(f"TabularDataModule id must be a column name or None, got {id!r}")
        not_features = {"label": [label], "id": [id] if id else [], "exclude": exclude}
        for role, names in not_features.items():
            clash = sorted(set(names) & set(features or []))
            if clash:
                raise ConfigurationError(f"TabularDataModule features lists {clash}, which is the {role} column too")
        self._given_classes = check_classes(classes)
        self._given_features = features
        check_choice("TabularDataModule non_finite", non_finite, NonFinite)
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
        paths = {"source": source, "target": target, "target_test": target_test, "predict": predict}
        source, target, target_test, predict = (_path_or_none(value) for value in paths.values())
        self.save_hyperparameters(ignore=[name for name, value in paths.items() if _path_or_none(value) is None])
        self._sources = paths
        self.label = label
        self.features = features
        self.exclude = [name for name in [*exclude, id] if name]  # never features
        self.id = id
        self.non_finite = non_finite
        self.val_fraction = float(val_fraction)
        self.seed = seed
        self._predict_rows: Selected | None = None
        self._predict_ids: tuple[str, np.ndarray] | None = None

    def _select(self, table: Table, role: str, names: list[str] | None) -> Selected:
        return select(
            table,
            self.label,
            names,
            require_label=role == "source",
            exclude=self.exclude,
            drop_non_finite=self.non_finite == "drop",
            numeric_label=self.task == "regression",
        )

    def _load_splits(self) -> TabularSplits:
        roles = ("source", "target", "target_test")
        tables = {role: read_table(self._sources[role], role) for role in roles if self._sources[role] is not None}
        check_has_label(tables["source"], self.label)
        for table in tables.values():
            self._check_id_column(table)
        names = self._feature_columns(tables)
        selected = {role: self._select(table, role, names) for role, table in tables.items()}
        _check_widths(selected, tables)
        regression = self.task == "regression"
        classes = [] if regression else self._given_classes or classes_of(selected["source"].y)

        def labels(role: str, rows: Selected) -> np.ndarray | None:
            table = tables[role]
            if rows.y is None or regression:
                return rows.y
            return encode(rows.y, classes, lambda row: f"{table.name} {table.row_names(int(rows.rows[row]))}")

        source_seed, target_seed = np.random.SeedSequence(self.seed).spawn(2)
        source = selected["source"]
        y_source = labels("source", source)
        train, val = self._split(len(source.x), source_seed, tables["source"])
        target = selected["target"]
        y_target = labels("target", target)
        if y_target is None:
            target_train, target_val = target.x, None
        else:
            t_train, t_val = self._split(len(target.x), target_seed, tables["target"])
            target_train = target.x[t_train]
            target_val = (target.x[t_val], y_target[t_val]) if len(t_val) else None
        test_role = "target_test" if "target_test" in selected else "target"
        test = selected[test_role]
        # What the data told: a checkpoint's hyperparameters then rebuild this data module as is.
        self.hparams["features"], self.hparams["classes"] = source.features, classes or None
        return TabularSplits(
            features=source.features,
            classes=classes,
            source_train=(source.x[train], y_source[train]),
            source_val=(source.x[val], y_source[val]) if len(val) else None,
            target_train=target_train,
            target_val=target_val,
            target_test=(test.x, labels(test_role, test)),
            target_test_name=tables[test_role].name,
            target_test_ids=self._ids(tables[test_role], test),
        )

    def _check_id_column(self, table: Table) -> None:
        if self.id is not None and table.kind != "arrays" and self.id not in table.columns:
            raise DataError(
                f"{table.name} has no id column {self.id!r}; its columns are {table.describe_columns()}. Set id "
                "to the column that identifies each row, or to null if there is none."
            )

    def _ids(self, table: Table, rows: Selected) -> tuple[str, np.ndarray] | None:
        if self.id is None or table.kind == "arrays":
            return None
        return self.id, column_values(table, self.id)[rows.rows]

    @override
    def setup(self, stage: str) -> None:
        if stage == "predict" and self._sources["predict"] is not None:
            # New rows alone: the columns, classes and statistics come from the checkpoint Lightning
            # restores after setup (or from the source files, when there is none): see predict_dataloader.
            self._predict_table = read_table(self._sources["predict"], "predict")
            self._check_id_column(self._predict_table)
            return
        super().setup(stage)

    @override
    def predict_dataloader(self) -> DataLoader:
        if self._sources["predict"] is None:
            return super().predict_dataloader()
        if not self.scaler.fitted:  # no checkpoint restored: the statistics of the source, as training
            _StandardizedTables.setup(self, "validate")
        rows = self._select(self._predict_table, "predict", self.feature_names)
        self._predict_ids = self._ids(self._predict_table, rows)
        dataset = self._dataset(rows.x)
        return self._loader(dataset, sampler=self._evaluation_sampler(dataset))

    @override
    def prediction_ids(self) -> tuple[str, np.ndarray] | None:
        if self._sources["predict"] is not None:
            return self._predict_ids
        return super().prediction_ids()

    def _feature_columns(self, tables: dict[str, Table]) -> list[str] | None:
        """The feature columns every table must have: ``features``, else the source's columns but the
        label, ``id`` and ``exclude``; the target must have the same (test rows may have more)."""
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
        names = self._non_label_columns(source)
        target = tables["target"]
        other = self._non_label_columns(target)
        if set(other) != set(names):
            only_source = [name for name in names if name not in other]
            only_other = [name for name in other if name not in names]
            raise DataError(
                f"{source.name} and {target.name} have different feature columns (label {self.label!r}"
                f"{', id and exclude' if self.exclude else ''} aside): only in target: {only_other}, only in "
                f"source: {only_source}. Make them match, list the shared columns in features, or the others in "
                "exclude."
            )
        return names

    def _non_label_columns(self, table: Table) -> list[str]:
        return [name for name in feature_names_without_label(table, self.label) if name not in self.exclude]

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


def _check_columns(name: str, columns: object, *, allow_empty: bool) -> list[str] | None:
    if columns is None:
        return None
    if isinstance(columns, str) or not isinstance(columns, Sequence) or not all(isinstance(c, str) for c in columns):
        raise ConfigurationError(f"TabularDataModule {name} must be a list of column names, got {columns!r}")
    if not columns and not allow_empty:
        raise ConfigurationError(f"TabularDataModule {name} is empty: name at least one column, or None for all")
    duplicates = sorted({column for column in columns if list(columns).count(column) > 1})
    if duplicates:
        raise ConfigurationError(f"TabularDataModule {name} names {duplicates} more than once")
    return list(columns)


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
            classes=["0", "1"],
        )
