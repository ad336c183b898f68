"""The two-moons domain shift of Ganin et al. (JMLR 2016, section 5.1): the target is rotated."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import make_moons
from torch.utils.data import TensorDataset
from typing_extensions import override

from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.data.domain import TrainOn
from dann_lightning.data.fitted import ScaledDataModule
from dann_lightning.data.transforms import Standardizer

# The centre of the two half circles that make_moons draws (x in [-1, 2], y in [-0.5, 1]).
MOONS_CENTRE = (0.5, 0.25)


@dataclass(frozen=True)
class MoonsShift:
    """Raw (unscaled) arrays of one two-moons domain-shift draw."""

    source_train: tuple[np.ndarray, np.ndarray]
    source_val: tuple[np.ndarray, np.ndarray]
    target_train: tuple[np.ndarray, np.ndarray]
    target_val: tuple[np.ndarray, np.ndarray]
    target_test: tuple[np.ndarray, np.ndarray]


def rotate(points: np.ndarray, angle: float, centre: tuple[float, float] = MOONS_CENTRE) -> np.ndarray:
    """Rotate 2-D ``points`` counter-clockwise by ``angle`` degrees about ``centre``."""
    theta = math.radians(angle)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    centre_arr = np.asarray(centre)
    return (points - centre_arr) @ rotation.T + centre_arr


def make_moons_shift(
    n_samples: int = 1000,
    noise: float = 0.1,
    angle: float = 35.0,
    n_val: int = 250,
    n_test: int = 1000,
    seed: int = 0,
) -> MoonsShift:
    """Draw source moons and an independent, rotated target draw, each split seeded on its own.

    Every split comes from its own child of ``SeedSequence(seed)``, so changing one split's size
    leaves the others unchanged, and no sample appears in two splits.
    """
    split_seeds = np.random.SeedSequence(seed).spawn(5)

    def draw(n: int, seed_seq: np.random.SeedSequence, rotated: bool) -> tuple[np.ndarray, np.ndarray]:
        x, y = make_moons(n, noise=noise, random_state=np.random.RandomState(seed_seq.generate_state(1)[0]))
        return (rotate(x, angle) if rotated else x), y

    return MoonsShift(
        source_train=draw(n_samples, split_seeds[0], rotated=False),
        source_val=draw(n_val, split_seeds[1], rotated=False),
        target_train=draw(n_samples, split_seeds[2], rotated=True),
        target_val=draw(n_val, split_seeds[3], rotated=True),
        target_test=draw(n_test, split_seeds[4], rotated=True),
    )


class MoonsDataModule(ScaledDataModule):
    """Two moons as the source; an independent draw rotated about the source centre as the target.

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
        super().__init__(Standardizer(), batch_size=batch_size, num_workers=num_workers)
        check_choice("train_on", train_on, TrainOn)
        for name, value in [("n_samples", n_samples), ("n_val", n_val), ("n_test", n_test)]:
            check_int(f"MoonsDataModule {name}", value, minimum=1)
        check_real("MoonsDataModule noise", noise, minimum=0.0)
        check_real("MoonsDataModule angle (degrees)", angle)
        self.save_hyperparameters()
        self._raw: MoonsShift | None = None

    @override
    @property
    @override
    def classes(self) -> list[str]:
        """The two moons: ``["0", "1"]``."""
        return ["0", "1"]

    def _load_raw_splits(self) -> torch.Tensor:
        h = self.hparams
        self._raw = make_moons_shift(h.n_samples, h.noise, h.angle, h.n_val, h.n_test, h.seed)
        return torch.as_tensor(self._raw.source_train[0])

    @override
    def _build_datasets(self) -> None:
        assert self._raw is not None

        def labelled(split: tuple[np.ndarray, np.ndarray]) -> TensorDataset:
            return TensorDataset(self._scaled(split[0]), torch.as_tensor(split[1], dtype=torch.long))

        train_on_target = self.hparams.train_on == "target"
        self.source_train = labelled(self._raw.target_train if train_on_target else self._raw.source_train)
        self.source_val = labelled(self._raw.source_val)
        self.target_train = TensorDataset(self._scaled(self._raw.target_train[0]))
        self.target_val = labelled(self._raw.target_val)
        self.target_test = labelled(self._raw.target_test)

    def _scaled(self, x: np.ndarray) -> torch.Tensor:
        return self.scaler.transform(torch.as_tensor(x, dtype=torch.float32))
