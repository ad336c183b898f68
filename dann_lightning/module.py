"""DANNLitModule: domain-adversarial training (Ganin et al., JMLR 2016) as a LightningModule."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from functools import partial
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.strategies import ParallelStrategy
from torch import Tensor, nn
from torch.optim import Optimizer
from typing_extensions import override

from dann_lightning.analysis.scores import SelectionScoreName
from dann_lightning.batch import check_training_batch, unpack_evaluation_batch, unpack_training_batch
from dann_lightning.checkpoints import check_output_directories, load_checkpoint
from dann_lightning.compat import count_optimizer_steps_in_the_automatic_loop, instantiated_from_config
from dann_lightning.data.domain import DomainDataModule
from dann_lightning.divergence import DivergenceWatch
from dann_lightning.domain_head import SOURCE_DOMAIN, TARGET_DOMAIN, DomainHead
from dann_lightning.errors import ConfigurationError
from dann_lightning.grl import GradientReversal, grad_reverse
from dann_lightning.lambda_search import (
    DEFAULT_LAMBDA_CANDIDATES,
    LambdaCriterion,
    LambdaSearch,
    check_scored,
    check_search_data,
)
from dann_lightning.losses import domain_loss
from dann_lightning.metrics import DomainMetrics, loader_domain
from dann_lightning.nets import default_discriminator, set_domain
from dann_lightning.optimization import average_gradients, build_optimizer, progress_lr_scheduler
from dann_lightning.options import ClipAlgorithm, FeaturePass, OptimizationMode, check_options, check_trainer_options
from dann_lightning.progress import total_training_batches, training_progress
from dann_lightning.schedules import LambdaScheduleName, LRScheduleName, lambda_factor
from dann_lightning.tasks import LossName, Task, TaskName, make_task
from dann_lightning.widths import (
    check_classes_of_the_data,
    check_task_of_the_data,
    classes_of_the_data,
    has_lazy_weights,
    show_one_batch,
)

# Built in Python, these arguments are live objects that a checkpoint must not pickle.
PYTHON_OBJECT_ARGS = ["feature_extractor", "classifier", "discriminator", "optimizer", "discriminator_optimizer"]


class DANNLitModule(L.LightningModule):
    """Domain-adversarial neural network: a feature extractor shared by a label classifier and,
    through a gradient reversal layer, a domain discriminator.

    Loss = cross-entropy of the classifier on source samples (or, with ``task="regression"``, the
    mean squared or Huber error of its predicted numbers) + binary cross-entropy of the
    discriminator on source (label 0) and target (label 1) features. The reversal layer scales the
    discriminator's gradient into the feature extractor by ``-lambda_p``, so the features learn to
    fool the discriminator while the discriminator learns to tell the domains apart.
    ``lambda_p = lambda_max * schedule(p)`` with ``p`` the fraction of training batches done.

    ``lambda_max=0`` is exactly source-only training of the feature extractor and classifier (the
    baseline), as long as the networks have no batch statistics that the target batch would share
    (``BatchNorm`` with ``feature_pass="joint"``).

    Two ways to optimize:

    - ``"automatic"``: Lightning's automatic optimization. One optimizer over all three networks,
      one backward pass per batch; the discriminator and the features are updated simultaneously
      from the same parameters. The Trainer's ``gradient_clip_val`` and ``accumulate_grad_batches``
      apply, as do the optimizer hooks a subclass overrides.
    - ``"manual"``: Lightning's manual optimization. The discriminator has its own optimizer and
      LR schedule. Each batch first updates the discriminator ``discriminator_steps`` times on the
      domain loss of the (fixed) features, then the feature extractor and classifier on the
      classification loss + the reversed domain loss against the updated discriminator.
      ``max_steps`` counts every optimizer step: ``discriminator_steps + 1`` per batch (each
      candidate's discriminator steps with ``lambda_max="auto"``). Gradient
      clipping is this module's ``gradient_clip_val``, not the Trainer's. With ``lambda_max=0``
      the two modes coincide.

    Args:
        feature_extractor: maps inputs to features. Its input width may come from the data: an
            [`MLP`][dann_lightning.nets.MLP] without ``in_features``, or any lazy layer.
        classifier: maps features to ``num_classes`` logits (``num_outputs`` numbers for
            regression); default: one linear layer (its input width from the features).
        discriminator: maps features to one logit per sample, shape ``(N,)`` or ``(N, 1)``;
            default: [`default_discriminator`][dann_lightning.nets.default_discriminator].
        num_classes: number of classes; default: the data module's ``num_classes``, at ``setup``
            (then in the checkpoint). Before training, one batch of the data (the data module's
            ``example_input()``, or ``example_input_array``) goes through the networks: lazy layers
            take their widths, and a network that cannot take the data raises
            [`ConfigurationError`][dann_lightning.errors.ConfigurationError] naming the widths.
        task: ``"classification"`` or ``"regression"`` (predict ``num_outputs`` numbers per row;
            [`dann_lightning.tasks`][dann_lightning.tasks]: the losses, metrics and scores of each).
            With regression, validation logs ``val/<domain>_mae``, ``_rmse`` and ``_r2`` in the
            labels' units (a data module's ``unscale_targets`` undoes its label scaling) and
            ``predict`` returns numbers in those units.
        num_outputs: regression only: numbers predicted per row (default 1).
        loss: ``"cross_entropy"`` (classification), ``"mse"`` (regression's default) or ``"huber"``.
        optimizer: builds the optimizer from parameters (default: Adam, learning rate 1e-3). In
            automatic mode it receives all parameters; in manual mode those of the feature extractor
            and classifier.
        lambda_max: final weight of the adversarial gradient; 0 trains source-only. The default,
            0.1, is the shift suite's choice for networks we did not tune (the paper's 1 lost to
            source-only on more of them: docs/when-dann-helps.md). ``"auto"`` trains one candidate
            per ``lambda_candidates`` value side by side and keeps the best by ``lambda_criterion``,
            without target labels ([`LambdaSearch`][dann_lightning.lambda_search.LambdaSearch]:
            what it logs, needs and costs).
        lambda_candidates: with ``lambda_max="auto"``: the values tried; must include 0.
        lambda_criterion: with ``lambda_max="auto"``: a
            [`LambdaCriterion`][dann_lightning.lambda_search.LambdaCriterion].
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
            ([`dann_lightning.nets`][dann_lightning.nets]) in the feature extractor are switched to each batch's domain
            (and need ``"separate"``): per-domain running statistics too; validation uses each
            domain's own, and the model otherwise stays on the target's.
        compile: ``torch.compile`` the three networks in place (``True``, or a dict of
            ``torch.compile`` arguments). The state dict keeps its keys; changing lambda does not
            recompile, because the reversal layer sits outside the compiled networks.
        selection_scores: unsupervised model-selection scores logged at validation as
            ``val/<name>``, computed without target labels (see
            [`dann_lightning.analysis.scores`][dann_lightning.analysis.scores]): ``"entropy"``
            (lower is better), ``"im"``, ``"snd"`` (higher is better), ``"dev"`` (lower is better;
            needs labelled source validation data). Default: every score of the task (for regression,
            ``"dev"`` alone: the others need classes).
        num_sources: source domains in each batch (``DomainDataModule(source_train=[...])``). With
            more than one, the discriminator tells ``num_sources + 1`` domains apart: it returns
            that many logits per sample, trained with cross-entropy (sources ``0 .. K-1``, target
            ``K``), and validation logs ``val/source_<k>_acc`` per source.
    """

    def __init__(
        self,
        feature_extractor: nn.Module,
        classifier: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        *,
        num_classes: int | None = None,
        task: TaskName = "classification",
        num_outputs: int | None = None,
        loss: LossName | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lambda_max: float | Literal["auto"] = 0.1,
        lambda_candidates: Sequence[float] = DEFAULT_LAMBDA_CANDIDATES,
        lambda_criterion: LambdaCriterion = "consistency",
        lambda_schedule: LambdaScheduleName = "ganin",
        gamma: float = 10.0,
        lr_schedule: LRScheduleName = "ganin",
        lr_alpha: float = 10.0,
        lr_beta: float = 0.75,
        optimization: OptimizationMode = "automatic",
        discriminator_optimizer: OptimizerCallable | None = None,
        discriminator_steps: int = 1,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: ClipAlgorithm = "norm",
        feature_pass: FeaturePass = "joint",
        compile: bool | dict[str, Any] = False,
        selection_scores: Sequence[SelectionScoreName] | None = None,
        num_sources: int = 1,
    ) -> None:
        super().__init__()
        options = {name: value for name, value in locals().items() if name not in ("self", "__class__")}
        check_options(**options)
        self.save_hyperparameters(ignore=[] if instantiated_from_config() else PYTHON_OBJECT_ARGS)
        self.automatic_optimization = optimization == "automatic"

        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.discriminator = default_discriminator(num_sources) if discriminator is None else discriminator
        self.grl = GradientReversal(coeff=0.0)
        self.optimizer_factory = optimizer
        self.discriminator_optimizer_factory = discriminator_optimizer or optimizer
        self.num_sources = num_sources
        self.domain_head = DomainHead(num_sources)
        self.num_classes: int | None = None
        self.task: Task | None = None
        self.domain_metrics: DomainMetrics | None = None
        self.lambda_search: LambdaSearch | None = None
        if task == "regression":
            self._build_for_outputs(make_task(task, num_outputs=num_outputs, loss=loss))
        elif num_classes is not None:  # else setup() takes it from the data
            self._build_for_classes(num_classes)
        self._first_batch_checked = False
        self._compiled = False

    def _build_for_classes(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self._build_for_outputs(make_task("classification", num_classes=num_classes))

    def _build_for_outputs(self, task: Task) -> None:
        """The parts whose shape follows from the output width (classes, or numbers per row): the
        default classifier, the metrics, and with ``lambda_max="auto"`` the candidates (copies of
        the finished networks)."""
        hp = self.hparams
        self.task = task
        width = task.width
        if self.classifier is None:
            self.classifier = nn.LazyLinear(width)
        scores = task.selection_scores if hp.selection_scores is None else hp.selection_scores
        self.domain_metrics = DomainMetrics(width, self.domain_head, scores, task)
        if hp.lambda_max == "auto":
            networks = {name: getattr(self, name) for name in ("feature_extractor", "classifier", "discriminator")}
            metrics = [DomainMetrics(width, self.domain_head, scores, task) for _ in hp.lambda_candidates]
            self.lambda_search = LambdaSearch(
                networks, hp.lambda_candidates, hp.lambda_criterion, width, metrics, task.sample_losses
            )

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> DANNLitModule:  # type: ignore[override]
        """Lightning's ``load_from_checkpoint``; a missing, truncated or foreign file raises
        [`CheckpointError`][dann_lightning.errors.CheckpointError] naming it.

        A checkpoint written through ``dann-lightning`` needs no other argument. For a model built
        in Python, pass the networks again: ``load_from_checkpoint(path, feature_extractor=...,
        classifier=..., discriminator=...)``.
        """
        return load_checkpoint(cls, super().load_from_checkpoint, checkpoint_path, *args, **kwargs)

    @override
    def forward(self, x: Tensor) -> Tensor:
        """Class logits (regression: the predicted numbers, in the units the model was trained on):
        the deployed model. The discriminator is not used."""
        return self.classifier(self.feature_extractor(x))

    def current_lambda(self) -> float:
        """``lambda_p`` for the current training batch (with ``lambda_max="auto"``, the kept
        candidate's; 0 before the first choice)."""
        return self._kept_lambda_max() * self._lambda_factor()

    def _kept_lambda_max(self) -> float:
        if self.lambda_search is None:
            return self.hparams.lambda_max
        return self.lambda_search.chosen_lambda or 0.0

    def _lambda_factor(self) -> float:
        p = training_progress(self.trainer, self._optimizer_steps_per_batch())
        return lambda_factor(self.hparams.lambda_schedule, p, gamma=self.hparams.gamma)

    # ------------------------------------------------------------------ training

    @override
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Tensor]:
        sources, x_t = unpack_training_batch(batch)
        if not self._first_batch_checked:
            check_training_batch(sources, x_t, self.num_classes, self.num_sources, labels_check=self.task.check_labels)
            self._first_batch_checked = True
        x_s = torch.cat([x for x, _ in sources]) if len(sources) > 1 else sources[0][0]
        y_s = torch.cat([y for _, y in sources]) if len(sources) > 1 else sources[0][1]
        domains = self.domain_head.labels([len(x) for x, _ in sources], len(x_t), x_t.device)
        n_source = len(x_s)
        factor = self._lambda_factor()
        self.grl.coeff = self._kept_lambda_max() * factor
        if self.lambda_search is None:
            cls_loss, domain_loss, domain_acc = self._adversarial_losses(self, self.grl, x_s, y_s, x_t, domains)
        else:  # lambda_max="auto": every candidate on this batch, each with its own lambda
            candidates = zip(self.lambda_search.candidates, self.lambda_search.lambdas, strict=True)
            parts = [
                self._adversarial_losses(nets, partial(grad_reverse, coeff=value * factor), x_s, y_s, x_t, domains)
                for nets, value in candidates
            ]
            cls_loss, domain_loss, domain_acc = (torch.stack(values).sum() for values in zip(*parts, strict=True))
            domain_acc = domain_acc / len(parts)
        loss = cls_loss + domain_loss  # with lambda_max="auto", summed over the candidates

        # The loss every step (callback_metrics, progress bar, monitors) and as an epoch mean; the
        # parts as epoch means, which cost no `self.log` call (each ~0.4 ms in Lightning 2.6) a step.
        self.log("train/loss", loss, on_epoch=True, prog_bar=True, batch_size=n_source)
        self.domain_metrics.update_training(n_source, cls_loss=cls_loss, domain_loss=domain_loss, domain_acc=domain_acc)
        if not self.automatic_optimization:  # then the feature extractor and classifier
            main_optimizer, _ = self.optimizers()
            main_optimizer.zero_grad()
            self.manual_backward(loss)
            self._clip_and_step(main_optimizer)
            for scheduler in self.lr_schedulers():
                scheduler.step()
        # What DivergenceWatch reads: Lightning hands it to on_train_batch_end (loss detached).
        return {"loss": loss, "cls_loss": cls_loss.detach(), "domain_loss": domain_loss.detach()}

    def _adversarial_losses(
        self,
        nets: nn.Module,
        reverse: Callable[[Tensor], Tensor],
        x_s: Tensor,
        y_s: Tensor,
        x_t: Tensor,
        domains: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Classification loss, reversed domain loss and the discriminator's accuracy of the networks
        ``nets`` (this module's, or a candidate's) on one batch."""
        n_source = len(x_s)
        features = self._features(nets.feature_extractor, x_s, x_t)
        class_logits = self._class_logits(
            nets.classifier, features if self.needs_target_predictions else features[:n_source]
        )
        cls_loss = self.task.loss(class_logits[:n_source], y_s)
        discriminator_input = self.discriminator_input(features, class_logits)
        if not self.automatic_optimization:  # the discriminator first, on fixed features
            self._update_discriminator(nets.discriminator, discriminator_input.detach(), domains, class_logits.detach())
        domain_logits = self._domain_logits(nets.discriminator, reverse(discriminator_input))
        domain_loss = self.adversarial_loss(domain_logits, domains, class_logits)
        return cls_loss, domain_loss, self.domain_head.accuracy(domain_logits.detach(), domains)

    def _features(self, feature_extractor: nn.Module, x_s: Tensor, x_t: Tensor) -> Tensor:
        if self.hparams.feature_pass == "separate":
            set_domain(feature_extractor, SOURCE_DOMAIN)  # DomainBatchNorm layers, if any
            source = feature_extractor(x_s)
            set_domain(feature_extractor, TARGET_DOMAIN)
            return torch.cat([source, feature_extractor(x_t)])
        return feature_extractor(torch.cat([x_s, x_t]))

    # Hooks a conditional variant overrides (see CDANLitModule).
    needs_target_predictions = False  # whether the discriminator needs class predictions on target data

    def discriminator_input(self, features: Tensor, class_logits: Tensor) -> Tensor:
        """What the discriminator sees: here the features themselves."""
        return features

    def adversarial_loss(self, domain_logits: Tensor, labels: Tensor, class_logits: Tensor) -> Tensor:
        """The discriminator's loss on a batch: binary cross-entropy (source 0, target 1), or
        cross-entropy over the domains with several sources."""
        return domain_loss(domain_logits, labels)

    def _update_discriminator(
        self, discriminator: nn.Module, inputs: Tensor, labels: Tensor, class_logits: Tensor
    ) -> None:
        """Manual mode: ``discriminator_steps`` updates of ``discriminator`` on fixed inputs (the
        optimizer holds every candidate's with ``lambda_max="auto"``: only this one has gradients)."""
        _, optimizer = self.optimizers()
        strategy = self.trainer.strategy
        distributed = isinstance(strategy, ParallelStrategy) and self.trainer.world_size > 1
        for _ in range(self.hparams.discriminator_steps):
            loss = self.adversarial_loss(self._domain_logits(discriminator, inputs), labels, class_logits)
            optimizer.zero_grad()
            # This backward reaches the discriminator alone, while DDP expects every parameter in
            # a synchronised backward: run it unsynchronised, then average as DDP would.
            with strategy.block_backward_sync() if distributed else nullcontext():
                self.manual_backward(loss)
            if distributed:
                average_gradients(discriminator.parameters(), strategy)
            self._clip_and_step(optimizer)

    def _clip_and_step(self, optimizer: Optimizer) -> None:
        if self.hparams.gradient_clip_val is not None:
            self.clip_gradients(
                optimizer,
                gradient_clip_val=self.hparams.gradient_clip_val,
                gradient_clip_algorithm=self.hparams.gradient_clip_algorithm,
            )
        optimizer.step()

    def _class_logits(self, classifier: nn.Module, features: Tensor) -> Tensor:
        return self._check_outputs(classifier(features))

    def _check_outputs(self, logits: Tensor) -> Tensor:
        width = self.task.width
        if logits.ndim == 2 and logits.shape[1] == width:
            return logits
        if self.task.name == "classification":
            raise ConfigurationError(
                f"classifier must return logits of shape (batch, num_classes) = ({len(logits)}, {width}), "
                f"got shape {tuple(logits.shape)}"
            )
        found = logits.shape[1] if logits.ndim == 2 else "none (a 1-D output)" if logits.ndim == 1 else "?"
        raise ConfigurationError(
            f"classifier must return numbers of shape (batch, num_outputs) = ({len(logits)}, {width}), got shape "
            f"{tuple(logits.shape)}: its output width is {found}, num_outputs is {width}. Make its last layer "
            f"output {width} number(s) (e.g. nn.Linear(..., {width})), or set num_outputs to match"
        )

    def _domain_logits(self, discriminator: nn.Module, features: Tensor) -> Tensor:
        return self.domain_head.check_logits(discriminator(features), len(features))

    # ------------------------------------------------------------------ evaluation

    @override
    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        return self._evaluation_step("val", batch, dataloader_idx)

    @override
    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        return self._evaluation_step("test", batch, dataloader_idx)

    @override
    def on_train_epoch_end(self) -> None:
        self.log_dict(self.domain_metrics.metrics("train"))
        scalars = {"train/lr": self.trainer.optimizers[0].param_groups[0]["lr"]}  # at the epoch's last batch
        if self.lambda_search is None or self.lambda_search.chosen_lambda is not None:
            scalars["train/lambda"] = self.grl.coeff
        self.log_dict(scalars)

    @override
    def on_validation_epoch_end(self) -> None:
        search = self.lambda_search
        if search is None:
            self.log_dict(self.domain_metrics.metrics("val"))
            return
        if self.trainer.sanity_checking:  # untrained candidates: check the data, choose nothing
            check_scored(search)
            search.reset()
            return
        self.log_dict(search.end_validation(self))

    @override
    def on_train_end(self) -> None:
        if self.lambda_search is not None:
            self.lambda_search.end_training(self)

    @override
    def on_test_epoch_end(self) -> None:
        self.log_dict(self.domain_metrics.metrics("test"))

    @override
    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        x, _ = unpack_evaluation_batch(batch)
        return self._in_label_units(self(x))

    def _in_label_units(self, values: Tensor | None) -> Tensor | None:
        """Regression: predictions or labels in the units the data module read them in, undoing its
        label scaling (``unscale_targets``); classification: as they are."""
        if values is None or self.task.name != "regression":
            return values
        unscale = getattr(getattr(self.trainer, "datamodule", None), "unscale_targets", None)
        return values if unscale is None else unscale(values)

    def _evaluation_step(self, stage: str, batch: Any, dataloader_idx: int) -> dict[str, Any]:
        loaders = self.trainer.val_dataloaders if stage == "val" else self.trainer.test_dataloaders
        domain = loader_domain(loaders, stage, dataloader_idx, self.domain_head)
        x, y = unpack_evaluation_batch(batch)
        search = self.lambda_search
        if stage != "val" or search is None:
            return self._evaluate(self, self.domain_metrics, stage, domain, x, y)
        outputs = []  # lambda_max="auto": evaluate and score every candidate
        for index, (nets, metrics) in enumerate(zip(search.candidates, search.metrics, strict=True)):
            outputs.append(self._evaluate(nets, metrics, stage, domain, x, y))
            search.update(index, domain, x, outputs[-1]["features"], outputs[-1]["logits"], y)
        return outputs[max(search.chosen_index, 0)]  # the kept candidate's, for callbacks

    def _evaluate(
        self, nets: nn.Module, metrics: DomainMetrics, stage: str, domain: str, x: Tensor, y: Tensor | None
    ) -> dict[str, Any]:
        set_domain(nets.feature_extractor, TARGET_DOMAIN if domain == "target" else SOURCE_DOMAIN)
        features = nets.feature_extractor(x)
        set_domain(nets.feature_extractor, TARGET_DOMAIN)  # the deployed model runs on the target
        logits = self._class_logits(nets.classifier, features)
        domain_logits = None
        if stage == "val":
            domain_logits = self._domain_logits(nets.discriminator, self.discriminator_input(features, logits))
        metrics.update(stage, domain, features, self._in_label_units(logits), self._in_label_units(y), domain_logits)
        # For callbacks (embedding plots, proxy A-distance): what the step computed anyway.
        return {"domain": domain, "features": features, "logits": logits, "labels": y}

    # ------------------------------------------------------------------ set-up and optimization

    @override
    def configure_callbacks(self) -> list[L.Callback]:
        # The first hook Lightning calls once the model is attached, before it checks the Trainer's
        # options itself: the place to name this module's option to use instead.
        check_trainer_options(self.trainer, self.hparams.optimization)
        watched = any(isinstance(callback, DivergenceWatch) for callback in self.trainer.callbacks)
        return [] if watched else [DivergenceWatch()]  # a user's own watch keeps its settings

    @override
    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        check_task_of_the_data(self.hparams.task, datamodule)
        if self.task is None:
            self._build_for_classes(classes_of_the_data(datamodule))
            self.hparams.num_classes = self.num_classes  # so that a checkpoint rebuilds the model at once
        if stage == "fit":
            if self.task.name == "classification":
                check_classes_of_the_data(self.num_classes, datamodule)
            self._show_one_batch(datamodule)
        options = self.hparams.compile
        if options and not self._compiled:
            every = [self] if self.lambda_search is None else [self, *self._trained()]  # the model, its candidates
            for net in (net for nets in every for net in (nets.feature_extractor, nets.classifier, nets.discriminator)):
                net.compile(**(options if isinstance(options, dict) else {}))
            self._compiled = True

    def _show_one_batch(self, datamodule: Any) -> None:
        """Before training (and before the optimizers exist): lazy layers take their widths from one
        batch of the data, and a width mismatch is named; the candidates start from these weights."""
        lazy = has_lazy_weights(self)
        example = self.example_input_array
        if example is None and isinstance(datamodule, DomainDataModule):
            example = datamodule.example_input()
        if example is None:
            if lazy:
                raise ConfigurationError(
                    "the networks have layers without an input width (in_features=None) and the data is not a "
                    "DomainDataModule to take it from: give the widths, or set model.example_input_array to a batch"
                )
            return
        example = torch.as_tensor(example, device=self.device)
        # Regression names a wrong output width here; classification at the first step, as it always has.
        check = self._check_outputs if self.task.name == "regression" else None
        show_one_batch(
            self.feature_extractor, self.classifier, self.discriminator, self.discriminator_input, example,
            check_outputs=check,
        )
        if lazy and self.lambda_search is not None:
            self.lambda_search.start_from(self)

    @override
    def on_fit_start(self) -> None:
        check_output_directories(self.trainer)
        self._first_batch_checked = False
        datamodule = getattr(self.trainer, "datamodule", None)
        if isinstance(datamodule, DomainDataModule) and self.task.name == "classification":
            datamodule.check_labels(self.num_classes)
        if self.lambda_search is not None:
            check_search_data(self.lambda_search, self.trainer, datamodule)

    @override
    def on_train_start(self) -> None:
        total_training_batches(self.trainer)  # the schedules need a finite run: say so before any step

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.automatic_optimization:
            count_optimizer_steps_in_the_automatic_loop(checkpoint)  # a checkpoint of 0.1.0

    @override
    def configure_optimizers(self) -> Any:
        hp = self.hparams

        def with_schedule(optimizer: Optimizer, total_steps: Any) -> dict[str, Any]:
            schedule = hp.lr_schedule
            scheduler = progress_lr_scheduler(optimizer, schedule, total_steps, alpha=hp.lr_alpha, beta=hp.lr_beta)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

        trained = self._trained()
        features_and_classifiers = [net for nets in trained for net in (nets.feature_extractor, nets.classifier)]
        discriminators = [nets.discriminator for nets in trained]
        if self.automatic_optimization:
            optimizer = build_optimizer(self.optimizer_factory, *features_and_classifiers, *discriminators)
            return with_schedule(optimizer, lambda: self.trainer.estimated_stepping_batches)
        main = build_optimizer(self.optimizer_factory, *features_and_classifiers)
        discriminator = build_optimizer(self.discriminator_optimizer_factory, *discriminators)

        def batches() -> int:  # manual mode steps both schedules once per batch
            return total_training_batches(self.trainer, self._optimizer_steps_per_batch())

        return [with_schedule(main, batches), with_schedule(discriminator, batches)]

    def _optimizer_steps_per_batch(self) -> float:
        if self.automatic_optimization:
            return 1.0 / self.trainer.accumulate_grad_batches
        return float(len(self._trained()) * self.hparams.discriminator_steps + 1)

    def _trained(self) -> list[nn.Module]:
        """What the optimizers train: this module's networks, or every candidate's with lambda_max="auto"."""
        return [self] if self.lambda_search is None else list(self.lambda_search.candidates)
