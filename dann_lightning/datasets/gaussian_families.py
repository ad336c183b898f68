"""The Gaussian shift families: the whole input moved (covariate), each class moved on its own
(class-conditional), a few axes moved (subspace), other class frequencies (label proportion), and
both of the last at once (label and covariate, a held-out family)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.datasets.gaussian import (
    CovariateKind,
    affine,
    between_two_classes,
    check_gaussian,
    check_proportions,
    gaussian_draw,
)
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.errors import ConfigurationError


def gaussian_covariate_shift(
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
) -> DomainSplits:
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
    check_gaussian(task, seed, dim, num_classes, separation, n_samples, n_val, n_test)
    check_choice(f"{task} kind", kind, CovariateKind)
    check_real(f"{task} strength", strength, minimum=0.0)

    def make_map(rng: np.random.Generator, means: np.ndarray) -> tuple[Callable, dict[str, Any]]:
        move = affine(kind, strength, between_two_classes(means, rng) * (strength * separation / 2), rng)
        return (lambda x, y: move(x)), {"kind": kind, "strength": strength}

    return gaussian_draw(task, seed, dim, num_classes, separation, (n_samples, n_val, n_test), make_map)


def gaussian_class_conditional_shift(
    *,
    seed: int = 0,
    strength: float = 1.0,
    dim: int = 10,
    num_classes: int = 3,
    separation: float = 3.0,
    n_samples: int = 1000,
    n_val: int = 250,
    n_test: int = 1000,
) -> DomainSplits:
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
    check_gaussian(task, seed, dim, num_classes, separation, n_samples, n_val, n_test)
    check_real(f"{task} strength", strength, minimum=0.0)

    def make_map(rng: np.random.Generator, means: np.ndarray) -> tuple[Callable, dict[str, Any]]:
        cycle = rng.permutation(num_classes)
        towards = np.empty(num_classes, dtype=np.int64)
        towards[cycle] = np.roll(cycle, -1)  # one cycle through the classes: each heads for another
        offsets = means[towards] - means
        offsets *= (strength * separation / 4) / np.linalg.norm(offsets, axis=1, keepdims=True)
        return (lambda x, y: x + offsets[y]), {"class_offsets": offsets, "towards": towards, "strength": strength}

    return gaussian_draw(task, seed, dim, num_classes, separation, (n_samples, n_val, n_test), make_map)


def gaussian_subspace_shift(
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
) -> DomainSplits:
    """Gaussian classes; the covariate shift acts on ``shifted_dims`` random feature axes only.

    A map of :func:`gaussian_covariate_shift` (``kind``, ``strength``) moves the chosen axes
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
    check_gaussian(task, seed, dim, num_classes, separation, n_samples, n_val, n_test)
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
        move = affine(kind, strength, offset, rng)

        def to_target(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            x = x.copy()
            x[:, axes] = move(x[:, axes])
            return x

        return to_target, {"shifted_axes": axes, "kind": kind, "strength": strength}

    return gaussian_draw(task, seed, dim, num_classes, separation, (n_samples, n_val, n_test), make_map)


def label_proportion_shift(
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
) -> DomainSplits:
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
    check_gaussian(task, seed, dim, num_classes, separation, n_samples, n_val, n_test)
    source, target = checked_proportions(task, source_proportions, target_proportions, num_classes)

    def make_map(rng: np.random.Generator, means: np.ndarray) -> tuple[Callable, dict[str, Any]]:
        return (lambda x, y: x), {"source_proportions": source, "target_proportions": target}

    sizes = (n_samples, n_val, n_test)
    return gaussian_draw(task, seed, dim, num_classes, separation, sizes, make_map, source, target)


def label_and_covariate_shift(
    *,
    seed: int = 0,
    target_proportions: Sequence[float] | None = None,
    source_proportions: Sequence[float] | None = None,
    strength: float = 1.0,
    dim: int = 10,
    num_classes: int = 3,
    separation: float = 3.0,
    n_samples: int = 1000,
    n_val: int = 250,
    n_test: int = 1000,
) -> DomainSplits:
    """Other class frequencies and a moved input at once (a held-out family).

    The classes and frequencies of :func:`label_proportion_shift` (default target ``[4/7, 2/7,
    1/7]``, balanced source), and every target row then turned by ``45 * strength`` degrees about
    the origin and moved ``strength * separation / 4`` along the line between two random class
    means (the maps of :func:`gaussian_covariate_shift`, the translation at half its size). A
    source-trained logistic regression scores about 0.93 on source validation and 0.72 (0.63-0.79)
    on the target at the defaults (seeds 0-9).

    Args:
        seed: seed of the draw and of the maps.
        target_proportions: class frequencies of the target (default ``2**-k``, normalised).
        source_proportions: class frequencies of the source; default: balanced.
        strength: size of the covariate part (0: a pure label shift).
        dim: features per row (at least 2).
        num_classes: classes (at least 2).
        separation: smallest distance between two class means, in noise standard deviations.
        n_samples: training rows per domain.
        n_val: source validation rows.
        n_test: target test rows.
    """
    task = "label_and_covariate"
    check_gaussian(task, seed, dim, num_classes, separation, n_samples, n_val, n_test)
    check_real(f"{task} strength", strength, minimum=0.0)
    source, target = checked_proportions(task, source_proportions, target_proportions, num_classes)

    def make_map(rng: np.random.Generator, means: np.ndarray) -> tuple[Callable, dict[str, Any]]:
        offset = between_two_classes(means, rng) * (strength * separation / 4)
        turn = affine("rotation", strength, offset, rng)
        details = {"source_proportions": source, "target_proportions": target, "strength": strength, "offset": offset}
        return (lambda x, y: turn(x) + offset), details

    sizes = (n_samples, n_val, n_test)
    return gaussian_draw(task, seed, dim, num_classes, separation, sizes, make_map, source, target)


def checked_proportions(
    task: str, source: Sequence[float] | None, target: Sequence[float] | None, num_classes: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The source and target class frequencies checked; the target's default is ``2**-k``, normalised."""
    if target is None:
        target = [2.0**-k for k in range(num_classes)]
        target = [p / sum(target) for p in target]
    checked_source = check_proportions(f"{task} source_proportions", source, num_classes)
    return checked_source, check_proportions(f"{task} target_proportions", target, num_classes)
