"""The validation rows every candidate of ``lambda_max="auto"`` is scored on: inputs, outputs and
features of each candidate, for the target rows and the labelled source rows, at most ``max_rows``
of each domain, evenly spread over the validation set whatever its size."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

FIELDS = {
    "target": ("inputs", "outputs", "features"),
    "source": ("inputs", "outputs", "features", "labels"),
}


class ValidationRows(Metric):
    """Keeps every ``stride``-th row of each domain; when more than ``max_rows`` are kept, every other
    kept row is dropped and the stride doubles, so the rows stay evenly spread and memory bounded.
    Across processes the kept rows are concatenated.

    Outputs and features are stacked over candidates: ``(rows, K, ...)``.

    Examples:
        >>> rows = ValidationRows(max_rows=4)
        >>> for start in range(0, 10, 2):
        ...     x = torch.arange(start, start + 2.0)[:, None]
        ...     rows.update("target", inputs=x, outputs=x[:, None], features=x[:, None])
        >>> rows.compute()["target_inputs"].flatten().tolist()  # every 4th of 0..9, at most 4
        [0.0, 4.0, 8.0]
    """

    full_state_update = False

    def __init__(self, max_rows: int = 2000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_rows = max_rows
        for domain, fields in FIELDS.items():
            for name in fields:
                self.add_state(f"{domain}_{name}", [], dist_reduce_fx="cat")
        self.seen = {"target": 0, "source": 0}
        self.stride = {"target": 1, "source": 1}

    def update(self, domain: str, **values: Tensor) -> None:
        """Rows of one batch of ``domain`` (``"target"`` or ``"source"``): ``inputs``, ``outputs``
        ``(b, K, C)``, ``features`` ``(b, K, D)`` and, for the source, ``labels``."""
        count = len(values["inputs"])
        positions = torch.arange(self.seen[domain], self.seen[domain] + count)
        self.seen[domain] += count
        keep = (positions % self.stride[domain] == 0).nonzero().flatten()
        if len(keep) == 0:
            return
        for name in FIELDS[domain]:
            value = values[name]
            getattr(self, f"{domain}_{name}").append(value.detach()[keep.to(value.device)])
        if self.kept(domain) > self.max_rows:
            self._thin(domain)

    def kept(self, domain: str) -> int:
        return sum(len(part) for part in getattr(self, f"{domain}_inputs"))

    def _thin(self, domain: str) -> None:
        # The i-th kept row sits at position i * stride: those at multiples of twice the stride stay.
        parity = torch.arange(self.kept(domain)) % 2 == 0
        for name in FIELDS[domain]:
            joined = torch.cat(getattr(self, f"{domain}_{name}"))
            setattr(self, f"{domain}_{name}", [joined[parity.to(joined.device)]])
        self.stride[domain] *= 2

    def compute(self) -> dict[str, Tensor | None]:
        """Every kept row, by ``<domain>_<field>`` (``None`` for a domain that gave none)."""
        result: dict[str, Tensor | None] = {}
        for domain, fields in FIELDS.items():
            for name in fields:
                parts = getattr(self, f"{domain}_{name}")
                result[f"{domain}_{name}"] = dim_zero_cat(parts) if len(parts) else None
        return result

    def reset(self) -> None:
        super().reset()
        self.seen = {"target": 0, "source": 0}
        self.stride = {"target": 1, "source": 1}
