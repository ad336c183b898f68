"""The shift suite: every task draws seeded, well-formed arrays, and its shift is the one it claims."""

from typing import get_args

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from dann_lightning.data import make_moons_shift, make_tabular_shift
from dann_lightning.data.shifts import SHIFT_TASKS, ShiftName, ShiftTask, make_shift
from dann_lightning.errors import ConfigurationError

NAMES = list(get_args(ShiftName))
SPLITS = ["source", "target", "source_val", "target_test"]


def arrays(task: ShiftTask) -> dict[str, np.ndarray]:
    return {f"{part}_{split}": getattr(task, f"{part}_{split}") for split in SPLITS for part in "xy"}


def source_to_target_drop(task: ShiftTask, model=None) -> float:
    """Source-val accuracy minus target-test accuracy of a model fitted on the (standardised) source."""
    mean, std = task.x_source.mean(axis=0), task.x_source.std(axis=0)
    model = model or LogisticRegression(max_iter=2000)
    model.fit((task.x_source - mean) / std, task.y_source)
    source = model.score((task.x_source_val - mean) / std, task.y_source_val)
    target = model.score((task.x_target_test - mean) / std, task.y_target_test)
    return source - target


def class_means_agree(x_a, y_a, x_b, y_b, num_classes, axes=None) -> bool:
    """Whether each class's feature means agree between two draws, within 5 standard errors (unit noise)."""
    for label in range(num_classes):
        a, b = x_a[y_a == label], x_b[y_b == label]
        if axes is not None:
            a, b = a[:, axes], b[:, axes]
        tolerance = 5 * np.sqrt(1 / len(a) + 1 / len(b))
        if np.abs(a.mean(axis=0) - b.mean(axis=0)).max() > tolerance:
            return False
    return True


def test_the_registry_holds_every_name_of_the_literal():
    assert list(SHIFT_TASKS) == NAMES
    assert all(callable(generator) for generator in SHIFT_TASKS.values())


@pytest.mark.parametrize("name", NAMES)
def test_every_task_builds_with_its_defaults(name):
    task = make_shift(name)
    assert task.name == name
    for split in SPLITS:
        x, y = getattr(task, f"x_{split}"), getattr(task, f"y_{split}")
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert x.ndim == 2 and x.shape == (len(y), task.in_features)
        assert np.isfinite(x).all()
        assert y.min() >= 0 and y.max() < task.num_classes
    # Every class is learnable from the source; CPU-sized; enough rows per domain for the default batch.
    assert set(np.unique(task.y_source)) == set(range(task.num_classes))
    assert 64 <= len(task.x_source) <= 2000 and 64 <= len(task.x_target) <= 2000
    assert len(task.x_source) + len(task.x_source_val) <= 2500
    assert len(task.x_target) + len(task.x_target_test) <= 3000
    # A generator called directly draws what make_shift draws.
    direct = SHIFT_TASKS[name](seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(arrays(task).values(), arrays(direct).values(), strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_draws_the_same_arrays_and_another_seed_others(name):
    first, again, other = make_shift(name, seed=3), make_shift(name, seed=3), make_shift(name, seed=4)
    for key, value in arrays(first).items():
        assert np.array_equal(value, arrays(again)[key]), key
    assert not np.array_equal(first.x_source, other.x_source)
    assert not np.array_equal(first.x_target_test, other.x_target_test)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("gaussian_covariate", {"kind": "translation"}),
        ("gaussian_covariate", {"kind": "rotation"}),
        ("gaussian_covariate", {"kind": "scaling"}),
        ("gaussian_class_conditional", {}),
        ("gaussian_subspace", {}),
        ("tabular", {}),
    ],
)
def test_a_source_trained_logistic_regression_loses_accuracy_on_the_target(name, options):
    # Measured at seed 0: 0.18 (translation), 0.14 (rotation), 0.13 (scaling), 0.18, 0.17, 0.18; and
    # 0.04 (Gaussians: a lucky source val draw) or -0.02 (tabular) for the same draws at strength 0.
    drop = source_to_target_drop(make_shift(name, seed=0, **options))
    unshifted = source_to_target_drop(make_shift(name, seed=0, **options, strength=0.0))
    assert drop > 0.05 and drop > unshifted + 0.05


