"""The two-moons domain shift of Ganin et al. (JMLR 2016, section 5.1): the target is rotated."""

from __future__ import annotations

import math

import numpy as np
from sklearn.datasets import make_moons

from dann_lightning.checks import check_real
from dann_lightning.datasets.splits import DomainSplits, check_sizes

# The centre of the two half circles that make_moons draws (x in [-1, 2], y in [-0.5, 1]).
MOONS_CENTRE = (0.5, 0.25)


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
) -> DomainSplits:
    """Draw source moons and an independent, rotated target draw, each split seeded on its own.

    Every split comes from its own child of ``SeedSequence(seed)``, so changing one split's size
    leaves the others unchanged, and no sample appears in two splits. Features are float64, as
    ``make_moons`` draws them.

    Examples:
        >>> shift = make_moons_shift(n_samples=100, n_test=10, seed=0)
        >>> shift.source_train[0].shape, shift.target_test[1].shape, shift.classes
        ((100, 2), (10,), ['0', '1'])
    """
    split_seeds = np.random.SeedSequence(seed).spawn(5)

    def draw(n: int, seed_seq: np.random.SeedSequence, rotated: bool) -> tuple[np.ndarray, np.ndarray]:
        x, y = make_moons(n, noise=noise, random_state=np.random.RandomState(seed_seq.generate_state(1)[0]))
        return (rotate(x, angle) if rotated else x), y

    return DomainSplits(
        source_train=draw(n_samples, split_seeds[0], rotated=False),
        source_val=draw(n_val, split_seeds[1], rotated=False),
        target_train=draw(n_samples, split_seeds[2], rotated=True),
        target_val=draw(n_val, split_seeds[3], rotated=True),
        target_test=draw(n_test, split_seeds[4], rotated=True),
        name="moons",
        classes=["0", "1"],
        details={"angle": angle},
    )


def moons_shift(
    *,
    seed: int = 0,
    n_samples: int = 1000,
    noise: float = 0.1,
    angle: float = 35.0,
    n_val: int = 250,
    n_test: int = 1000,
) -> DomainSplits:
    """Two moons; the target drawn afresh and rotated by ``angle`` degrees about the moons' centre:
    :func:`make_moons_shift` with its options checked (the shift family ``"moons"``).

    The suite sweeps ``angle`` over 20..60 and ``noise`` over 0.05..0.25; the defaults are the paper's.

    Args:
        seed: seed of the draw.
        n_samples: training rows per domain.
        noise: standard deviation of the noise of ``make_moons``.
        angle: counter-clockwise rotation of the target, in degrees.
        n_val: validation rows per domain.
        n_test: target test rows.
    """
    check_sizes("moons", seed, n_samples, n_val, n_test)
    check_real("moons noise", noise, minimum=0.0)
    check_real("moons angle", angle)
    return make_moons_shift(n_samples, noise, angle, n_val, n_test, seed)
