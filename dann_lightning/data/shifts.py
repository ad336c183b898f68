"""The shift suite: seeded, offline, CPU-sized domain-shift tasks to test a DANN set-up on.

Each task is labelled source rows and rows of a shifted target distribution, drawn from one seed
with no download. Every family isolates one kind of shift:

- ``"moons"``: two moons; the target rotated (Ganin et al. 2016, section 5.1);
- ``"gaussian_covariate"``: Gaussian classes; the whole target input translated, rotated or scaled;
- ``"gaussian_class_conditional"``: each target class moved by its own offset;
- ``"gaussian_subspace"``: a covariate shift confined to a few random feature axes;
- ``"label_proportion"``: the same classes, other class frequencies on the target (label shift);
- ``"breast_cancer"``, ``"wine"``: scikit-learn's bundled rows, split into subpopulations by one feature;
- ``"tabular"``: the embedded 20-feature recalibration shift of :mod:`.tabular_shift`.

Features are float32 and not standardised (:meth:`ShiftTask.datamodule` does that, with source
statistics); labels are int64 class indices. A family's generator checks its own options, so
``SHIFT_TASKS[name](seed=..., **options)`` and ``make_shift(name, seed=..., **options)`` agree.

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

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Literal

import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine

from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.data.domain import DomainDataModule
from dann_lightning.data.moons import make_moons_shift
from dann_lightning.data.tabular_shift import check_shift_arguments, make_tabular_shift
from dann_lightning.errors import ConfigurationError, DataError

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
CovariateKind = Literal["translation", "rotation", "scaling"]

# At strength 1: the angle every row turns by, and the largest |log2| of a feature's scale factor.
ROTATION_DEGREES = 45.0
LOG2_SCALE = 2.0


@dataclass(frozen=True, eq=False)
class ShiftTask:
    """One draw of a shift task: labelled source splits, target rows and labelled target test rows.

    ``y_target`` labels the target training rows for evaluation only (the oracle ``val/target_acc``
    and an oracle model trained on the target): a DANN run never trains on it.

    Attributes:
        name: the task's family, a :data:`ShiftName`.
        x_source, y_source: source training rows and labels.
        x_target, y_target: target training rows, and their labels for evaluation only.
        x_source_val, y_source_val: held-out source rows (what a real user can validate on).
        x_target_test, y_target_test: held-out target rows to test on.
        num_classes: classes of the task; labels lie in ``[0, num_classes)``.
        details: how the shift was made (class means, shift parameters, split feature, ...).

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
        for split in ("source", "target", "source_val", "target_test"):
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
            standardize: scale every split by the mean and standard deviation of ``x_source``
                (the statistics are not kept in a checkpoint: the same seed redraws them).
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
        scale = _standardizer(self.x_source) if standardize else (lambda x: x)
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


def make_shift(name: ShiftName, *, seed: int = 0, **options: Any) -> ShiftTask:
    """Draw the shift task ``name`` (a key of :data:`SHIFT_TASKS`) with the family's ``options``.

    Args:
        name: the task family, one of :data:`ShiftName`.
        seed: seed of the draw; the same seed and options give identical arrays.
        options: the family generator's keyword arguments (see each ``*_task`` function).

    Raises:
        ConfigurationError: an unknown ``name`` or option, or an option's bad value.

    Examples:
        >>> make_shift("label_proportion", seed=1, target_proportions=[0.9, 0.1], num_classes=2).num_classes
        2
        >>> make_shift("moons", radius=3)
        Traceback (most recent call last):
        ...
        dann_lightning.errors.ConfigurationError: unknown option 'radius' for shift task 'moons'; valid: ...
    """
    generator = SHIFT_TASKS[check_choice("shift task", name, ShiftName)]
    valid = [option for option in inspect.signature(generator).parameters if option != "seed"]
    for option in options:
        if option not in valid:
            raise ConfigurationError(
                f"unknown option {option!r} for shift task {name!r}; valid: {', '.join(map(repr, valid))}"
            )
    return generator(seed=seed, **options)


# ------------------------------------------------------------------ moons and tabular


