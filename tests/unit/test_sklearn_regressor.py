"""DANNRegressor: the scikit-learn facade of DANNLitModule(task="regression"), sharing DANNClassifier's base."""

import importlib.util
import json

import numpy as np
import pytest
import torch
from sklearn.base import clone

from dann_lightning.errors import ConfigurationError, DataError
from dann_lightning.sklearn import DANNClassifier, DANNRegressor, _DANNEstimator

QUICK = {"hidden_features": (16,), "discriminator_hidden_features": (16,), "lr": 0.03, "batch_size": 32}


class SelfTargetDANNRegressor(DANNRegressor):
    """What scikit-learn's checks can call: ``fit(X, y)`` with the source rows as the target too."""

    def fit(self, X, y):
        return super().fit(X, y, X_target=X)


def shifted_rows(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = 50 + 10 * X[:, 0] - 4 * X[:, 1] ** 2
    return X, y, rng.normal(size=(n, 3)) + np.array([0.5, 0.0, 0.0])


def test_shares_the_classifier_base_and_parameters():
    assert issubclass(DANNRegressor, _DANNEstimator) and issubclass(DANNClassifier, _DANNEstimator)
    assert DANNRegressor().get_params() == DANNClassifier().get_params()
    assert clone(DANNRegressor(max_epochs=3)).max_epochs == 3


def test_same_random_state_same_model():
    X, y, X_target = shifted_rows()
    first = DANNRegressor(**QUICK, max_epochs=2, random_state=3).fit(X, y, X_target=X_target).predict(X)
    second = DANNRegressor(**QUICK, max_epochs=2, random_state=3).fit(X, y, X_target=X_target).predict(X)
    np.testing.assert_array_equal(first, second)


def test_without_standardize_targets_are_used_as_given():
    X, y, X_target = shifted_rows()
    reg = DANNRegressor(**QUICK, max_epochs=1, standardize=False, random_state=0).fit(X, y, X_target=X_target)
    assert (reg.y_mean_, reg.y_std_) == (0.0, 1.0)


def test_bad_input_is_named():
    X, y, X_target = shifted_rows()
    with pytest.raises(DataError, match="needs the unlabelled target rows"):
        DANNRegressor().fit(X, y)
    with pytest.raises(ValueError, match="y"):
        DANNRegressor().fit(X, np.where(np.arange(len(y)) == 3, np.nan, y), X_target=X_target)
    with pytest.raises(ConfigurationError, match=r"lambda_criterion='consistency'.*'dev'"):
        DANNRegressor(**QUICK, max_epochs=1, lambda_max="auto", lambda_criterion="consistency").fit(
            X, y, X_target=X_target
        )


def test_huber_loss_is_passed_to_the_module_and_trains_another_model():
    X, y, X_target = shifted_rows()
    mse = DANNRegressor(**QUICK, max_epochs=2, random_state=0).fit(X, y, X_target=X_target)
    huber = DANNRegressor(**QUICK, max_epochs=2, loss="huber", random_state=0).fit(X, y, X_target=X_target)
    assert (mse.module_.hparams.loss, huber.module_.hparams.loss) == (None, "huber")
    assert not np.allclose(mse.predict(X), huber.predict(X))


@pytest.mark.bad_input
def test_a_loss_of_the_other_task_is_named():
    X, y, X_target = shifted_rows()
    with pytest.raises(ConfigurationError, match=r"loss='cross_entropy' is not a regression loss.*'mse', 'huber'"):
        DANNRegressor(**QUICK, max_epochs=1, loss="cross_entropy").fit(X, y, X_target=X_target)
    with pytest.raises(ConfigurationError, match=r"loss='huber' is not a classification loss.*'cross_entropy'"):
        DANNClassifier(**QUICK, max_epochs=1, loss="huber").fit(X, y > 46, X_target=X_target)


def test_each_estimator_resolves_its_own_lambda_defaults():
    """None (the parameter's default) is 0.03 / iwa for the classifier, 0.1 / its own criterion for the regressor."""
    X, y, X_target = shifted_rows()
    reg = DANNRegressor(**QUICK, max_epochs=1, random_state=0).fit(X, y, X_target=X_target)
    assert reg.lambda_max is None and reg.lambda_max_ == 0.1 and reg.module_.hparams.lambda_max == 0.1
    clf = DANNClassifier(**QUICK, max_epochs=1, random_state=0).fit(X, y > 46, X_target=X_target)
    assert clf.lambda_max_ == 0.03 and clf.module_.hparams.lambda_criterion == "iwa"
    auto = DANNRegressor(**QUICK, max_epochs=2, lambda_max="auto", random_state=0).fit(X, y, X_target=X_target)
    assert auto.module_.hparams.lambda_criterion == "iwa"
    assert auto.lambda_max_ in (0.0, 0.1, 0.3, 1.0)
    assert set(auto.lambda_scores_) == {0.0, 0.1, 0.3, 1.0}


@pytest.mark.parametrize("standardize", [True, False])
def test_export_writes_files_that_give_predict_in_the_units_of_y(tmp_path, standardize):
    X, y, X_target = shifted_rows()
    reg = DANNRegressor(**QUICK, max_epochs=2, standardize=standardize, random_state=0).fit(X, y, X_target=X_target)
    raw = X_target.astype(np.float32)
    formats = ["pt2", "onnx"] if importlib.util.find_spec("onnxruntime") and standardize else ["pt2"]
    written = reg.export(tmp_path, formats=formats)
    exported = torch.export.load(written["pt2"]).module()(torch.from_numpy(raw))[:, 0].detach().numpy()
    # 1e-5 on the network's own (standardised) scale: in y's units (~50) float32 alone rounds by 4e-6.
    assert np.abs(exported - reg.predict(raw)).max() < 1e-5 * reg.y_std_
    metadata = json.loads((tmp_path / "export.json").read_text())
    assert metadata["task"] == "regression" and "class_names" not in metadata
    if standardize:
        assert metadata["postprocessing"]["mean"] == pytest.approx(y.mean())
        assert metadata["preprocessing"]["kind"] == "standardize"
    else:
        assert metadata["postprocessing"] is None and metadata["preprocessing"] is None
    if "onnx" in written:
        import onnxruntime

        (outputs,) = onnxruntime.InferenceSession(str(written["onnx"])).run(None, {"input": raw})
        assert np.abs(outputs[:, 0] - reg.predict(raw)).max() < 1e-5 * reg.y_std_
