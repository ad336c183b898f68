"""DANNLitModule: domain-adversarial training (Ganin et al., JMLR 2016) as a LightningModule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from dann_lightning.analysis.scores import SelectionScoreName
from dann_lightning.batch import training_batch, unpack_evaluation_batch
from dann_lightning.candidates import Candidates, FixedLambda
from dann_lightning.checkpoints import check_output_directories, load_checkpoint
from dann_lightning.compat import (
    count_optimizer_steps_in_the_automatic_loop,
    instantiated_from_config,
    rename_candidate_keys,
)
from dann_lightning.data.contract import DomainData, domain_data
from dann_lightning.divergence import DivergenceWatch
from dann_lightning.domain_head import SOURCE_DOMAIN, TARGET_DOMAIN, DomainHead
from dann_lightning.grl import GradientReversal, grad_reverse
from dann_lightning.lambda_search import DEFAULT_LAMBDA_CANDIDATES, LambdaCriterion, LambdaSearch
from dann_lightning.losses import domain_loss
from dann_lightning.metrics import DomainMetrics, loader_domain
from dann_lightning.nets import compile_networks, default_discriminator, set_domain
from dann_lightning.optimization import OPTIMIZATION_MODES
from dann_lightning.options import ClipAlgorithm, FeaturePass, OptimizationMode, check_options, check_trainer_options
from dann_lightning.progress import total_training_batches, training_progress
from dann_lightning.schedules import LambdaScheduleName, LRScheduleName, lambda_factor
from dann_lightning.tasks import LossName, Task, TaskName, make_task
from dann_lightning.widths import check_task_of_the_data, classes_of_the_data, show_the_data

# Built in Python, these arguments are live objects that a checkpoint must not pickle.
PYTHON_OBJECT_ARGS = ["feature_extractor", "classifier", "discriminator", "optimizer", "discriminator_optimizer"]


class DANNLitModule(L.LightningModule):
    """Domain-adversarial neural network: a feature extractor shared by a label classifier and,
    through a gradient reversal layer, a domain discriminator.

    Loss = the classifier's loss on source rows (cross-entropy; mean squared or Huber error with
    ``task="regression"``) + the discriminator's binary cross-entropy on source (0) and target (1)
    features. The reversal layer scales the discriminator's gradient into the feature extractor by
    ``-lambda_p = -lambda_max * schedule(p)``, ``p`` the fraction of training done. ``lambda_max=0``
    is source-only training (the baseline).

    The training step loops over the model's candidates
    ([`dann_lightning.candidates`][dann_lightning.candidates]): one, the model's own networks, unless
    ``lambda_max="auto"``. How the networks are optimized is an object the step calls
    ([`dann_lightning.optimization`][dann_lightning.optimization]): ``"automatic"`` (one optimizer,
    one backward; the Trainer's clipping and accumulation apply) or ``"manual"`` (the discriminator
    has its own optimizer and steps first, ``discriminator_steps`` times a batch; ``max_steps``
    counts every optimizer step; clipping is this module's ``gradient_clip_val``).

    Args:
        feature_extractor: maps inputs to features; its input width may come from the data (an
            [`MLP`][dann_lightning.nets.MLP] without ``in_features``, or any lazy layer).
        classifier: maps features to ``num_classes`` logits (``num_outputs`` numbers for
            regression); default: one linear layer.
        discriminator: maps features to one logit per sample; default:
            [`default_discriminator`][dann_lightning.nets.default_discriminator].
        num_classes: default: the data module's, at ``setup`` (then in the checkpoint). Before
            training one batch goes through the networks: lazy layers take their widths, and a
            network that cannot take the data raises ``ConfigurationError`` naming the widths.
        task: ``"classification"`` or ``"regression"`` ([`dann_lightning.tasks`][dann_lightning.tasks]);
            regression logs ``val/<domain>_mae``, ``_rmse``, ``_r2`` and predicts in the labels' units.
        num_outputs: regression only: numbers predicted per row (default 1).
        loss: ``"cross_entropy"`` (classification), ``"mse"`` (regression's default) or ``"huber"``.
        optimizer: builds the optimizer from parameters (default: Adam, lr 1e-3).
        lambda_max: final weight of the adversarial gradient; 0 trains source-only. The default,
            0.1, is the shift suite's choice (docs/when-dann-helps.md). ``"auto"`` trains one
            candidate per ``lambda_candidates`` value side by side and keeps the best by
            ``lambda_criterion``, without target labels
            ([`LambdaSearch`][dann_lightning.lambda_search.LambdaSearch]).
        lambda_candidates: with ``lambda_max="auto"``: the values tried; must include 0.
        lambda_criterion: with ``lambda_max="auto"``: a
            [`LambdaCriterion`][dann_lightning.lambda_search.LambdaCriterion].
        lambda_schedule: ``"ganin"`` (the paper's ramp from 0 to ``lambda_max``) or ``"constant"``.
        gamma: steepness of the ``"ganin"`` ramp.
        lr_schedule: ``"ganin"`` (``lr_0 / (1 + lr_alpha p) ** lr_beta``), ``"cosine"`` or ``"constant"``.
        lr_alpha: ``alpha`` of the ``"ganin"`` LR annealing.
        lr_beta: ``beta`` of the ``"ganin"`` LR annealing.
        optimization: ``"automatic"`` or ``"manual"``.
        discriminator_optimizer: manual mode: builds the discriminator's optimizer (default: ``optimizer``).
        discriminator_steps: manual mode: discriminator updates per batch.
        gradient_clip_val: manual mode: clip gradients of each optimizer to this value.
        gradient_clip_algorithm: ``"norm"`` or ``"value"``, with ``gradient_clip_val``.
        feature_pass: ``"joint"`` runs the feature extractor once on source and target together;
            ``"separate"`` once per domain, so that ``BatchNorm`` uses per-domain batch statistics
            (and [`DomainBatchNorm`][dann_lightning.nets.DomainBatchNorm] per-domain running ones).
        compile: ``torch.compile`` the networks in place (``True``, or a dict of its arguments).
        selection_scores: label-free scores logged at validation as ``val/<name>``
            ([`dann_lightning.selection`][dann_lightning.selection]); default: every score of the task.
        num_sources: source domains in each batch; with more than one the discriminator tells
            ``num_sources + 1`` domains apart (cross-entropy) and validation logs each source.
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
        self.optimization = OPTIMIZATION_MODES[optimization]()
        self.automatic_optimization = self.optimization.automatic
        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.discriminator = default_discriminator(num_sources) if discriminator is None else discriminator
        self.grl = GradientReversal(coeff=0.0)  # holds the kept candidate's lambda_p, for callbacks
        self.optimizer_factory = optimizer
        self.discriminator_optimizer_factory = discriminator_optimizer or optimizer
        self.num_sources = num_sources
        self.domain_head = DomainHead(num_sources)
        self.num_classes: int | None = num_classes
        self.task: Task | None = None
        self.domain_metrics: DomainMetrics | None = None
        self.candidates: Candidates | None = None
        if task == "regression" or num_classes is not None:  # else setup() takes the classes from the data
            self._build_for(make_task(task, num_classes=num_classes, num_outputs=num_outputs, loss=loss))
        self._first_batch_checked = False
        self._compiled = False

    def _build_for(self, task: Task) -> None:
        """The parts whose shape follows from the output width: the default classifier, the metrics
        and the candidates (with ``lambda_max="auto"``, copies of the finished networks)."""
        hp = self.hparams
        self.task = task
        if self.classifier is None:
            self.classifier = nn.LazyLinear(task.width)
        scores = task.selection_scores if hp.selection_scores is None else hp.selection_scores
        self.domain_metrics = DomainMetrics(task.width, self.domain_head, scores, task)
        if hp.lambda_max != "auto":
            self.candidates = FixedLambda(hp.lambda_max, self.domain_metrics)
            return
        networks = {name: getattr(self, name) for name in ("feature_extractor", "classifier", "discriminator")}
        metrics = [DomainMetrics(task.width, self.domain_head, scores, task) for _ in hp.lambda_candidates]
        self.candidates = LambdaSearch(
            networks, hp.lambda_candidates, hp.lambda_criterion, task.width, metrics, task.sample_losses
        )

    @property
    def lambda_search(self) -> LambdaSearch | None:
        """The candidates of ``lambda_max="auto"`` (``chosen_lambda``, ``last_scores``), else ``None``."""
        return self.candidates if isinstance(self.candidates, LambdaSearch) else None

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> DANNLitModule:  # type: ignore[override]
        """Lightning's ``load_from_checkpoint``; a missing, truncated or foreign file raises
        [`CheckpointError`][dann_lightning.errors.CheckpointError] naming it. A model built in
        Python needs its networks again: ``load_from_checkpoint(path, feature_extractor=..., ...)``."""
        return load_checkpoint(cls, super().load_from_checkpoint, checkpoint_path, *args, **kwargs)

    @override
    def forward(self, x: Tensor) -> Tensor:
        """Class logits (regression: the predicted numbers, in training units): the deployed model."""
        return self.classifier(self.feature_extractor(x))

    def current_lambda(self) -> float:
        """``lambda_p`` of the kept candidate for the current training batch (0 before a choice)."""
        return self.candidates.kept_lambda * self._lambda_factor()

    def _lambda_factor(self) -> float:
        p = training_progress(self.trainer, self.optimization.steps_per_batch(self))
        return lambda_factor(self.hparams.lambda_schedule, p, gamma=self.hparams.gamma)

    # ------------------------------------------------------------------ training

    @override
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Tensor]:
        x_s, y_s, x_t, domains = training_batch(batch, self.domain_head, None if self._first_batch_checked else self)
        self._first_batch_checked = True
        factor = self._lambda_factor()
        self.grl.coeff = self.candidates.kept_lambda * factor
        parts = []
        for nets, lambda_max in zip(self.candidates.trained(self), self.candidates.lambdas, strict=True):
            features = self._features(nets.feature_extractor, x_s, x_t)
            class_logits = self.task.check_outputs(
                nets.classifier(features if self.needs_target_predictions else features[: len(x_s)])
            )
            discriminator_input = self.discriminator_input(features, class_logits)
            # Manual optimization: the discriminator steps first, on fixed features (automatic: nothing).
            self.optimization.discriminator_step(
                self, nets.discriminator, discriminator_input.detach(), domains, class_logits.detach()
            )
            reversed_input = grad_reverse(discriminator_input, lambda_max * factor)
            domain_logits = self.domain_logits(nets.discriminator, reversed_input)
            parts.append((
                self.task.loss(class_logits[: len(x_s)], y_s),
                self.adversarial_loss(domain_logits, domains, class_logits),
                self.domain_head.accuracy(domain_logits.detach(), domains),
            ))
        cls_loss, domain_loss, domain_acc = (torch.stack(values).sum() for values in zip(*parts, strict=True))
        loss = cls_loss + domain_loss  # with several candidates, summed: each gets its own gradient

        # The loss every step (progress bar, monitors); its parts as epoch means, which cost no `self.log`.
        self.log("train/loss", loss, on_epoch=True, prog_bar=True, batch_size=len(x_s))
        self.domain_metrics.update_training(len(x_s), cls_loss, domain_loss, domain_acc / len(parts))
        self.optimization.model_step(self, loss)  # manual optimization: backward and step (automatic: Lightning's)
        # What DivergenceWatch reads: Lightning hands it to on_train_batch_end.
        return {"loss": loss, "cls_loss": cls_loss.detach(), "domain_loss": domain_loss.detach()}

    def _features(self, feature_extractor: nn.Module, x_s: Tensor, x_t: Tensor) -> Tensor:
        if self.hparams.feature_pass == "separate":
            set_domain(feature_extractor, SOURCE_DOMAIN)  # DomainBatchNorm layers, if any
            source = feature_extractor(x_s)
            set_domain(feature_extractor, TARGET_DOMAIN)
            return torch.cat([source, feature_extractor(x_t)])
        return feature_extractor(torch.cat([x_s, x_t]))

    def domain_logits(self, discriminator: nn.Module, inputs: Tensor) -> Tensor:
        """The discriminator's logits on ``inputs``, checked: one per sample (one per domain with several sources)."""
        return self.domain_head.check_logits(discriminator(inputs), len(inputs))

    # Hooks a conditional variant overrides (see CDANLitModule).
    needs_target_predictions = False  # whether the discriminator needs class predictions on target data

    def discriminator_input(self, features: Tensor, class_logits: Tensor) -> Tensor:
        """What the discriminator sees: here the features themselves."""
        return features

    def adversarial_loss(self, domain_logits: Tensor, labels: Tensor, class_logits: Tensor) -> Tensor:
        """The discriminator's loss: binary cross-entropy (source 0, target 1), or cross-entropy over domains."""
        return domain_loss(domain_logits, labels)

    # ------------------------------------------------------------------ evaluation

    @override
    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        domain = loader_domain(self.trainer.val_dataloaders, "val", dataloader_idx, self.domain_head)
        x, y = unpack_evaluation_batch(batch)
        outputs = []  # every candidate evaluated and scored
        for index, nets in enumerate(self.candidates.trained(self)):
            outputs.append(self._evaluate(nets, self.candidates.metrics_of(index), "val", domain, x, y))
            self.candidates.update(index, domain, x, outputs[-1]["features"], outputs[-1]["logits"], y)
        return outputs[max(self.candidates.kept_index, 0)]  # the kept candidate's, for callbacks

    @override
    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        domain = loader_domain(self.trainer.test_dataloaders, "test", dataloader_idx, self.domain_head)
        return self._evaluate(self, self.domain_metrics, "test", domain, *unpack_evaluation_batch(batch))

    @override
    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        x, _ = unpack_evaluation_batch(batch)
        return self.task.in_label_units(self(x), self._data())

    def _evaluate(
        self, nets: nn.Module, metrics: DomainMetrics, stage: str, domain: str, x: Tensor, y: Tensor | None
    ) -> dict[str, Any]:
        set_domain(nets.feature_extractor, TARGET_DOMAIN if domain == "target" else SOURCE_DOMAIN)
        features = nets.feature_extractor(x)
        set_domain(nets.feature_extractor, TARGET_DOMAIN)  # the deployed model runs on the target
        logits = self.task.check_outputs(nets.classifier(features))
        domain_logits = None
        if stage == "val":
            domain_logits = self.domain_logits(nets.discriminator, self.discriminator_input(features, logits))
        data = self._data()
        in_units = self.task.in_label_units
        metrics.update(stage, domain, features, in_units(logits, data), in_units(y, data), domain_logits)
        # For callbacks (embedding plots, proxy A-distance): what the step computed anyway.
        return {"domain": domain, "features": features, "logits": logits, "labels": y}

    @override
    def on_train_epoch_end(self) -> None:
        self.log_dict(self.domain_metrics.metrics("train"))
        scalars = {"train/lr": self.trainer.optimizers[0].param_groups[0]["lr"]}  # at the epoch's last batch
        if self.candidates.kept_index >= 0:
            scalars["train/lambda"] = self.grl.coeff
        self.log_dict(scalars)

    @override
    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.candidates.end_validation(self, sanity_checking=self.trainer.sanity_checking))

    @override
    def on_test_epoch_end(self) -> None:
        self.log_dict(self.domain_metrics.metrics("test"))

    @override
    def on_train_end(self) -> None:
        self.candidates.end_training(self)

    # ------------------------------------------------------------------ set-up and optimization

    def _data(self) -> DomainData | None:
        return domain_data(self.trainer.datamodule)

    @override
    def configure_callbacks(self) -> list[L.Callback]:
        # The first hook Lightning calls once the model is attached, before it checks the Trainer's
        # options itself: the place to name this module's option to use instead.
        check_trainer_options(self.trainer, self.hparams.optimization)
        watched = any(isinstance(callback, DivergenceWatch) for callback in self.trainer.callbacks)
        return [] if watched else [DivergenceWatch()]  # a user's own watch keeps its settings

    @override
    def setup(self, stage: str) -> None:
        data = self._data()
        check_task_of_the_data(self.hparams.task, data)
        if self.task is None:
            self.num_classes = classes_of_the_data(data)
            self._build_for(make_task("classification", num_classes=self.num_classes))
            self.hparams.num_classes = self.num_classes  # so that a checkpoint rebuilds the model at once
        if stage == "fit":
            self.task.check_data(data)
            show_the_data(self, data)  # lazy layers take their widths; the candidates start from them
        if self.hparams.compile and not self._compiled:
            compile_networks([self, *self.candidates.trained(self)], self.hparams.compile)
            self._compiled = True

    @override
    def on_fit_start(self) -> None:
        check_output_directories(self.trainer)
        self._first_batch_checked = False
        self.candidates.check_fit(self.trainer, self._data())

    @override
    def on_train_start(self) -> None:
        total_training_batches(self.trainer)  # the schedules need a finite run: say so before any step

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        rename_candidate_keys(checkpoint)  # written before 0.2
        if self.automatic_optimization:
            count_optimizer_steps_in_the_automatic_loop(checkpoint)  # a checkpoint of 0.1.0

    @override
    def configure_optimizers(self) -> Any:
        return self.optimization.configure_optimizers(self, self.candidates.trained(self))
