"""A user's own tables end to end: two CSV files with string labels and an id column -> fit with
no width edits -> predict new rows from the checkpoint alone -> export -> ONNX Runtime on raw rows."""

import csv

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from dann_lightning import DANNLitModule
from dann_lightning.data import DomainDataModule, TabularDataModule
from dann_lightning.errors import ConfigurationError, DataError
from dann_lightning.nets import MLP

FEATURES = [f"f{index}" for index in range(7)]
CLASSES = ["churned", "stayed"]


def write_table(path, n, *, shift, seed, labelled=True, order=None, extra=False):
    """Rows ``id, f0..f6[, label]``: the label is whether the (unshifted) first two features sum > 0."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 7))
    names = np.where(x[:, 0] + x[:, 1] > 0, CLASSES[1], CLASSES[0])
    raw = x * (1.0 + shift) + 3.0 * shift  # the target's sensors read scaled and offset
    columns = {"id": [f"user-{seed}-{row}" for row in range(n)]}
    columns.update({name: [f"{value:.6f}" for value in raw[:, index]] for index, name in enumerate(FEATURES)})
    if labelled:
        columns["label"] = list(names)
    if extra:
        columns["comment"] = ["n/a"] * n
    header = order or list(columns)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(zip(*(columns[name] for name in header), strict=True))
    return raw.astype(np.float32), names


def quick(root):
    return [
        f"--trainer.default_root_dir={root}",
        "--trainer.enable_progress_bar=false",
        "--trainer.max_epochs=3",
        "--trainer.check_val_every_n_epoch=1",
    ]


# ------------------------------------------------------------------ errors before any step


def fit_in_python(tmp_path, feature_extractor, **model_options):
    write_table(tmp_path / "source.csv", 100, shift=0.0, seed=0)
    write_table(tmp_path / "target.csv", 100, shift=0.5, seed=1, labelled=False)
    data = TabularDataModule(tmp_path / "source.csv", tmp_path / "target.csv", id="id", batch_size=16)
    model = DANNLitModule(feature_extractor, **model_options)
    trainer = L.Trainer(max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(model, data)
    return model, data, trainer


def test_a_network_of_another_input_width_is_named_before_the_first_step(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        fit_in_python(tmp_path, MLP(20, [16]))
    assert str(info.value) == (
        "the feature extractor (MLP) cannot take this data's inputs, of shape (7,) per sample: mat1 and mat2 shapes "
        "cannot be multiplied (2x7 and 20x16); set its in_features to 7, or leave in_features out to take it from "
        "the data"
    )


def test_a_number_of_classes_the_data_does_not_have_is_named_before_the_first_step(tmp_path):
    with pytest.raises(ConfigurationError) as info:
        fit_in_python(tmp_path, MLP(None, [16]), num_classes=3)
    assert str(info.value) == (
        "num_classes=3, but the data has 2 classes ['churned', 'stayed']: leave num_classes out to take it from "
        "the data, or name every class in the data module's classes"
    )


def test_widths_and_classes_come_from_the_data(tmp_path):
    model, data, trainer = fit_in_python(tmp_path, MLP(None, [16]))
    assert (model.num_classes, data.classes, data.feature_names) == (2, CLASSES, FEATURES)
    assert model.feature_extractor.layers[0].in_features == 7
    assert model.classifier.out_features == 2
    assert trainer.global_step == 1


def test_a_prediction_file_without_a_feature_column_is_named(tmp_path):
    model, data, trainer = fit_in_python(tmp_path, MLP(None, [16]))
    write_table(tmp_path / "new.csv", 5, shift=0.5, seed=2, order=["id", "f0", "f1", "f2", "f3", "f4", "f6"])
    data = TabularDataModule(tmp_path / "source.csv", tmp_path / "target.csv", predict=tmp_path / "new.csv", id="id")
    with pytest.raises(DataError) as info:
        trainer.predict(model, data)
    assert str(info.value) == (
        f"predict file {str(tmp_path / 'new.csv')!r} lacks the feature column(s) ['f5'] named in features; its "
        "columns are 'id', 'f0', 'f1', 'f2', 'f3', 'f4', 'f6'"
    )


def test_a_missing_feature_cell_is_named_unless_dropping_is_asked(tmp_path):
    source = tmp_path / "source.csv"
    write_table(source, 100, shift=0.0, seed=0)
    lines = source.read_text().splitlines()
    cells = lines[5].split(",")
    cells[3] = "nan"  # column f2 of the fifth data row (line 6)
    lines[5] = ",".join(cells)
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        TabularDataModule(source, source, id="id").setup("fit")
    assert str(info.value) == (
        f"source file {str(source)!r} line 6, column 'f2': a missing value (1 non-finite cell(s) in this column); "
        "every feature cell must be a finite number: fill those cells, or drop their rows (non_finite='drop')"
    )
    with pytest.warns(UserWarning, match=r"dropped 1 of 100 rows with a missing or non-finite feature cell"):
        data = TabularDataModule(source, source, id="id", non_finite="drop", val_fraction=0.0)
        data.setup("fit")
    assert len(data.source_train) == 99


def test_an_id_column_the_files_lack_is_named(tmp_path):
    source = tmp_path / "source.csv"
    write_table(source, 20, shift=0.0, seed=0, order=[*FEATURES, "label"])
    with pytest.raises(DataError) as info:
        TabularDataModule(source, source, id="customer").setup("fit")
    assert str(info.value) == (
        f"source file {str(source)!r} has no id column 'customer'; its columns are 'f0', 'f1', 'f2', 'f3', 'f4', "
        "'f5', 'f6', 'label'. Set id to the column that identifies each row, or to null if there is none."
    )


def test_a_nan_input_of_in_memory_data_is_named_before_training():
    x = torch.randn(64, 3)
    x[9, 2] = float("nan")
    data = DomainDataModule(TensorDataset(x, torch.zeros(64, dtype=torch.long)), TensorDataset(torch.randn(64, 3)))
    with pytest.raises(DataError) as info:
        data.setup("fit")
    assert str(info.value) == (
        "source_train holds NaN or infinite inputs in 1 sample(s), the first at index 9: every input must be a "
        "finite number; fill or drop those samples"
    )