def test_moons_and_tabular_are_the_built_in_shifts_at_the_same_seed():
    moons, moons_draw = make_shift("moons", seed=5), make_moons_shift(seed=5)
    np.testing.assert_array_equal(moons.x_target_test, moons_draw.target_test[0].astype(np.float32))
    np.testing.assert_array_equal(moons.y_source, moons_draw.source_train[1])
    tabular, tabular_draw = make_shift("tabular", seed=5), make_tabular_shift(seed=5)
    np.testing.assert_array_equal(tabular.x_target, tabular_draw.target_train[0].astype(np.float32))
    np.testing.assert_array_equal(tabular.y_source_val, tabular_draw.source_val[1])


def test_label_proportion_changes_the_class_frequencies_and_nothing_else():
    target_proportions, source_proportions = [0.1, 0.3, 0.6], [0.5, 0.25, 0.25]
    task = make_shift(
        "label_proportion", seed=2, target_proportions=target_proportions, source_proportions=source_proportions
    )
    expected = {"source": source_proportions, "source_val": source_proportions}
    expected |= {"target": target_proportions, "target_test": target_proportions}
    for split, proportions in expected.items():
        y = getattr(task, f"y_{split}")
        # Exact counts: off by at most one row per class from the requested proportions.
        assert np.abs(np.bincount(y, minlength=3) - len(y) * np.array(proportions)).max() <= 1
    x_source = np.concatenate([task.x_source, task.x_source_val])
    y_source = np.concatenate([task.y_source, task.y_source_val])
    x_target = np.concatenate([task.x_target, task.x_target_test])
    y_target = np.concatenate([task.y_target, task.y_target_test])
    assert class_means_agree(x_source, y_source, x_target, y_target, 3)
    # The check can fail: a class-conditional shift of a quarter spacing breaks it.
    moved = make_shift("gaussian_class_conditional", seed=2)
    assert not class_means_agree(moved.x_source, moved.y_source, moved.x_target, moved.y_target, 3)


def test_label_proportion_defaults_to_a_balanced_source_and_a_skewed_target():
    task = make_shift("label_proportion", seed=0)
    np.testing.assert_array_equal(np.bincount(task.y_source), [334, 333, 333])
    np.testing.assert_array_equal(np.bincount(task.y_target), [571, 286, 143])  # 4/7, 2/7, 1/7 of 1000


def test_the_subspace_shift_leaves_every_other_axis_alone():
    task = make_shift("gaussian_subspace", seed=1, dim=10, shifted_dims=3)
    shifted = task.details["shifted_axes"]
    others = np.setdiff1d(np.arange(10), shifted)
    assert len(shifted) == 3
    args = (task.x_source, task.y_source, task.x_target, task.y_target, 3)
    assert class_means_agree(*args, axes=others)
    assert not class_means_agree(*args, axes=shifted)


@pytest.mark.parametrize(("name", "feature"), [("breast_cancer", "mean texture"), ("wine", "magnesium")])
def test_real_data_domains_are_split_by_the_feature_without_overlap(name, feature):
    task = make_shift(name, seed=0)
    assert task.details["split_feature"] == feature
    column = task.details["feature_names"].index(feature)
    source = np.concatenate([task.x_source, task.x_source_val])[:, column]
    target = np.concatenate([task.x_target, task.x_target_test])[:, column]
    assert source.max() <= task.details["threshold"] < target.min()
    assert abs(len(source) - len(target)) <= 0.1 * (len(source) + len(target))  # about the median
    for y in (task.y_source, task.y_target, task.y_target_test):  # every class lives in both domains
        assert set(np.unique(y)) == set(range(task.num_classes))
    # Raw features: the data module standardises, not the generator (breast cancer areas reach 2500).
    assert np.abs(task.x_source).max() > 50

    dropped = make_shift(name, seed=0, drop_split_feature=True)
    assert dropped.in_features == task.in_features - 1 and feature not in dropped.details["feature_names"]
    np.testing.assert_array_equal(dropped.y_target, task.y_target)


@pytest.mark.parametrize("name", NAMES)
def test_the_datamodule_serves_standardised_batches_without_target_labels(name):
    task = make_shift(name, seed=0)
    data = task.datamodule(batch_size=32)
    data.setup("fit")
    batch, _, _ = next(iter(data.train_dataloader()))
    x_source, y_source = batch["source"]
    assert x_source.shape == (32, task.in_features) and y_source.shape == (32,)
    assert len(batch["target"]) == 1 and batch["target"][0].shape == (32, task.in_features)
    assert set(data.val_dataloader()) == {"source", "target"}  # target: the oracle, labelled
    assert len(data.target_val) == len(task.x_target)
    standardised = data.source_train.tensors[0]
    assert np.allclose(standardised.mean(dim=0).numpy(), 0, atol=1e-4)
    assert np.allclose(standardised.std(dim=0, unbiased=False).numpy(), 1, atol=1e-3)
    data.setup("test")
    x_test, y_test = next(iter(data.test_dataloader()["target"]))
    assert x_test.shape[1] == task.in_features and y_test.max() < task.num_classes
    raw = task.datamodule(standardize=False)
    np.testing.assert_array_equal(raw.source_train.tensors[0].numpy(), task.x_source)


