"""Embedded regression shifts, offline: a smooth nonlinear function of 8-20 features whose inputs
move between the domains, and scikit-learn's diabetes rows split into two subpopulations.

Kinds (``make_regression_shift(kind=...)``):

- ``"covariate"``: ``y = f(x) + noise`` in both domains, with ``f`` a random sum of sines of
  projections of ``x``; source inputs are ``N(0, I)``, target inputs ``N(mu, I)`` with ``mu`` 1 on
  a random half of the features (covariate shift: ``p(x)`` moves, ``p(y | x)`` stays).
- ``"sparse"``: the harder variant: the target lies mostly in a half-space ``x . v > 1`` that the
  source covers sparsely (the source keeps 5% of its draws there).
- ``"diabetes_bmi"``, ``"diabetes_age"``: ``load_diabetes`` (442 patients, 10 features, disease
  progression after a year): the source is the patients below the median BMI (age), the target
  those above it.

Examples:
    >>> shift = make_regression_shift("covariate", n_samples=100, n_val=10, n_test=20, seed=0)
    >>> shift.source_train[0].shape, shift.target_test[1].shape, shift.features[:2]
    ((100, 10), (20,), ['x0', 'x1'])
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.datasets import load_diabetes

from dann_lightning.checks import check_choice, check_int
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.errors import ConfigurationError

RegressionShiftKind = Literal["covariate", "sparse", "diabetes_bmi", "diabetes_age"]
Labelled = tuple[np.ndarray, np.ndarray]

N_WAVES = 6  # sines summed in f
NOISE_STD = 0.1  # label noise, against a signal of standard deviation about 1 on the source
SPARSE_KEEP = 0.05  # share of the source draws kept in the target's half-space ("sparse")
DIABETES_COLUMNS = {"diabetes_bmi": 2, "diabetes_age": 0}


def make_regression_shift(
    kind: RegressionShiftKind = "covariate",
    n_samples: int = 2000,
    n_features: int = 10,
    n_val: int = 500,
    n_test: int = 1000,
    seed: int = 0,
) -> DomainSplits:
    """One seeded draw of a regression shift (see the module's description of each kind).

    Args:
        kind: ``"covariate"``, ``"sparse"``, ``"diabetes_bmi"`` or ``"diabetes_age"``.
        n_samples: training rows per domain (synthetic kinds).
        n_features: features per row, 8 to 20 (synthetic kinds).
        n_val: validation rows per domain (synthetic kinds).
        n_test: target test rows (synthetic kinds).
        seed: seed of the function, the draws and the splits.
    """
    check_regression_shift_arguments("make_regression_shift", kind, n_samples, n_features, n_val, n_test, seed)
    if kind in DIABETES_COLUMNS:
        return _diabetes(kind, seed)
    rng = np.random.default_rng(seed)
    waves = rng.normal(size=(N_WAVES, n_features)) * (1.5 / np.sqrt(n_features))
    phases = rng.uniform(0, 2 * np.pi, N_WAVES)
    amplitudes = rng.choice([-1.0, 1.0], N_WAVES) * rng.uniform(0.5, 1.0, N_WAVES)

    def f(x: np.ndarray) -> np.ndarray:
        return np.sin(x @ waves.T + phases) @ amplitudes

    if kind == "covariate":
        mean = np.zeros(n_features)
        mean[rng.permutation(n_features)[: n_features // 2]] = 1.0

        def source(n: int) -> np.ndarray:
            return rng.normal(size=(n, n_features))

        def target(n: int) -> np.ndarray:
            return rng.normal(size=(n, n_features)) + mean
    else:  # "sparse": the target's half-space is rare in the source
        direction = rng.normal(size=n_features)
        direction /= np.linalg.norm(direction)

        def source(n: int) -> np.ndarray:
            rows = []
            while sum(len(r) for r in rows) < n:
                x = rng.normal(size=(4 * n, n_features))
                inside = x @ direction > 1.0
                rows.append(x[~inside | (rng.random(len(x)) < SPARSE_KEEP)])
            return np.concatenate(rows)[:n]

        def target(n: int) -> np.ndarray:
            return rng.normal(size=(n, n_features)) + 1.5 * direction

    def labelled(x: np.ndarray) -> Labelled:
        return x, f(x) + NOISE_STD * rng.normal(size=len(x))

    return DomainSplits(
        name=kind,
        task="regression",
        feature_names=[f"x{index}" for index in range(n_features)],
        source_train=labelled(source(n_samples)),
        source_val=labelled(source(n_val)),
        target_train=labelled(target(n_samples)),
        target_val=labelled(target(n_val)),
        target_test=labelled(target(n_test)),
    )


def _diabetes(kind: str, seed: int) -> DomainSplits:
    data = load_diabetes()
    column = DIABETES_COLUMNS[kind]
    x, y = data.data, data.target
    above = x[:, column] > np.median(x[:, column])
    rng = np.random.default_rng(seed)
    source, target = rng.permutation(np.flatnonzero(~above)), rng.permutation(np.flatnonzero(above))
    n_val = len(source) // 5
    half = len(target) // 2
    # The target's first half trains (features only) and is the oracle validation; the rest tests.
    return DomainSplits(
        name=kind,
        task="regression",
        feature_names=list(data.feature_names),
        source_train=(x[source[n_val:]], y[source[n_val:]]),
        source_val=(x[source[:n_val]], y[source[:n_val]]),
        target_train=(x[target[:half]], y[target[:half]]),
        target_val=(x[target[:half]], y[target[:half]]),
        target_test=(x[target[half:]], y[target[half:]]),
    )


def check_regression_shift_arguments(
    owner: str, kind: str, n_samples: int, n_features: int, n_val: int, n_test: int, seed: int
) -> None:
    """Raise ``ConfigurationError`` naming ``owner`` and the argument, for any invalid one."""
    check_choice(f"{owner} kind", kind, RegressionShiftKind)
    for name, value in [("n_samples", n_samples), ("n_val", n_val), ("n_test", n_test)]:
        check_int(f"{owner} {name}", value, minimum=1)
    if check_int(f"{owner} n_features", n_features, minimum=8) > 20:
        raise ConfigurationError(f"{owner} n_features must be an integer from 8 to 20, got {n_features!r}")
    check_int(f"{owner} seed", seed, minimum=0)
