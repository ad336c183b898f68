"""Training batches of in-memory domains: one loader, one index operation per domain and step."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, DistributedSampler

from dann_lightning.data.in_memory import InMemoryDataset


class DomainIndexSampler(DistributedSampler):
    """Yields, for each training step, a tensor of batch indices into every domain.

    Each domain is shuffled and sharded exactly as its own ``DistributedSampler`` orders it (seed,
    epoch, rank and padding), then cut into full batches. The domains are zipped as Lightning's
    ``CombinedLoader`` zips their loaders in ``max_size_cycle`` mode: an epoch lasts as long as the
    domain with the most batches, and a domain that runs out starts over in the same order. So
    a model sees the batches the per-domain loaders would have served, at a cost per step that
    does not depend on the number of rows (no Python list of indices).

    A ``DistributedSampler`` itself, so that the Trainer keeps it under DDP rather than inject
    its own; ``set_epoch`` reaches every domain.

    Examples:
        >>> domains = [DistributedSampler(range(n), num_replicas=1, rank=0, seed=s) for n, s in [(6, 0), (4, 1)]]
        >>> sampler = DomainIndexSampler(domains, batch_size=2)
        >>> [[index.tolist() for index in step] for step in sampler]  # the second domain starts over at step 2
        [[[2, 5], [1, 3]], [[3, 0], [2, 0]], [[1, 4], [1, 3]]]
    """

    def __init__(self, domains: Sequence[DistributedSampler], batch_size: int) -> None:
        first = domains[0]
        super().__init__(first.dataset, num_replicas=first.num_replicas, rank=first.rank, seed=first.seed)
        self.domains = list(domains)
        self.batch_size = batch_size
        self.batches_per_domain = [domain.num_samples // batch_size for domain in self.domains]

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        for domain in self.domains:
            domain.set_epoch(epoch)

    def __len__(self) -> int:
        return max(self.batches_per_domain)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:  # type: ignore[override]
        batches = [
            shard_order(domain)[: count * self.batch_size].view(count, self.batch_size)
            for domain, count in zip(self.domains, self.batches_per_domain, strict=True)
        ]
        for step in range(len(self)):
            yield tuple(domain_batches[step % len(domain_batches)] for domain_batches in batches)


def shard_order(sampler: DistributedSampler) -> Tensor:
    """``list(sampler)`` as a tensor, computed without a Python list."""
    rows = len(sampler.dataset)
    if sampler.shuffle:
        generator = torch.Generator()
        generator.manual_seed(sampler.seed + sampler.epoch)
        order = torch.randperm(rows, generator=generator)
    else:
        order = torch.arange(rows)
    # DistributedSampler pads by repeating its order up to total_size, or truncates with drop_last.
    order = order.repeat(math.ceil(sampler.total_size / rows))[: sampler.total_size]
    return order[sampler.rank : sampler.total_size : sampler.num_replicas]


class DomainBatchDataset(Dataset):
    """Whole training batches of in-memory domains: ``dataset[(source_index, ..., target_index)]``
    is ``{"source": (x_s, y_s), "target": (x_t, ...)}`` (``"source"`` a list of pairs with several
    source domains), fetched with one indexing operation per domain. Served by a ``DataLoader``
    with ``batch_size=None`` and a [`DomainIndexSampler`][dann_lightning.data.domain_batches.DomainIndexSampler].
    """

    def __init__(self, sources: Sequence[InMemoryDataset], target: InMemoryDataset, *, source_list: bool) -> None:
        self.sources = list(sources)
        self.target = target
        self.source_list = source_list

    def __getitem__(self, indices: tuple[Tensor, ...]) -> dict[str, Any]:
        *source_indices, target_index = indices
        sources = [dataset.__getitems__(index) for dataset, index in zip(self.sources, source_indices, strict=True)]
        return {"source": sources if self.source_list else sources[0], "target": self.target.__getitems__(target_index)}