@pytest.mark.parametrize(
    ("name", "options", "words"),
    [
        ("gaussian", {}, ["shift task", "'gaussian'", "'moons'", "'wine'"]),
        ("moons", {"radius": 3}, ["option", "'radius'", "'moons'", "'angle'"]),
        ("moons", {"angle": float("nan")}, ["angle", "nan"]),
        ("moons", {"angle": float("inf")}, ["angle", "inf"]),
        ("moons", {"noise": -0.1}, ["noise", "-0.1"]),
        ("gaussian_covariate", {"dim": 1}, ["dim", ">= 2", "got 1"]),
        ("gaussian_covariate", {"kind": "shear"}, ["kind", "'shear'", "'translation'", "'scaling'"]),
        ("gaussian_covariate", {"strength": -1.0}, ["strength", "-1.0"]),
        ("gaussian_class_conditional", {"num_classes": 1}, ["num_classes", "got 1"]),
        ("gaussian_class_conditional", {"n_samples": 0}, ["n_samples", "got 0"]),
        ("gaussian_subspace", {"shifted_dims": 11}, ["shifted_dims", "dim=10", "got 11"]),
        ("gaussian_subspace", {"kind": "rotation", "shifted_dims": 1}, ["shifted_dims", "rotation", "got 1"]),
        ("label_proportion", {"target_proportions": [0.5, 0.6, 0.1]}, ["target_proportions", "summing to 1"]),
        ("label_proportion", {"target_proportions": [0.5, 0.5]}, ["target_proportions", "(3)", "[0.5, 0.5]"]),
        ("label_proportion", {"source_proportions": "abc"}, ["source_proportions", "'abc'"]),
        ("label_proportion", {"target_proportions": [0.5, float("nan"), 0.5]}, ["target_proportions", "nan"]),
        ("wine", {"split_feature": "colour"}, ["split_feature", "'colour'", "'magnesium'"]),
        ("breast_cancer", {"quantile": 1.0}, ["quantile", "got 1.0"]),
        ("wine", {"quantile": 0.001}, ["quantile=0.001", "empty"]),
        ("wine", {"drop_split_feature": "yes"}, ["drop_split_feature", "'yes'"]),
        ("breast_cancer", {"val_fraction": 0.0}, ["val_fraction", "got 0.0"]),
        ("tabular", {"n_features": 3}, ["n_features", "got 3"]),
        ("gaussian_covariate", {"seed": -1}, ["seed", "got -1"]),
    ],
)
def test_bad_options_raise_configuration_errors_naming_the_option_and_value(name, options, words):
    with pytest.raises(ConfigurationError) as info:
        make_shift(name, **options)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_bad_datamodule_arguments_are_named():
    task = make_shift("wine")
    with pytest.raises(ConfigurationError, match=r"standardize.*'yes'"):
        task.datamodule(standardize="yes")
    with pytest.raises(ConfigurationError, match="batch_size"):
        task.datamodule(batch_size=0)


# sha256 (first 16 hex digits) of every array of a draw, taken from the generators and ShiftTask.datamodule
# before they moved to dann_lightning.datasets: the same seeds must keep giving these exact arrays.
DRAWS_BEFORE_THE_MOVE = {
    "moons": "9e172eae1bdc28a1",
    "moons7": "4234e1fa10d54257",
    "digits": "c8fcb471cccd6162",
    "reg_covariate": "c39e4356fb5f2891",
    "reg_sparse": "c354e5bbe3f1d614",
    "reg_diabetes_bmi": "dc5d1490e27ecc56",
    "tab": "1e4bbe5a59254d5a",
    "task_moons_0": "ca11105e4f8ba827",
    "task_gaussian_covariate_0": "57f6c99280cc5117",
    "task_gaussian_class_conditional_0": "13a80dd7f8832653",
    "task_gaussian_subspace_0": "1eb71a6227ac49f7",
    "task_label_proportion_0": "57ae5aad114ab58a",
    "task_breast_cancer_0": "11a93dc6abe50fb3",
    "task_wine_0": "149bafb04f8b3bf1",
    "task_tabular_0": "f05daaa1a342a370",
    "dm_moons": "a56e1504c89372dc",
    "dm_gaussian_covariate": "28b80fe3706f9af3",
    "dm_gaussian_class_conditional": "042d060e65ebf4e8",
    "dm_gaussian_subspace": "0e852e235b04ef62",
    "dm_label_proportion": "ee8570c242027413",
    "dm_breast_cancer": "1f9d8b585ac0ec8b",
    "dm_wine": "f15e6ddf03c2b63f",
    "dm_tabular": "2787f317311c900c",
}


