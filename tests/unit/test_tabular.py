"""Tabular data: files and arrays in, checked and standardised DANN datasets out; the embedded shift."""

import builtins
import gzip

import numpy as np
import pytest
import torch

from dann_lightning import DANNLitModule
from dann_lightning.data import TabularDataModule, TabularShiftDataModule, make_tabular_shift
from dann_lightning.errors import DANNError
from tests.conftest import make_trainer, tiny_networks


def write_csv(path, header, rows, delimiter=","):
    lines = [delimiter.join(header)] + [delimiter.join(str(cell) for cell in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def labelled_rows(n, offset=0.0, seed=0):
    """Rows ``id, a, b, label`` whose label is ``a > offset``."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(offset, 1.0, n), rng.normal(offset * 2, 3.0, n)
    return [[index, f"{a[index]:.4f}", f"{b[index]:.4f}", int(a[index] > offset)] for index in range(n)]


@pytest.fixture
def files(tmp_path):
    source = write_csv(tmp_path / "source.csv", ["a", "b", "label"], [row[1:] for row in labelled_rows(50)])
    target = write_csv(tmp_path / "target.csv", ["a", "b"], [row[1:3] for row in labelled_rows(40, 1.0, seed=1)])
    return source, target


def built(stage="fit", **kwargs):
    kwargs.setdefault("batch_size", 8)
    data = TabularDataModule(**kwargs)
    data.setup(stage)
    return data


def error(exception, **kwargs):
    with pytest.raises(exception) as info:
        built(**kwargs)
    return str(info.value)


# ------------------------------------------------------------------ reading


def test_csv_with_header_reads_every_row_and_splits_the_source(files):
    source, target = files
    data = built(source=source, target=target, val_fraction=0.2)
    assert data.feature_names == ["a", "b"]
    assert len(data.source_train) == 40 and len(data.source_val) == 10
    # Unlabelled target: every row trains, none validates, and the training split holds features only.
    assert len(data.target_train) == 40 and data.target_val is None
    assert len(data.target_train.tensors) == 1
    x, y = data.source_train.tensors
    assert x.dtype == torch.float32 and x.shape == (40, 2) and y.dtype == torch.long
    assert set(y.tolist()) == {0, 1}


def test_scaler_is_fitted_on_the_source_training_split_only(files):
    source, target = files
    data = built(source=source, target=target, val_fraction=0.2, seed=3)
    x_train = data.source_train.tensors[0]
    torch.testing.assert_close(x_train.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(x_train.std(0, correction=0), torch.ones(2), atol=1e-5, rtol=0)
    # The validation rows and the target are scaled with those statistics, not their own.
    assert data.source_val.tensors[0].mean(0).abs().max() > 1e-3
    raw_target = np.loadtxt(target, delimiter=",", skiprows=1)
    expected = (raw_target - data.scaler.mean.numpy()) / data.scaler.std.numpy()
    np.testing.assert_allclose(data.target_train.tensors[0].numpy(), expected, atol=1e-5)
    assert data.target_train.tensors[0].mean(0).min() > 0.5  # shifted target stays shifted


def test_split_follows_the_seed(files):
    source, target = files
    first, again, other = (built(source=source, target=target, seed=seed) for seed in (1, 1, 2))
    assert torch.equal(first.source_val.tensors[0], again.source_val.tensors[0])
    assert not torch.equal(first.source_val.tensors[0], other.source_val.tensors[0])


def test_labelled_target_holds_out_an_oracle_split_and_tests_on_every_row(tmp_path, files):
    source, _ = files
    target = write_csv(tmp_path / "t.csv", ["a", "b", "label"], [row[1:] for row in labelled_rows(40, 1.0)])
    data = built(source=source, target=target, val_fraction=0.25)
    data.setup("test")
    assert len(data.target_train) == 30 and len(data.target_train.tensors) == 1  # labels never train
    assert len(data.target_val) == 10 and len(data.target_val.tensors) == 2
    assert len(data.target_test) == 40
    assert data.target_test.tensors[1].tolist() == [row[3] for row in labelled_rows(40, 1.0)]


def test_unlabelled_target_predicts_every_row_but_cannot_test(files):
    source, target = files
    data = built("predict", source=source, target=target)
    assert len(data.target_test) == 40 and len(data.target_test.tensors) == 1
    message = error(ValueError, stage="test", source=source, target=target)
    assert "target file" in message and "target.csv" in message and "no labels" in message
    assert "target_test" in message


def test_an_empty_label_column_is_no_label_but_a_partial_one_is_an_error(tmp_path, files):
    source, _ = files
    target = write_csv(tmp_path / "t.csv", ["a", "b", "label"], [[index, index, ""] for index in range(20)])
    data = built(source=source, target=target)
    assert data.target_val is None and len(data.target_train) == 20
    partial = write_csv(tmp_path / "p.csv", ["a", "b", "label"], [[1, 2, 1], [3, 4, ""]])
    message = error(ValueError, source=source, target=partial)
    assert "target file" in message and "p.csv" in message and "line 3" in message and "a missing value" in message


def test_target_test_file_is_tested_on(tmp_path, files):
    source, target = files
    test = write_csv(tmp_path / "test.csv", ["b", "label", "a"], [[2.0, 1, 5.0], [0.0, 0, -5.0]])
    data = built("test", source=source, target=target, target_test=test)
    assert data.target_test.tensors[1].tolist() == [1, 0]
    # Columns are matched by name: "a" first, as in the source, though the file lists "b" first.
    raw = torch.tensor([[5.0, 2.0], [-5.0, 0.0]], dtype=torch.float64)
    expected = ((raw - data.scaler.mean) / data.scaler.std).float()
    torch.testing.assert_close(data.target_test.tensors[0], expected)


def test_features_select_columns_in_order_and_ignore_the_rest(tmp_path):
    header = ["id", "city", "a", "b", "y"]
    rows = [[index, "paris", index, -index, index % 2] for index in range(20)]
    source = write_csv(tmp_path / "s.csv", header, rows)
    target = write_csv(tmp_path / "t.csv", ["b", "a", "id"], [[index, index, 0] for index in range(20)])
    data = built(source=source, target=target, label="y", features=["b", "a"], val_fraction=0.0)
    assert data.feature_names == ["b", "a"] and data.source_val is None
    torch.testing.assert_close(data.scaler.mean, torch.tensor([-9.5, 9.5], dtype=torch.float64))


def test_npz_reads_one_array_per_column_and_matrices_under_one_key(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "s.npz", x=rng.normal(size=(30, 3)), extra=rng.normal(size=30), y=np.arange(30) % 3)
    np.savez(tmp_path / "t.npz", x=rng.normal(size=(20, 3)), extra=rng.normal(size=20))
    data = built(source=tmp_path / "s.npz", target=tmp_path / "t.npz", label="y", val_fraction=0.1)
    assert data.feature_names == ["x", "extra"]
    assert data.source_train.tensors[0].shape == (27, 4)
    assert set(data.source_train.tensors[1].tolist()) <= {0, 1, 2}


def test_tsv_and_gzip_files_are_read(tmp_path):
    rows = [[index, index % 2] for index in range(20)]
    source = write_csv(tmp_path / "s.tsv", ["a", "label"], rows, delimiter="\t")
    target = tmp_path / "t.csv.gz"
    with gzip.open(target, "wt") as handle:
        handle.write("a\n" + "\n".join(str(index * 2) for index in range(20)) + "\n")
    data = built(source=source, target=target)
    assert len(data.target_train) == 20 and data.source_train.tensors[0].shape[1] == 1


def test_arrays_and_column_mappings(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    data = built(source=(x, y), target=rng.normal(size=(30, 3)))
    assert len(data.source_train) == 32 and len(data.target_train) == 30
    # Arrays stay out of the hyperparameters (and the checkpoint); file names go in.
    assert "source" not in data.hparams and data.hparams["val_fraction"] == 0.2

    columns = {"a": x[:, 0], "b": x[:, 1], "label": y}
    data = built(source=columns, target={"b": x[:, 1], "a": x[:, 0]}, val_fraction=0.0)
    assert data.feature_names == ["a", "b"]
    np.testing.assert_allclose(data.source_train.tensors[0].numpy(), data.target_train.tensors[0].numpy())


def test_file_names_are_saved_as_strings(files):
    source, target = files
    data = built(source=source, target=target)
    assert data.hparams["source"] == str(source) and isinstance(data.hparams["target"], str)


@pytest.mark.skipif(
    not __import__("importlib").util.find_spec("pyarrow"), reason="reading Parquet needs pyarrow, not installed"
)
def test_parquet_is_read_when_pyarrow_is_installed(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"a": [float(i) for i in range(20)], "label": [i % 2 for i in range(20)]}), tmp_path / "s.parquet"
    )
    pq.write_table(pa.table({"a": [float(i) for i in range(20)]}), tmp_path / "t.parquet")
    data = built(source=tmp_path / "s.parquet", target=tmp_path / "t.parquet")
    assert data.feature_names == ["a"] and len(data.target_train) == 20


def test_parquet_without_pyarrow_names_the_package(tmp_path, monkeypatch, files):
    _, target = files
    (tmp_path / "s.parquet").write_bytes(b"PAR1")
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    message = error(ImportError, source=tmp_path / "s.parquet", target=target)
    assert "pyarrow" in message and "pip install pyarrow" in message and "s.parquet" in message


# ------------------------------------------------------------------ bad input


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(20))


@pytest.mark.parametrize(
    ("source_text", "target_text", "kwargs", "expected"),
    [
        (GOOD, "a,c\n1,2\n", {}, ["source file", "target file", "only in target: ['c']", "only in source: ['b']"]),
        (GOOD, "a,b\n1,2\n", {"label": "class"}, ["source file", "no label column 'class'", "'a', 'b', 'label'"]),
        (GOOD, "a\n1\n", {"features": ["a", "b"]}, ["target file", "lacks the feature column(s) ['b']"]),
        ("", "a,b\n1,2\n", {}, ["source file", "is empty", "header"]),
        ("a,b,label\n\n", "a,b\n1,2\n", {}, ["source file", "has a header", "no data lines"]),
        (GOOD, "a,b\n1,2\n3,x\n", {}, ["target file", "line 3", "column 'b'", "'x' is not a number"]),
        (GOOD, "a,b\n1,2\n3,\n", {}, ["target file", "line 3", "column 'b'", "a missing value"]),
        (GOOD, "a,b\n1,2\nnan,4\n5,inf\n", {}, ["target file", "line 3", "column 'a'", "a missing value"]),
        (GOOD, "a,b\n1,2\n5,inf\n", {}, ["target file", "line 3", "column 'b'", "inf"]),
        (GOOD, "a,b\n1,2\n3\n", {}, ["target file", "line 3 has 1 fields, the header has 2"]),
        (GOOD, "a,a\n1,2\n", {}, ["target file", "names column(s) ['a'] more than once"]),
        (
            GOOD,
            "a,b,label\n1,2,dog\n",
            {"val_fraction": 0.0},
            ["target file", "line 2", "label 'dog' is not one of the classes ['0', '1']"],
        ),
        ("a,b,label\n1,2,0.5\n", "a,b\n1,2\n", {}, ["source file", "line 2", "label column 'label'", "0.5"]),
        ("a,b,label\n1,2,\n", "a,b\n1,2\n", {}, ["source file", "line 2", "label", "a missing value"]),
    ],
    ids=[
        "different-feature-columns",
        "missing-label-column",
        "missing-feature-column",
        "empty-file",
        "header-only",
        "not-a-number-cell",
        "empty-cell",
        "nan-cell",
        "inf-cell",
        "short-line",
        "duplicate-column",
        "label-of-no-source-class",
        "fractional-label",
        "missing-label",
    ],
)
def test_bad_tables_name_the_file_and_the_column_or_line(tmp_path, source_text, target_text, kwargs, expected):
    source = write(tmp_path, "src.csv", source_text)
    target = write(tmp_path, "tgt.csv", target_text)
    message = error(ValueError, source=source, target=target, **kwargs)
    for part in expected:
        assert part in message, message
    named = "src.csv" if "source file" in expected[0] else "tgt.csv"
    assert named in message


def test_categorical_columns_are_rejected_all_at_once(tmp_path, files):
    _, target = files
    rows = [[i, "red" if i % 2 else "blue", i, "x", i % 2] for i in range(10)]
    source = write_csv(tmp_path / "s.csv", ["a", "colour", "b", "shop", "label"], rows)
    message = error(ValueError, source=source, target=target, features=["a", "colour", "b", "shop"])
    assert "s.csv" in message and "categorical" in message and "['colour', 'shop']" in message
    assert "one-hot" in message and "features" in message


def test_missing_file_names_the_argument_and_the_path(tmp_path, files):
    source, _ = files
    message = error(FileNotFoundError, source=source, target=tmp_path / "nowhere.csv")
    assert "target file" in message and "nowhere.csv" in message and "does not exist" in message
    message = error(ValueError, source=source, target=write(tmp_path, "t.xlsx", "a"))
    assert "t.xlsx" in message and "'.xlsx'" in message and ".csv" in message and ".npz" in message


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        ({"target": np.zeros((5, 2))}, "source arrays (x, y) has 3 feature values per row, target array has 2"),
        ({"source": np.zeros((10, 3))}, "source array has no labels: give labelled data as an (x, y) pair"),
        ({"source": (np.zeros((10, 3)), np.zeros(9))}, "columns differ in length (rows): {'x': 10, 'y': 9}"),
        ({"target": np.array([["a", "b", "c"]] * 5)}, "target array has non-numeric (categorical) column(s) ['x']"),
        ({"source": ({"x": np.zeros((10, 3))}, np.zeros(10))}, "source arrays (x, y): 'x' must have shape"),
        ({"target": np.full((5, 3), np.nan)}, "target array row 0 (counting from 0), column 'x[0]'"),
    ],
)
def test_bad_arrays_name_the_array(arrays, expected):
    kwargs = {"source": (np.zeros((10, 3)), np.arange(10) % 2), "target": np.zeros((5, 3)), **arrays}
    assert expected in error((ValueError, TypeError), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"val_fraction": 1.0}, "val_fraction must be a finite number >= 0 and < 1, got 1.0"),
        ({"label": ""}, "label must be a non-empty column name"),
        ({"features": "a"}, "features must be a list of column names, got 'a'"),
        ({"features": ["a", "a"]}, "features names ['a'] more than once"),
        ({"target": None}, "target is required"),
    ],
)
def test_arguments_are_checked_at_construction(files, kwargs, expected):
    source, target = files
    with pytest.raises(DANNError) as info:
        TabularDataModule(**{"source": source, "target": target, **kwargs})
    assert expected in str(info.value)


def test_val_fraction_that_leaves_no_training_row(tmp_path, files):
    _, target = files
    source = write_csv(tmp_path / "s.csv", ["a", "b", "label"], [[1, 2, 0]])
    message = error(ValueError, source=source, target=target, val_fraction=0.5)
    assert "s.csv" in message and "1 row(s)" in message and "val_fraction=0.5" in message


# ------------------------------------------------------------------ checkpoints


def test_state_dict_restores_the_training_scaling_and_checks_the_columns(tmp_path, files):
    source, target = files
    trained = built(source=source, target=target)
    other_source = write_csv(tmp_path / "s2.csv", ["a", "b", "label"], [row[1:] for row in labelled_rows(50, 5.0)])
    evaluated = built(source=other_source, target=target)  # would fit other statistics
    evaluated.load_state_dict(trained.state_dict())
    torch.testing.assert_close(evaluated.target_train.tensors[0], trained.target_train.tensors[0])

    renamed = write_csv(tmp_path / "r.csv", ["a", "c", "label"], [[1, 2, 0]] * 20)
    other = built(source=renamed, target=write_csv(tmp_path / "rt.csv", ["a", "c"], [[1, 2]] * 20))
    with pytest.raises(DANNError, match=r"trained on the feature columns \['a', 'b'\].*\['a', 'c'\]"):
        other.load_state_dict(trained.state_dict())


@pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")
def test_fit_then_test_from_the_checkpoint_uses_the_training_scaler(tmp_path, files):
    source, target = files
    test_file = write_csv(tmp_path / "test.csv", ["a", "b", "label"], [row[1:] for row in labelled_rows(16, 1.0)])
    model = DANNLitModule(**tiny_networks(in_features=2), num_classes=2)
    trainer = make_trainer(tmp_path, max_epochs=1, enable_checkpointing=True)
    data = TabularDataModule(source, target, test_file, batch_size=8)
    trainer.fit(model, data)
    checkpoint = torch.load(trainer.checkpoint_callback.best_model_path, weights_only=True)
    (state,) = [value for key, value in checkpoint.items() if key == "TabularDataModule"]
    assert state["features"] == ["a", "b"]
    torch.testing.assert_close(state["scaler"]["mean"], data.scaler.mean)

    # A data module on other source rows: testing from the checkpoint scales as training did.
    other_source = write_csv(tmp_path / "s2.csv", ["a", "b", "label"], [row[1:] for row in labelled_rows(50, 5.0)])
    fresh = TabularDataModule(other_source, target, test_file, batch_size=8)
    make_trainer(tmp_path).test(model, fresh, ckpt_path=trainer.checkpoint_callback.best_model_path, verbose=False)
    torch.testing.assert_close(fresh.target_test.tensors[0], data.target_test.tensors[0])


# ------------------------------------------------------------------ the embedded shift


def test_target_is_the_source_distribution_shifted():
    shift = make_tabular_shift(n_samples=20000, n_val=10, n_test=10, seed=0)
    (x_s, y_s), (x_t, y_t) = shift.source_train, shift.target_train
    # Undo the shift: independent draws of one distribution, so class means agree ...
    undone = ((x_t - shift.offset) / shift.scale) @ shift.rotation
    for label in (0, 1):
        source_mean = x_s[y_s == label].mean(0)
        spread = x_s.std(0)
        np.testing.assert_array_less(np.abs(undone[y_t == label].mean(0) - source_mean) / spread, 0.05)
        # ... and as drawn, shifted, they do not.
        assert (np.abs(x_t[y_t == label].mean(0) - source_mean) / spread).max() > 1.0
    assert shift.rotation.shape == (20, 20)
    np.testing.assert_allclose(shift.rotation @ shift.rotation.T, np.eye(20), atol=1e-10)
    assert (np.abs(shift.rotation - np.eye(20)).sum(1) > 1e-6).sum() == 10  # half of the features rotate


def test_strength_zero_is_no_shift_and_strength_scales_it():
    none = make_tabular_shift(n_samples=50, n_val=5, n_test=5, strength=0.0)
    np.testing.assert_allclose(none.to_target(none.source_train[0]), none.source_train[0])
    mild, strong = (make_tabular_shift(n_samples=50, n_val=5, n_test=5, strength=s) for s in (0.5, 1.0))
    np.testing.assert_allclose(strong.offset, 2 * mild.offset)
    np.testing.assert_allclose(np.log(strong.scale), 2 * np.log(mild.scale))


def test_shift_data_module_is_seeded_and_keeps_target_labels_out_of_training():
    first, again, other = (TabularShiftDataModule(n_samples=100, n_val=20, n_test=30, seed=s) for s in (1, 1, 2))
    for data in (first, again, other):
        data.setup("fit")
        data.setup("test")
    assert torch.equal(first.target_test.tensors[0], again.target_test.tensors[0])
    assert not torch.equal(first.source_train.tensors[0], other.source_train.tensors[0])
    assert len(first.target_train.tensors) == 1 and len(first.target_test) == 30
    assert first.feature_names == [f"x{i}" for i in range(20)]
    torch.testing.assert_close(first.source_train.tensors[0].mean(0), torch.zeros(20), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"n_features": 3}, "n_features must be an integer >= 4, got 3"),
        ({"strength": -1.0}, "strength must be a finite number >= 0, got -1.0"),
        ({"n_samples": 0}, "n_samples must be an integer >= 1, got 0"),
    ],
)
def test_shift_arguments_are_checked(kwargs, expected):
    with pytest.raises(DANNError, match="TabularShiftDataModule " + expected.replace("(", r"\(")):
        TabularShiftDataModule(**kwargs)
