import math

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from dann_lightning.data import MoonsDataModule, Standardizer, make_moons_shift
from dann_lightning.data.moons import MOONS_CENTRE, rotate
from dann_lightning.errors import DANNError
from tests.conftest import blobs, make_datamodule


def built(**kwargs) -> MoonsDataModule:
    datamodule = MoonsDataModule(**kwargs)
    datamodule.setup("fit")
    datamodule.setup("test")
    return datamodule


def all_tensors(datamodule):
    names = ("source_train", "source_val", "target_train", "target_val", "target_test")
    return [t for name in names for t in getattr(datamodule, name).tensors]


def test_rotation_turns_about_the_centre_counter_clockwise():
    point = np.array([[MOONS_CENTRE[0] + 1.0, MOONS_CENTRE[1]]])
    np.testing.assert_allclose(rotate(point, 90.0), [[MOONS_CENTRE[0], MOONS_CENTRE[1] + 1.0]], atol=1e-12)
    np.testing.assert_allclose(rotate(np.array([MOONS_CENTRE]), 35.0), [MOONS_CENTRE], atol=1e-12)


def test_target_is_the_source_distribution_rotated():
    shift = make_moons_shift(n_samples=20000, n_val=10, n_test=10, angle=35.0, noise=0.1, seed=0)
    (x_s, y_s), (x_t, y_t) = shift.source_train, shift.target_train
    x_t_back = rotate(x_t, -35.0)
    for label in (0, 1):
        source_mean = x_s[y_s == label].mean(0)
        # Independent draws of one distribution once rotated back: class means agree ...
        np.testing.assert_allclose(x_t_back[y_t == label].mean(0), source_mean, atol=0.02)
        # ... and as drawn, rotated, they do not.
        assert np.abs(x_t[y_t == label].mean(0) - source_mean).max() > 0.1


