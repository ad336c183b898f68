"""The sampler of evaluation loaders under DDP: each sample exactly once over all ranks, no padding."""

from __future__ import annotations

from collections.abc import Iterator, Sized

from torch.utils.data import DistributedSampler


class EvaluationSampler(DistributedSampler):
    """Rank ``r`` of ``w`` reads samples ``r, r + w, r + 2w, ...`` in order, and nothing else.

    torch's ``DistributedSampler`` pads the shards to one length by repeating samples, so a metric
    over all ranks would count some twice. Here shards may differ in length by one and every sample
    counts exactly once. It subclasses ``DistributedSampler`` so that the Trainer, which replaces
    the samplers of a distributed run with its own unless they are distributed, leaves it in place.

    Examples:
        >>> [list(EvaluationSampler(range(5), num_replicas=2, rank=rank)) for rank in (0, 1)]
        [[0, 2, 4], [1, 3]]
    """

    def __init__(self, dataset: Sized, *, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)  # type: ignore[arg-type]
        self.total_size = len(dataset)
        self.num_samples = len(range(rank, self.total_size, num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples
