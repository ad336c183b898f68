"""The slow half of tests/unit/test_own_tables.py: fits, subprocesses and whole runs."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from dann_lightning.cli import cli_main
from tests.unit.test_own_tables import CLASSES, FEATURES, quick, write_table


def test_own_tables_in_three_commands(tmp_path, monkeypatch, capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    monkeypatch.chdir(tmp_path)
    train = tmp_path / "train"
    train.mkdir()
    write_table(train / "source.csv", 300, shift=0.0, seed=0)
    write_table(train / "target.csv", 300, shift=0.5, seed=1, labelled=False)

    # 1. fit: the packaged config, the user's files and label column; no width anywhere.
    data = ["--data.init_args.source=train/source.csv", "--data.init_args.target=train/target.csv"]
    cli_main(["fit", "--config", "tabular_files", *data, "--data.init_args.label=label", *quick(tmp_path)])
    checkpoint = next(tmp_path.glob("lightning_logs/version_0/checkpoints/last.ckpt"))
    shutil.rmtree(train)  # the training files are gone: predict and export need only the checkpoint

    # 2. predict new rows, columns shuffled and one extra, from the checkpoint alone.
    order = ["f3", "comment", "f0", "label", "f6", "id", "f1", "f5", "f2", "f4"]
    raw, names = write_table(tmp_path / "new.csv", 40, shift=0.5, seed=2, order=order, extra=True)
    capsys.readouterr()
    cli_main(["predict", f"--ckpt_path={checkpoint}", "--data.init_args.predict=new.csv", *quick(tmp_path)])
    written = capsys.readouterr().out.split("predictions written to ")[1].strip()
    with open(written) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "prediction", "prob_churned", "prob_stayed"]
    assert [row["id"] for row in rows] == [f"user-2-{row}" for row in range(40)]
    assert {row["prediction"] for row in rows} <= set(CLASSES)
    probabilities = np.array([[float(row["prob_churned"]), float(row["prob_stayed"])] for row in rows])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    accuracy = np.mean([row["prediction"] == name for row, name in zip(rows, names, strict=True)])
    assert accuracy > 0.6  # learned something, though three epochs are few

    # 3. export, then ONNX Runtime on the raw rows, in the order export.json names.
    cli_main(["export", f"--ckpt_path={checkpoint}", "--out=deploy", "--format", "onnx"])
    facts = json.loads((tmp_path / "deploy" / "export.json").read_text())
    assert facts["feature_names"] == FEATURES
    assert facts["class_names"] == CLASSES
    session = onnxruntime.InferenceSession(str(tmp_path / "deploy" / "model.onnx"))
    (logits,) = session.run(None, {session.get_inputs()[0].name: raw})
    exported = torch.softmax(torch.as_tensor(logits), dim=1).numpy()
    np.testing.assert_allclose(exported, probabilities, atol=1e-5)
