"""The offline image-folder config end to end: fit on PNG folders, predict a folder from the
checkpoint alone (predictions.csv by file path), export with the input contract."""

import csv
import json

from dann_lightning.cli import build_cli, cli_main
from tests.image_folders import write_digits_user_files


def test_offline_image_folder_config_fits_predicts_files_and_exports(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_digits_user_files(tmp_path)
    quiet = [f"--trainer.default_root_dir={tmp_path}", "--trainer.enable_progress_bar=false"]
    short = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=20", "--trainer.check_val_every_n_epoch=1"]
    fitted = build_cli(["fit", "--config", "image_folders_offline", *short, *quiet])
    checkpoint = fitted.trainer.checkpoint_callback.best_model_path
    assert fitted.trainer.callback_metrics["val/target_acc"] > 0.15  # ten classes: better than chance already

    test_folder = tmp_path / "data" / "digits_folders" / "target_test"
    predicted = build_cli(["predict", f"--ckpt_path={checkpoint}", f"--data.init_args.predict={test_folder}", *quiet])
    written = next(c.written for c in predicted.trainer.callbacks if hasattr(c, "written") and c.written)
    with open(written) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "prediction", *(f"prob_{digit}" for digit in range(10))]
    assert len(rows) == len(list(test_folder.rglob("*.png")))
    truth = [row["path"].split("/")[-2] for row in rows]
    accuracy = sum(row["prediction"] == label for row, label in zip(rows, truth, strict=True)) / len(rows)
    assert accuracy > 0.15

    cli_main(["export", "--ckpt_path", checkpoint, "--out", str(tmp_path / "export")])
    contract = json.loads((tmp_path / "export" / "export.json").read_text())
    assert contract["input_shape"] == [3, 28, 28] and contract["class_names"] == [str(d) for d in range(10)]
    assert "source normalisation is folded into the model" in contract["input"]
