"""Every generated domain shift by name, and :func:`make_shift`, which draws one.

Families, each isolating one kind of shift:

- ``"moons"``: two moons; the target rotated (Ganin et al. 2016, section 5.1);
- ``"gaussian_covariate"``: Gaussian classes; the whole target input translated, rotated or scaled;
- ``"gaussian_class_conditional"``: each target class moved by its own offset;
- ``"gaussian_subspace"``: a covariate shift confined to a few random feature axes;
- ``"label_proportion"``: the same classes, other class frequencies on the target (label shift);
- ``"breast_cancer"``, ``"wine"``: scikit-learn's bundled rows, split into subpopulations by one feature;
- ``"tabular"``: the 20-feature recalibration shift (:func:`~dann_lightning.datasets.make_tabular_shift`);
- ``"digits"``: digits -> digits-M images (:func:`~dann_lightning.datasets.make_digits_shift`);
- ``"regression"``: regression targets under a covariate shift, or diabetes subpopulations
  (:func:`~dann_lightning.datasets.make_regression_shift`, option ``kind``).

Held out (no default of the library was chosen on them; :data:`HELDOUT_SHIFTS`):

- ``"breast_cancer_by_feature"``: breast cancer split by the cells' symmetry;
- ``"diabetes_by_feature"``: diabetes as above / below median progression, split by triglycerides;
- ``"wine_by_feature"``: wine split by malic acid;
- ``"label_and_covariate"``: other class frequencies and a rotated, translated input at once;
- ``"drift"``: classes drifting over time, an early window against the last one.

Arrays come as the generator draws them (float64 rows, float32 images), unstandardised.

Examples:
    >>> splits = make_shift("gaussian_covariate", seed=0, kind="rotation", dim=4)
    >>> splits.source_train[0].shape, splits.num_classes
    ((1000, 4), 3)
    >>> make_shift("gaussian", seed=0)
    Traceback (most recent call last):
    ...
    dann_lightning.errors.ConfigurationError: unknown shift 'gaussian'; valid: 'moons', ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dann_lightning.checks import check_choice
from dann_lightning.datasets.digits import TargetDomain, make_digits_shift
from dann_lightning.datasets.drift import drift_shift
from dann_lightning.datasets.gaussian_families import (
    gaussian_class_conditional_shift,
    gaussian_covariate_shift,
    gaussian_subspace_shift,
    label_and_covariate_shift,
    label_proportion_shift,
)
from dann_lightning.datasets.moons import moons_shift
from dann_lightning.datasets.regression import (
    RegressionShiftKind,
    check_regression_shift_arguments,
    make_regression_shift,
)
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.datasets.subpopulations import (
    breast_cancer_by_feature_shift,
    breast_cancer_shift,
    diabetes_by_feature_shift,
    wine_by_feature_shift,
    wine_shift,
)
from dann_lightning.datasets.tabular import tabular_shift
from dann_lightning.errors import ConfigurationError


def digits_shift(
    *,
    seed: int = 0,
    image_size: int = 32,
    target_domain: TargetDomain = "digits-m",
    blends_per_digit: int = 1,
    val_fraction: float = 0.1,
    test_fraction: float = 0.4,
    photos: str | Path | None = None,
) -> DomainSplits:
    """The family ``"digits"``: :func:`~dann_lightning.datasets.make_digits_shift` by keywords."""
    return make_digits_shift(image_size, target_domain, blends_per_digit, val_fraction, test_fraction, photos, seed)


def regression_shift(
    *,
    seed: int = 0,
    kind: RegressionShiftKind = "covariate",
    n_samples: int = 2000,
    n_features: int = 10,
    n_val: int = 500,
    n_test: int = 1000,
) -> DomainSplits:
    """The family ``"regression"``: :func:`~dann_lightning.datasets.make_regression_shift` by keywords."""
    check_regression_shift_arguments("regression", kind, n_samples, n_features, n_val, n_test, seed)
    return make_regression_shift(kind, n_samples, n_features, n_val, n_test, seed)


SHIFTS: dict[str, Callable[..., DomainSplits]] = {
    "moons": moons_shift,
    "gaussian_covariate": gaussian_covariate_shift,
    "gaussian_class_conditional": gaussian_class_conditional_shift,
    "gaussian_subspace": gaussian_subspace_shift,
    "label_proportion": label_proportion_shift,
    "breast_cancer": breast_cancer_shift,
    "wine": wine_shift,
    "tabular": tabular_shift,
    "digits": digits_shift,
    "regression": regression_shift,
    "breast_cancer_by_feature": breast_cancer_by_feature_shift,
    "diabetes_by_feature": diabetes_by_feature_shift,
    "wine_by_feature": wine_by_feature_shift,
    "label_and_covariate": label_and_covariate_shift,
    "drift": drift_shift,
}
"""Every generated shift by name: the generator that draws it, ``seed`` and keyword options only."""

HELDOUT_SHIFTS = ("breast_cancer_by_feature", "diabetes_by_feature", "wine_by_feature", "label_and_covariate", "drift")
"""The shifts kept out of every choice of a default, to report as a user's first contact would see them."""

IMAGE_SHIFTS = ("digits",)  # the shifts whose samples are (C, H, W) images, not feature rows
REGRESSION_SHIFTS = ("regression",)  # the shifts whose labels are numbers, not classes


def shift_options(name: str) -> dict[str, Any]:
    """The options of shift ``name`` with their defaults (``seed`` aside)."""
    parameters = inspect.signature(SHIFTS[check_choice("shift", name, tuple(SHIFTS))]).parameters
    return {option: parameter.default for option, parameter in parameters.items() if option != "seed"}


def check_shift_options(name: str, options: Mapping[str, Any], *, what: str = "shift") -> None:
    """Raise ``ConfigurationError`` for an unknown shift ``name`` or an option it does not take."""
    check_choice(what, name, tuple(SHIFTS))
    valid = list(shift_options(name))
    for option in options:
        if option not in valid:
            raise ConfigurationError(
                f"unknown option {option!r} for {what} {name!r}; valid: {', '.join(map(repr, valid))}"
            )


def make_shift(name: str, *, seed: int = 0, **options: Any) -> DomainSplits:
    """Draw the shift ``name`` (a key of :data:`SHIFTS`) with the family's ``options``.

    Args:
        name: the family.
        seed: seed of the draw; the same seed and options give identical arrays.
        options: the family generator's keyword arguments.

    Raises:
        ConfigurationError: an unknown ``name`` or option, or an option's bad value.

    Examples:
        >>> make_shift("label_proportion", seed=1, target_proportions=[0.9, 0.1], num_classes=2).num_classes
        2
        >>> make_shift("moons", radius=3)
        Traceback (most recent call last):
        ...
        dann_lightning.errors.ConfigurationError: unknown option 'radius' for shift 'moons'; valid: ...
    """
    check_shift_options(name, options)
    return SHIFTS[name](seed=seed, **options)
