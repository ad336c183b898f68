"""The slow half of tests/unit/test_export.py: fits, subprocesses and whole runs."""

# ruff: noqa: F811 -- the fixtures are imported from the unit module and named as arguments

from pathlib import Path

import numpy as np
import torch

from dann_lightning.cli import build_cli
from tests.unit.test_export import QUICK, module_logits, run  # noqa: F401 (fixtures among them)


def test_predict_writes_predictions_into_the_run_directory(run, tmp_path, capsys):
    cli = build_cli(["predict", f"--ckpt_path={run['ckpt']}", f"--trainer.default_root_dir={tmp_path}", *QUICK[2:]])
    path = Path(cli.trainer.log_dir) / "predictions.csv"
    assert f"predictions written to {path.resolve()}" in capsys.readouterr().out
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    assert path.read_text().splitlines()[0] == "index,prediction,prob_0,prob_1"
    logits = module_logits(run["ckpt"], run["x"])
    np.testing.assert_array_equal(table[:, 0], np.arange(len(run["x"])))  # one row per sample, in order
    np.testing.assert_array_equal(table[:, 1], logits.argmax(dim=1).numpy())
    np.testing.assert_allclose(table[:, 2:], torch.softmax(logits, dim=1).numpy(), atol=1e-7)
    assert (Path(cli.trainer.log_dir) / "config.yaml").is_file()  # next to the run's config


def test_a_writer_in_the_config_replaces_the_default(run, tmp_path, capsys):
    target = tmp_path / "out" / "mine.npz"
    cli = build_cli(
        [
            "predict",
            f"--ckpt_path={run['ckpt']}",
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.callbacks+=dann_lightning.callbacks.PredictionWriter",
            f"--trainer.callbacks.path={target}",
            *QUICK[2:],
        ]
    )
    assert not (Path(cli.trainer.log_dir) / "predictions.csv").exists()
    assert f"predictions written to {target.resolve()}" in capsys.readouterr().out
    arrays = np.load(target)
    logits = module_logits(run["ckpt"], run["x"])
    np.testing.assert_allclose(arrays["logits"], logits.numpy(), rtol=0, atol=0)
    np.testing.assert_array_equal(arrays["prediction"], logits.argmax(dim=1).numpy())
    np.testing.assert_allclose(arrays["probabilities"].sum(axis=1), 1.0, atol=1e-6)
