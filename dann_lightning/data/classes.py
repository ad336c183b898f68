"""Class names: labels as users write them (``"churned"``, ``"no"``, ``7``) <-> class indices."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from dann_lightning.errors import ConfigurationError, DataError


def classes_of(names: np.ndarray) -> list[str]:
    """The distinct class names, in order: integers by value, other names alphabetically.

    Examples:
        >>> classes_of(np.array(["10", "9", "10", "-1"], dtype=object))
        ['-1', '9', '10']
        >>> classes_of(np.array(["yes", "no", "yes"], dtype=object))
        ['no', 'yes']
    """
    distinct = set(names.tolist())
    if all(_is_integer(name) for name in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def check_classes(classes: object) -> list[str] | None:
    """``classes`` as given to a data module: ``None``, or two or more distinct names (str or int)."""
    if classes is None:
        return None
    if isinstance(classes, str) or not isinstance(classes, Sequence):
        raise ConfigurationError(f"classes must be a list of class names, got {classes!r}")
    names = [str(name).strip() for name in classes]
    if len(names) < 2 or len(set(names)) != len(names) or not all(names):
        raise ConfigurationError(f"classes must name two or more distinct, non-empty classes, got {list(classes)!r}")
    return names


def encode(names: np.ndarray, classes: Sequence[str], where: Callable[[int], str]) -> np.ndarray:
    """Class indices (int64) of ``names``; ``where(row)`` names a row whose class is not in ``classes``."""
    index = {name: i for i, name in enumerate(classes)}
    codes = np.array([index.get(name, -1) for name in names.tolist()], dtype=np.int64)
    unknown = np.flatnonzero(codes < 0)
    if len(unknown):
        row = int(unknown[0])
        raise DataError(
            f"{where(row)}: label {names[row]!r} is not one of the classes {list(classes)} "
            f"({len(unknown)} row(s) like it); list every class in classes"
        )
    return codes


def _is_integer(name: str) -> bool:
    try:
        int(name)
    except ValueError:
        return False
    return True
