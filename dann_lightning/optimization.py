"""How the networks are optimized: the two modes (Lightning's automatic and manual optimization) as
objects the training step calls, their optimizers and learning-rate schedules, and the gradient
averaging that manual optimization needs under DDP."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import Any

import torch
from lightning.pytorch.strategies import ParallelStrategy, Strategy
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from dann_lightning.nets import parameter_groups, scale_learning_rates
from dann_lightning.progress import total_training_batches
from dann_lightning.schedules import lr_factor


def build_optimizer(factory: Callable[..., Optimizer], *modules: nn.Module) -> Optimizer:
    """``factory`` over the parameters of ``modules``: their own parameter groups where they define
    them (e.g. a pretrained backbone at 0.1x the learning rate), else one group."""
    groups = parameter_groups(*modules)
    optimizer = factory(groups or [param for module in modules for param in module.parameters()])
    scale_learning_rates(optimizer)
    return optimizer


def update_tensors_together(optimizer: Optimizer) -> None:
    """Let an optimizer that can update all its tensors in one call per operation (``foreach``) do
    so where its user left the choice open (``foreach=None``). torch does by default on GPUs only;
    with several candidates on a CPU the per-tensor updates of many small networks cost more than
    their arithmetic. A public option, set in ``param_groups`` as torch's own optimizers read it."""
    for group in optimizer.param_groups:
        if "foreach" in group and group["foreach"] is None:
            group["foreach"] = True


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


class AutomaticOptimization:
    """Lightning's automatic optimization: one optimizer over every network, one backward per batch.

    The discriminator and the features are updated at once from the same parameters; the
    Trainer's ``gradient_clip_val`` and ``accumulate_grad_batches`` apply.
    """

    automatic = True

    def configure_optimizers(self, module: Any, trained: list[nn.Module]) -> dict[str, Any]:
        networks = [net for nets in trained for net in (nets.feature_extractor, nets.classifier)]
        optimizer = build_optimizer(module.optimizer_factory, *networks, *(nets.discriminator for nets in trained))
        if len(trained) > 1:
            update_tensors_together(optimizer)
        return with_lr_schedule(module.hparams, optimizer, lambda: module.trainer.estimated_stepping_batches)

    def steps_per_batch(self, module: Any) -> float:
        return 1.0 / module.trainer.accumulate_grad_batches

    def discriminator_step(
        self, module: Any, discriminator: nn.Module, inputs: Tensor, domains: Tensor, class_logits: Tensor
    ) -> None:
        """Nothing: the one backward pass trains the discriminator with the rest."""

    def model_step(self, module: Any, loss: Tensor) -> None:
        """Nothing: Lightning runs backward and the optimizer step on the returned loss."""


class ManualOptimization:
    """Lightning's manual optimization, as in its GAN example: each batch first updates the
    discriminator ``discriminator_steps`` times on the (fixed) features, then the feature extractor
    and classifier on the classification loss plus the reversed domain loss against the updated
    discriminator. The discriminator has its own optimizer and learning-rate schedule."""

    automatic = False

    def configure_optimizers(self, module: Any, trained: list[nn.Module]) -> list[dict[str, Any]]:
        networks = [net for nets in trained for net in (nets.feature_extractor, nets.classifier)]
        main = build_optimizer(module.optimizer_factory, *networks)
        discriminators = [nets.discriminator for nets in trained]
        discriminator = build_optimizer(module.discriminator_optimizer_factory, *discriminators)
        if len(trained) > 1:
            for optimizer in (main, discriminator):
                update_tensors_together(optimizer)

        def batches() -> int:  # both schedules step once per batch
            return total_training_batches(module.trainer, self.steps_per_batch(module))

        return [with_lr_schedule(module.hparams, optimizer, batches) for optimizer in (main, discriminator)]

    def steps_per_batch(self, module: Any) -> float:
        candidates = len(module.candidates.lambdas)
        return float(candidates * module.hparams.discriminator_steps + 1)

    def discriminator_step(
        self, module: Any, discriminator: nn.Module, inputs: Tensor, domains: Tensor, class_logits: Tensor
    ) -> None:
        """``discriminator_steps`` updates of ``discriminator`` on fixed ``inputs`` (the optimizer holds
        every candidate's discriminator: only this one has gradients)."""
        _, optimizer = module.optimizers()
        strategy = module.trainer.strategy
        distributed = isinstance(strategy, ParallelStrategy) and module.trainer.world_size > 1
        for _ in range(module.hparams.discriminator_steps):
            loss = module.adversarial_loss(module.domain_logits(discriminator, inputs), domains, class_logits)
            optimizer.zero_grad()
            # This backward reaches the discriminator alone, while DDP expects every parameter in
            # a synchronised backward: run it unsynchronised, then average as DDP would.
            with strategy.block_backward_sync() if distributed else nullcontext():
                module.manual_backward(loss)
            if distributed:
                average_gradients(discriminator.parameters(), strategy)
            self._clip_and_step(module, optimizer)

    def model_step(self, module: Any, loss: Tensor) -> None:
        """Backward and step of the feature extractor and classifier; both schedules step."""
        main, _ = module.optimizers()
        main.zero_grad()
        module.manual_backward(loss)
        self._clip_and_step(module, main)
        for scheduler in module.lr_schedulers():
            scheduler.step()

    def _clip_and_step(self, module: Any, optimizer: Optimizer) -> None:
        hp = module.hparams
        if hp.gradient_clip_val is not None:
            module.clip_gradients(
                optimizer, gradient_clip_val=hp.gradient_clip_val, gradient_clip_algorithm=hp.gradient_clip_algorithm
            )
        optimizer.step()


OPTIMIZATION_MODES = {"automatic": AutomaticOptimization, "manual": ManualOptimization}


def with_lr_schedule(hparams: Any, optimizer: Optimizer, total_steps: Callable[[], float]) -> dict[str, Any]:
    """``optimizer`` with its ``lr_schedule``, stepped every optimizer step, as Lightning takes it."""
    scheduler = progress_lr_scheduler(
        optimizer, hparams.lr_schedule, total_steps, alpha=hparams.lr_alpha, beta=hparams.lr_beta
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
