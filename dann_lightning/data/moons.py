"""The two-moons domain shift as a data module (its generator lives in ``dann_lightning.datasets.moons``)."""

from __future__ import annotations

from dann_lightning.checks import check_int, check_real
from dann_lightning.data.domain import TrainOn
from dann_lightning.data.shift import ShiftDataModule
from dann_lightning.datasets.moons import MOONS_CENTRE, make_moons_shift, rotate
from dann_lightning.datasets.splits import DomainSplits

MoonsShift = DomainSplits  # what make_moons_shift returned before DomainSplits

__all__ = ["MOONS_CENTRE", "MoonsDataModule", "MoonsShift", "make_moons_shift", "rotate"]


class MoonsDataModule(ShiftDataModule):
    """Two moons as the source; an independent draw rotated about the source centre as the target:
    ``ShiftDataModule("moons", ...)`` under its earlier name and arguments.

    The defaults follow the paper: 35 degrees, noise 0.1, 1000 training samples per domain. The
    target training split yields features only. A standardiser fitted on the source training
    split scales every split and is kept in the data module's ``state_dict``, so resumed and
    evaluated runs scale their data as training did.

    Args:
        n_samples: training samples per domain.
        noise: standard deviation of the Gaussian noise of ``make_moons``.
        angle: rotation of the target domain, in degrees, counter-clockwise.
        n_val: validation samples per domain (labelled; target labels are an oracle).
        n_test: target test samples.
        seed: seed of the draw; the same seed gives the same data.
        train_on: ``"source"``, or ``"target"`` for the oracle upper bound: the classifier is trained
            on the labelled target training split in place of the source.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.
    """

    def __init__(
        self,
        n_samples: int = 1000,
        noise: float = 0.1,
        angle: float = 35.0,
        n_val: int = 250,
        n_test: int = 1000,
        seed: int = 0,
        train_on: TrainOn = "source",
        *,
        batch_size: int = 64,
        num_workers: int = 0,
    ) -> None:
        for name, value in [("n_samples", n_samples), ("n_val", n_val), ("n_test", n_test)]:
            check_int(f"MoonsDataModule {name}", value, minimum=1)
        check_real("MoonsDataModule noise", noise, minimum=0.0)
        check_real("MoonsDataModule angle (degrees)", angle)
        options = {"n_samples": n_samples, "noise": noise, "angle": angle, "n_val": n_val, "n_test": n_test}
        super().__init__("moons", seed, options, train_on=train_on, batch_size=batch_size, num_workers=num_workers)
        self.save_hyperparameters()