def moons_task(
    *,
    seed: int = 0,
    n_samples: int = 1000,
    noise: float = 0.1,
    angle: float = 35.0,
    n_val: int = 250,
    n_test: int = 1000,
) -> ShiftTask:
    """Two moons; the target drawn afresh and rotated by ``angle`` degrees about the moons' centre.

    The arrays are those of :func:`~dann_lightning.data.make_moons_shift` (and so of
    ``MoonsDataModule``) at the same seed and sizes. The suite sweeps ``angle`` over 20..60 and
    ``noise`` over 0.05..0.25; the defaults are the paper's.

    Args:
        seed: seed of the draw.
        n_samples: training rows per domain.
        noise: standard deviation of the noise of ``make_moons``.
        angle: counter-clockwise rotation of the target, in degrees.
        n_val: source validation rows.
        n_test: target test rows.
    """
    _check_sizes("moons", seed, n_samples, n_val, n_test)
    check_real("moons noise", noise, minimum=0.0)
    check_real("moons angle", angle)
    draw = make_moons_shift(n_samples, noise, angle, n_val, n_test, seed)
    return ShiftTask(
        "moons", *draw.source_train, *draw.target_train, *draw.source_val, *draw.target_test, 2, {"angle": angle}
    )


def tabular_task(
    *,
    seed: int = 0,
    n_samples: int = 2000,
    n_features: int = 20,
    strength: float = 1.0,
    n_val: int = 500,
    n_test: int = 1000,
) -> ShiftTask:
    """The embedded tabular shift (:func:`~dann_lightning.data.make_tabular_shift`): a binary
    ``make_classification`` problem, and the same problem recalibrated (features rescaled, offset,
    half of them rotated) as the target.

    The arrays are those of ``TabularShiftDataModule`` at the same seed and sizes (its target
    validation split is left out: the target training rows serve as the oracle).

    Args:
        seed: seed of the draw and of the shift.
        n_samples: training rows per domain.
        n_features: features per row (at least 4).
        strength: size of the shift (0: none).
        n_val: source validation rows.
        n_test: target test rows.
    """
    check_shift_arguments("tabular", n_samples, n_features, strength, n_val, n_test, seed)
    draw = make_tabular_shift(n_samples, n_features, strength, n_val, n_test, seed)
    details = {"rotation": draw.rotation, "scale": draw.scale, "offset": draw.offset}
    return ShiftTask("tabular", *draw.source_train, *draw.target_train, *draw.source_val, *draw.target_test, 2, details)


# ------------------------------------------------------------------ Gaussian classes


def gaussian_covariate_task(
    *,
    seed: int = 0,
    kind: CovariateKind = "translation",
    strength: float = 1.0,
    dim: int = 10,
    num_classes: int = 3,
    separation: float = 3.0,
    n_samples: int = 1000,
    n_val: int = 250,
    n_test: int = 1000,
) -> ShiftTask:
    """Gaussian classes; the target is the whole input moved by one map (a covariate shift).

    Each class is a unit-variance Gaussian; the class means are random, centred on the origin,
    the closest two exactly ``separation`` apart. Classes are equally frequent in both domains
    (exact counts). The target map, drawn from ``seed``:

    - ``"translation"``: every row moves ``strength * separation / 2`` along the line from one
      random class mean to another (at strength 1 half a class spacing: a direction that matters
      to the classifier, not one the classes do not differ along);
    - ``"rotation"``: every row turns by ``45 * strength`` degrees about the origin (equal angles
      in ``dim // 2`` random orthogonal planes; in odd ``dim`` one random axis stays put);
    - ``"scaling"``: each feature multiplied by its own factor about the origin, log-uniform
      between ``4**-strength`` and ``4**strength``.

    At the defaults a logistic regression trained on the source loses 10-18 (translation), 6-15
    (rotation) or 3-13 (scaling) points of accuracy from source validation to the target (seeds 0-7).

    Args:
        seed: seed of the draw and of the shift.
        kind: the map, one of :data:`CovariateKind`.
        strength: size of the shift (0: none).
        dim: features per row (at least 2).
        num_classes: classes (at least 2).
        separation: smallest distance between two class means, in noise standard deviations.
        n_samples: training rows per domain.
        n_val: source validation rows.
        n_test: target test rows.
    """
    task = "gaussian_covariate"
    _check_gaussian(task, seed, dim, num_classes, separation, n_samples, n_val, n_test)
    check_choice(f"{task} kind", kind, CovariateKind)
    check_real(f"{task} strength", strength, minimum=0.0)

    def make_map(rng: np.random.Generator, means: np.ndarray) -> tuple[Callable, dict[str, Any]]:
        affine = _affine(kind, strength, _between_two_classes(means, rng) * (strength * separation / 2), rng)
        return (lambda x, y: affine(x)), {"kind": kind, "strength": strength}

    return _gaussian_task(task, seed, dim, num_classes, separation, (n_samples, n_val, n_test), make_map)


