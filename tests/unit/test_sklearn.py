import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score

from dann_lightning.errors import ConfigurationError, DataError
from dann_lightning.sklearn import DANNClassifier

# Small and quick, yet enough steps to pass check_classifiers_train (accuracy > 0.83 on blobs).
QUICK = {"hidden_features": (16,), "discriminator_hidden_features": (16,), "lr": 0.03, "batch_size": 32}


class SelfTargetDANNClassifier(DANNClassifier):
    """What scikit-learn's checks can call: ``fit(X, y)`` with the source rows as the target too."""

    def fit(self, X, y):
        return super().fit(X, y, X_target=X)


# Expected failures of check_estimator: none. Every check passes, with X_target=X; see docs/sklearn.md.
EXPECTED_FAILED_CHECKS: dict[str, str] = {}


def shifted_blobs(n=120, shift=0.4, seed=0):
    """Two labelled classes named by strings, and an unlabelled target moved by ``shift``."""
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2 == 0, "cat", "dog")
    X = rng.normal(size=(n, 3)) * 0.5 + (y == "dog")[:, None] * 2.0
    X_target = rng.normal(size=(n, 3)) * 0.5 + (np.arange(n) % 2)[:, None] * 2.0 + shift
    return X, y, X_target


def test_numpy_in_numpy_out_with_any_labels():
    X, y, X_target = shifted_blobs()
    clf = DANNClassifier(**QUICK, max_epochs=4, random_state=0).fit(X, y, X_target=X_target)
    assert clf.classes_.tolist() == ["cat", "dog"]
    assert clf.n_features_in_ == 3
    predicted = clf.predict(X_target)
    proba = clf.predict_proba(X_target)
    features = clf.transform(X_target)
    assert isinstance(predicted, np.ndarray) and set(predicted) <= {"cat", "dog"}
    assert proba.shape == (len(X_target), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert (clf.classes_[proba.argmax(axis=1)] == predicted).all()
    assert features.shape == (len(X_target), 16) and features.dtype == np.float32
    assert clf.score(X, y) > 0.9  # well-separated classes
    # The learned attributes are what the model computes: the features feed the classifier.
    with torch.no_grad():
        logits = clf.module_.classifier(torch.from_numpy(features)).numpy()
    np.testing.assert_allclose(proba, torch.softmax(torch.from_numpy(logits).double(), 1).numpy(), atol=1e-6)


def test_standardizes_with_source_statistics_only():
    X, y, X_target = shifted_blobs(shift=5.0)
    clf = DANNClassifier(**QUICK, max_epochs=1, random_state=0).fit(X, y, X_target=X_target)
    np.testing.assert_allclose(clf.scaler_.mean.numpy(), X.mean(axis=0))  # a Standardizer: float64 statistics
    np.testing.assert_allclose(clf.scaler_.std.numpy(), X.std(axis=0))
    unscaled = DANNClassifier(**QUICK, max_epochs=1, random_state=0, standardize=False).fit(X, y, X_target=X_target)
    assert unscaled.scaler_ is None


def test_random_state_fixes_the_model_and_leaves_the_global_generator_alone():
    X, y, X_target = shifted_blobs()
    before = torch.random.get_rng_state()
    first = DANNClassifier(**QUICK, max_epochs=2, random_state=3).fit(X, y, X_target=X_target)
    assert torch.equal(torch.random.get_rng_state(), before)
    again = clone(first).fit(X, y, X_target=X_target)
    other = clone(first).set_params(random_state=4).fit(X, y, X_target=X_target)
    np.testing.assert_array_equal(first.predict_proba(X_target), again.predict_proba(X_target))
    assert not np.array_equal(first.predict_proba(X_target), other.predict_proba(X_target))


def test_works_inside_scikit_learn_tools():
    X, y, X_target = shifted_blobs()
    X_target = X_target[:90]  # a length of its own, so that cross_val_score does not split it with X
    estimator = DANNClassifier(**QUICK, max_epochs=2, random_state=0)
    scores = cross_val_score(estimator, X, y, cv=2, params={"X_target": X_target})
    assert scores.shape == (2,) and (scores > 0.8).all()


def test_fit_without_target_data_is_rejected():
    X, y, _ = shifted_blobs()
    with pytest.raises(
        DataError, match=r"needs the unlabelled target rows: call fit\(X, y, X_target=\.\.\.\).*\(n_target_samples, 3\)"
    ):
        DANNClassifier().fit(X, y)


def test_target_with_a_different_feature_width_is_rejected():
    X, y, X_target = shifted_blobs()
    with pytest.raises(DataError, match="X_target has 2 features per row but X has 3"):
        DANNClassifier().fit(X, y, X_target=X_target[:, :2])


@pytest.mark.parametrize(
    ("X_target", "message"),
    [
        (np.full((10, 3), np.nan), "X_target: Input X_target contains NaN"),
        (np.zeros((0, 3)), "X_target: Found array with 0 sample"),
        (np.zeros(3), "X_target: Expected 2D array"),
    ],
)
def test_bad_target_arrays_are_named(X_target, message):
    X, y, _ = shifted_blobs()
    with pytest.raises(DataError, match=message):
        DANNClassifier().fit(X, y, X_target=X_target)


def test_predict_before_fit_raises_not_fitted_error():
    X, _, _ = shifted_blobs()
    for method in ("predict", "predict_proba", "transform"):
        with pytest.raises(NotFittedError):
            getattr(DANNClassifier(), method)(X)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_features": ()}, "hidden_features must be a non-empty sequence of positive integers"),
        ({"hidden_features": (16, 0)}, r"hidden_features\[1\] must be an integer >= 1, got 0"),
        ({"discriminator_hidden_features": "16"}, "discriminator_hidden_features must be a sequence"),
        ({"activation": "swish"}, "unknown DANNClassifier activation 'swish'; valid: 'elu', 'gelu'"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"max_epochs": 2.5}, "max_epochs must be an integer >= 1, got 2.5"),
        ({"lr": -1.0}, "lr must be a finite number > 0, got -1.0"),
        ({"lambda_schedule": "linear"}, "unknown lambda_schedule 'linear'; valid: .*ganin"),
        ({"lambda_max": -1.0}, "lambda_max must be a finite number >= 0"),
        ({"lambda_max": "best"}, "lambda_max must be a number >= 0 or 'auto', got 'best'"),
        ({"lambda_max": "auto", "lambda_candidates": (0.3, 1.0)}, "lambda_candidates must include 0"),
        ({"lambda_max": "auto", "lambda_criterion": "vibes"}, "unknown lambda_criterion 'vibes'"),
        ({"validation_fraction": 1.0}, "validation_fraction must be a finite number > 0 and < 1, got 1.0"),
    ],
)
def test_bad_parameters_are_named_at_fit(params, message):
    X, y, X_target = shifted_blobs()
    clf = DANNClassifier(**{**QUICK, "max_epochs": 1, **params})  # __init__ stores, fit checks
    with pytest.raises(ConfigurationError, match=message):
        clf.fit(X, y, X_target=X_target)


