"""The base of the data modules that scale every split with statistics fitted on the source."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor
from typing_extensions import override

from dann_lightning.data.domain import DomainDataModule
from dann_lightning.data.transforms import FittedStatistics


class ScaledDataModule(DomainDataModule):
    """Splits scaled with statistics of the source training split, kept in the ``state_dict``.

    A subclass implements two steps. :meth:`_load_raw_splits` reads or draws its unscaled splits,
    keeps them, and returns the source training inputs; :meth:`_build_datasets` builds the datasets
    with ``self.scaler.transform``. ``setup`` runs them once, fitting ``scaler`` in between unless a
    checkpoint restored it first. Lightning restores the ``state_dict`` after ``setup``, so the
    datasets are rebuilt then: a resumed or evaluated run scales its data as training did.

    Args:
        scaler: the unfitted statistics (a :class:`~dann_lightning.data.Standardizer` for
            features, a :class:`~dann_lightning.data.transforms.ChannelNormalizer` for images).
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.
    """

    def __init__(self, scaler: FittedStatistics, *, batch_size: int, num_workers: int) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers)
        self.scaler = scaler
        self._built = False

    def _load_raw_splits(self) -> Tensor:
        """Read or draw the unscaled splits, keep them, return the source training inputs."""
        raise NotImplementedError

    def _build_datasets(self) -> None:
        """Set the dataset attributes from the unscaled splits, scaled by ``self.scaler``."""
        raise NotImplementedError

    @override
    def setup(self, stage: str) -> None:
        if not self._built:
            source_train = self._load_raw_splits()
            if not self.scaler.fitted:
                self.scaler.fit(source_train)
            self._build_datasets()
            self._built = True
        super().setup(stage)

    @override
    def model_inputs(self, input_shape: Sequence[int] | None = None) -> Any:
        """Raw inputs, with the fitted ``scaler`` to fold into a deployed model."""
        from dann_lightning.preprocessing import standardized_inputs  # preprocessing imports the data package

        return standardized_inputs(self.scaler, input_shape, classes=self.known_classes())

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Image data modules wrote theirs under "normalizer" (dann_lightning <= 0.1.0): still read.
        self.scaler.load_state_dict(state_dict.get("scaler", state_dict.get("normalizer", {})))
        if self._built:  # scaled in setup(), before the checkpoint's statistics arrived
            self._build_datasets()
