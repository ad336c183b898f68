"""Tables as DANN data: source and target rows from CSV / NPZ / Parquet files or arrays, or the
embedded tabular shift. Features are standardised with statistics of the source training split.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from torch.utils.data import DataLoader
from typing_extensions import override

from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.data.classes import check_classes, classes_of, encode
from dann_lightning.data.splits_module import SplitsDataModule
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
from dann_lightning.data.tabular_shift import TabularShiftDataModule, make_tabular_shift
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.errors import ConfigurationError, DataError
from dann_lightning.tasks import TaskName

__all__ = ["TabularDataModule", "TabularShiftDataModule", "TabularSplits", "make_tabular_shift"]

Labelled = tuple[np.ndarray, np.ndarray]
_StandardizedTables = SplitsDataModule  # its name before SplitsDataModule served every DomainSplits


def TabularSplits(  # named as the container it replaces, built before DomainSplits
    features: list[str],
    classes: list[str],
    source_train: Labelled,
    source_val: Labelled | None,
    target_train: np.ndarray,
    target_val: Labelled | None,
    target_test: tuple[np.ndarray, np.ndarray | None] | None,
    target_test_name: str = "target_test",
    target_test_ids: tuple[str, np.ndarray] | None = None,
) -> DomainSplits:
    """The [`DomainSplits`][dann_lightning.datasets.DomainSplits] of tables read from files or arrays
    (``target_train``: features only)."""
    return DomainSplits(
        source_train=source_train,
        source_val=source_val,
        target_train=(target_train, None),
        target_val=target_val,
        target_test=target_test,
        classes=classes or None,
        feature_names=features,
        details={"target_test_name": target_test_name, "target_test_ids": target_test_ids},
    )


NonFinite = Literal["error", "drop"]


class TabularDataModule(SplitsDataModule):
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

    def _load_splits(self) -> DomainSplits:
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
        return DomainSplits(
            source_train=(source.x[train], y_source[train]),
            source_val=(source.x[val], y_source[val]) if len(val) else None,
            target_train=(target_train, None),
            target_val=target_val,
            target_test=(test.x, labels(test_role, test)),
            task=self.task,
            classes=classes,
            feature_names=source.features,
            details={"target_test_name": tables[test_role].name, "target_test_ids": self._ids(tables[test_role], test)},
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
            SplitsDataModule.setup(self, "validate")
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
