"""The slow half of tests/unit/test_regression.py: fits, subprocesses and whole runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import REPO
from tests.unit.test_regression import quiet_trainer, regression_module, regression_tables


def test_tabular_regression_standardises_targets_and_predicts_in_original_units(tmp_path):
    from dann_lightning.callbacks import PredictionWriter
    from dann_lightning.data import TabularDataModule

    source, target = regression_tables(tmp_path)
    data = TabularDataModule(source, target, label="value", id="id", task="regression", batch_size=16)
    data.setup("fit")
    assert data.classes is None and data.num_classes is None
    y = data.source_train.tensors[1]
    assert y.dtype == torch.float32 and abs(float(y.mean())) < 1e-5 and float(y.std()) == pytest.approx(1, abs=0.02)
    state = data.state_dict()
    assert state["target_mean"] == pytest.approx(100, abs=3) and state["target_std"] > 5

    model = regression_module(width=2, lambda_max=0.0)
    writer = PredictionWriter(tmp_path / "predictions.csv")
    trainer = quiet_trainer(max_epochs=20, callbacks=[writer])
    trainer.fit(model, datamodule=data)
    # Metrics in the file's units: an error of a few units, not a fraction of one standard deviation.
    assert 0.1 < float(trainer.callback_metrics["val/source_rmse"]) < 11
    trainer.predict(model, datamodule=data)
    lines = (tmp_path / "predictions.csv").read_text().splitlines()
    assert lines[0] == "id,prediction"
    predictions = np.array([float(line.split(",")[1]) for line in lines[1:]])
    assert len(predictions) == 80 and 80 < predictions.mean() < 120  # undone: mean 100, not 0

    # A data module restored from the state dict scales as training did, even on other rows.
    other = TabularDataModule(source, target, label="value", id="id", task="regression")
    other.load_state_dict({**state, "target_mean": 0.0, "target_std": 2.0})
    other.setup("fit")
    torch.testing.assert_close(other.unscale_targets(torch.tensor([1.0])), torch.tensor([2.0]))


def test_cli_predict_and_export_give_numbers_in_the_labels_units(tmp_path, monkeypatch):
    import json
    import shutil

    from dann_lightning.cli import build_cli
    from dann_lightning.export import default_formats, export_model, load_for_export

    repo = REPO
    shutil.copytree(repo / "examples" / "regression", tmp_path / "examples" / "regression")
    monkeypatch.chdir(tmp_path)
    quick = ["--trainer.max_epochs=2", "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path}"]
    cli = build_cli(["fit", "--config", "regression_files", *quick])
    checkpoint = cli.trainer.checkpoint_callback.last_model_path
    build_cli(["predict", f"--ckpt_path={checkpoint}", *quick[1:]])
    written = sorted(tmp_path.rglob("predictions.csv"))
    assert written, "predict wrote no predictions.csv"
    lines = written[0].read_text().splitlines()
    assert lines[0] == "id,prediction"
    predictions = np.array([float(line.split(",")[1]) for line in lines[1:]])

    model, datamodule = load_for_export(checkpoint)
    mean, std = datamodule.target_statistics
    assert abs(mean) > 0.05 or abs(std - 1) > 0.05  # the example's targets are not already standard
    files = export_model(model, tmp_path / "deploy", datamodule=datamodule, formats=default_formats())
    raw = np.loadtxt(tmp_path / "examples/regression/target_test.csv", delimiter=",", skiprows=1)[:, 1:-1]
    deployed = torch.export.load(files["pt2"]).module()
    exported = deployed(torch.as_tensor(raw, dtype=torch.float32))[:, 0].detach().numpy()
    np.testing.assert_allclose(exported, predictions, rtol=1e-4, atol=1e-4)  # predict reads target_test
    description = json.loads((tmp_path / "deploy" / "export.json").read_text())
    assert description["task"] == "regression" and "class_names" not in description
    folded = description["postprocessing"]
    assert folded["kind"] == "unstandardize_outputs"
    assert (folded["mean"], folded["std"]) == pytest.approx((mean, std), rel=1e-6)
    if "onnx" in files:  # where the onnx packages are installed
        onnxruntime = pytest.importorskip("onnxruntime")
        session = onnxruntime.InferenceSession(str(files["onnx"]))
        (onnx_out,) = session.run(None, {"input": raw.astype(np.float32)})
        np.testing.assert_allclose(onnx_out[:, 0], exported, rtol=1e-4, atol=1e-4)
