"""The held-out shift families: seeded, well-formed, every class in both domains, and a real shift."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from dann_lightning.data.shifts import ShiftTask
from dann_lightning.datasets import HELDOUT_SHIFTS, SHIFTS, make_shift
from dann_lightning.datasets.drift import _turned
from dann_lightning.errors import ConfigurationError
from dann_lightning.experiments.heldout import HELDOUT_TASKS
from dann_lightning.experiments.suite import TASKS, Task

SPLITS = ["source_train", "source_val", "target_train", "target_test"]


def task(name: str, seed: int = 0, **options) -> ShiftTask:
    return ShiftTask.from_splits(make_shift(name, seed=seed, **options))


def source_to_target_drop(task: ShiftTask) -> float:
    """Source-val accuracy minus target-test accuracy of a logistic regression fitted on the (standardised) source."""
    mean, std = task.x_source.mean(axis=0), task.x_source.std(axis=0)
    model = LogisticRegression(max_iter=5000).fit((task.x_source - mean) / std, task.y_source)
    source = model.score((task.x_source_val - mean) / std, task.y_source_val)
    return source - model.score((task.x_target_test - mean) / std, task.y_target_test)


def test_the_held_out_families_are_registered_and_no_suite_task_draws_them():
    assert set(HELDOUT_SHIFTS) <= set(SHIFTS)
    assert not {task.shift for task in TASKS.values()} & set(HELDOUT_SHIFTS)
    assert list(HELDOUT_TASKS) == list(HELDOUT_SHIFTS)
    assert all(isinstance(task, Task) for task in HELDOUT_TASKS.values())


@pytest.mark.parametrize("name", HELDOUT_SHIFTS)
def test_every_family_draws_well_formed_splits_with_every_class_in_both_domains(name):
    splits = make_shift(name, seed=0)
    assert splits.name == name and splits.task == "classification"
    for split in SPLITS:
        x, y = getattr(splits, split)
        assert x.ndim == 2 and x.shape == (len(y), splits.in_features) and np.isfinite(x).all()
        assert set(np.unique(y)) == set(range(splits.num_classes)), split
    # Enough rows for the default batch of 64 in each training domain; CPU-sized.
    assert 64 <= len(splits.source_train[0]) <= 2000 and 64 <= len(splits.target_train[0]) <= 2000
    # The suite's view of the held-out task is the same draw.
    drawn = HELDOUT_TASKS[name].draw(seed=0)
    np.testing.assert_array_equal(drawn.x_target_test, splits.target_test[0].astype(np.float32))
    np.testing.assert_array_equal(drawn.y_source, splits.source_train[1])


@pytest.mark.parametrize("name", HELDOUT_SHIFTS)
def test_the_same_seed_draws_the_same_arrays_and_another_seed_others(name):
    first, again, other = make_shift(name, seed=3), make_shift(name, seed=3), make_shift(name, seed=4)
    for split in SPLITS:
        for a, b in zip(getattr(first, split), getattr(again, split), strict=True):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.source_train[0], other.source_train[0])
    assert not np.array_equal(first.target_test[0], other.target_test[0])


@pytest.mark.parametrize("name", HELDOUT_SHIFTS)
def test_a_source_trained_logistic_regression_loses_accuracy_on_the_target(name):
    # Measured, seeds 0-2: breast cancer 0.13 / 0.14 / 0.07, diabetes 0.12 / 0.14 / 0.08,
    # wine 0.22 / 0.39 / 0.22, label and covariate 0.20 / 0.24 / 0.11, drift 0.37 / 0.09 / 0.13.
    drops = [source_to_target_drop(task(name, seed)) for seed in range(3)]
    assert np.mean(drops) > 0.08, drops


@pytest.mark.parametrize(
    ("name", "unshifted"), [("drift", {"angle": 0.0, "class_drift": 0.0}), ("label_and_covariate", {"strength": 0.0})]
)
def test_without_its_shift_a_gaussian_family_loses_little(name, unshifted):
    # Measured, seeds 0-2: -0.01 each (drift), 0.04 / 0.00 / -0.01 (the pure label shift left).
    drops = [source_to_target_drop(task(name, seed, **unshifted)) for seed in range(3)]
    assert np.mean(drops) < 0.04, drops


@pytest.mark.parametrize(
    ("name", "feature", "kept"),
    [
        ("breast_cancer_by_feature", "mean symmetry", True),
        ("diabetes_by_feature", "s5", False),
        ("wine_by_feature", "malic_acid", True),
    ],
)
def test_real_data_domains_are_split_by_their_feature_and_a_classifier_tells_them_apart(name, feature, kept):
    splits = make_shift(name, seed=0)
    assert splits.split_feature == feature and splits.split_feature_kept is kept
    assert (feature in splits.feature_names) is kept
    other = make_shift(name, seed=0, drop_split_feature=kept)  # the other choice
    with_feature = splits if kept else other
    column = with_feature.feature_names.index(feature)
    source = np.concatenate([with_feature.source_train[0], with_feature.source_val[0]])[:, column]
    target = np.concatenate([with_feature.target_train[0], with_feature.target_test[0]])[:, column]
    assert source.max() <= splits.threshold < target.min()
    shift = task(name)
    x = np.concatenate([shift.x_source, shift.x_target])
    domain = np.r_[np.zeros(len(shift.x_source)), np.ones(len(shift.x_target))]
    # Measured: 0.95 (breast cancer), 0.86 (diabetes, without the split feature), 0.92 (wine); 0.5: no shift.
    assert cross_val_score(LogisticRegression(max_iter=5000), (x - x.mean(0)) / x.std(0), domain, cv=3).mean() > 0.75


def test_diabetes_labels_are_progression_above_its_median():
    from sklearn.datasets import load_diabetes

    splits = make_shift("diabetes_by_feature", seed=0, drop_split_feature=False)
    x = np.concatenate([getattr(splits, split)[0] for split in SPLITS])
    y = np.concatenate([getattr(splits, split)[1] for split in SPLITS])
    data = load_diabetes()
    rows = [int(np.flatnonzero((data.data == row).all(axis=1))[0]) for row in x]
    assert sorted(rows) == list(range(442))  # every patient once
    np.testing.assert_array_equal(y, data.target[rows] > np.median(data.target))
    assert splits.classes == ["low", "high"]


def test_label_and_covariate_moves_the_class_frequencies_and_the_inputs():
    proportions = [0.2, 0.3, 0.5]
    splits = make_shift("label_and_covariate", seed=1, target_proportions=proportions)
    for split, expected in [("source_train", [1 / 3] * 3), ("target_train", proportions), ("target_test", proportions)]:
        y = getattr(splits, split)[1]
        assert np.abs(np.bincount(y, minlength=3) - len(y) * np.array(expected)).max() <= 1, split
    # The covariate part: class 0's target rows sit elsewhere than its source rows (unit noise, 1000 rows).
    (x_source, y_source), (x_target, y_target) = splits.source_train, splits.target_train
    assert np.linalg.norm(x_source[y_source == 0].mean(0) - x_target[y_target == 0].mean(0)) > 1.0


def test_the_drift_turns_each_row_by_its_own_angle_and_moves_the_late_window_most():
    turned = _turned(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([np.pi / 2, np.pi]), np.eye(2))
    np.testing.assert_allclose(turned, [[0.0, 1.0], [-1.0, 0.0]], atol=1e-12)
    rows = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_allclose(
        np.linalg.norm(_turned(rows, np.arange(5.0), np.linalg.qr(rows.T @ rows)[0]), axis=1),
        np.linalg.norm(rows, axis=1),
    )
    splits = make_shift("drift", seed=0, n_samples=2000)
    means = splits.class_means
    for label in range(2):  # the source sits near the means at t = 0, the target far from them
        source = splits.source_train[0][splits.source_train[1] == label].mean(0)
        target = splits.target_train[0][splits.target_train[1] == label].mean(0)
        assert np.linalg.norm(source - means[label]) < 0.5 < np.linalg.norm(target - means[label])


@pytest.mark.parametrize(
    ("name", "options", "words"),
    [
        ("drift", {"window": 0.6}, ["window", "at most 0.5", "0.6"]),
        ("drift", {"angle": float("nan")}, ["angle", "nan"]),
        ("drift", {"class_drift": -1.0}, ["class_drift", "-1.0"]),
        ("label_and_covariate", {"target_proportions": [0.5, 0.5]}, ["target_proportions", "(3)"]),
        ("label_and_covariate", {"strength": -0.5}, ["strength", "-0.5"]),
        ("diabetes_by_feature", {"split_feature": "weight"}, ["split_feature", "'weight'", "'s5'"]),
        ("wine_by_feature", {"quantile": 0.0}, ["quantile", "got 0.0"]),
    ],
)
def test_bad_options_are_named(name, options, words):
    with pytest.raises(ConfigurationError) as error:
        make_shift(name, **options)
    assert all(word in str(error.value) for word in words), str(error.value)
