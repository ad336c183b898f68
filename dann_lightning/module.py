"""DANNLitModule: domain-adversarial training (Ganin et al., JMLR 2016) as a LightningModule."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.strategies import DDPStrategy, ParallelStrategy, SingleDeviceStrategy
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy
from torchmetrics.functional.classification import binary_accuracy
from typing_extensions import override

from dann_lightning.analysis.scores import SCORES, SelectionScoreName
from dann_lightning.batch import check_training_batch, unpack_evaluation_batch, unpack_training_batch
from dann_lightning.checkpoints import check_checkpoint_file, check_output_directories, saved_subclass
from dann_lightning.data.domain import DomainDataModule
from dann_lightning.errors import CheckpointError, ConfigurationError, DivergenceError
from dann_lightning.grl import GradientReversal
from dann_lightning.losses import classification_loss, domain_labels, domain_loss
from dann_lightning.nets import (
    SOURCE_DOMAIN,
    TARGET_DOMAIN,
    has_domain_norm,
    parameter_groups,
    scale_learning_rates,
    set_domain,
)
from dann_lightning.progress import total_training_batches, training_progress
from dann_lightning.schedules import (
    LAMBDA_SCHEDULES,
    LR_SCHEDULES,
    LambdaScheduleName,
    LRScheduleName,
    check_schedule_name,
    lambda_factor,
    lr_factor,
)

try:  # Set while LightningCLI instantiates a model: the networks then arrive as plain config.
    from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
except ImportError:  # pragma: no cover - older Lightning: checkpoints then need the networks passed in
    _given_hyperparameters = None

OptimizationMode = Literal["automatic", "manual"]
FeaturePass = Literal["joint", "separate"]
OPTIMIZATION_MODES = ("automatic", "manual")
FEATURE_PASSES = ("joint", "separate")
_WATCHED_LOSSES = ("the classification loss (train/cls_loss)", "the domain loss (train/domain_loss)")
_DIVERGENCE_WINDOW = 256  # batches between two divergence checks at most
# What Lightning's automatic-optimization loop calls and its manual loop does not.
_AUTOMATIC_LOOP_HOOKS = (
    "training_step",
    "configure_optimizers",
    "on_before_zero_grad",
    "optimizer_zero_grad",
    "optimizer_step",
    "configure_gradient_clipping",
    "lr_scheduler_step",
)
_PYTHON_OBJECT_ARGS = ["feature_extractor", "classifier", "discriminator", "optimizer", "discriminator_optimizer"]


class DANNLitModule(L.LightningModule):
    """Domain-adversarial neural network: a feature extractor shared by a label classifier and,
    through a gradient reversal layer, a domain discriminator.

    Loss = cross-entropy of the classifier on source samples + binary cross-entropy of the
    discriminator on source (label 0) and target (label 1) features. The reversal layer scales the
    discriminator's gradient into the feature extractor by ``-lambda_p``, so the features learn to
    fool the discriminator while the discriminator learns to tell the domains apart.
    ``lambda_p = lambda_max * schedule(p)`` with ``p`` the fraction of training batches done.

    ``lambda_max=0`` is exactly source-only training of the feature extractor and classifier (the
    baseline), as long as the networks have no batch statistics that the target batch would share
    (``BatchNorm`` with ``feature_pass="joint"``).

    Two ways to optimize:

    - ``"automatic"``: one optimizer over all three networks, one backward pass per batch; the
      discriminator and the features are updated simultaneously from the same parameters. The
      Trainer's ``gradient_clip_val`` and ``accumulate_grad_batches`` apply. Lightning runs this
      step in its automatic-optimization loop when something needs that loop (those Trainer
      options, a strategy other than single-device or DDP, a subclass overriding
      ``optimizer_step`` and similar hooks, a callback with ``on_before_zero_grad``); otherwise
      the module runs the identical step itself under Lightning's manual-optimization loop,
      which costs ~0.5 ms less per step. ``automatic_optimization`` says which loop a fit used.
    - ``"manual"``: the discriminator has its own optimizer and LR schedule. Each batch first
      updates the discriminator ``discriminator_steps`` times on the domain loss of the (fixed)
      features, then the feature extractor and classifier on classification loss + reversed
      domain loss against the updated discriminator. ``max_steps`` counts every optimizer step:
      ``discriminator_steps + 1`` per batch. Gradient clipping is this module's
      ``gradient_clip_val``, not the Trainer's.

    With ``discriminator_steps=1`` and the same optimizer settings the two modes give the same
    discriminator update at every step; the feature extractor and classifier updates differ only
    through the domain gradient, which manual mode takes against the already updated discriminator.
    With ``lambda_max=0`` they coincide exactly.

    Args:
        feature_extractor: maps inputs to features.
        classifier: maps features to ``num_classes`` logits.
        discriminator: maps features to one logit per sample, shape ``(N,)`` or ``(N, 1)``.
        num_classes: number of classes.
        optimizer: builds the optimizer from parameters (default: Adam, learning rate 1e-3). In
            automatic mode it receives all parameters; in manual mode those of the feature extractor
            and classifier.
        lambda_max: final weight of the adversarial gradient; 0 trains source-only.
        lambda_schedule: ``"ganin"`` (the paper's ramp from 0 to ``lambda_max``) or ``"constant"``.
        gamma: steepness of the ``"ganin"`` ramp.
        lr_schedule: ``"ganin"`` (``lr_0 / (1 + lr_alpha p) ** lr_beta``), ``"cosine"`` or
            ``"constant"``, stepped every optimizer step (every batch in manual mode).
        lr_alpha: ``alpha`` of the ``"ganin"`` LR annealing.
        lr_beta: ``beta`` of the ``"ganin"`` LR annealing.
        optimization: ``"automatic"`` or ``"manual"``.
        discriminator_optimizer: manual mode only: builds the discriminator's optimizer (default:
            ``optimizer``).
        discriminator_steps: manual mode only: discriminator updates per batch.
        gradient_clip_val: manual mode only: clip gradients of each optimizer to this value.
        gradient_clip_algorithm: ``"norm"`` or ``"value"``, with ``gradient_clip_val``.
        feature_pass: ``"joint"`` runs the feature extractor once on source and target together;
            ``"separate"`` runs it on each domain's batch alone, so that normalisation layers
            (``BatchNorm``) use per-domain batch statistics. ``DomainBatchNorm`` layers
            (:mod:`dann_lightning.nets`) in the feature extractor are switched to each batch's domain
            (and need ``"separate"``): per-domain running statistics too; validation uses each
            domain's own, and the model otherwise stays on the target's.
        compile: ``torch.compile`` the three networks in place (``True``, or a dict of
            ``torch.compile`` arguments). The state dict keeps its keys; changing lambda does not
            recompile, because the reversal layer sits outside the compiled networks.
        selection_scores: unsupervised model-selection scores logged at validation as
            ``val/<name>``, computed without target labels (see
            :mod:`dann_lightning.analysis.scores`): ``"entropy"`` (lower is better), ``"im"``,
            ``"snd"`` (higher is better), ``"dev"`` (lower is better; needs labelled source
            validation data).
        num_sources: source domains in each batch (``DomainDataModule(source_train=[...])``). With
            more than one, the discriminator tells ``num_sources + 1`` domains apart: it returns
            that many logits per sample, trained with cross-entropy (sources ``0 .. K-1``, target
            ``K``), and validation logs ``val/source_<k>_acc`` per source.
    """

    def __init__(
        self,
        feature_extractor: nn.Module,
        classifier: nn.Module,
        discriminator: nn.Module,
        *,
        num_classes: int,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lambda_max: float = 1.0,
        lambda_schedule: LambdaScheduleName = "ganin",
        gamma: float = 10.0,
        lr_schedule: LRScheduleName = "ganin",
        lr_alpha: float = 10.0,
        lr_beta: float = 0.75,
        optimization: OptimizationMode = "automatic",
        discriminator_optimizer: OptimizerCallable | None = None,
        discriminator_steps: int = 1,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: Literal["norm", "value"] = "norm",
        feature_pass: FeaturePass = "joint",
        compile: bool | dict[str, Any] = False,
        selection_scores: Sequence[SelectionScoreName] = ("entropy", "im", "snd", "dev"),
        num_sources: int = 1,
    ) -> None:
        super().__init__()
        for name, net in [
            ("feature_extractor", feature_extractor),
            ("classifier", classifier),
            ("discriminator", discriminator),
        ]:
            if not isinstance(net, nn.Module):
                raise ConfigurationError(f"{name} must be a torch.nn.Module, got {type(net).__name__}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigurationError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        _check_real("lambda_max", lambda_max, minimum=0.0)
        _check_real("gamma", gamma, minimum=0.0, strict=True)
        _check_real("lr_alpha", lr_alpha, minimum=0.0)
        _check_real("lr_beta", lr_beta, minimum=0.0)
        check_schedule_name(LAMBDA_SCHEDULES, lambda_schedule, "lambda_schedule")
        check_schedule_name(LR_SCHEDULES, lr_schedule, "lr_schedule")
        _check_choice("optimization", optimization, OPTIMIZATION_MODES)
        _check_choice("feature_pass", feature_pass, FEATURE_PASSES)
        if feature_pass == "joint" and has_domain_norm(feature_extractor):
            raise ConfigurationError(
                "feature_extractor has DomainBatchNorm layers, which need one pass per domain: "
                "set feature_pass='separate' (got 'joint')"
            )
        _check_choice("gradient_clip_algorithm", gradient_clip_algorithm, ("norm", "value"))
        for score in selection_scores:
            _check_choice("selection score", score, tuple(SCORES))
        if isinstance(num_sources, bool) or not isinstance(num_sources, int) or num_sources < 1:
            raise ConfigurationError(f"num_sources must be an integer >= 1, got {num_sources!r}")
        for name, factory in [("optimizer", optimizer), ("discriminator_optimizer", discriminator_optimizer)]:
            if factory is not None and not callable(factory):
                raise ConfigurationError(f"{name} must be a callable taking parameters, got {type(factory).__name__}")
        if isinstance(discriminator_steps, bool) or not isinstance(discriminator_steps, int) or discriminator_steps < 1:
            raise ConfigurationError(f"discriminator_steps must be an integer >= 1, got {discriminator_steps!r}")
        if gradient_clip_val is not None:
            _check_real("gradient_clip_val", gradient_clip_val, minimum=0.0, strict=True)
        if optimization == "automatic":
            manual_only = {
                "discriminator_optimizer": discriminator_optimizer is not None,
                "discriminator_steps": discriminator_steps != 1,
                "gradient_clip_val": gradient_clip_val is not None,
            }
            for name, given in manual_only.items():
                if given:
                    hint = " (use Trainer(gradient_clip_val=...))" if name == "gradient_clip_val" else ""
                    raise ConfigurationError(
                        f"{name} applies to optimization='manual' only; got it with 'automatic'{hint}"
                    )

        from_cli = _given_hyperparameters is not None and _given_hyperparameters.get() is not None
        self.save_hyperparameters(ignore=[] if from_cli else _PYTHON_OBJECT_ARGS)
        self.automatic_optimization = optimization == "automatic"

        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.discriminator = discriminator
        self.grl = GradientReversal(coeff=0.0)
        self.optimizer_factory = optimizer
        self.discriminator_optimizer_factory = discriminator_optimizer or optimizer
        self.num_classes = num_classes

        self.num_sources = num_sources
        self.source_names = ["source"] if num_sources == 1 else [f"source_{k}" for k in range(num_sources)]
        self.val_domain_acc = (
            BinaryAccuracy() if num_sources == 1 else MulticlassAccuracy(num_sources + 1, average="micro")
        )
        self.class_acc = nn.ModuleDict(
            {
                f"{stage}_{domain}": MulticlassAccuracy(num_classes, average="micro")
                for stage in ("val", "test")
                for domain in [*self.source_names, "target"]
            }
        )
        self.selection_scores = nn.ModuleDict(
            {name: SCORES[name](num_classes) if name == "im" else SCORES[name]() for name in selection_scores}
        )
        self._first_batch_checked = False
        self._compiled = False
        # The watched losses of the batches since the last check, with their batch indices: kept
        # as (detached) tensors, so that watching for divergence costs no host-device sync per
        # step; read (one sync) only when checked.
        self._recent_losses: list[tuple[int, Tensor, Tensor]] = []
        self._domain_labels_cache: dict[tuple[Any, ...], Tensor] = {}

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> DANNLitModule:  # type: ignore[override]
        """Lightning's ``load_from_checkpoint``; a missing, truncated or foreign file raises
        :class:`~dann_lightning.errors.CheckpointError` naming it.

        A checkpoint written through ``dann-lightning`` needs no other argument. For a model built
        in Python, pass the networks again: ``load_from_checkpoint(path, feature_extractor=...,
        classifier=..., discriminator=...)``.
        """
        if isinstance(checkpoint_path, (str, Path)):
            check_checkpoint_file(checkpoint_path)
            # Lightning drops `_class_path` for a class without **kwargs, and would build this class
            # from a subclass's checkpoint (e.g. a CDANLitModule's): build the class it names.
            subclass = saved_subclass(checkpoint_path, cls)
            if subclass is not None:
                return subclass.load_from_checkpoint(checkpoint_path, *args, **kwargs)
        try:
            return super().load_from_checkpoint(checkpoint_path, *args, **kwargs)
        except KeyError as error:
            raise CheckpointError(
                f"checkpoint {checkpoint_path} is not a Lightning checkpoint: it lacks {error}"
            ) from error
        except TypeError as error:
            if "missing" not in str(error):
                raise
            raise CheckpointError(
                f"checkpoint {checkpoint_path} does not hold the network configuration ({error}): it was written "
                "by a model built in Python; pass feature_extractor=, classifier= and discriminator= again"
            ) from error

    def __setattr__(self, name: str, value: Any) -> None:
        # The Trainer sets `_current_fx_name` around every hook it calls, ~50 times a training step;
        # nn.Module.__setattr__ first looks for a parameter, buffer or module of that name, which
        # costs more per step than a small model's arithmetic. It is a plain string attribute.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @override
    def forward(self, x: Tensor) -> Tensor:
        """Class logits: the deployed model. The discriminator is not used."""
        return self.classifier(self.feature_extractor(x))

    def current_lambda(self) -> float:
        """``lambda_p`` for the current training batch."""
        hp = self.hparams
        p = training_progress(self.trainer, self._optimizer_steps_per_batch())
        return hp.lambda_max * lambda_factor(hp.lambda_schedule, p, gamma=hp.gamma)

    # ------------------------------------------------------------------ set-up

    @override
    def configure_callbacks(self) -> list[L.Callback]:
        # The first hook Lightning calls once the model is attached, before it validates the Trainer
        # itself: the place to say which option of this module to use instead.
        trainer = self.trainer
        if self.hparams.optimization == "automatic":
            self.automatic_optimization = self._needs_lightning_automatic_loop()
        else:
            if trainer.gradient_clip_val:
                raise ConfigurationError(
                    f"Trainer(gradient_clip_val={trainer.gradient_clip_val}) is not applied with "
                    "optimization='manual'; set DANNLitModule(gradient_clip_val=..., gradient_clip_algorithm=...) "
                    "instead and leave the Trainer's unset"
                )
            if trainer.accumulate_grad_batches != 1:
                raise ConfigurationError(
                    f"Trainer(accumulate_grad_batches={trainer.accumulate_grad_batches}) is not supported with "
                    "optimization='manual'; use optimization='automatic' or a larger batch_size"
                )
        return []

    def _needs_lightning_automatic_loop(self) -> bool:
        """Whether optimization='automatic' must run in Lightning's automatic-optimization loop:
        for the Trainer options and hooks only that loop applies. Otherwise this module runs the
        same step (zero_grad, backward, step, LR schedule) under Lightning's manual loop, whose
        closure-free path costs ~0.5 ms less per training step."""
        trainer = self.trainer
        if trainer.gradient_clip_val or trainer.accumulate_grad_batches != 1:
            return True
        if type(trainer.strategy) not in (SingleDeviceStrategy, DDPStrategy):
            return True
        if any(is_overridden(hook, self, parent=DANNLitModule) for hook in _AUTOMATIC_LOOP_HOOKS):
            return True
        return any(is_overridden("on_before_zero_grad", callback, parent=L.Callback) for callback in trainer.callbacks)

    @override
    def setup(self, stage: str) -> None:
        options = self.hparams.compile
        if options and not self._compiled:
            for net in (self.feature_extractor, self.classifier, self.discriminator):
                net.compile(**(options if isinstance(options, dict) else {}))
            self._compiled = True

    @override
    def on_fit_start(self) -> None:
        check_output_directories(self.trainer)
        self._first_batch_checked = False
        self._recent_losses = []
        datamodule = getattr(self.trainer, "datamodule", None)
        if isinstance(datamodule, DomainDataModule):
            datamodule.check_labels(self.num_classes)

    @override
    def on_train_start(self) -> None:
        if self.hparams.optimization == "automatic":
            self._carry_optimizer_steps()

    def _carry_optimizer_steps(self) -> None:
        """A run resumed from a checkpoint written under the other Lightning loop (see
        ``_needs_lightning_automatic_loop``) finds its optimizer-step count, which is the Trainer's
        ``global_step``, in that loop's tracker: carry it over, so that ``max_steps`` and
        step-named checkpoints continue from it."""
        loop = self.trainer.fit_loop.epoch_loop
        automatic = loop.automatic_optimization.optim_progress.optimizer.step
        manual = loop.manual_optimization.optim_step_progress
        done, used = (manual, automatic) if self.automatic_optimization else (automatic, manual)
        if used.total.completed == 0 and done.total.completed > 0:
            used.load_state_dict(done.state_dict())

    # ------------------------------------------------------------------ training

    @override
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor | None:
        sources, x_t = unpack_training_batch(batch)
        if not self._first_batch_checked:
            if len(sources) != self.num_sources:
                raise ConfigurationError(
                    f"the batch holds {len(sources)} source domain(s) but the model was built with "
                    f"num_sources={self.num_sources}"
                )
            check_training_batch(sources, x_t, self.num_classes)
            self._first_batch_checked = True
        x_s = sources[0][0] if len(sources) == 1 else torch.cat([x for x, _ in sources])
        y_s = sources[0][1] if len(sources) == 1 else torch.cat([y for _, y in sources])
        self.grl.coeff = lambda_p = self.current_lambda()
        features = self._features(x_s, x_t)
        labels = self._domain_targets([len(x) for x, _ in sources], len(x_t), features.device)
        n_source = len(x_s)
        class_logits = self._class_logits(features if self.needs_target_predictions else features[:n_source])
        cls_loss = classification_loss(class_logits[:n_source], y_s)
        discriminator_input = self.discriminator_input(features, class_logits)
        if self.hparams.optimization == "manual":
            self._update_discriminator(discriminator_input.detach(), labels, class_logits.detach())

        domain_logits = self._domain_logits(self.grl(discriminator_input))
        adversarial_loss = self.adversarial_loss(domain_logits, labels, class_logits)
        loss = cls_loss + adversarial_loss
        self._watch_divergence(cls_loss, adversarial_loss)

        if self.trainer._logger_connector.should_update_logs:
            self._log_training_step(
                batch_size=len(x_s),
                lambda_p=lambda_p,
                loss=loss,
                cls_loss=cls_loss,
                domain_loss=adversarial_loss,
                domain_acc=self._domain_accuracy(domain_logits.detach(), labels),
            )
        if self.automatic_optimization:
            return loss  # Lightning's automatic loop does the rest
        self._step_on(loss)
        # optimization='automatic' run here: on_train_batch_end receives {"loss": ...} as from Lightning's loop
        return loss if self.hparams.optimization == "automatic" else None

    def _step_on(self, loss: Tensor) -> None:
        """Under Lightning's manual loop: the step of the optimizer that trains on ``loss`` (the
        only one, or in manual mode the feature extractor's and classifier's), and every LR schedule."""
        optimizers, schedulers = self.optimizers(), self.lr_schedulers()
        optimizer = optimizers[0] if isinstance(optimizers, list) else optimizers
        optimizer.zero_grad()
        self.manual_backward(loss)
        self._clip_and_step(optimizer)
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    def _watch_divergence(self, cls_loss: Tensor, adversarial_loss: Tensor) -> None:
        if len(self._recent_losses) >= _DIVERGENCE_WINDOW:
            self.raise_if_diverged()  # the window is full: check it (one sync) and start a new one
        batch = self.trainer.fit_loop.total_batch_idx
        self._recent_losses.append((batch, cls_loss.detach(), adversarial_loss.detach()))

    def raise_if_diverged(self) -> None:
        """Raise :class:`~dann_lightning.errors.DivergenceError` if a training loss was non-finite.

        Checked (one host-device sync) on the steps the Trainer logs, at each epoch end and before
        any checkpoint is written, so a diverged model never overwrites a checkpoint.
        """
        recent, self._recent_losses = self._recent_losses, []
        if not recent:
            return
        finite = torch.stack([loss for _, *losses in recent for loss in losses]).view(len(recent), -1).isfinite()
        bad_rows = (~finite.all(dim=1)).nonzero().flatten().tolist()
        if not bad_rows:
            return
        at = recent[bad_rows[0]][0]
        names = [name for name, ok in zip(_WATCHED_LOSSES, finite[bad_rows[0]].tolist(), strict=True) if not ok]
        raise DivergenceError(
            f"training diverged: {' and '.join(names)} became non-finite at training batch {at} "
            f"(global step {self.trainer.global_step}, epoch {self.trainer.current_epoch}). Training stopped; "
            "checkpoints written before are intact. Try a lower learning rate or lambda_max, or gradient clipping."
        )

    @override
    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.trainer._logger_connector.should_update_logs:
            self.raise_if_diverged()

    @override
    def on_train_epoch_end(self) -> None:
        self.raise_if_diverged()

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.trainer.training:
            self.raise_if_diverged()

    def _features(self, x_s: Tensor, x_t: Tensor) -> Tensor:
        if self.hparams.feature_pass == "separate":
            set_domain(self.feature_extractor, SOURCE_DOMAIN)  # DomainBatchNorm layers, if any
            source = self.feature_extractor(x_s)
            set_domain(self.feature_extractor, TARGET_DOMAIN)
            return torch.cat([source, self.feature_extractor(x_t)])
        return self.feature_extractor(torch.cat([x_s, x_t]))

    # Hooks a conditional variant overrides (see CDANLitModule).
    needs_target_predictions = False  # whether the discriminator needs class predictions on target data

    def discriminator_input(self, features: Tensor, class_logits: Tensor) -> Tensor:
        """What the discriminator sees: here the features themselves."""
        return features

    def adversarial_loss(self, domain_logits: Tensor, labels: Tensor, class_logits: Tensor) -> Tensor:
        """The discriminator's loss on a batch: binary cross-entropy (source 0, target 1), or
        cross-entropy over the domains with several sources."""
        if self.num_sources == 1:
            return domain_loss(domain_logits, labels)
        return F.cross_entropy(domain_logits.float(), labels)

    def _domain_targets(self, source_sizes: list[int], n_target: int, device: torch.device) -> Tensor:
        key = (*source_sizes, n_target, device)
        labels = self._domain_labels_cache.get(key)  # batch sizes repeat: build each labelling once
        if labels is None:
            if self.num_sources == 1:
                labels = domain_labels(source_sizes[0], n_target, device=device)
            else:
                sizes = torch.tensor([*source_sizes, n_target], device=device)
                labels = torch.repeat_interleave(torch.arange(self.num_sources + 1, device=device), sizes)
            self._domain_labels_cache[key] = labels
        return labels

    def _domain_accuracy(self, domain_logits: Tensor, labels: Tensor) -> Tensor:
        if self.num_sources == 1:
            return binary_accuracy(domain_logits, labels)
        return (domain_logits.argmax(dim=1) == labels).float().mean()

    def _update_discriminator(self, inputs: Tensor, labels: Tensor, class_logits: Tensor) -> None:
        """Manual mode: ``discriminator_steps`` updates of the discriminator on fixed inputs."""
        _, optimizer = self.optimizers()
        strategy = self.trainer.strategy
        for _ in range(self.hparams.discriminator_steps):
            # This backward pass reaches the discriminator only, while DDP expects every parameter
            # in a synchronised backward: it runs unsynchronised, and the discriminator's gradients
            # are averaged across processes below, as DDP would have done.
            blocked = strategy.block_backward_sync() if isinstance(strategy, ParallelStrategy) else nullcontext()
            with blocked:
                optimizer.zero_grad()
                self.manual_backward(self.adversarial_loss(self._domain_logits(inputs), labels, class_logits))
            if self.trainer.world_size > 1:
                for param in self.discriminator.parameters():
                    if param.grad is not None:
                        param.grad = strategy.reduce(param.grad, reduce_op="mean")
            self._clip_and_step(optimizer)

    def _clip_and_step(self, optimizer: Optimizer) -> None:
        if self.hparams.gradient_clip_val is not None:
            self.clip_gradients(
                optimizer,
                gradient_clip_val=self.hparams.gradient_clip_val,
                gradient_clip_algorithm=self.hparams.gradient_clip_algorithm,
            )
        optimizer.step()

    def _log_training_step(self, batch_size: int, lambda_p: float, **values: Tensor) -> None:
        # Called only on the steps the Trainer writes (every `log_every_n_steps`), as Lightning's
        # LearningRateMonitor does: each `self.log` costs more than a small model's whole step.
        for name, value in values.items():
            self.log(f"train/{name}", value, prog_bar=name == "loss", batch_size=batch_size)
        self.log("train/lambda", lambda_p, batch_size=batch_size)
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=batch_size)

    def _class_logits(self, features: Tensor) -> Tensor:
        logits = self.classifier(features)
        if logits.shape != (len(features), self.num_classes):
            raise ConfigurationError(
                f"classifier must return logits of shape (batch, num_classes) = ({len(features)}, {self.num_classes}), "
                f"got shape {tuple(logits.shape)}"
            )
        return logits

    def _domain_logits(self, features: Tensor) -> Tensor:
        logits = self.discriminator(features)
        n = len(features)
        if self.num_sources > 1:
            domains = self.num_sources + 1
            if logits.shape != (n, domains):
                raise ConfigurationError(
                    f"with num_sources={self.num_sources} the discriminator must return {domains} logits per "
                    f"sample, shape ({n}, {domains}), got shape {tuple(logits.shape)}"
                )
            return logits
        if logits.shape not in ((n,), (n, 1)):
            raise ConfigurationError(
                f"discriminator must return one logit per sample, shape ({n},) or ({n}, 1), "
                f"got shape {tuple(logits.shape)}"
            )
        return logits.reshape(n)

    # ------------------------------------------------------------------ evaluation

    @override
    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        return self._evaluation_step("val", batch, dataloader_idx)

    @override
    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        return self._evaluation_step("test", batch, dataloader_idx)

    @override
    def on_validation_epoch_end(self) -> None:
        self._log_evaluation_metrics("val")

    @override
    def on_test_epoch_end(self) -> None:
        self._log_evaluation_metrics("test")

    @override
    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        x, _ = unpack_evaluation_batch(batch)
        return self(x)

    def _evaluation_step(self, stage: str, batch: Any, dataloader_idx: int) -> dict[str, Any]:
        domain = self._evaluation_domain(stage, dataloader_idx)
        x, y = unpack_evaluation_batch(batch)
        set_domain(self.feature_extractor, TARGET_DOMAIN if domain == "target" else SOURCE_DOMAIN)
        features = self.feature_extractor(x)
        set_domain(self.feature_extractor, TARGET_DOMAIN)  # the deployed model runs on the target
        logits = self._class_logits(features)
        if y is not None:
            self.class_acc[f"{stage}_{domain}"].update(logits, y)
        if stage == "val":
            domain_logits = self._domain_logits(self.discriminator_input(features, logits))
            index = self.num_sources if domain == "target" else self.source_names.index(domain)
            if self.num_sources == 1:
                self.val_domain_acc.update(domain_logits, torch.full_like(domain_logits, float(index)))
            else:
                self.val_domain_acc.update(domain_logits, torch.full((len(domain_logits),), index, device=self.device))
            self._update_selection_scores(domain, features, logits, y)
        # For callbacks (embedding plots, proxy A-distance): what the step computed anyway.
        return {"domain": domain, "features": features, "logits": logits, "labels": y}

    def _update_selection_scores(self, domain: str, features: Tensor, logits: Tensor, labels: Tensor | None) -> None:
        scores = self.selection_scores
        if domain == "target":
            for name in ("entropy", "im", "snd"):
                if name in scores:
                    scores[name].update(logits)
            if "dev" in scores:
                scores["dev"].update(features)
        elif "dev" in scores and labels is not None:
            scores["dev"].update(features, losses=F.cross_entropy(logits.float(), labels, reduction="none"))

    def _evaluation_domain(self, stage: str, dataloader_idx: int) -> str:
        """Which domain an evaluation loader holds: its key in a dict of loaders, else by position
        (validation: ``[source, target]``; test: ``[target]``)."""
        loaders = self.trainer.val_dataloaders if stage == "val" else self.trainer.test_dataloaders
        if isinstance(loaders, Mapping):
            domain = list(loaders)[dataloader_idx]
        else:
            order = (*self.source_names, "target") if stage == "val" else ("target",)
            domain = order[dataloader_idx] if dataloader_idx < len(order) else f"#{dataloader_idx}"
        if domain not in (*self.source_names, "target"):
            valid = ", ".join(repr(name) for name in (*self.source_names, "target"))
            raise ConfigurationError(
                f"{stage} dataloaders must be a dict with keys among {valid} (or a list in that order); "
                f"got loader {domain!r}"
            )
        return domain

    def _log_evaluation_metrics(self, stage: str) -> None:
        metrics = {
            f"{stage}/{key.split('_', 1)[1]}_acc": m for key, m in self.class_acc.items() if key.startswith(stage)
        }
        if stage == "val":
            metrics["val/domain_acc"] = self.val_domain_acc
            metrics.update({f"val/{name}": score for name, score in self.selection_scores.items()})
            if "dev" in self.selection_scores and not self.selection_scores["dev"].has_both_domains:
                metrics.pop("val/dev")  # no labelled source validation data
                self.selection_scores["dev"].reset()
        for name, metric in metrics.items():
            if metric.update_called:  # logged as the Metric: reduced across processes, then reset
                self.log(name, metric)

    # ------------------------------------------------------------------ optimization

    @override
    def configure_optimizers(self) -> Any:
        stepping_batches = self.trainer.estimated_stepping_batches  # also sets up the training data
        if self.hparams.optimization == "automatic":
            groups = parameter_groups(self.feature_extractor, self.classifier, self.discriminator)
            optimizer = self.optimizer_factory(groups or self.parameters())
            scale_learning_rates(optimizer)  # e.g. 0.1x for a pretrained backbone
            scheduler = self._lr_scheduler(optimizer, total_steps=stepping_batches)
            if self.automatic_optimization:
                return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
            return [optimizer], [scheduler]  # stepped by training_step
        main_groups = parameter_groups(self.feature_extractor, self.classifier)
        main = self.optimizer_factory(
            main_groups or chain(self.feature_extractor.parameters(), self.classifier.parameters())
        )
        discriminator = self.discriminator_optimizer_factory(
            parameter_groups(self.discriminator) or self.discriminator.parameters()
        )
        for optimizer in (main, discriminator):
            scale_learning_rates(optimizer)
        # Manual mode steps both schedulers once per batch.
        total_batches = total_training_batches(self.trainer, self._optimizer_steps_per_batch())
        schedulers = [self._lr_scheduler(opt, total_steps=total_batches) for opt in (main, discriminator)]
        return [main, discriminator], schedulers

    def _lr_scheduler(self, optimizer: Optimizer, total_steps: float) -> LambdaLR:
        if not math.isfinite(total_steps):
            raise ConfigurationError(
                "the learning-rate schedule needs a finite training length: set max_epochs or max_steps"
            )
        schedule, alpha, beta = self.hparams.lr_schedule, self.hparams.lr_alpha, self.hparams.lr_beta

        def factor(step: int) -> float:
            return lr_factor(schedule, min(step / max(total_steps, 1), 1.0), alpha=alpha, beta=beta)

        return LambdaLR(optimizer, factor)

    def _optimizer_steps_per_batch(self) -> float:
        if self.hparams.optimization == "automatic":
            return 1.0 / self.trainer.accumulate_grad_batches
        return float(self.hparams.discriminator_steps + 1)


def _check_real(name: str, value: float, *, minimum: float, strict: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < minimum or (strict and value == minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise ConfigurationError(f"{name} must be a finite number {bound}, got {value!r}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigurationError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")