def gaussian_class_conditional_task(
    *,
    seed: int = 0,
    strength: float = 1.0,
    dim: int = 10,
    num_classes: int = 3,
    separation: float = 3.0,
    n_samples: int = 1000,
    n_val: int = 250,
    n_test: int = 1000,
) -> ShiftTask:
    """Gaussian classes; on the target each class moves by its own offset (a conditional shift).

    Class ``k`` moves ``strength * separation / 4`` towards the mean of class ``towards[k]`` (one
    random cycle through the classes, in ``details``), so the classes' relative positions change
    and no single map of the input undoes the shift. Class frequencies are equal in both domains.
    At the defaults a source-trained logistic regression loses 6-18 points on the target (seeds 0-7).

    Args:
        seed: seed of the draw and of the offsets.
        strength: size of the shift (0: none; 1: each class moves a quarter of the class spacing).
        dim: features per row (at least 2).
        num_classes: classes (at least 2).
        separation: smallest distance between two class means, in noise standard deviations.
        n_samples: training rows per domain.
        n_val: source validation rows.
        n_test: target test rows.
    """
    task = "gaussian_class_conditional"
    _check_gaussian(task, seed, dim, num_classes, separation, n_samples, n_val, n_test)
    check_real(f"{task} strength", strength, minimum=0.0)

    def make_map(rng: np.random.Generator, means: np.ndarray) -> tuple[Callable, dict[str, Any]]:
        cycle = rng.permutation(num_classes)
        towards = np.empty(num_classes, dtype=np.int64)
        towards[cycle] = np.roll(cycle, -1)  # one cycle through the classes: each heads for another
        offsets = means[towards] - means
        offsets *= (strength * separation / 4) / np.linalg.norm(offsets, axis=1, keepdims=True)
        return (lambda x, y: x + offsets[y]), {"class_offsets": offsets, "towards": towards, "strength": strength}

    return _gaussian_task(task, seed, dim, num_classes, separation, (n_samples, n_val, n_test), make_map)