def digest(*arrays) -> str:
    import hashlib

    hashed = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        hashed.update(str(array.dtype).encode())
        hashed.update(str(array.shape).encode())
        hashed.update(array.tobytes())
    return hashed.hexdigest()[:16]


def every_array(splits) -> list:
    pairs = [splits.source_train, splits.source_val, splits.target_train, splits.target_val, splits.target_test]
    return [array for pair in pairs if pair is not None for array in pair]


def diabetes_as_recorded() -> bool:
    """Whether scikit-learn's diabetes data is the copy the digests were recorded with (1.9)."""
    import hashlib

    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    raw = np.ascontiguousarray(data.data).tobytes() + np.ascontiguousarray(data.target).tobytes()
    return hashlib.sha256(raw).hexdigest() == "84ec38030d0ff6dfdc32f475c5633e39e7ada9dbc328d3deb29bb757eec6a331"


def test_the_generators_draw_the_arrays_they_drew_before_moving_to_datasets():
    from dann_lightning import datasets

    draws = {
        "moons": datasets.make_moons_shift(seed=0),
        "moons7": datasets.make_moons_shift(200, 0.2, 50.0, 30, 40, seed=7),
        "digits": datasets.make_digits_shift(16, seed=0),
        "tab": datasets.make_tabular_shift(seed=0),
        **{
            f"reg_{kind}": datasets.make_regression_shift(kind, n_samples=300, n_val=50, n_test=60, seed=1)
            for kind in ("covariate", "sparse", "diabetes_bmi")
        },
    }
    if not diabetes_as_recorded():  # scikit-learn's bundled copy differs in the last bits across versions
        draws.pop("reg_diabetes_bmi")
    for name, splits in draws.items():
        assert digest(*every_array(splits)) == DRAWS_BEFORE_THE_MOVE[name], name
    for name in NAMES:
        task = make_shift(name, seed=0)
        assert digest(*arrays(task).values()) == DRAWS_BEFORE_THE_MOVE[f"task_{name}_0"], name
        # the family's own splits are those arrays before the suite's float32 / int64 cast
        raw = datasets.make_shift(name, seed=0)
        np.testing.assert_array_equal(raw.target_test[0].astype(np.float32), task.x_target_test)
        data = task.datamodule(batch_size=16)
        data.setup("fit")
        data.setup("test")
        served = [data.source_train, data.target_train, data.source_val, data.target_val, data.target_test]
        tensors = [tensor.numpy() for dataset in served for tensor in dataset.tensors]
        assert digest(*tensors) == DRAWS_BEFORE_THE_MOVE[f"dm_{name}"], name


def served_digest(data) -> str:
    data.setup("fit")
    data.setup("test")
    served = [data.source_train, data.target_train, data.source_val, data.target_val, data.target_test]
    return digest(*[tensor.numpy() for dataset in served for tensor in dataset.tensors])


# The tensors MoonsDataModule, DigitsDataModule, RegressionShiftDataModule and TabularShiftDataModule served
# before ShiftDataModule replaced them (same digest as above, over every split's tensors).
@pytest.mark.parametrize(
    ("shift", "options", "arguments", "before"),
    [
        ("moons", {}, {}, "47f95743777584b5"),
        ("moons", {"n_samples": 300, "angle": 50}, {"seed": 2, "train_on": "target"}, "5df84e279d28cca0"),
        ("digits", {"image_size": 12, "blends_per_digit": 2}, {"seed": 1}, "befe37ab9a9c4967"),
        ("digits", {"image_size": 12}, {"train_on": "target"}, "7f765bee3bedb3e0"),
        ("regression", {"n_samples": 300, "n_val": 40, "n_test": 50}, {}, "282ee68d61dc3bb8"),
        ("regression", {"kind": "diabetes_bmi"}, {"train_on": "target"}, "eb93605317d9985e"),
        ("tabular", {"n_samples": 300, "n_val": 40, "n_test": 50, "strength": 0.5}, {}, "8303cf64091d7898"),
    ],
)
def test_the_shift_data_module_serves_what_the_data_modules_it_replaces_served(shift, options, arguments, before):
    from dann_lightning.data import ShiftDataModule

    assert served_digest(ShiftDataModule(shift, options=options, **arguments)) == before


