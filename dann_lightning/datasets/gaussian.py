"""Gaussian classes, the ground the covariate, class-conditional and label shift families stand on:
class means, the maps that move a target, class counts, and the seeded draw of every split."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any, Literal

import numpy as np

from dann_lightning.checks import check_int, check_real
from dann_lightning.datasets.splits import DomainSplits, check_sizes, classification_classes
from dann_lightning.errors import ConfigurationError

CovariateKind = Literal["translation", "rotation", "scaling"]

# At strength 1: the angle every row turns by, and the largest |log2| of a feature's scale factor.
ROTATION_DEGREES = 45.0
LOG2_SCALE = 2.0


def gaussian_draw(
    name: str,
    seed: int,
    dim: int,
    num_classes: int,
    separation: float,
    sizes: tuple[int, int, int],
    make_map: Callable[[np.random.Generator, np.ndarray], tuple[Callable, dict[str, Any]]],
    source_proportions: np.ndarray | None = None,
    target_proportions: np.ndarray | None = None,
) -> DomainSplits:
    """Draw every split from its own seed stream; the target splits pass through the task's map."""
    parameters, *streams = np.random.SeedSequence(seed).spawn(5)
    rng = np.random.default_rng(parameters)
    means = class_means(num_classes, dim, separation, rng)
    to_target, details = make_map(rng, means)
    n_samples, n_val, n_test = sizes

    def draw(rows: int, stream: np.random.SeedSequence, proportions: np.ndarray | None) -> tuple[np.ndarray, ...]:
        generator = np.random.default_rng(stream)
        y = generator.permutation(np.repeat(np.arange(num_classes), class_counts(rows, proportions, num_classes)))
        return means[y] + generator.standard_normal((rows, dim)), y

    x_source, y_source = draw(n_samples, streams[0], source_proportions)
    x_source_val, y_source_val = draw(n_val, streams[1], source_proportions)
    x_target, y_target = draw(n_samples, streams[2], target_proportions)
    x_test, y_test = draw(n_test, streams[3], target_proportions)
    return DomainSplits(
        source_train=(x_source, y_source),
        source_val=(x_source_val, y_source_val),
        target_train=(to_target(x_target, y_target), y_target),
        target_test=(to_target(x_test, y_test), y_test),
        name=name,
        classes=classification_classes(num_classes),
        details={"class_means": means, **details},
    )


def class_means(num_classes: int, dim: int, separation: float, rng: np.random.Generator) -> np.ndarray:
    """Random class means centred on the origin, the closest two exactly ``separation`` apart."""
    means = rng.standard_normal((num_classes, dim))
    means -= means.mean(axis=0)
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(num_classes, 1)]
    return means * (separation / gaps.min())


def affine(
    kind: str, strength: float, offset: np.ndarray, rng: np.random.Generator
) -> Callable[[np.ndarray], np.ndarray]:
    """The map of ``kind`` in ``len(offset)`` dimensions; ``offset`` is the translation's."""
    dim = len(offset)
    if kind == "translation":
        return lambda x: x + offset
    if kind == "rotation":
        # Equal angles in dim // 2 random orthogonal planes: every row turns by the same angle.
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        angle = math.radians(ROTATION_DEGREES * strength)
        planes = np.eye(dim)
        for axis in range(0, dim - 1, 2):
            planes[axis : axis + 2, axis : axis + 2] = [
                [math.cos(angle), -math.sin(angle)],
                [math.sin(angle), math.cos(angle)],
            ]
        rotation = basis @ planes @ basis.T
        return lambda x: x @ rotation.T
    factors = 2.0 ** (LOG2_SCALE * strength * rng.uniform(-1.0, 1.0, dim))
    return lambda x: x * factors


def between_two_classes(means: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The unit vector from one random class mean to another."""
    first, second = rng.choice(len(means), size=2, replace=False)
    difference = means[second] - means[first]
    return difference / np.linalg.norm(difference)


def class_counts(rows: int, proportions: np.ndarray | None, num_classes: int) -> np.ndarray:
    """Rows per class: ``rows * proportions`` rounded down, the largest remainders rounded up."""
    if proportions is None:
        proportions = np.full(num_classes, 1.0 / num_classes)
    exact = rows * np.asarray(proportions)
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact, kind="stable")[: rows - counts.sum()]] += 1
    return counts


def check_gaussian(
    task: str, seed: int, dim: int, num_classes: int, separation: float, n_samples: int, n_val: int, n_test: int
) -> None:
    check_sizes(task, seed, n_samples, n_val, n_test)
    check_int(f"{task} dim", dim, minimum=2)
    check_int(f"{task} num_classes", num_classes, minimum=2)
    check_real(f"{task} separation", separation, minimum=0.0, strict=True)


def check_proportions(name: str, proportions: Sequence[float] | None, num_classes: int) -> np.ndarray | None:
    """``proportions`` as an array if it holds ``num_classes`` numbers >= 0 summing to 1, else raise."""
    if proportions is None:
        return None
    values = list(proportions) if isinstance(proportions, Sequence | np.ndarray) else None
    if values is None or len(values) != num_classes:
        raise ConfigurationError(f"{name} must hold one proportion per class ({num_classes}), got {proportions!r}")
    ok = all(isinstance(p, Real) and not isinstance(p, bool) and math.isfinite(p) and p >= 0 for p in values)
    if not ok or not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise ConfigurationError(f"{name} must be finite numbers >= 0 summing to 1, got {proportions!r}")
    return np.asarray(values, dtype=np.float64)
