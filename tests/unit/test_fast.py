"""The batch-at-once data path, from_arrays, and a training step free of host-device syncs."""

import math
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import DistributedSampler, TensorDataset

from dann_lightning import DomainDataModule
from dann_lightning.data.domain_batches import DomainBatchDataset, shard_order
from dann_lightning.data.in_memory import InMemoryDataset
from dann_lightning.errors import DataError
from tests.conftest import blobs, make_datamodule, make_module, make_trainer


class PerSample(TensorDataset):
    """A TensorDataset subclass: served sample by sample with the default collation (the reference)."""


def training_batches(source, target, *, world_size=1, rank=0, epoch=0, batch_size=8):
    """Every training batch of one epoch as a flat list of its tensors, and the loader's dataset."""
    datamodule = DomainDataModule(source, target, batch_size=batch_size, shuffle_seed=3)
    datamodule.trainer = SimpleNamespace(world_size=world_size, global_rank=rank)
    combined = datamodule.train_dataloader()
    for loader in combined.flattened:
        loader.sampler.set_epoch(epoch)
    flat = [[t.clone() for t in torch.utils._pytree.tree_leaves(batch)] for batch, _, _ in combined]
    return flat, combined.flattened[0].dataset


@pytest.mark.parametrize(("world_size", "rank"), [(1, 0), (2, 1)])
@pytest.mark.parametrize("epoch", [0, 1])
@pytest.mark.parametrize("sources", [1, 2])
def test_in_memory_path_serves_exactly_the_per_sample_batches(world_size, rank, epoch, sources):
    # Domains of different sizes: the target has more batches, the sources start over mid-epoch.
    source_sets = [blobs(40 + 12 * k, seed=k) for k in range(sources)]
    x_t = torch.randn(100, 2)

    def domains(cls):
        source = [cls(x, y) for x, y in source_sets]
        return (source if sources > 1 else source[0]), cls(x_t)

    fast, fast_dataset = training_batches(*domains(TensorDataset), world_size=world_size, rank=rank, epoch=epoch)
    slow, slow_dataset = training_batches(*domains(PerSample), world_size=world_size, rank=rank, epoch=epoch)
    assert isinstance(fast_dataset, DomainBatchDataset) and not isinstance(slow_dataset, DomainBatchDataset)
    assert len(fast) == len(slow) == math.ceil(100 / world_size) // 8
    for got, expected in zip(fast, slow, strict=True):
        assert len(got) == len(expected) == 2 * sources + 1
        assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))


@pytest.mark.parametrize(
    ("rows", "world_size", "shuffle", "drop_last"),
    [(10, 1, True, False), (10, 3, True, False), (10, 3, True, True), (2, 5, True, False), (7, 2, False, False)],
)
def test_shard_order_is_the_distributed_samplers_order(rows, world_size, shuffle, drop_last):
    for rank in range(world_size):
        for epoch in (0, 4):
            sampler = DistributedSampler(
                range(rows), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=11, drop_last=drop_last
            )
            sampler.set_epoch(epoch)
            assert shard_order(sampler).tolist() == list(sampler)


def test_in_memory_path_shards_across_processes_without_overlap():
    x, y = blobs(64)
    seen = []
    for rank in (0, 1):
        batches, _ = training_batches(TensorDataset(x, y), TensorDataset(x), world_size=2, rank=rank)
        rows = torch.cat([source_x for source_x, _, _ in batches])
        assert len(rows) == 32
        seen.append({tuple(row.tolist()) for row in rows})
    assert not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == len({tuple(row.tolist()) for row in x})


def test_batches_already_on_the_device_are_handed_back_and_others_moved():
    datamodule = make_datamodule()
    batch = {"source": (torch.zeros(2, 2), torch.zeros(2, dtype=torch.long)), "target": (torch.zeros(2, 2),)}
    assert datamodule.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    moved = datamodule.transfer_batch_to_device(batch, torch.device("meta"), 0)
    assert [t.device.type for t in torch.utils._pytree.tree_leaves(moved)] == ["meta"] * 3
    mixed = datamodule.transfer_batch_to_device({"x": torch.zeros(2), "name": "a"}, torch.device("cpu"), 0)
    assert mixed["name"] == "a" and torch.equal(mixed["x"], torch.zeros(2))  # Lightning's walk: not only tensors


