"""The slow half of tests/unit/test_analysis.py: fits, subprocesses and whole runs."""

import json

import numpy as np
import pytest

from dann_lightning.analysis.report import analyze_checkpoints
from dann_lightning.cli import build_cli


def test_analyze_compares_checkpoints_written_by_the_cli(tmp_path):
    checkpoints, tested = [], []
    for lambda_max in ("0.0", "1.0"):
        cli = build_cli(
            [
                "fit",
                f"--model.init_args.lambda_max={lambda_max}",
                "--trainer.max_epochs=2",
                "--trainer.limit_val_batches=1",
                f"--trainer.default_root_dir={tmp_path}",
                "--trainer.enable_progress_bar=false",
            ]
        )
        checkpoints.append(cli.trainer.checkpoint_callback.last_model_path)
        tested.append(cli.trainer.test(cli.model, cli.datamodule, verbose=False)[0]["test/target_acc"])
    rows = analyze_checkpoints(checkpoints, tmp_path / "out", embedding="pca", pad_classifier="logistic")
    assert len(rows) == 2
    assert [row["target_test_acc"] for row in rows] == pytest.approx(tested)  # what `test` logs for each
    for row in rows:
        keys = ("source_val_acc", "target_val_acc", "target_test_acc", "pad_logistic", "entropy", "im", "snd", "dev")
        for key in keys:
            assert np.isfinite(row[key]), key
        assert "pad" not in row  # the SVM's name is not reused for another estimator
        assert (tmp_path / "out" / row["embedding"].split("/")[-1]).is_file()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())[1]["checkpoint"] == checkpoints[1]
    assert "PAD, logistic regression" in (tmp_path / "out" / "summary.md").read_text()


def test_analyze_reports_a_regression_model_in_the_units_it_logs(tmp_path):
    """A regression checkpoint: MAE / RMSE / R² and DEV as `validate` logs them (label units), no class scores."""
    cli = build_cli(
        [
            "fit",
            "--config",
            "regression_example",
            "--trainer.max_epochs=1",
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false",
        ]
    )
    checkpoint = cli.trainer.checkpoint_callback.last_model_path
    logged = cli.trainer.validate(cli.model, cli.datamodule, verbose=False)[0]
    (row,) = analyze_checkpoints([checkpoint], tmp_path / "out", embedding="pca")
    for name in ("source_mae", "target_mae", "target_rmse", "target_r2", "dev"):
        key = name if name == "dev" else name.replace("_", "_val_", 1)
        assert row[key] == pytest.approx(logged[f"val/{name}"], rel=1e-4), key
    test_rmse = cli.trainer.test(cli.model, cli.datamodule, verbose=False)[0]["test/target_rmse"]
    assert row["target_test_rmse"] == pytest.approx(test_rmse, rel=1e-4) and np.isfinite(row["pad"])
    assert not {"source_val_acc", "entropy", "im", "snd"} & set(row)
    assert "target test RMSE (oracle)" in (tmp_path / "out" / "summary.md").read_text()
