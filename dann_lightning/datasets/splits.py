"""DomainSplits: the one type every generator returns, the arrays of one draw of a domain shift."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dann_lightning.checks import check_int

Labelled = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class DomainSplits:
    """Raw (unstandardised) arrays of every split of one draw, each an ``(x, y)`` pair.

    ``target_train``'s labels are for evaluation only (an oracle ``val/target_acc``, a target-only
    upper bound): DANN never trains on them. ``None`` where a draw has no such split (or, in a pair,
    no labels).

    Attributes:
        source_train, source_val: labelled source rows (or images).
        target_train: target rows, with their labels for evaluation only.
        target_test: held-out target rows to test on.
        target_val: held-out labelled target rows, where the draw makes them.
        name: the generator or family that drew them.
        task: ``"classification"`` (labels are class indices) or ``"regression"`` (numbers).
        classes: class names, index ``i`` naming class ``i`` (classification).
        feature_names: the feature columns in order (tables).
        details: how the shift was made (its parameters); also readable as attributes
            (``splits.rotation`` for ``splits.details["rotation"]``).

    Examples:
        >>> x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
        >>> splits = DomainSplits((x, y), (x, y), (x + 1, y), (x + 1, y), classes=["a", "b"], details={"angle": 30})
        >>> splits.num_classes, splits.in_features, splits.angle
        (2, 2, 30)
    """

    source_train: Labelled
    source_val: Labelled | None
    target_train: tuple[np.ndarray, np.ndarray | None]
    target_test: tuple[np.ndarray, np.ndarray | None] | None
    target_val: Labelled | None = None
    name: str = ""
    task: str = "classification"
    classes: list[str] | None = None
    feature_names: list[str] | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int | None:
        """How many classes (``len(classes)``); ``None`` for regression or unnamed classes."""
        return len(self.classes) if self.classes is not None else None

    @property
    def in_features(self) -> int:
        """Features per row (the shape of one sample past the first axis, for images: channels)."""
        return int(np.shape(self.source_train[0])[1])

    @property
    def features(self) -> list[str] | None:
        """``feature_names``, under the name regression draws used."""
        return self.feature_names

    def __getattr__(self, name: str) -> Any:
        details = self.__dict__.get("details", {})
        if not name.startswith("__") and name in details:
            return details[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or detail {name!r}")


def classification_classes(num_classes: int) -> list[str]:
    """The names of ``num_classes`` classes named by their index: ``["0", "1", ...]``."""
    return [str(label) for label in range(check_int("num_classes", num_classes, minimum=2))]


def check_sizes(task: str, seed: int, n_samples: int, n_val: int, n_test: int) -> None:
    """Raise ``ConfigurationError`` naming ``task`` and the option, for a bad seed or split size."""
    check_int(f"{task} seed", seed, minimum=0)
    for option, value in [("n_samples", n_samples), ("n_val", n_val), ("n_test", n_test)]:
        check_int(f"{task} {option}", value, minimum=1)
