"""The slow half of tests/unit/test_sklearn.py: fits, subprocesses and whole runs."""

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from dann_lightning.sklearn import DANNClassifier
from tests.unit.test_sklearn import EXPECTED_FAILED_CHECKS, QUICK, SelfTargetDANNClassifier, shifted_blobs


@parametrize_with_checks(
    [SelfTargetDANNClassifier(**QUICK, max_epochs=2)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_scikit_learn_conformance(estimator, check):
    check(estimator)


def test_the_exported_onnx_model_serves_predict_proba(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    X, y, X_target = shifted_blobs()
    clf = DANNClassifier(**QUICK, max_epochs=2, random_state=0).fit(X, y, X_target=X_target)
    written = clf.export(tmp_path, formats=["onnx"])
    raw = X_target.astype(np.float32)
    (logits,) = onnxruntime.InferenceSession(str(written["onnx"])).run(None, {"input": raw})
    proba = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    assert np.abs(proba - clf.predict_proba(raw)).max() < 1e-5
