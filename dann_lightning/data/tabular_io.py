"""Reading tables (CSV, NPZ, Parquet files or in-memory arrays) into checked numeric arrays.

A :class:`Table` holds named columns as read; :func:`select` picks the label and the feature
columns and turns them into a float feature matrix and labels as class names, with an error that
names the file, the column and the row for every cell it cannot use.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dann_lightning.errors import DataError, MissingDependencyError, MissingFileError

# A file path, or arrays: ``(x, y)``, ``x`` alone (unlabelled), or a mapping of column name to
# values (a dict, ``np.load(...)`` of an NPZ file, a pandas DataFrame).
TableSource = str | os.PathLike | tuple | np.ndarray | Mapping

SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz", ".npz", ".parquet")
# Cells of a text file that stand for a missing value; they become NaN and are reported as such.
_MISSING_CELLS = {"", "na", "nan", "n/a", "null", "none"}
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats


@dataclass(frozen=True)
class Table:
    """Named columns of one source of rows, as read.

    Attributes:
        name: how errors refer to it, e.g. ``"source file 'data/a.csv'"``.
        columns: column name -> values of shape ``(rows,)`` (one feature) or ``(rows, k)`` (an NPZ
            array or an ``x`` matrix: ``k`` features under one name). Text files keep their cells
            as strings until :func:`select` converts the columns it uses.
        row_names: row index -> how errors refer to it (``"line 7"`` of a text file).
        kind: ``"file"`` (columns by name, from a file) or ``"arrays"``.
    """

    name: str
    columns: dict[str, np.ndarray]
    row_names: Callable[[int], str]
    kind: str = "file"

    def describe_columns(self) -> str:
        return ", ".join(repr(name) for name in self.columns)


@dataclass(frozen=True)
class Selected:
    """The features (float32, ``(rows, width)``), the labels as class names (strings, or ``None``)
    and the kept row indices of one table (every row, unless rows with non-finite cells were dropped)."""

    x: np.ndarray
    y: np.ndarray | None
    features: list[str]
    rows: np.ndarray


def read_table(source: TableSource, role: str) -> Table:
    """Read a file or wrap arrays as a :class:`Table`; ``role`` names it in errors (``"source"``)."""
    if isinstance(source, (str, os.PathLike)):
        return _read_file(Path(source), role)
    if isinstance(source, np.ndarray):
        return _array_table({"x": source}, f"{role} array")
    if isinstance(source, tuple):
        if len(source) != 2:
            raise DataError(f"{role} arrays must be a pair (x, y), got a tuple of {len(source)} items")
        return _array_table({"x": source[0], "y": source[1]}, f"{role} arrays (x, y)")
    if hasattr(source, "keys") and hasattr(source, "__getitem__"):  # a dict, an NpzFile, a DataFrame
        columns = {str(key): source[key] for key in list(source.keys())}
        return _array_table(columns, f"{role} columns", kind="file")
    raise DataError(
        f"{role} must be a file path ({', '.join(SUFFIXES)}), an (x, y) pair of arrays, an x array, or a "
        f"mapping of column name to values; got {type(source).__name__}"
    )


def select(
    table: Table,
    label: str,
    features: Sequence[str] | None,
    *,
    require_label: bool,
    exclude: Sequence[str] = (),
    drop_non_finite: bool = False,
    numeric_label: bool = False,
) -> Selected:
    """The numeric features and the labels (as class names) of ``table``.

    Args:
        table: what :func:`read_table` returned.
        label: name of the label column (``"y"`` is used for ``(x, y)`` arrays).
        features: the feature columns, in order, found by name (other columns are ignored);
            ``None``: every column but the label and ``exclude``.
        require_label: raise if the label column is missing (source data); else labels are ``None``.
        exclude: columns that are never features (identifiers).
        drop_non_finite: drop the rows with a missing or non-finite feature cell (with a warning)
            instead of raising.
        numeric_label: the label is a number to regress on (float64 labels; a non-numeric or
            non-finite one raises, naming its row), not a class name.
    """
    if table.kind == "arrays":
        label, features = "y", ["x"]
    if require_label:
        check_has_label(table, label)
    # A label column with no label at all (an unlabelled target exported with the header) is no label.
    unlabelled = label not in table.columns or (not require_label and _all_missing(table.columns[label]))
    y = None if unlabelled else (_label_numbers if numeric_label else _label_names)(table, label)
    if features is None:
        names = [name for name in table.columns if name != label and name not in exclude]
    else:
        names = list(features)
    if not names:
        raise DataError(f"{table.name} has no feature column: its only column is the label {label!r}")
    missing = [name for name in names if name not in table.columns]
    if missing:
        raise DataError(
            f"{table.name} lacks the feature column(s) {missing} named in features; its columns are "
            f"{table.describe_columns()}"
        )
    if label in names:
        raise DataError(f"features lists the label column {label!r}; a label cannot also be a feature")
    _reject_categorical(table, names)
    blocks = [_numbers(table, name, allow_non_finite=drop_non_finite) for name in names]
    x = np.concatenate([block.reshape(len(block), -1) for block in blocks], axis=1)
    rows = np.arange(len(x))
    if drop_non_finite:
        rows = np.flatnonzero(np.isfinite(x).all(axis=1))
        if len(rows) < len(x):
            warnings.warn(
                f"{table.name}: dropped {len(x) - len(rows)} of {len(x)} rows with a missing or non-finite "
                "feature cell (non_finite='drop')",
                stacklevel=2,
            )
        if not len(rows):
            raise DataError(f"{table.name} has no row whose feature cells are all finite numbers")
        x, y = x[rows], None if y is None else y[rows]
    return Selected(x=x.astype(np.float32), y=y, features=names, rows=rows)


def column_values(table: Table, column: str) -> np.ndarray:
    """A ``(rows,)`` column as strings (an identifier column carried into predictions)."""
    if column not in table.columns:
        raise DataError(f"{table.name} has no column {column!r}; its columns are {table.describe_columns()}")
    values = table.columns[column]
    if values.ndim != 1:
        raise DataError(f"{table.name}: column {column!r} must have shape (rows,), got {values.shape}")
    return np.array([_as_name(cell) for cell in values], dtype=object)


def check_has_label(table: Table, label: str) -> None:
    """Raise ``ValueError`` naming the table and its columns if it has no label column."""
    if table.kind == "arrays" and "y" not in table.columns:
        raise DataError(f"{table.name} has no labels: give labelled data as an (x, y) pair")
    if table.kind != "arrays" and label not in table.columns:
        raise DataError(
            f"{table.name} has no label column {label!r}; its columns are {table.describe_columns()}. "
            "Set label to the column that holds the class."
        )


def feature_names_without_label(table: Table, label: str) -> list[str]:
    """Every column of ``table`` but the label, in file order."""
    if table.kind == "arrays":
        return ["x"]
    return [name for name in table.columns if name != label]


# ------------------------------------------------------------------ files


def _read_file(path: Path, role: str) -> Table:
    name = f"{role} file {str(path)!r}"
    if not path.is_file():
        where = f" (resolved to {path.resolve()})" if not path.is_absolute() else ""
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise MissingFileError(f"{name} {what}{where}; expected a {', '.join(SUFFIXES)} file")
    suffix = "".join(path.suffixes[-2:]) if path.suffix == ".gz" else path.suffix
    suffix = suffix.lower()
    if suffix in (".csv", ".tsv", ".csv.gz", ".tsv.gz"):
        return _read_text(path, name, delimiter="\t" if suffix.startswith(".tsv") else ",")
    if suffix == ".npz":
        return _read_npz(path, name)
    if suffix == ".parquet":
        return _read_parquet(path, name)
    raise DataError(f"{name} has an unknown format {suffix or '(no suffix)'!r}; valid: {', '.join(SUFFIXES)}")


def _read_text(path: Path, name: str, delimiter: str) -> Table:
    opener = gzip.open if path.suffix == ".gz" else open
    rows: list[list[str]] = []
    lines: list[int] = []
    with opener(path, "rt", newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            raise DataError(f"{name} is empty: expected a header line naming the columns, then one line per sample")
        header = [cell.strip() for cell in header]
        _check_header(header, name)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank lines, e.g. at the end of the file
            if len(row) != len(header):
                raise DataError(
                    f"{name} line {reader.line_num} has {len(row)} fields, the header has {len(header)} "
                    f"({', '.join(header)})"
                )
            rows.append(row)
            lines.append(reader.line_num)
    if not rows:
        raise DataError(f"{name} has a header ({', '.join(header)}) but no data lines")
    # Columns of numbers are converted now (8 bytes a cell); others keep their strings for select().
    by_column = zip(*rows, strict=True)
    columns = {column: _parsed(np.array(cells, dtype=object)) for column, cells in zip(header, by_column, strict=True)}
    return Table(name=name, columns=columns, row_names=lambda row: f"line {lines[row]}")


def _parsed(cells: np.ndarray) -> np.ndarray:
    try:
        return cells.astype(np.float64)
    except (ValueError, TypeError):  # TypeError: a None cell
        return cells


def _check_header(header: list[str], name: str) -> None:
    blank = [index + 1 for index, cell in enumerate(header) if not cell]
    if blank:
        raise DataError(f"{name} header has no name for column(s) {blank} (counting from 1): {header}")
    duplicates = sorted({cell for cell in header if header.count(cell) > 1})
    if duplicates:
        raise DataError(f"{name} header names column(s) {duplicates} more than once")


def _read_npz(path: Path, name: str) -> Table:
    try:
        with np.load(path, allow_pickle=False) as archive:
            columns = {key: archive[key] for key in archive.files}
    except ValueError as error:  # object arrays need pickle, which a data file has no business with
        raise DataError(f"{name} holds object arrays, which need pickle to load; save numeric arrays") from error
    if not columns:
        raise DataError(f"{name} is empty: it holds no arrays; expected one array per column (or an x matrix)")
    return _array_table(columns, name, kind="file")


def _read_parquet(path: Path, name: str) -> Table:
    try:
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise MissingDependencyError(
            f"reading {name} needs the pyarrow package, which is not installed: `pip install pyarrow`, "
            "or save the table as CSV or NPZ"
        ) from error
    table = parquet.read_table(path)
    if table.num_columns == 0:
        raise DataError(f"{name} is empty: it holds no columns")
    columns = {column: table.column(column).to_numpy(zero_copy_only=False) for column in table.column_names}
    return _array_table(columns, name, kind="file")


def _array_table(columns: dict[str, Any], name: str, kind: str = "arrays") -> Table:
    arrays = {key: np.asarray(value) for key, value in columns.items()}
    if not arrays:
        raise DataError(f"{name} holds no columns")
    for key, array in arrays.items():
        if array.ndim not in (1, 2) or (kind == "arrays" and key == "x" and array.ndim != 2):
            expected = "(rows, features)" if kind == "arrays" and key == "x" else "(rows,) or (rows, k)"
            raise DataError(f"{name}: {key!r} must have shape {expected}, got shape {array.shape}")
    lengths = {key: len(array) for key, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{name}: columns differ in length (rows): {lengths}")
    if next(iter(lengths.values())) == 0:
        raise DataError(f"{name} is empty: it has 0 rows")
    return Table(name=name, columns=arrays, row_names=lambda row: f"row {row} (counting from 0)", kind=kind)


# ------------------------------------------------------------------ cells


def _reject_categorical(table: Table, names: Sequence[str]) -> None:
    categorical = [name for name in names if _is_categorical(table.columns[name])]
    if categorical:
        raise DataError(
            f"{table.name} has non-numeric (categorical) column(s) {categorical}: features must be numbers. "
            "Encode them as numeric columns (e.g. one-hot) or leave them out by listing the numeric ones in features."
        )


def _is_categorical(values: np.ndarray) -> bool:
    """True when no present cell of the column is a number (a column of words, not one typo)."""
    if values.dtype.kind in _NUMERIC_KINDS or _parsed(values).dtype.kind == "f":
        return False
    present = [cell for cell in values.reshape(-1) if not _is_missing(cell)]
    return bool(present) and all(_as_number(cell) is None for cell in present)


def _numbers(table: Table, column: str, *, allow_non_finite: bool = False) -> np.ndarray:
    """The column as float64; an error naming the row for each cell that is not a number, and for
    each missing or non-finite one unless ``allow_non_finite`` (then it stays NaN or inf)."""
    values = table.columns[column]
    numbers = values.astype(np.float64) if values.dtype.kind in _NUMERIC_KINDS else _parsed(values)
    if numbers.dtype.kind != "f":  # some cell is not a number: find it, and turn missing cells into NaN
        flat = [_cell_number(table, column, row, cell) for row, cell in _cells(values)]
        numbers = np.array(flat, dtype=np.float64).reshape(values.shape)
    bad = ~np.isfinite(numbers)
    if bad.any() and not allow_non_finite:
        row, *sub = np.argwhere(bad)[0]
        where = f"{column}[{sub[0]}]" if sub else column
        what = _describe_cell(values[(row, *sub)])
        count = int(bad.sum())
        raise DataError(
            f"{table.name} {table.row_names(int(row))}, column {where!r}: {what} ({count} non-finite cell(s) in "
            "this column); every feature cell must be a finite number: fill those cells, or drop their rows "
            "(non_finite='drop')"
        )
    return numbers


def _label_names(table: Table, column: str) -> np.ndarray:
    """The label column as class names: strings as written, integral numbers as integers ("1", not
    "1.0"); an error naming the row of a missing label or of a number that is not an integer."""
    values = table.columns[column]
    if values.ndim != 1:
        raise DataError(f"{table.name}: the label {column!r} must have shape (rows,), got {values.shape}")
    names = []
    for row, cell in _cells(values):
        if _is_missing(cell) or (isinstance(cell, (float, np.floating)) and not math.isfinite(cell)):
            raise DataError(
                f"{table.name} {table.row_names(row)}, label column {column!r}: {_describe_cell(cell)}; every "
                "labelled row needs its class (a name or an integer)"
            )
        number = _as_number(cell) if not isinstance(cell, str) else None
        if number is not None and number != round(number):
            raise DataError(
                f"{table.name} {table.row_names(row)}, label column {column!r}: {number:g}; labels are classes "
                "(names or integers), not continuous values"
            )
        names.append(_as_name(cell))
    return np.array(names, dtype=object)


def _label_numbers(table: Table, column: str) -> np.ndarray:
    """The label column as float64 regression targets; an error naming the row of the first cell
    that is missing, not a number, or not finite."""
    values = table.columns[column]
    if values.ndim != 1:
        raise DataError(f"{table.name}: the label {column!r} must have shape (rows,), got {values.shape}")
    numbers = values.astype(np.float64) if values.dtype.kind in _NUMERIC_KINDS else _parsed(values)
    if numbers.dtype.kind != "f":
        numbers = np.array([math.nan if _as_number(cell) is None else _as_number(cell) for cell in values])
    bad = np.flatnonzero(~np.isfinite(numbers))
    if len(bad):
        row = int(bad[0])
        cell = values[row]
        what = repr(cell) + " is not a number" if _as_number(cell) is None and not _is_missing(cell) else (
            _describe_cell(cell)
        )
        raise DataError(
            f"{table.name} {table.row_names(row)}, label column {column!r}: {what} ({len(bad)} such cell(s)); "
            "task='regression' needs a finite number in every labelled row"
        )
    return numbers


def _as_name(cell: Any) -> str:
    if isinstance(cell, bytes):
        cell = cell.decode()
    if isinstance(cell, str):
        return cell.strip()
    number = _as_number(cell)
    if number is not None and math.isfinite(number) and number == round(number):
        return str(int(number))
    return str(cell)


def _all_missing(values: np.ndarray) -> bool:
    if values.dtype.kind in _NUMERIC_KINDS:
        return values.dtype.kind == "f" and bool(np.isnan(values).all())
    return all(_is_missing(cell) or (isinstance(cell, float) and math.isnan(cell)) for cell in values.reshape(-1))


def _cells(values: np.ndarray) -> list[tuple[int, Any]]:
    """``(row, cell)`` for every cell of a ``(rows,)`` or ``(rows, k)`` column."""
    return [(index[0], values[index]) for index in np.ndindex(values.shape)]


def _cell_number(table: Table, column: str, row: int, cell: Any) -> float:
    if _is_missing(cell):
        return math.nan
    number = _as_number(cell)
    if number is None:
        raise DataError(
            f"{table.name} {table.row_names(row)}, column {column!r}: {cell!r} is not a number; every feature "
            "cell must be a finite number"
        )
    return number


def _describe_cell(cell: Any) -> str:
    if _is_missing(cell) or (isinstance(cell, (float, np.floating)) and math.isnan(cell)):
        return "a missing value"
    return repr(cell) if isinstance(cell, str) else str(float(cell))


def _is_missing(cell: Any) -> bool:
    if cell is None:
        return True
    if isinstance(cell, str):
        return cell.strip().lower() in _MISSING_CELLS
    return False


def _as_number(cell: Any) -> float | None:
    if isinstance(cell, (bool, np.bool_)):
        return float(cell)
    if isinstance(cell, (int, float, np.integer, np.floating)):
        return float(cell)
    if isinstance(cell, (str, bytes, np.str_)):
        try:
            return float(cell)
        except ValueError:
            return None
    return None
