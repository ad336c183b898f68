"""Real rows split into two subpopulations by one feature: scikit-learn's breast cancer, wine and
diabetes (as classification). ``breast_cancer_by_feature``, ``diabetes_by_feature`` and
``wine_by_feature`` are held-out families: no default of the library was chosen on them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.utils import Bunch

from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.datasets.splits import DomainSplits
from dann_lightning.errors import ConfigurationError


def breast_cancer_shift(
    *,
    seed: int = 0,
    split_feature: str = "mean texture",
    quantile: float = 0.5,
    drop_split_feature: bool = False,
    val_fraction: float = 0.2,
    test_fraction: float = 0.3,
) -> DomainSplits:
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
    return _subpopulation_shift("breast_cancer", load_breast_cancer, seed, *split)


def wine_shift(
    *,
    seed: int = 0,
    split_feature: str = "magnesium",
    quantile: float = 0.5,
    drop_split_feature: bool = False,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> DomainSplits:
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
    return _subpopulation_shift("wine", load_wine, seed, *split)


def wine_by_feature_shift(
    *,
    seed: int = 0,
    split_feature: str = "malic_acid",
    quantile: float = 0.5,
    drop_split_feature: bool = False,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> DomainSplits:
    """UCI wine split by malic acid (a held-out family; ``"wine"`` splits by magnesium).

    Source: the less acidic half of the wines (89 rows); target: the more acidic half. Acidity
    follows the grapes' ripeness and climate; the split moves the class proportions too (cultivar
    3 is 6% of the source, 48% of the target) and, with the feature kept (the default), takes
    its values far past the source's range. A source-trained logistic regression scores about
    0.96 on source validation and 0.60 on the target (0.44-0.78, seeds 0-9); with
    ``drop_split_feature=True``, about 0.9. Arguments as :func:`wine_shift`'s.
    """
    split = (split_feature, quantile, drop_split_feature, val_fraction, test_fraction)
    return _subpopulation_shift("wine_by_feature", load_wine, seed, *split)


def breast_cancer_by_feature_shift(
    *,
    seed: int = 0,
    split_feature: str = "mean symmetry",
    quantile: float = 0.3,
    drop_split_feature: bool = False,
    val_fraction: float = 0.2,
    test_fraction: float = 0.3,
) -> DomainSplits:
    """Wisconsin breast cancer split by the cells' symmetry (a held-out family; ``"breast_cancer"``
    splits by texture at the median).

    Source: the 30% of rows with the lowest ``"mean symmetry"`` (171 rows, 80% benign); target: the
    rest (398 rows, 55% benign), so the class proportions move with the features. A mild shift, a
    test of doing no harm: a source-trained logistic regression scores about 0.95 on source
    validation and 0.87 on the target (0.80-0.93, seeds 0-9). Arguments as :func:`breast_cancer_shift`'s.
    """
    split = (split_feature, quantile, drop_split_feature, val_fraction, test_fraction)
    return _subpopulation_shift("breast_cancer_by_feature", load_breast_cancer, seed, *split)


def diabetes_by_feature_shift(
    *,
    seed: int = 0,
    split_feature: str = "s5",
    quantile: float = 0.5,
    drop_split_feature: bool = True,
    val_fraction: float = 0.2,
    test_fraction: float = 0.3,
) -> DomainSplits:
    """scikit-learn's diabetes (442 patients, 10 standardised features) as classification, split by
    a feature (a held-out family).

    The label is whether the disease progression a year after baseline is above its median over
    all patients (classes ``"low"``, ``"high"``, about half each). Source: patients whose
    ``split_feature`` is at most its ``quantile``; target: the rest. The default ``"s5"`` (log
    serum triglycerides) goes with the outcome, so the class proportions move (73% / 27% low on the
    source, 27% / 73% on the target) along with every correlated feature. It is dropped by default:
    a hidden subpopulation (as patients of another clinic), since kept, a linear model reads it and
    loses nothing. A source-trained logistic regression scores about 0.74 on source validation and
    0.65 on the target (0.42-0.76, seeds 0-9: the draws differ only in which rows are held out).
    Arguments as :func:`breast_cancer_shift`'s.
    """
    split = (split_feature, quantile, drop_split_feature, val_fraction, test_fraction)
    return _subpopulation_shift("diabetes_by_feature", _diabetes_above_median, seed, *split)


def _diabetes_above_median() -> Bunch:
    data = load_diabetes()
    above = (data.target > np.median(data.target)).astype(np.int64)
    return Bunch(data=data.data, target=above, feature_names=data.feature_names, target_names=["low", "high"])


def _subpopulation_shift(
    task: str,
    loader: Callable[[], Any],
    seed: int,
    split_feature: str,
    quantile: float,
    drop_split_feature: bool,
    val_fraction: float,
    test_fraction: float,
) -> DomainSplits:
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
    return DomainSplits(
        source_train=rows(source_train),
        source_val=rows(source_val),
        target_train=rows(target_train),
        target_test=rows(target_test),
        name=task,
        classes=[str(name) for name in data.target_names],
        feature_names=details["feature_names"],
        details=details,
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
