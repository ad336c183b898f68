"""A slow drift (a held-out family): Gaussian classes whose means move gradually over time; the
source is an early window of the process, the target its last window."""

from __future__ import annotations

import numpy as np

from dann_lightning.checks import check_real
from dann_lightning.datasets.gaussian import check_gaussian, class_means
from dann_lightning.datasets.splits import DomainSplits, classification_classes
from dann_lightning.errors import ConfigurationError


def drift_shift(
    *,
    seed: int = 0,
    angle: float = 75.0,
    class_drift: float = 0.4,
    window: float = 0.2,
    dim: int = 4,
    num_classes: int = 2,
    separation: float = 3.0,
    n_samples: int = 1000,
    n_val: int = 250,
    n_test: int = 1000,
) -> DomainSplits:
    """Gaussian classes drifting over a time ``t`` from 0 to 1; source: ``t`` in ``[0, window]``,
    target: ``t`` in ``[1 - window, 1]``.

    At time ``t`` class ``k`` is a unit-variance Gaussian about ``R(t * angle) (m_k + t * d_k)``:
    the class means ``m_k`` (as in :func:`~dann_lightning.datasets.gaussian_covariate_shift`, the
    closest two ``separation`` apart) turn about the origin by ``t * angle`` degrees (equal angles
    in ``dim // 2`` random orthogonal planes) while each also walks its own random direction
    ``d_k`` of length ``class_drift * separation``; so the classes move both together and apart.
    Each row draws its own time uniformly within its window: the source already drifts a little
    within itself, as a process recorded over weeks does. Classes are equally frequent. At the
    defaults a source-trained logistic regression scores about 0.93 on source validation and 0.75
    (0.56-0.95) on the target (seeds 0-9).

    Args:
        seed: seed of the draw and of the drift.
        angle: degrees the class means turn over the whole process (0: no turn).
        class_drift: each class mean's own walk over the whole process, in units of ``separation``.
        window: the length of the source and of the target window, in ``(0, 0.5]`` (they do not overlap).
        dim: features per row (at least 2).
        num_classes: classes (at least 2).
        separation: smallest distance between two class means at ``t = 0``, in noise standard deviations.
        n_samples: training rows per domain.
        n_val: source validation rows.
        n_test: target test rows.

    Examples:
        >>> splits = drift_shift(seed=0, n_samples=50, n_val=10, n_test=20)
        >>> splits.source_train[0].shape, splits.target_test[0].shape, splits.classes
        ((50, 4), (20, 4), ['0', '1'])
    """
    task = "drift"
    check_gaussian(task, seed, dim, num_classes, separation, n_samples, n_val, n_test)
    check_real(f"{task} angle", angle)
    check_real(f"{task} class_drift", class_drift, minimum=0.0)
    if check_real(f"{task} window", window, minimum=0.0, strict=True) > 0.5:
        raise ConfigurationError(f"{task} window must be at most 0.5 (source and target windows apart), got {window!r}")

    parameters, *streams = np.random.SeedSequence(seed).spawn(5)
    rng = np.random.default_rng(parameters)
    means = class_means(num_classes, dim, separation, rng)
    walks = rng.standard_normal((num_classes, dim))
    walks *= class_drift * separation / np.linalg.norm(walks, axis=1, keepdims=True)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))

    def draw(rows: int, stream: np.random.SeedSequence, start: float) -> tuple[np.ndarray, np.ndarray]:
        generator = np.random.default_rng(stream)
        y = generator.permutation(np.arange(rows) % num_classes)
        times = generator.uniform(start, start + window, rows)
        centres = _turned(means[y] + times[:, None] * walks[y], np.radians(angle) * times, basis)
        return centres + generator.standard_normal((rows, dim)), y

    return DomainSplits(
        source_train=draw(n_samples, streams[0], 0.0),
        source_val=draw(n_val, streams[1], 0.0),
        target_train=draw(n_samples, streams[2], 1.0 - window),
        target_test=draw(n_test, streams[3], 1.0 - window),
        name=task,
        classes=classification_classes(num_classes),
        details={"class_means": means, "class_walks": walks, "angle": angle, "window": window},
    )


def _turned(vectors: np.ndarray, angles: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Each row turned by its own angle (radians) in the planes of ``basis``'s column pairs."""
    coordinates = vectors @ basis
    cos, sin = np.cos(angles), np.sin(angles)
    for axis in range(0, vectors.shape[1] - 1, 2):
        first, second = coordinates[:, axis].copy(), coordinates[:, axis + 1].copy()
        coordinates[:, axis] = cos * first - sin * second
        coordinates[:, axis + 1] = sin * first + cos * second
    return coordinates @ basis.T