def test_one_class_is_rejected():
    X, _, X_target = shifted_blobs()
    with pytest.raises(DataError, match=r"y holds only one class .*needs at least 2 classes"):
        DANNClassifier().fit(X, np.zeros(len(X)), X_target=X_target)


def test_export_writes_files_that_give_predict_proba_on_raw_rows(tmp_path):
    X, y, X_target = shifted_blobs(shift=3.0)  # far from standard: the folded standardisation matters
    clf = DANNClassifier(**QUICK, max_epochs=2, random_state=0).fit(X + 10.0, y, X_target=X_target + 10.0)
    raw = (X_target + 10.0).astype(np.float32)
    written = clf.export(tmp_path, formats=["pt2"])
    logits = torch.export.load(written["pt2"]).module()(torch.from_numpy(raw))
    proba = torch.softmax(logits.double(), dim=1).detach().numpy()
    assert np.abs(proba - clf.predict_proba(raw)).max() < 1e-5
    metadata = json.loads((tmp_path / "export.json").read_text())
    assert metadata["class_names"] == ["cat", "dog"] and metadata["estimator"] == "DANNClassifier"
    assert metadata["input_shape"] == [3] and metadata["preprocessing"]["kind"] == "standardize"
    np.testing.assert_allclose(metadata["preprocessing"]["mean"], (X + 10.0).mean(axis=0), rtol=1e-6)


def test_export_before_fit_raises_not_fitted_error(tmp_path):
    with pytest.raises(NotFittedError):
        DANNClassifier().export(tmp_path)