def gaussian_subspace_task(
    *,
    seed: int = 0,
    shifted_dims: int = 3,
    kind: CovariateKind = "translation",
    strength: float = 1.0,
    dim: int = 10,
    num_classes: int = 3,
    separation: float = 3.0,
    n_samples: int = 1000,
    n_val: int = 250,
    n_test: int = 1000,
) -> ShiftTask:
    """Gaussian classes; the covariate shift acts on ``shifted_dims`` random feature axes only.

    A map of :func:`gaussian_covariate_task` (``kind``, ``strength``) moves the chosen axes
    (``details["shifted_axes"]``, random feature axes); every other feature keeps its source
    distribution exactly, as when a few sensors of a set are recalibrated. The translation moves
    the axes so that every row moves ``strength * separation / 2`` along the line between the two
    class means that differ most on those axes, as the full-space translation does (the axes move
    further the less they separate the classes). Rotation (needs ``shifted_dims >= 2``) and scaling
    act on the axes alone, and a source-trained logistic regression loses little to them (1-7
    points at strength 1) against 9-19 for the default translation (seeds 0-7).

    Args:
        seed: seed of the draw, of the axes and of the shift.
        shifted_dims: how many feature axes the shift moves, from 1 to ``dim``.
        kind: the map, one of :data:`CovariateKind`.
        strength: size of the shift (0: none).
        dim: features per row (at least 2).
        num_classes: classes (at least 2).
        separation: smallest distance between two class means, in noise standard deviations.
        n_samples: training rows per domain.
        n_val: source validation rows.
        n_test: target test rows.
    """
    task = "gaussian_subspace"
    _check_gaussian(task, seed, dim, num_classes, separation, n_samples, n_val, n_test)
    check_choice(f"{task} kind", kind, CovariateKind)
    check_real(f"{task} strength", strength, minimum=0.0)
    if check_int(f"{task} shifted_dims", shifted_dims, minimum=1) > dim:
        raise ConfigurationError(f"{task} shifted_dims must be at most dim={dim}, got {shifted_dims!r}")
    if kind == "rotation" and shifted_dims < 2:
        raise ConfigurationError(
            f"{task} shifted_dims must be >= 2 for kind='rotation' (a plane), got {shifted_dims!r}"
        )

    def make_map(rng: np.random.Generator, means: np.ndarray) -> tuple[Callable, dict[str, Any]]:
        axes = np.sort(rng.permutation(dim)[:shifted_dims])
        # The pair of classes that differs most on the axes; moving the axes by P d / |P d|^2 moves
        # every row half a spacing along that pair's direction d, as the full-space translation does.
        differences = (means[:, None] - means[None]).reshape(-1, dim)
        differences = differences[np.linalg.norm(differences, axis=1) > 0]
        units = differences / np.linalg.norm(differences, axis=1, keepdims=True)
        projected = units[np.argmax(np.linalg.norm(units[:, axes], axis=1)), axes]
        offset = projected / (projected @ projected) * (strength * separation / 2)
        affine = _affine(kind, strength, offset, rng)

        def to_target(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            x = x.copy()
            x[:, axes] = affine(x[:, axes])
            return x

        return to_target, {"shifted_axes": axes, "kind": kind, "strength": strength}

    return _gaussian_task(task, seed, dim, num_classes, separation, (n_samples, n_val, n_test), make_map)


def label_proportion_task(
    *,
    seed: int = 0,
    target_proportions: Sequence[float] | None = None,
    source_proportions: Sequence[float] | None = None,
    dim: int = 10,
    num_classes: int = 3,
    separation: float = 3.0,
    n_samples: int = 1000,
    n_val: int = 250,
    n_test: int = 1000,
) -> ShiftTask:
    """Gaussian classes with the same class-conditional distributions; other class frequencies.

    Each split holds exactly ``round(proportion * rows)`` rows of each class (largest remainders
    fill up), so the label shift is exactly the one asked for and there is no covariate shift
    within a class.

    Args:
        seed: seed of the draw.
        target_proportions: class frequencies of the target, one per class, summing to 1; default:
            class ``k`` in proportion to ``2**-k`` (``[4/7, 2/7, 1/7]`` for three classes).
        source_proportions: class frequencies of the source; default: balanced.
        dim: features per row (at least 2).
        num_classes: classes (at least 2).
        separation: smallest distance between two class means, in noise standard deviations.
        n_samples: training rows per domain.
        n_val: source validation rows.
        n_test: target test rows.
    """
    task = "label_proportion"
    _check_gaussian(task, seed, dim, num_classes, separation, n_samples, n_val, n_test)
    if target_proportions is None:
        target_proportions = [2.0**-k for k in range(num_classes)]
        target_proportions = [p / sum(target_proportions) for p in target_proportions]
    source = _check_proportions(f"{task} source_proportions", source_proportions, num_classes)
    target = _check_proportions(f"{task} target_proportions", target_proportions, num_classes)

    def make_map(rng: np.random.Generator, means: np.ndarray) -> tuple[Callable, dict[str, Any]]:
        return (lambda x, y: x), {"source_proportions": source, "target_proportions": target}

    sizes = (n_samples, n_val, n_test)
    return _gaussian_task(task, seed, dim, num_classes, separation, sizes, make_map, source, target)


def _gaussian_task(
    name: str,
    seed: int,
    dim: int,
    num_classes: int,
    separation: float,
    sizes: tuple[int, int, int],
    make_map: Callable[[np.random.Generator, np.ndarray], tuple[Callable, dict[str, Any]]],
    source_proportions: np.ndarray | None = None,
    target_proportions: np.ndarray | None = None,
) -> ShiftTask:
    """Draw every split from its own seed stream; the target splits pass through the task's map."""
    parameters, *streams = np.random.SeedSequence(seed).spawn(5)
    rng = np.random.default_rng(parameters)
    means = _class_means(num_classes, dim, separation, rng)
    to_target, details = make_map(rng, means)
    n_samples, n_val, n_test = sizes

    def draw(rows: int, stream: np.random.SeedSequence, proportions: np.ndarray | None) -> tuple[np.ndarray, ...]:
        generator = np.random.default_rng(stream)
        y = generator.permutation(np.repeat(np.arange(num_classes), _class_counts(rows, proportions, num_classes)))
        return means[y] + generator.standard_normal((rows, dim)), y

    x_source, y_source = draw(n_samples, streams[0], source_proportions)
    x_source_val, y_source_val = draw(n_val, streams[1], source_proportions)
    x_target, y_target = draw(n_samples, streams[2], target_proportions)
    x_test, y_test = draw(n_test, streams[3], target_proportions)
    return ShiftTask(
        name,
        x_source,
        y_source,
        to_target(x_target, y_target),
        y_target,
        x_source_val,
        y_source_val,
        to_target(x_test, y_test),
        y_test,
        num_classes,
        {"class_means": means, **details},
    )


def _class_means(num_classes: int, dim: int, separation: float, rng: np.random.Generator) -> np.ndarray:
    """Random class means centred on the origin, the closest two exactly ``separation`` apart."""
    means = rng.standard_normal((num_classes, dim))
    means -= means.mean(axis=0)
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(num_classes, 1)]
    return means * (separation / gaps.min())


