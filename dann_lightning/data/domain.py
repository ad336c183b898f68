"""DomainDataModule: a labelled source and an unlabelled target dataset, zipped for training."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, TensorDataset

from dann_lightning.checks import check_choice, check_int
from dann_lightning.data.domain_batches import DomainBatchDataset, DomainIndexSampler
from dann_lightning.data.evaluation_sampler import EvaluationSampler
from dann_lightning.data.in_memory import InMemoryDataset, batched_view, features_tensor, targets_tensor
from dann_lightning.data.in_memory import labels_tensor as class_labels_tensor
from dann_lightning.errors import DataError
from dann_lightning.labels import check_labels

# Which labelled split the built-in shifts train the classifier on; "target" is the oracle upper bound.
TrainOn = Literal["source", "target"]

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
    The domains are zipped as Lightning's ``CombinedLoader`` zips loaders in ``max_size_cycle``
    mode: an epoch lasts as long as the longer domain, the shorter one starts over. Incomplete
    batches are dropped so that every step sees a full batch of each domain. In-memory domains
    (``TensorDataset``, [`from_arrays`][dann_lightning.data.DomainDataModule.from_arrays]) are served
    by one loader that fetches each domain's batch with a single indexing operation, in the same
    order as per-domain loaders.

    Validation serves ``{"source": ..., "target": ...}`` loaders (whichever are given), so the model
    logs ``val/source_acc`` and ``val/target_acc`` under their own names. ``val/target_acc`` needs
    target labels: an oracle a real user often lacks. Test and predict serve ``target_test``.

    Training batches are drawn by a ``DistributedSampler`` per domain, on one device too: under
    DDP every rank trains on its own shard of each domain.

    Args:
        source_train: yields ``(x, y)`` with integer class labels ``y``; or a list of such datasets,
            one per source domain (multi-source DANN: batches then hold a list of source pairs).
        target_train: yields ``x``, ``(x,)`` or ``(x, y)``.
        source_val: optional, yields ``(x, y)``; with several sources, a list of one per source
            (served as ``source_0``, ``source_1``, ... so that each is logged on its own).
        target_val: optional, yields ``x`` or ``(x, y)``. Without it, validation serves the target
            training rows as ``target``, so that the label-free selection scores and
            ``lambda_max="auto"`` have target rows to score (and ``val/target_acc`` if they carry
            labels).
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
        source_train: Dataset | Sequence[Dataset] | None = None,
        target_train: Dataset | None = None,
        source_val: Dataset | Sequence[Dataset] | None = None,
        target_val: Dataset | None = None,
        target_test: Dataset | None = None,
        *,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        shuffle_seed: int | None = None,
    ) -> None:
        super().__init__()
        check_int("batch_size", batch_size, minimum=1)
        check_int("num_workers", num_workers, minimum=0)
        self.source_train = source_train
        self.target_train = target_train
        self.source_val = source_val
        self.target_val = target_val
        self.target_test = target_test
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.shuffle_seed = shuffle_seed

    # The task its labels serve ("classification" or "regression"); None: the data does not say.
    task: str | None = None

    @property
    def num_sources(self) -> int:
        """How many source domains: ``source_train`` may be one dataset or a list of them."""
        return len(self.source_train) if _is_dataset_list(self.source_train) else 1

    @property
    def classes(self) -> list[str] | None:
        """The class names, index ``i`` naming class ``i``; ``None`` where the data names none (then
        predictions name classes by index). Data modules that read labels override this."""
        return None

    @property
    def num_classes(self) -> int | None:
        """How many classes: ``len(classes)``, else (after ``setup``) one more than the largest
        in-memory source label; ``None`` when unknown. A
        [`DANNLitModule`][dann_lightning.DANNLitModule] without ``num_classes`` takes it from here."""
        if self.classes is not None:
            return len(self.classes)
        if self.task == "regression":
            return None
        labels = [_in_memory_labels(dataset) for _, dataset in self._datasets("source_train")]
        if not labels or any(y is None or len(y) == 0 for y in labels):
            return None
        return int(max(int(y.max()) for y in labels)) + 1

    def example_input(self) -> Tensor:
        """Two source training inputs as one batch (after ``setup("fit")``): what a
        [`DANNLitModule`][dann_lightning.DANNLitModule] shows its networks before training, to take
        the widths of lazy layers from the data and to name a width mismatch before the first step."""
        datasets = self._datasets("source_train")
        if not datasets:
            raise DataError(f"{type(self).__name__}.example_input() needs source_train (after setup('fit'))")
        dataset = datasets[0][1]
        samples = [dataset[index] for index in range(min(2, len(dataset)))]
        return torch.stack([torch.as_tensor(sample[0]) for sample in samples])

    @property
    def has_source_val(self) -> bool:
        """Whether validation serves labelled source rows (``source_val``)."""
        return self.source_val is not None

    def unscale_targets(self, values: Tensor) -> Tensor:
        """Regression values in the units the labels were read in: as they are here (no label scaling);
        data modules that scale their labels override this."""
        return values

    def prediction_ids(self) -> tuple[str, Any] | None:
        """``(column name, ids)`` of the predicted rows; ``None`` here (rows are named by index)."""
        return None

    def model_inputs(self, input_shape: Sequence[int] | None = None) -> Any:
        """What a deployed model's raw input is (shape, preprocessing to fold in, names): a
        [`ModelInputs`][dann_lightning.preprocessing.ModelInputs]. Here the inputs as served, nothing to
        fold in; data modules that standardise their inputs override this."""
        from dann_lightning.preprocessing import unscaled_inputs  # preprocessing imports the data package

        return unscaled_inputs(input_shape, classes=self.known_classes())

    def known_classes(self) -> list[str] | None:
        """The class names a deployment is told: those of the ``state_dict`` (what a checkpoint
        restored), else ``classes``."""
        state = self.state_dict()
        return list(state["classes"]) if isinstance(state, dict) and state.get("classes") else self.classes

    def _datasets(self, name: str) -> list[tuple[str, Dataset]]:
        """``[(display name, dataset)]`` of attribute ``name``: one entry, or one per source domain."""
        value = getattr(self, name)
        if value is None:
            return []
        if _is_dataset_list(value):
            return [(f"{name}[{k}]", dataset) for k, dataset in enumerate(value)]
        return [(name, value)]

    def setup(self, stage: str) -> None:
        """Check the datasets the stage needs. Subclasses build their datasets, then call this."""
        required, optional = _STAGE_DATASETS[stage]
        for name in required:
            if getattr(self, name) is None:
                raise DataError(f"{type(self).__name__} has no {name} dataset, which stage {stage!r} needs")
        if _is_dataset_list(self.source_val) and len(self.source_val) != self.num_sources:
            raise DataError(
                f"source_val holds {len(self.source_val)} datasets but source_train {self.num_sources}: "
                "one validation set per source domain"
            )
        present = [entry for name in required + optional for entry in self._datasets(name)]
        for name, dataset in present:
            if len(dataset) == 0:
                raise DataError(f"{name} is empty: each dataset needs at least one sample")
        if stage == "fit":
            self._check_train_sizes()
        self._check_feature_shapes(present)
        for name, dataset in present:
            _check_finite_inputs(dataset, name)

    def _check_train_sizes(self) -> None:
        world_size = self.trainer.world_size if self.trainer is not None else 1
        for name, dataset in self._datasets("source_train") + self._datasets("target_train"):
            per_rank = math.ceil(len(dataset) / world_size)
            if per_rank < self.batch_size:
                where = f" per device ({world_size} devices)" if world_size > 1 else ""
                raise DataError(
                    f"{name} has {per_rank} samples{where}, fewer than batch_size={self.batch_size}; incomplete "
                    "batches are dropped, so training would run no step. Lower batch_size or add samples."
                )

    def _check_feature_shapes(self, datasets: Sequence[tuple[str, Dataset]]) -> None:
        shapes = {name: _feature_shape(dataset, name) for name, dataset in datasets}
        reference = next(iter(shapes), None)
        for name, shape in shapes.items():
            if shape != shapes[reference]:
                raise DataError(
                    f"source and target features must share one shape: {reference} samples have shape "
                    f"{shapes[reference]}, {name} samples have shape {shape}"
                )

    def check_labels(self, num_classes: int) -> None:
        """Check in-memory source labels lie in ``[0, num_classes)``; called by the model at fit start."""
        for name, dataset in self._datasets("source_train") + self._datasets("source_val"):
            labels = _in_memory_labels(dataset)
            if labels is not None:
                check_labels(labels, num_classes, name, indexed=True)

    def train_dataloader(self) -> CombinedLoader:
        datasets = [dataset for _, dataset in self._datasets("source_train")] + [self.target_train]
        samplers = [self._training_sampler(dataset, stream) for stream, dataset in enumerate(datasets)]
        source_list = _is_dataset_list(self.source_train)
        in_memory = [batched_view(dataset) for dataset in datasets]
        if all(dataset is not None for dataset in in_memory):
            # One loader for all domains, each batch one index operation per domain: the same
            # batches as the per-domain loaders below, without their per-step overhead.
            loader = DataLoader(
                DomainBatchDataset(in_memory[:-1], in_memory[-1], source_list=source_list),
                batch_size=None,
                sampler=DomainIndexSampler(samplers, self.batch_size),
                collate_fn=InMemoryDataset.collate,
                **self._loader_options(),
            )
            return CombinedLoader(loader, mode="max_size_cycle")
        loaders = [
            self._loader(dataset, sampler=sampler, drop_last=True)
            for dataset, sampler in zip(datasets, samplers, strict=True)
        ]
        source = loaders[:-1] if source_list else loaders[0]
        return CombinedLoader({"source": source, "target": loaders[-1]}, mode="max_size_cycle")

    def val_dataloader(self) -> dict[str, DataLoader]:
        target = self.target_val if self.target_val is not None else self.target_train
        if _is_dataset_list(self.source_val):
            sources = {f"source_{k}": dataset for k, dataset in enumerate(self.source_val)}
            return self._evaluation_loaders(**sources, target=target)
        return self._evaluation_loaders(source=self.source_val, target=target)

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
        return EvaluationSampler(dataset, num_replicas=world_size, rank=rank)

    def _world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    def _loader(self, dataset: Dataset, *, sampler: Sampler | None, drop_last: bool = False) -> DataLoader:
        # In-memory tensors: one indexing operation per batch instead of a getitem per sample and a
        # collation, with the same samplers (shuffling, sharding) choosing the indices.
        batched = batched_view(dataset)
        return DataLoader(
            batched if batched is not None else dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            collate_fn=InMemoryDataset.collate if batched is not None else None,
            **self._loader_options(),
        )

    def _loader_options(self) -> dict[str, Any]:
        return {
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.num_workers > 0,
        }

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # Lightning's generic walk over the batch costs ~40 us a step even when there is nothing
        # to move (training on the CPU): a measurable share of a small model's step.
        if _tensors_on(batch, device):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    @classmethod
    def from_arrays(
        cls,
        x_source: Any,
        y_source: Any,
        x_target: Any,
        y_target: Any | None = None,
        *,
        x_source_val: Any | None = None,
        y_source_val: Any | None = None,
        x_target_val: Any | None = None,
        y_target_val: Any | None = None,
        x_target_test: Any | None = None,
        y_target_test: Any | None = None,
        task: Literal["classification", "regression"] = "classification",
        **loader_options: Any,
    ) -> DomainDataModule:
        """A data module over numpy arrays or tensors, served a whole batch at a time.

        Features become float32, labels int64 class indices. ``y_target`` (optional) is never
        trained on: without ``x_target_val`` it labels the target training rows for the oracle
        ``val/target_acc`` (the transductive evaluation of domain-adaptation papers).
        ``loader_options`` are ``batch_size``, ``num_workers``, ``pin_memory``, ``shuffle_seed``.
        With ``task="regression"`` labels are float32 numbers, ``(rows,)`` or ``(rows, outputs)``.

        Examples:
            >>> import numpy as np
            >>> rng = np.random.default_rng(0)
            >>> data = DomainDataModule.from_arrays(
            ...     rng.normal(size=(100, 4)), rng.integers(0, 3, 100), rng.normal(size=(80, 4)), batch_size=16
            ... )
            >>> data.setup("fit")
            >>> batch, _, _ = next(iter(data.train_dataloader()))
            >>> [tuple(t.shape) for t in batch["source"]], [tuple(t.shape) for t in batch["target"]]
            ([(16, 4), (16,)], [(16, 4)])
        """
        check_choice("from_arrays task", task, ("classification", "regression"))
        labels_tensor = targets_tensor if task == "regression" else class_labels_tensor
        source = features_tensor(x_source, "x_source")
        target = features_tensor(x_target, "x_target")

        def labelled(x: Any, y: Any, x_name: str, y_name: str) -> InMemoryDataset | None:
            if x is None and y is None:
                return None
            if x is None or y is None:
                raise DataError(f"{x_name} and {y_name} go together; got only {x_name if y is None else y_name}")
            features = features_tensor(x, x_name)
            return InMemoryDataset(features, labels_tensor(y, y_name, len(features), x_name))

        splits = {
            "source_train": (source, labels_tensor(y_source, "y_source", len(source), "x_source")),
            "source_val": labelled(x_source_val, y_source_val, "x_source_val", "y_source_val"),
            "target_val": labelled(x_target_val, y_target_val, "x_target_val", "y_target_val"),
            "target_test": labelled(x_target_test, y_target_test, "x_target_test", "y_target_test"),
        }
        if y_target is not None and splits["target_val"] is None:
            splits["target_val"] = InMemoryDataset(target, labels_tensor(y_target, "y_target", len(target), "x_target"))
        for name, split in [("x_target", target)] + [
            (f"x_{key}", ds.tensors[0]) for key, ds in splits.items() if isinstance(ds, InMemoryDataset)
        ]:
            if split.shape[1:] != source.shape[1:]:
                raise DataError(
                    f"{name} has rows of shape {tuple(split.shape[1:])} but x_source has {tuple(source.shape[1:])}; "
                    "every array must share the source's feature shape"
                )
        data = cls(
            source_train=InMemoryDataset(*splits["source_train"]),
            target_train=InMemoryDataset(target),
            source_val=splits["source_val"],
            target_val=splits["target_val"],
            target_test=splits["target_test"],
            **loader_options,
        )
        data.task = task
        return data


def _feature_shape(dataset: Dataset, name: str) -> tuple[int, ...]:
    sample: Any = dataset[0]
    is_pair = isinstance(sample, (tuple, list)) and len(sample) == 2
    if name.startswith("source") and not is_pair:
        raise DataError(f"{name} must yield (features, label) pairs, got a {type(sample).__name__}")
    features = sample[0] if isinstance(sample, (tuple, list)) else sample
    if not hasattr(features, "shape"):
        raise DataError(f"{name} features must be tensors or arrays, got {type(features).__name__}")
    return tuple(features.shape)


def _tensors_on(batch: Any, device: torch.device) -> bool:
    """Whether ``batch`` is tensors in dicts, lists and tuples, all on ``device``."""
    if isinstance(batch, Tensor):
        return batch.device == device
    if isinstance(batch, dict):
        return all(_tensors_on(value, device) for value in batch.values())
    if type(batch) in (list, tuple):
        return all(_tensors_on(value, device) for value in batch)
    return False


def _is_dataset_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and not isinstance(value, Dataset)


def _check_finite_inputs(dataset: Dataset, name: str) -> None:
    """A NaN or infinite input of an in-memory (``TensorDataset``) split is named now, not met
    steps later as a diverging loss."""
    if not isinstance(dataset, TensorDataset) or not dataset.tensors[0].is_floating_point():
        return
    inputs = dataset.tensors[0]
    bad = ~torch.isfinite(inputs.reshape(len(inputs), -1)).all(dim=1)
    if bad.any():
        first = int(bad.nonzero()[0])
        raise DataError(
            f"{name} holds NaN or infinite inputs in {int(bad.sum())} sample(s), the first at index {first}: every "
            "input must be a finite number; fill or drop those samples"
        )


def _in_memory_labels(dataset: Dataset | None) -> Tensor | None:
    """The label tensor of a ``TensorDataset`` of ``(x, y)``, else ``None`` (not scanned)."""
    if isinstance(dataset, TensorDataset) and len(dataset.tensors) == 2 and dataset.tensors[1].ndim == 1:
        return dataset.tensors[1]
    return None