def test_subclassed_datasets_keep_their_own_getitem():
    class Doubling(TensorDataset):
        def __getitem__(self, index):
            x, y = super().__getitem__(index)
            return 2 * x, y

    x, y = blobs(32)
    datamodule = make_datamodule(n=32, batch_size=8, source_train=Doubling(x, y))
    datamodule.setup("fit")
    loader = datamodule.train_dataloader().iterables["source"]
    assert not isinstance(loader.dataset, InMemoryDataset)
    x_batch, _ = next(iter(loader))
    assert all(any(torch.equal(row, 2 * original) for original in x) for row in x_batch)


def test_from_arrays_takes_numpy_and_trains(tmp_path):
    rng = np.random.default_rng(0)
    y_source = rng.integers(0, 2, 200)
    x_source = rng.normal(size=(200, 3)) + y_source[:, None] * 3.0
    y_target = rng.integers(0, 2, 150)
    x_target = rng.normal(size=(150, 3)) + y_target[:, None] * 3.0 + 0.3
    datamodule = DomainDataModule.from_arrays(x_source, y_source, x_target, y_target, batch_size=32)
    datamodule.setup("fit")
    assert datamodule.source_train.tensors[0].dtype == torch.float32
    assert datamodule.source_train.tensors[1].dtype == torch.int64
    assert len(datamodule.target_train.tensors) == 1  # target labels are not in the training split
    trainer = make_trainer(tmp_path, max_epochs=10)
    trainer.fit(make_module(in_features=3), datamodule)
    assert trainer.callback_metrics["val/target_acc"] > 0.8  # y_target labels the oracle only


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"y_source": np.zeros(9)}, r"y_source has 9 labels but x_source has 10 rows"),
        ({"x_source": np.array([["a", "b"]] * 10)}, r"x_source must be numeric, got an array of dtype <U1"),
        ({"x_target": np.zeros((10, 3))}, r"x_target has rows of shape \(3,\) but x_source has \(2,\)"),
        (
            {"x_source": np.where(np.arange(20).reshape(10, 2) == 7, np.nan, 0.0)},
            r"x_source holds NaN or inf; the first such row is 3",
        ),
        ({"y_source": np.full(10, 0.5)}, r"y_source must hold integer class indices; row 0 holds 0.5"),
        ({"x_source_val": np.zeros((4, 2))}, r"x_source_val and y_source_val go together; got only x_source_val"),
        ({"x_target": np.zeros((0, 2))}, r"x_target is empty"),
    ],
)
def test_from_arrays_bad_input_names_the_array(arrays, message):
    kwargs = {"x_source": np.zeros((10, 2)), "y_source": np.zeros(10, dtype=int), "x_target": np.zeros((10, 2))}
    kwargs.update(arrays)
    with pytest.raises(DataError, match=message):
        DomainDataModule.from_arrays(**kwargs)


class CountSyncs(L.Callback):
    """``.item()`` calls (host-device synchronisations on an accelerator) in each training batch."""

    def __init__(self):
        self.counts = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._profile = profile(activities=[ProfilerActivity.CPU])
        self._profile.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._profile.__exit__(None, None, None)
        self.counts.append(sum(event.name == "aten::_local_scalar_dense" for event in self._profile.events()))


@pytest.mark.parametrize("optimization", ["automatic", "manual"])
def test_training_steps_do_not_synchronise_except_for_the_divergence_checks(tmp_path, optimization):
    # SGD keeps no per-parameter step counters (Adam reads CPU-side ones, which do not sync).
    count = CountSyncs()
    module = make_module(optimization=optimization, optimizer=lambda params: torch.optim.SGD(params, lr=0.1))
    steps_per_batch = 2 if optimization == "manual" else 1  # manual: a discriminator and a main step
    trainer = make_trainer(
        tmp_path, max_steps=8 * steps_per_batch, log_every_n_steps=4, limit_val_batches=0, callbacks=[count]
    )
    trainer.fit(module, make_datamodule())
    # Batch 0 checks the labels once; batches 3 and 7 end an epoch (the divergence check); the rest:
    # none at all, though every step logs its losses.
    assert [count.counts[i] for i in (1, 2, 4, 5, 6)] == [0, 0, 0, 0, 0]
    assert count.counts[0] > 0
