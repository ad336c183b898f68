"""An embedded tabular domain shift: ``make_classification`` data, and the same draw recalibrated.

The target is what a source table looks like after a change of instruments: every feature is
rescaled and offset, and a subspace of the features is rotated (features that used to vary alone
now vary together). No file is needed, and every draw follows from one seed.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
from scipy.linalg import expm
from sklearn.datasets import make_classification

from dann_lightning.checks import check_int, check_real
from dann_lightning.datasets.splits import DomainSplits

# The shift at strength 1; every part grows linearly with the strength (0 = no shift).
ROTATION_DEGREES = 60.0  # largest angle of the subspace rotation
LOG_SCALE_STD = 0.75  # feature-wise scale factors are exp(N(0, LOG_SCALE_STD))
OFFSET_STD = 1.5  # feature-wise offsets are N(0, OFFSET_STD), in raw feature units (spread about 1-2)


def make_tabular_shift(
    n_samples: int = 2000,
    n_features: int = 20,
    strength: float = 1.0,
    n_val: int = 500,
    n_test: int = 1000,
    seed: int = 0,
) -> DomainSplits:
    """A binary ``make_classification`` problem as the source, and a shifted copy as the target.

    The problem has ``n_features // 2`` informative features, ``n_features // 4`` redundant ones
    (linear mixtures of the informative ones), the rest noise, two clusters per class and 1% label
    noise. The target applies, with parameters drawn from ``seed``:

    - a rotation of a random half of the features, largest angle ``60 * strength`` degrees;
    - a scale factor per feature, ``exp(N(0, 0.75 * strength))``;
    - an offset per feature, ``N(0, 1.5 * strength)``.

    Args:
        n_samples: training rows per domain.
        n_features: features per row (at least 4).
        strength: how far the target moves; 0 gives two draws of one distribution.
        n_val: validation rows per domain.
        n_test: target test rows.
        seed: seed of the draw and of the shift.

    Examples:
        >>> shift = make_tabular_shift(n_samples=100, n_val=10, n_test=10, seed=0)
        >>> shift.source_train[0].shape, shift.target_test[1].shape, shift.feature_names[:2]
        ((100, 20), (10,), ['x0', 'x1'])
        >>> bool(np.allclose(shift.to_target(shift.source_train[0][:1]), shift.to_target(shift.source_train[0])[:1]))
        True
    """
    check_shift_arguments("make_tabular_shift", n_samples, n_features, strength, n_val, n_test, seed)
    data_seed, shift_seed = np.random.SeedSequence(seed).spawn(2)
    sizes = [n_samples, n_val, n_samples, n_val, n_test]
    x, y = make_classification(
        sum(sizes),
        n_features=n_features,
        n_informative=n_features // 2,
        n_redundant=n_features // 4,
        n_clusters_per_class=2,
        flip_y=0.01,
        random_state=int(data_seed.generate_state(1)[0]),
    )
    rng = np.random.default_rng(shift_seed)
    rotation = _subspace_rotation(n_features, rng, math.radians(ROTATION_DEGREES * strength))
    scale = np.exp(LOG_SCALE_STD * strength * rng.standard_normal(n_features))
    offset = OFFSET_STD * strength * rng.standard_normal(n_features)
    s_train, s_val, t_train, t_val, t_test = np.split(np.arange(len(x)), np.cumsum(sizes)[:-1])

    def target(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _shifted(x[rows], rotation, scale, offset), y[rows]

    return DomainSplits(
        source_train=(x[s_train], y[s_train]),
        source_val=(x[s_val], y[s_val]),
        target_train=target(t_train),
        target_val=target(t_val),
        target_test=target(t_test),
        name="tabular",
        classes=["0", "1"],
        feature_names=[f"x{index}" for index in range(n_features)],
        # to_target(x): source features as the target domain would record them.
        details={
            "rotation": rotation,
            "scale": scale,
            "offset": offset,
            "to_target": partial(_shifted, rotation=rotation, scale=scale, offset=offset),
        },
    )


def _shifted(x: np.ndarray, rotation: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
    return (x @ rotation.T) * scale + offset


def check_shift_arguments(
    owner: str, n_samples: int, n_features: int, strength: float, n_val: int, n_test: int, seed: int
) -> None:
    """Raise ``ConfigurationError`` naming ``owner`` and the argument, for any invalid one."""
    for name, value in [("n_samples", n_samples), ("n_val", n_val), ("n_test", n_test)]:
        check_int(f"{owner} {name}", value, minimum=1)
    check_int(f"{owner} n_features", n_features, minimum=4)
    check_real(f"{owner} strength", strength, minimum=0.0)
    check_int(f"{owner} seed", seed, minimum=0)


def _subspace_rotation(n_features: int, rng: np.random.Generator, largest_angle: float) -> np.ndarray:
    """A rotation of a random half of the feature axes whose largest plane angle is ``largest_angle``."""
    axes = np.sort(rng.permutation(n_features)[: n_features // 2])
    generator = rng.standard_normal((len(axes), len(axes)))
    skew = generator - generator.T  # exp of a skew-symmetric matrix is a rotation
    largest = np.abs(np.linalg.eigvals(skew).imag).max()
    rotation = np.eye(n_features)
    rotation[np.ix_(axes, axes)] = expm(skew * (largest_angle / largest))
    return rotation


def tabular_shift(
    *,
    seed: int = 0,
    n_samples: int = 2000,
    n_features: int = 20,
    strength: float = 1.0,
    n_val: int = 500,
    n_test: int = 1000,
) -> DomainSplits:
    """The embedded tabular shift, :func:`make_tabular_shift` with its options checked (the shift
    family ``"tabular"``): a binary ``make_classification`` problem, and the same problem
    recalibrated (features rescaled, offset, half of them rotated) as the target.

    Args:
        seed: seed of the draw and of the shift.
        n_samples: training rows per domain.
        n_features: features per row (at least 4).
        strength: size of the shift (0: none).
        n_val: validation rows per domain.
        n_test: target test rows.
    """
    check_shift_arguments("tabular", n_samples, n_features, strength, n_val, n_test, seed)
    return make_tabular_shift(n_samples, n_features, strength, n_val, n_test, seed)
