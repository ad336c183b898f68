"""The slow half of tests/unit/test_sklearn_regressor.py: fits, subprocesses and whole runs."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from dann_lightning.sklearn import DANNRegressor
from tests.unit.test_sklearn_regressor import QUICK, SelfTargetDANNRegressor, shifted_rows


@parametrize_with_checks([SelfTargetDANNRegressor(**QUICK, max_epochs=5)], expected_failed_checks=lambda e: {})
def test_scikit_learn_conformance(estimator, check):
    check(estimator)


def test_predicts_in_the_units_of_y_and_scores_r2():
    X, y, X_target = shifted_rows()
    reg = DANNRegressor(**QUICK, max_epochs=30, lambda_max=0.1, random_state=0).fit(X, y, X_target=X_target)
    predicted = reg.predict(X)
    assert predicted.shape == (200,) and predicted.dtype == np.float64
    assert abs(predicted.mean() - y.mean()) < 2  # in y's units (mean 46), not standardised
    r2 = 1 - ((predicted - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert reg.score(X, y) == pytest.approx(r2) and r2 > 0.8
    assert reg.y_mean_ == pytest.approx(y.mean()) and reg.y_std_ == pytest.approx(y.std())
    assert reg.transform(X[:4]).shape == (4, 16)
    assert reg.module_.hparams.task == "regression"
