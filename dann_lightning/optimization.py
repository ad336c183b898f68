"""Optimizers and learning-rate schedules of the networks, and the gradient averaging that manual
optimization needs under DDP."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from lightning.pytorch.strategies import Strategy
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from dann_lightning.nets import parameter_groups, scale_learning_rates
from dann_lightning.schedules import lr_factor


def build_optimizer(factory: Callable[..., Optimizer], *modules: nn.Module) -> Optimizer:
    """``factory`` over the parameters of ``modules``: their own parameter groups where they define
    them (e.g. a pretrained backbone at 0.1x the learning rate), else one group."""
    groups = parameter_groups(*modules)
    optimizer = factory(groups or [param for module in modules for param in module.parameters()])
    scale_learning_rates(optimizer)
    return optimizer


def progress_lr_scheduler(
    optimizer: Optimizer, schedule: str, total_steps: Callable[[], float], *, alpha: float, beta: float
) -> LambdaLR:
    """``lr = lr_0 * lr_factor(schedule, p)`` with ``p = step / total_steps()``, stepped once per step.

    ``total_steps`` is asked at the first step, once the Trainer knows the training length; every
    schedule starts at a factor of 1.
    """
    known: list[float] = []

    def factor(step: int) -> float:
        if step == 0:
            return 1.0
        if not known:
            known.append(max(total_steps(), 1))
        return lr_factor(schedule, min(step / known[0], 1.0), alpha=alpha, beta=beta)

    return LambdaLR(optimizer, factor)


def average_gradients(parameters: Iterable[nn.Parameter], strategy: Strategy) -> None:
    """Average the gradients of ``parameters`` across processes in one collective (as DDP would)."""
    grads = [param.grad for param in parameters if param.grad is not None]
    if not grads:
        return
    flat = strategy.reduce(torch.cat([grad.flatten() for grad in grads]), reduce_op="mean")
    for grad, averaged in zip(grads, flat.split([grad.numel() for grad in grads]), strict=True):
        grad.copy_(averaged.view_as(grad))
