"""Schedules as pure functions of training progress ``p`` in [0, 1].

Each returns a factor: the adversarial weight is ``lambda_max * lambda_factor(p)`` and the
learning rate is ``lr_0 * lr_factor(p)``. ``p`` is the fraction of training batches done
(Ganin et al., JMLR 2016, section 5.2.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from dann_lightning.checks import check_choice
from dann_lightning.errors import ConfigurationError

LambdaScheduleName = Literal["ganin", "constant"]
LRScheduleName = Literal["ganin", "constant", "cosine"]


def _check_progress(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ConfigurationError(f"training progress p must lie in [0, 1], got {p}")
    return p


def ganin_lambda(p: float, gamma: float = 10.0) -> float:
    """The paper's ramp ``2 / (1 + exp(-gamma p)) - 1``: 0 at the start, close to 1 at the end.

    Examples:
        >>> ganin_lambda(0.0), round(ganin_lambda(1.0), 5)
        (0.0, 0.99991)
    """
    return 2.0 / (1.0 + math.exp(-gamma * _check_progress(p))) - 1.0


def ganin_lr(p: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """The paper's annealing ``1 / (1 + alpha p) ** beta``.

    Examples:
        >>> round(ganin_lr(1.0), 4)
        0.1656
    """
    return 1.0 / (1.0 + alpha * _check_progress(p)) ** beta


def cosine_lr(p: float, **_: float) -> float:
    """Cosine decay from 1 to 0: ``(1 + cos(pi p)) / 2``."""
    return 0.5 * (1.0 + math.cos(math.pi * _check_progress(p)))


def constant(p: float, **_: float) -> float:
    """A factor of 1 throughout."""
    _check_progress(p)
    return 1.0


LAMBDA_SCHEDULES: dict[str, Callable[..., float]] = {"ganin": ganin_lambda, "constant": constant}
LR_SCHEDULES: dict[str, Callable[..., float]] = {"ganin": ganin_lr, "constant": constant, "cosine": cosine_lr}


def lambda_factor(name: str, p: float, *, gamma: float = 10.0) -> float:
    """The adversarial weight factor of schedule ``name`` at progress ``p``."""
    schedule = _lookup(LAMBDA_SCHEDULES, name, "lambda_schedule")
    return schedule(p, gamma=gamma)


def lr_factor(name: str, p: float, *, alpha: float = 10.0, beta: float = 0.75) -> float:
    """The learning-rate factor of schedule ``name`` at progress ``p``."""
    schedule = _lookup(LR_SCHEDULES, name, "lr_schedule")
    return schedule(p, alpha=alpha, beta=beta)


def check_schedule_name(registry: dict[str, Callable[..., float]], name: str, argument: str) -> str:
    """Raise ValueError naming ``argument`` and the valid choices if ``name`` is not in ``registry``."""
    _lookup(registry, name, argument)
    return name


def _lookup(registry: dict[str, Callable[..., float]], name: str, argument: str) -> Callable[..., float]:
    schedule = registry.get(name)  # called every step: the full check only for a name that is not there
    return schedule if schedule is not None else registry[check_choice(argument, name, tuple(registry))]