def _affine(
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


def _between_two_classes(means: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The unit vector from one random class mean to another."""
    first, second = rng.choice(len(means), size=2, replace=False)
    difference = means[second] - means[first]
    return difference / np.linalg.norm(difference)


def _class_counts(rows: int, proportions: np.ndarray | None, num_classes: int) -> np.ndarray:
    """Rows per class: ``rows * proportions`` rounded down, the largest remainders rounded up."""
    if proportions is None:
        proportions = np.full(num_classes, 1.0 / num_classes)
    exact = rows * np.asarray(proportions)
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact, kind="stable")[: rows - counts.sum()]] += 1
    return counts


def _check_gaussian(
    task: str, seed: int, dim: int, num_classes: int, separation: float, n_samples: int, n_val: int, n_test: int
) -> None:
    _check_sizes(task, seed, n_samples, n_val, n_test)
    check_int(f"{task} dim", dim, minimum=2)
    check_int(f"{task} num_classes", num_classes, minimum=2)
    check_real(f"{task} separation", separation, minimum=0.0, strict=True)


def _check_sizes(task: str, seed: int, n_samples: int, n_val: int, n_test: int) -> None:
    check_int(f"{task} seed", seed, minimum=0)
    for option, value in [("n_samples", n_samples), ("n_val", n_val), ("n_test", n_test)]:
        check_int(f"{task} {option}", value, minimum=1)


def _check_proportions(name: str, proportions: Sequence[float] | None, num_classes: int) -> np.ndarray | None:
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


# ------------------------------------------------------------------ real rows, split into subpopulations


def breast_cancer_task(
    *,
    seed: int = 0,
    split_feature: str = "mean texture",
    quantile: float = 0.5,
    drop_split_feature: bool = False,
    val_fraction: float = 0.2,
    test_fraction: float = 0.3,
) -> ShiftTask:
    """Wisconsin breast cancer (569 rows, 30 features, malignant 0 / benign 1), split by a feature.

    Source: rows whose ``split_feature`` is at most its ``quantile``; target: the rows above. The
    default, ``"mean texture"`` (spread of the grey levels in the image), is a property of the
    imaging more than of the tumour's size, unlike the radius, area and concavity features, which
    nearly decide the label: split on it, both domains keep both classes (16% / 58% malignant), and
    a source-trained logistic regression loses a few points on the target. The split feature is
    kept as a column (a subpopulation a user can see, as age in a clinical table) unless
    ``drop_split_feature``.

    Args:
        seed: seed of the train / held-out splits (the domains themselves do not depend on it).
        split_feature: the column that defines the domains, one of the data set's feature names.
        quantile: the threshold, as a quantile of ``split_feature`` over all rows, in (0, 1).
        drop_split_feature: leave the split feature out of the features.
        val_fraction: fraction of the source rows held out for validation (stratified), in (0, 1).
        test_fraction: fraction of the target rows held out for testing (stratified), in (0, 1).
    """
    split = (split_feature, quantile, drop_split_feature, val_fraction, test_fraction)
    return _subpopulation_task("breast_cancer", load_breast_cancer, seed, *split)


def wine_task(
    *,
    seed: int = 0,
    split_feature: str = "magnesium",
    quantile: float = 0.5,
    drop_split_feature: bool = False,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> ShiftTask:
    """UCI wine (178 rows, 13 chemical features, three cultivars), split by a feature.

    Source: rows whose ``split_feature`` is at most its ``quantile`` (96 rows by default); target:
    the rows above (82). The default, ``"magnesium"``, is mineral content that follows soil and
    region more than the cultivar: split on it, every cultivar keeps at least 17% of each domain,
    while the class-defining features (flavanoids, proline) would empty a class from one domain.
    The split feature is kept as a column unless ``drop_split_feature``. The held-out fractions
    leave 65 target training rows, enough for the default batch of 64.

    Args:
        seed: seed of the train / held-out splits (the domains themselves do not depend on it).
        split_feature: the column that defines the domains, one of the data set's feature names.
        quantile: the threshold, as a quantile of ``split_feature`` over all rows, in (0, 1).
        drop_split_feature: leave the split feature out of the features.
        val_fraction: fraction of the source rows held out for validation (stratified), in (0, 1).
        test_fraction: fraction of the target rows held out for testing (stratified), in (0, 1).
    """
    split = (split_feature, quantile, drop_split_feature, val_fraction, test_fraction)
    return _subpopulation_task("wine", load_wine, seed, *split)


def _subpopulation_task(
    task: str,
    loader: Callable[[], Any],
    seed: int,
    split_feature: str,
    quantile: float,
    drop_split_feature: bool,
    val_fraction: float,
    test_fraction: float,
) -> ShiftTask:
    check_int(f"{task} seed", seed, minimum=0)
    data = loader()
    names = [str(name) for name in data.feature_names]
    column = names.index(check_choice(f"{task} split_feature", split_feature, tuple(names)))
    check_real(f"{task} quantile", quantile, minimum=0.0, maximum=1.0, strict=True)
    if not isinstance(drop_split_feature, bool):
        raise ConfigurationError(f"{task} drop_split_feature must be True or False, got {drop_split_feature!r}")
    check_real(f"{task} val_fraction", val_fraction, minimum=0.0, maximum=1.0, strict=True)
    check_real(f"{task} test_fraction", test_fraction, minimum=0.0, maximum=1.0, strict=True)

    x, y = data.data, data.target
    threshold = float(np.quantile(x[:, column], quantile))
    kept = [index for index in range(len(names)) if not (drop_split_feature and index == column)]
    source_rng, target_rng = (np.random.default_rng(stream) for stream in np.random.SeedSequence(seed).spawn(2))
    in_source = x[:, column] <= threshold
    source_train, source_val = _stratified_split(y, np.flatnonzero(in_source), val_fraction, source_rng)
    target_train, target_test = _stratified_split(y, np.flatnonzero(~in_source), test_fraction, target_rng)
    for split, rows in [("source", source_train), ("source_val", source_val)]:
        if len(rows) == 0:
            raise ConfigurationError(f"{task} quantile={quantile!r} leaves {split} empty: raise it")
    for split, rows in [("target", target_train), ("target_test", target_test)]:
        if len(rows) == 0:
            raise ConfigurationError(f"{task} quantile={quantile!r} leaves {split} empty: lower it")

    def rows(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[np.ix_(index, kept)], y[index]

    details = {
        "feature_names": [names[index] for index in kept],
        "split_feature": split_feature,
        "threshold": threshold,
        "split_feature_kept": not drop_split_feature,
    }
    num_classes = len(data.target_names)
    return ShiftTask(
        task, *rows(source_train), *rows(target_train), *rows(source_val), *rows(target_test), num_classes, details
    )


def _stratified_split(
    y: np.ndarray, rows: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` shuffled into (kept, held out): ``round(fraction * n)`` of each class's ``n`` held out."""
    kept, held = [], []
    for label in np.unique(y[rows]):
        members = rng.permutation(rows[y[rows] == label])
        cut = round(fraction * len(members))
        held.append(members[:cut])
        kept.append(members[cut:])
    return rng.permutation(np.concatenate(kept)), rng.permutation(np.concatenate(held))


def _standardizer(x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    mean = x.mean(axis=0, dtype=np.float64)
    std = x.std(axis=0, dtype=np.float64)
    std[std == 0] = 1.0  # a constant feature stays constant instead of becoming NaN
    return lambda rows: ((rows - mean) / std).astype(np.float32)


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
