"""DomainDataModule: a labelled source and an unlabelled target dataset, zipped for training."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from lightning.pytorch.utilities import CombinedLoader
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, TensorDataset

from dann_lightning.errors import ConfigurationError, DataError

# Which datasets each Trainer stage reads; the first group is required, the second optional.
_STAGE_DATASETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fit": (("source_train", "target_train"), ("source_val", "target_val")),
    "validate": ((), ("source_val", "target_val")),
    "test": (("target_test",), ()),
    "predict": (("target_test",), ()),
}


class DomainDataModule(L.LightningDataModule):
    """Source and target datasets served as DANN batches.

    Training batches are ``{"source": (x_s, y_s), "target": x_t}`` (the target entry is whatever
    the target dataset yields: ``x``, ``(x,)`` or ``(x, y)``; target labels are never trained on).
    The two loaders are zipped with Lightning's ``CombinedLoader`` in ``max_size_cycle`` mode: an
    epoch lasts as long as the longer domain, the shorter one starts over. Incomplete batches are
    dropped so that every step sees a full batch of each domain.

    Validation serves ``{"source": ..., "target": ...}`` loaders (whichever are given), so the model
    logs ``val/source_acc`` and ``val/target_acc`` under their own names. ``val/target_acc`` needs
    target labels: an oracle a real user often lacks. Test and predict serve ``target_test``.

    Under DDP the Trainer wraps each loader in a ``DistributedSampler``: every rank trains on its
    own shard of each domain.

    Args:
        source_train: yields ``(x, y)`` with integer class labels ``y``.
        target_train: yields ``x``, ``(x,)`` or ``(x, y)``.
        source_val: optional, yields ``(x, y)``.
        target_val: optional, yields ``x`` or ``(x, y)``.
        target_test: optional, yields ``x`` or ``(x, y)``.
        batch_size: samples per domain per step (a step sees ``2 * batch_size`` samples).
        num_workers: DataLoader worker processes per loader.
        pin_memory: pin host memory for faster transfer to a GPU.
        shuffle_seed: seed of the shuffling; default: the seed given to ``seed_everything``
            (``PL_GLOBAL_SEED``), else 0.

    The training order is a function of ``(shuffle_seed, epoch, domain)`` only, so a run resumed
    from an epoch-end checkpoint sees the batches the uninterrupted run would have seen. Under DDP
    evaluation loaders shard without padding, so each validation sample counts exactly once.
    """

    def __init__(
        self,
        source_train: Dataset | None = None,
        target_train: Dataset | None = None,
        source_val: Dataset | None = None,
        target_val: Dataset | None = None,
        target_test: Dataset | None = None,
        *,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        shuffle_seed: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigurationError(f"num_workers must be a non-negative integer, got {num_workers!r}")
        self.source_train = source_train
        self.target_train = target_train
        self.source_val = source_val
        self.target_val = target_val
        self.target_test = target_test
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.shuffle_seed = shuffle_seed

    def setup(self, stage: str) -> None:
        """Check the datasets the stage needs. Subclasses build their datasets, then call this."""
        required, optional = _STAGE_DATASETS[stage]
        for name in required:
            if getattr(self, name) is None:
                raise DataError(f"{type(self).__name__} has no {name} dataset, which stage {stage!r} needs")
        present = [name for name in required + optional if getattr(self, name) is not None]
        for name in present:
            if len(getattr(self, name)) == 0:
                raise DataError(f"{name} is empty: each dataset needs at least one sample")
        if stage == "fit":
            self._check_train_sizes()
        self._check_feature_shapes(present)

    def _check_train_sizes(self) -> None:
        world_size = self.trainer.world_size if self.trainer is not None else 1
        for name in ("source_train", "target_train"):
            per_rank = math.ceil(len(getattr(self, name)) / world_size)
            if per_rank < self.batch_size:
                where = f" per device ({world_size} devices)" if world_size > 1 else ""
                raise DataError(
                    f"{name} has {per_rank} samples{where}, fewer than batch_size={self.batch_size}; incomplete "
                    "batches are dropped, so training would run no step. Lower batch_size or add samples."
                )

    def _check_feature_shapes(self, names: Sequence[str]) -> None:
        shapes = {name: _feature_shape(getattr(self, name), name) for name in names}
        reference = "source_train" if "source_train" in shapes else next(iter(shapes), None)
        for name, shape in shapes.items():
            if shape != shapes[reference]:
                raise DataError(
                    f"source and target features must share one shape: {reference} samples have shape "
                    f"{shapes[reference]}, {name} samples have shape {shape}"
                )

    def check_labels(self, num_classes: int) -> None:
        """Check in-memory source labels lie in ``[0, num_classes)``; called by the model at fit start."""
        for name in ("source_train", "source_val"):
            labels = _in_memory_labels(getattr(self, name))
            if labels is None or len(labels) == 0:
                continue
            if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
                raise DataError(f"{name} labels must be integer class indices, got dtype {labels.dtype}")
            bad = ((labels < 0) | (labels >= num_classes)).nonzero().flatten()
            if len(bad):
                index = int(bad[0])
                raise DataError(
                    f"{name} label {int(labels[index])} at index {index} lies outside [0, num_classes={num_classes})"
                )

    def train_dataloader(self) -> CombinedLoader:
        loaders = {
            domain: self._loader(dataset, sampler=self._training_sampler(dataset, stream), drop_last=True)
            for stream, (domain, dataset) in enumerate([("source", self.source_train), ("target", self.target_train)])
        }
        return CombinedLoader(loaders, mode="max_size_cycle")

    def val_dataloader(self) -> dict[str, DataLoader]:
        return self._evaluation_loaders(source=self.source_val, target=self.target_val)

    def test_dataloader(self) -> dict[str, DataLoader]:
        return self._evaluation_loaders(target=self.target_test)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.target_test, sampler=self._evaluation_sampler(self.target_test))

    def _evaluation_loaders(self, **datasets: Dataset | None) -> dict[str, DataLoader]:
        return {
            domain: self._loader(dataset, sampler=self._evaluation_sampler(dataset))
            for domain, dataset in datasets.items()
            if dataset is not None
        }

    def _training_sampler(self, dataset: Dataset, stream: int) -> DistributedSampler:
        # A DistributedSampler also on one device: its order depends on (seed, epoch) only, and the
        # Trainer leaves it in place under DDP. Each domain gets its own seed, so that the pairing
        # of source and target samples in a batch changes from epoch to epoch.
        seed = self.shuffle_seed if self.shuffle_seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))
        world_size, rank = self._world()
        return DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed + stream * 7919)

    def _evaluation_sampler(self, dataset: Dataset) -> Sampler | None:
        world_size, rank = self._world()
        if world_size == 1:
            return None
        return UnrepeatedDistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=False)

    def _world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    def _loader(self, dataset: Dataset, *, sampler: Sampler | None, drop_last: bool = False) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )


def _feature_shape(dataset: Dataset, name: str) -> tuple[int, ...]:
    sample: Any = dataset[0]
    is_pair = isinstance(sample, (tuple, list)) and len(sample) == 2
    if name.startswith("source") and not is_pair:
        raise DataError(f"{name} must yield (features, label) pairs, got a {type(sample).__name__}")
    features = sample[0] if isinstance(sample, (tuple, list)) else sample
    if not hasattr(features, "shape"):
        raise DataError(f"{name} features must be tensors or arrays, got {type(features).__name__}")
    return tuple(features.shape)


def _in_memory_labels(dataset: Dataset | None) -> Tensor | None:
    """The label tensor of a ``TensorDataset`` of ``(x, y)``, else ``None`` (not scanned)."""
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2 and dataset.tensors[1].ndim == 1:
        return dataset.tensors[1]
    return None