def test_same_seed_gives_identical_data_and_another_seed_differs():
    first, again, other = built(seed=3), built(seed=3), built(seed=4)
    for a, b in zip(all_tensors(first), all_tensors(again), strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(first.source_train.tensors[0], other.source_train.tensors[0])


def test_split_sizes_and_unlabelled_target_training_split():
    datamodule = built(n_samples=300, n_val=40, n_test=70)
    assert len(datamodule.source_train) == len(datamodule.target_train) == 300
    assert len(datamodule.source_val) == len(datamodule.target_val) == 40
    assert len(datamodule.target_test) == 70
    assert len(datamodule.target_train.tensors) == 1  # features only: nothing to leak
    assert datamodule.source_train.tensors[1].dtype == torch.long


def test_changing_one_split_size_leaves_the_others_unchanged():
    a, b = make_moons_shift(n_test=100), make_moons_shift(n_test=500)
    np.testing.assert_array_equal(a.source_train[0], b.source_train[0])
    np.testing.assert_array_equal(a.target_train[0], b.target_train[0])


def test_scaler_is_fitted_on_the_source_training_split_only():
    datamodule = built()
    x_s = datamodule.source_train.tensors[0]
    torch.testing.assert_close(x_s.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(x_s.std(0, correction=0), torch.ones(2), atol=1e-5, rtol=0)
    raw = make_moons_shift(seed=0).source_train[0]
    torch.testing.assert_close(datamodule.scaler.mean, torch.as_tensor(raw.mean(0)))
    torch.testing.assert_close(datamodule.scaler.std, torch.as_tensor(raw.std(0)))


def test_scaler_state_restores_the_training_scaling():
    trained = built(seed=0)
    evaluated = built(seed=1)  # a different draw would fit different statistics
    evaluated.load_state_dict(trained.state_dict())
    raw = torch.as_tensor(make_moons_shift(seed=1).target_test[0], dtype=torch.float32)
    torch.testing.assert_close(evaluated.target_test.tensors[0], trained.scaler.transform(raw))


def test_standardizer_keeps_constant_features_finite():
    scaler = Standardizer().fit(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
    torch.testing.assert_close(scaler.transform(torch.tensor([[2.0, 5.0]])), torch.tensor([[0.0, 0.0]]))
    with pytest.raises(DANNError, match=r"fitted on features of shape \(2,\), got \(3,\)"):
        scaler.transform(torch.zeros(1, 3))


def test_training_batches_zip_both_domains_with_full_batches():
    datamodule = make_datamodule(n=64, batch_size=16, target_train=TensorDataset(torch.randn(100, 2)))
    datamodule.setup("fit")
    loader = datamodule.train_dataloader()
    batches = list(loader)
    # max_size_cycle: as many steps as the longer domain has full batches (100 // 16).
    assert len(batches) == 6
    for batch, _, _ in batches:
        x_s, y_s = batch["source"]
        (x_t,) = batch["target"]
        assert x_s.shape == (16, 2) and y_s.shape == (16,) and x_t.shape == (16, 2)


def test_evaluation_loaders_are_keyed_by_domain():
    datamodule = make_datamodule(source_val=None)
    datamodule.setup("fit")
    assert list(datamodule.val_dataloader()) == ["target"]
    assert list(datamodule.test_dataloader()) == ["target"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_samples": 0}, "n_samples must be an integer >= 1, got 0"),
        ({"noise": -0.1}, "noise must be a finite number >= 0"),
        ({"angle": math.inf}, r"angle \(degrees\) must be a finite number, got inf"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
    ],
)
def test_moons_arguments_are_checked(kwargs, message):
    with pytest.raises(DANNError, match=message):
        MoonsDataModule(**kwargs)


def test_missing_dataset_for_a_stage_is_named():
    x, _ = blobs(32)
    datamodule = make_datamodule(target_test=None)
    with pytest.raises(DANNError, match="has no target_test dataset, which stage 'test' needs"):
        datamodule.setup("test")
    with pytest.raises(DANNError, match=r"source_train must yield \(features, label\) pairs"):
        make_datamodule(source_train=TensorDataset(x)).setup("fit")


def test_without_target_val_validation_serves_the_target_training_rows():
    x_target, _ = blobs(32, shift=0.5, seed=2)
    datamodule = make_datamodule(target_train=TensorDataset(x_target), target_val=None)
    datamodule.setup("fit")
    served = torch.cat([batch[0] for batch in datamodule.val_dataloader()["target"]])
    torch.testing.assert_close(served, x_target)
    labelled = make_datamodule()
    labelled.setup("fit")
    assert len(next(iter(labelled.val_dataloader()["target"]))) == 2  # target_val's own (x, y)


@pytest.mark.parametrize("rows, ranks", [(10, 3), (7, 2), (2, 4), (5, 1)])
def test_the_evaluation_sampler_serves_each_sample_once_over_the_ranks_in_strided_order(rows, ranks):
    from dann_lightning.data.evaluation_sampler import EvaluationSampler

    shards = [list(EvaluationSampler(range(rows), num_replicas=ranks, rank=rank)) for rank in range(ranks)]
    assert sorted(index for shard in shards for index in shard) == list(range(rows))  # once each, no padding
    assert shards == [list(range(rank, rows, ranks)) for rank in range(ranks)]  # the order DDP runs had before
    assert [len(EvaluationSampler(range(rows), num_replicas=ranks, rank=rank)) for rank in range(ranks)] == [
        len(shard) for shard in shards
    ]


def test_one_standardisation_serves_the_data_modules_the_suite_and_the_exported_model():
    from dann_lightning.data.shifts import make_shift
    from dann_lightning.preprocessing import Standardize

    task = make_shift("wine", seed=0)
    fitted = Standardizer().fit(torch.as_tensor(task.x_source))
    data = task.datamodule(batch_size=16)
    data.setup("fit")
    # the suite's data module scales with that Standardizer, bit for bit
    assert torch.equal(data.source_train.tensors[0], fitted.transform(torch.as_tensor(task.x_source)))
    # and the module an export folds in computes the same, in float32
    raw = torch.as_tensor(task.x_target_test)
    torch.testing.assert_close(Standardize.from_statistics(fitted)(raw), fitted.transform(raw), rtol=0, atol=1e-5)


def test_regression_targets_are_standardised_by_a_standardizer_over_every_output():
    from dann_lightning.data import RegressionShiftDataModule
    from dann_lightning.datasets import make_regression_shift

    data = RegressionShiftDataModule(n_samples=300, n_val=40, n_test=50)
    data.setup("fit")
    y = torch.as_tensor(make_regression_shift("covariate", 300, 10, 40, 50, seed=0).source_train[1])
    fitted = Standardizer().fit(y[:, None])
    assert data.target_statistics == (float(fitted.mean[0]), float(fitted.std[0]))
    torch.testing.assert_close(data.unscale_targets(data.source_train.tensors[1].double()), y, rtol=0, atol=1e-5)


def test_a_regression_data_module_names_the_unstandardisation_a_deployed_model_folds_in():
    from dann_lightning.data import RegressionShiftDataModule, ShiftDataModule

    data = RegressionShiftDataModule(n_samples=300, n_val=40, n_test=50)
    data.setup("fit")
    unstandardize = data.model_inputs().postprocessing
    mean, std = data.target_statistics
    torch.testing.assert_close(unstandardize(torch.tensor([[0.0], [1.0]])), torch.tensor([[mean], [mean + std]]))
    unscaled = RegressionShiftDataModule(n_samples=300, n_val=40, n_test=50, standardize_target=False)
    unscaled.setup("fit")
    assert unscaled.model_inputs().postprocessing is None
    moons = ShiftDataModule("moons", n_samples=100)
    moons.setup("fit")
    assert moons.model_inputs().postprocessing is None