def test_the_old_data_module_names_are_shift_data_modules_with_their_old_arguments():
    from dann_lightning.data import (
        DigitsDataModule,
        MoonsDataModule,
        RegressionShiftDataModule,
        ShiftDataModule,
        TabularShiftDataModule,
    )

    moons = MoonsDataModule(n_samples=300, angle=50.0, seed=2, train_on="target")
    assert isinstance(moons, ShiftDataModule) and (moons.shift, moons.options["angle"]) == ("moons", 50.0)
    assert dict(moons.hparams) == {  # what a checkpoint records: the old arguments, so it rebuilds the old class
        "n_samples": 300,
        "noise": 0.1,
        "angle": 50.0,
        "n_val": 250,
        "n_test": 1000,
        "seed": 2,
        "train_on": "target",
        "batch_size": 64,
        "num_workers": 0,
    }
    assert served_digest(moons) == "5df84e279d28cca0"
    digits = DigitsDataModule(image_size=12, train_on="target")
    assert digits.normalizer is digits.scaler and served_digest(digits) == "7f765bee3bedb3e0"
    regression = RegressionShiftDataModule("diabetes_bmi", train_on="target")
    assert regression.task == "regression" and served_digest(regression) == "eb93605317d9985e"
    tabular = TabularShiftDataModule(n_samples=300, n_val=40, n_test=50, strength=0.5)
    assert tabular.feature_names[:2] == ["x0", "x1"] and served_digest(tabular) == "8303cf64091d7898"


def test_a_state_dict_of_the_old_moons_data_module_restores_its_statistics():
    from dann_lightning.data import ShiftDataModule

    trained = ShiftDataModule("moons", options={"n_samples": 200})
    trained.setup("fit")
    old_state = {"scaler": trained.scaler.state_dict()}  # what MoonsDataModule kept, nothing else
    restored = ShiftDataModule("moons", options={"n_samples": 200})
    restored.load_state_dict({"scaler": {key: value + 1.0 for key, value in old_state["scaler"].items()}})
    restored.setup("test")
    torch.testing.assert_close(restored.scaler.mean, trained.scaler.mean + 1.0)


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"shift": "spiral"}, ["ShiftDataModule shift", "'spiral'", "'moons'"]),
        ({"shift": "moons", "options": {"radius": 3}}, ["'radius'", "'angle'"]),
        ({"shift": "moons", "augment_shift": 2}, ["augment_shift=2", "digits"]),
        ({"shift": "moons", "seed": -1}, ["seed", "-1"]),
    ],
)
def test_bad_shift_data_module_arguments_are_named(arguments, words):
    from dann_lightning.data import ShiftDataModule

    with pytest.raises(ConfigurationError) as error:
        ShiftDataModule(**arguments)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_a_config_changes_one_option_of_the_shift_from_the_command_line():
    from dann_lightning.cli import build_cli

    override = "--data.init_args.options.kind=diabetes_bmi"
    cli = build_cli(["--config", "regression_example", override, "--trainer.logger=false"], run=False)
    assert cli.datamodule.options == {
        "kind": "diabetes_bmi",
        "n_samples": 2000,
        "n_features": 10,
        "n_val": 500,
        "n_test": 1000,
    }


def test_the_generators_import_no_lightning():
    import ast
    from pathlib import Path

    import dann_lightning.datasets

    for path in Path(dann_lightning.datasets.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        imported += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module]
        assert not [name for name in imported if name.split(".")[0] in ("lightning", "pytorch_lightning")], path
        assert not [name for name in imported if name.startswith("dann_lightning.data.")], path  # data modules


def test_shift_options_come_as_a_mapping_or_as_keywords_and_a_checkpoint_rebuilds_either():
    from dann_lightning.data import ShiftDataModule

    keywords = ShiftDataModule("moons", angle=50.0, n_samples=200)
    mapping = ShiftDataModule("moons", options={"angle": 50.0}, n_samples=200)
    assert keywords.options == mapping.options == {"angle": 50.0, "n_samples": 200}
    rebuilt = ShiftDataModule(**keywords.hparams)  # what load_from_checkpoint does
    assert rebuilt.options == keywords.options and served_digest(rebuilt) == served_digest(mapping)
    with pytest.raises(ConfigurationError, match=r"\['angle'\] both in options and as keywords"):
        ShiftDataModule("moons", options={"angle": 50.0}, angle=40.0)
