"""The slow half of tests/unit/test_export_raw_inputs.py: fits, subprocesses and whole runs."""

# ruff: noqa: F811 -- the fixtures are imported from the unit module and named as arguments

import shutil

import numpy as np
import pytest

from dann_lightning.export import export_model
from tests.unit.test_export_raw_inputs import (  # noqa: F401 (fixtures among them)
    export_checkpoint,
    image_run,
    onnx_session,
    run_recipe,
    softmax,
    tabular_run,
)


def test_onnx_runtime_on_raw_rows_gives_the_module_probabilities(tabular_run, tmp_path):
    pytest.importorskip("onnxscript", reason="optional (pip install 'dann_lightning[onnx]')")
    metadata = export_checkpoint(tabular_run, tmp_path, "onnx")
    session = onnx_session(tmp_path / metadata["files"]["onnx"])
    for rows in (slice(0, 1), slice(0, 5), slice(None)):  # the batch dimension is free
        (logits,) = session.run([metadata["onnx_output"]], {metadata["onnx_input"]: tabular_run["raw"][rows]})
        np.testing.assert_allclose(softmax(logits), tabular_run["probabilities"][rows], rtol=0, atol=1e-5)


def test_onnx_runtime_on_raw_images_gives_the_module_probabilities(image_run, tmp_path):
    pytest.importorskip("onnxscript", reason="optional (pip install 'dann_lightning[onnx]')")
    export_model(image_run["model"], tmp_path, datamodule=image_run["data"], formats=["onnx"])
    session = onnx_session(tmp_path / "model.onnx")
    (logits,) = session.run(["logits"], {"input": image_run["raw"].numpy()})
    np.testing.assert_allclose(softmax(logits), image_run["probabilities"], rtol=0, atol=1e-5)


def test_the_serving_recipe_for_tables(tabular_run, tmp_path, monkeypatch):
    pytest.importorskip("onnxscript", reason="optional (pip install 'dann_lightning[onnx]')")
    pytest.importorskip("onnxruntime", reason="optional (pip install 'dann_lightning[onnx]')")
    export_checkpoint(tabular_run, tmp_path / "deploy", "onnx")
    # The rows in another column order than the model's, with an extra column.
    columns = ["b", "id", "a", "c"]
    rows = [{"b": b, "id": i, "a": a, "c": c} for i, (c, a, b) in enumerate(tabular_run["raw"].tolist())]
    lines = [",".join(columns)] + [",".join(repr(float(row[name])) for name in columns) for row in rows]
    (tmp_path / "new_rows.csv").write_text("\n".join(lines) + "\n")
    served = run_recipe("serve.py", tmp_path, monkeypatch)
    np.testing.assert_allclose(served["probabilities"], tabular_run["probabilities"], rtol=0, atol=1e-5)
    assert served["predicted"] == [str(i) for i in tabular_run["probabilities"].argmax(axis=1)]


def test_the_serving_recipe_for_images(image_run, tmp_path, monkeypatch):
    pytest.importorskip("onnxscript", reason="optional (pip install 'dann_lightning[onnx]')")
    pytest.importorskip("onnxruntime", reason="optional (pip install 'dann_lightning[onnx]')")
    export_model(image_run["model"], tmp_path / "deploy", datamodule=image_run["data"], formats=["onnx"])
    first = sorted((image_run["root"] / "target" / "cat").iterdir())[0]  # the first target test image
    shutil.copy(first, tmp_path / "photo.jpg")  # PIL reads the format from the content
    served = run_recipe("serve_image.py", tmp_path, monkeypatch)
    np.testing.assert_allclose(softmax(served["logits"]), image_run["probabilities"][:1], rtol=0, atol=1e-5)
    assert served["predicted"] == ["cat", "dog"][int(image_run["probabilities"][0].argmax())]
