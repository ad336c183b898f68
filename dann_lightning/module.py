"""DANNLitModule: domain-adversarial training (Ganin et al., JMLR 2016) as a LightningModule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Literal

import torch
from lightning.pytorch.cli import OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from dann_lightning import compat
from dann_lightning.analysis.scores import SelectionScoreName
from dann_lightning.batch import training_batch, unpack_evaluation_batch
from dann_lightning.candidates import Candidates, sum_over_candidates
from dann_lightning.checkpoints import load_checkpoint
from dann_lightning.data.contract import domain_data
from dann_lightning.divergence import DivergenceWatch
from dann_lightning.domain_head import DomainHead
from dann_lightning.grl import grad_reverse
from dann_lightning.guards import RunGuards
from dann_lightning.lambda_search import DEFAULT_LAMBDA_CANDIDATES, LambdaKeep, LambdaSearch, make_candidates
from dann_lightning.losses import weighted_domain_loss
from dann_lightning.metrics import DomainMetrics, loader_domain
from dann_lightning.nets import compile_networks, default_discriminator, features_of_both_domains, features_of_domain
from dann_lightning.nets.recipe import RECIPE_OPTIONS, apply_recipe
from dann_lightning.optimization import OPTIMIZATION_MODES
from dann_lightning.options import ClipAlgorithm, FeaturePass, OptimizationMode, check_options
from dann_lightning.progress import training_progress
from dann_lightning.schedules import LambdaScheduleName, LRScheduleName, lambda_factor
from dann_lightning.selection import LambdaCriterion
from dann_lightning.tasks import LossName, Task, TaskName, make_task
from dann_lightning.widths import check_task_of_the_data, classes_of_the_data, show_the_data

# Built in Python, these arguments are live objects that a checkpoint must not pickle.
PYTHON_OBJECT_ARGS = ["feature_extractor", "classifier", "discriminator", "optimizer", "discriminator_optimizer"]


class DANNLitModule(RunGuards):
    """Domain-adversarial neural network (DANN): a feature extractor shared by a label classifier and,
    through a gradient reversal layer, a domain discriminator.

    Loss = the classifier's loss on source rows + the discriminator's loss on source (0) and target
    (1) features, its gradient into the features reversed and scaled by ``lambda_p = lambda_max *
    schedule(p)``, ``p`` the fraction of training done. The step loops over the model's
    [candidates][dann_lightning.candidates] (one unless ``lambda_max="auto"``) and calls its
    [optimization mode][dann_lightning.optimization] (``"manual"``: the discriminator steps first);
    the checks that keep a fit safe are [`RunGuards`][dann_lightning.guards.RunGuards]' hooks.

    Args:
        feature_extractor: maps inputs to features; widths may come from the data (lazy layers).
        classifier: features to ``num_classes`` logits (``num_outputs`` numbers); default: a linear layer.
        discriminator: features to one logit per sample; default: [one][dann_lightning.nets.default_discriminator].
        num_classes: default: the data module's. Lazy layers take their widths from one batch.
        task: ``"classification"`` or ``"regression"`` ([tasks][dann_lightning.tasks]).
        num_outputs: regression: numbers predicted per row (default 1).
        loss: ``"cross_entropy"``, ``"mse"`` (regression's default) or ``"huber"``.
        optimizer: builds the optimizer from parameters (default: Adam, lr 1e-3).
        lambda_max: final weight of the reversed gradient; 0 trains source-only; ``"auto"`` trains one
            candidate per ``lambda_candidates`` value, keeps the best by ``lambda_criterion``.
        lambda_candidates: ``lambda_max="auto"``: the candidates, each a ``lambda_max`` (with the
            model's objectives; 0 is source-only, which must be among them) or a mapping of
            [settings][dann_lightning.candidate_settings.CandidateSetting].
        lambda_criterion: ``lambda_max="auto"``: a [`LambdaCriterion`][dann_lightning.selection.LambdaCriterion].
        lambda_keep: ``lambda_max="auto"``: ``"best"`` candidate, or the IWA ``"combination"`` of all
            (with ``lambda_criterion="iwa"``).
        lambda_margin: ``lambda_max="auto"``: keep an adapted candidate only if it beats source-only
            by more than this many standard errors over the validation rows (default: the task's,
            1 for classification, 2 for regression).
        mcc_weight: weight of the minimum class confusion loss on target predictions (Jin et al., 2020).
        mcc_temperature: MCC's softmax temperature.
        entropy_weight: weight of the target prediction entropy (entropy minimisation).
        label_shift: reweigh source rows by estimated target / source class ratios (IWDAN,
            Combes et al., 2020), re-estimated every epoch.
        lambda_schedule: ``"ganin"`` (the paper's ramp from 0) or ``"constant"``.
        gamma: steepness of the ``"ganin"`` ramp.
        lr_schedule: ``"ganin"`` (``lr_0 / (1 + lr_alpha p) ** lr_beta``), ``"cosine"`` or ``"constant"``.
        lr_alpha: ``alpha`` of the ``"ganin"`` LR annealing.
        lr_beta: ``beta`` of the ``"ganin"`` LR annealing.
        optimization: ``"automatic"`` or ``"manual"``.
        discriminator_optimizer: manual mode: the discriminator's optimizer (default: ``optimizer``).
        discriminator_steps: manual mode: discriminator updates per batch.
        gradient_clip_val: manual mode: clip each optimizer's gradients to this value.
        gradient_clip_algorithm: ``"norm"`` or ``"value"``.
        feature_pass: ``"joint"`` (one pass over both domains) or ``"separate"`` (per-domain ``BatchNorm``).
        compile: ``torch.compile`` the networks in place (``True``, or a dict of its arguments).
        selection_scores: [label-free scores][dann_lightning.selection] logged as ``val/<name>`` (default: all).
        num_sources: source domains per batch (the discriminator tells ``num_sources + 1`` apart).
        lr_multipliers: learning-rate factor per network, ``{"feature_extractor": 0.1}``.
        bottleneck_dim: append ``Linear -> BatchNorm1d -> ReLU -> Dropout(0.5)`` of this width to the feature extractor.
        freeze_batch_norm: keep the feature extractor's batch-norm statistics as loaded while training.
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
        lambda_max: float | Literal["auto"] = 0.03,
        lambda_candidates: Sequence[float | dict[str, Any]] = DEFAULT_LAMBDA_CANDIDATES,
        lambda_criterion: LambdaCriterion = "iwa",
        lambda_keep: LambdaKeep = "best",
        lambda_margin: float | None = None,
        mcc_weight: float = 0.0,
        mcc_temperature: float = 2.5,
        entropy_weight: float = 0.0,
        label_shift: bool = False,
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
        lr_multipliers: dict[str, float] | None = None,
        bottleneck_dim: int | None = None,
        freeze_batch_norm: bool = False,
    ) -> None:
        super().__init__()
        options = {key: value for key, value in locals().items() if key not in ("self", "__class__", *RECIPE_OPTIONS)}
        check_options(**options)
        self.save_hyperparameters(ignore=[] if compat.instantiated_from_config() else PYTHON_OBJECT_ARGS)
        self.optimization = OPTIMIZATION_MODES[optimization]()
        self.automatic_optimization = self.optimization.automatic
        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.discriminator = default_discriminator(num_sources) if discriminator is None else discriminator
        self.divergence_watch = DivergenceWatch()  # run from the hooks of RunGuards
        self.optimizer_factory = optimizer
        self.discriminator_optimizer_factory = discriminator_optimizer or optimizer
        apply_recipe(self, lr_multipliers, bottleneck_dim, freeze_batch_norm)  # before the candidates copy the networks
        self.num_sources = num_sources
        self.domain_head = DomainHead(num_sources)
        self.num_classes: int | None = num_classes
        self.task: Task | None = None
        self.domain_metrics: DomainMetrics | None = None
        self.candidates: Candidates | None = None
        if task == "regression" or num_classes is not None:  # else setup() takes the classes from the data
            self._build_for(make_task(task, num_classes=num_classes, num_outputs=num_outputs, loss=loss))
        self._check_next_batch = True
        self._compiled = False

    def _build_for(self, task: Task) -> None:
        """The parts whose shape follows from the output width: default classifier, metrics, candidates."""
        self.task = task
        if self.classifier is None:
            self.classifier = nn.LazyLinear(task.width)
        scores = task.selection_scores if self.hparams.selection_scores is None else self.hparams.selection_scores
        self.domain_metrics = DomainMetrics(task.width, self.domain_head, scores, task)
        self.candidates = make_candidates(self, scores)

    @property
    def lambda_search(self) -> LambdaSearch | None:
        """The candidates of ``lambda_max="auto"`` (``chosen_lambda``, ``last_scores``), else ``None``."""
        return self.candidates if isinstance(self.candidates, LambdaSearch) else None

    @classmethod
    def load_from_checkpoint(cls, checkpoint_path: Any, *args: Any, **kwargs: Any) -> DANNLitModule:  # type: ignore[override]
        """Lightning's, with a [`CheckpointError`][dann_lightning.errors.CheckpointError] naming a bad file.
        A model built in Python needs its networks again: ``load_from_checkpoint(path, feature_extractor=...)``."""
        return load_checkpoint(cls, super().load_from_checkpoint, checkpoint_path, *args, **kwargs)

    @override
    def forward(self, x: Tensor) -> Tensor:
        """Class logits (regression: the predicted numbers, in training units): the deployed model."""
        feature_extractor, classifier = self.candidates.deployed(self)
        return classifier(feature_extractor(x))

    def deployed_networks(self) -> tuple[nn.Module, nn.Module]:
        """The feature extractor and classifier ``forward`` runs: the model's own, or with
        ``lambda_keep="combination"`` the weighted candidates as one of each (what export writes)."""
        return self.candidates.deployed(self)

    def current_lambda(self) -> float:
        """``lambda_p`` of the kept candidate for the current training batch (0 before a choice)."""
        return self.candidates.kept_lambda * self._lambda_factor()

    def _lambda_factor(self) -> float:
        p = training_progress(self.trainer, self.optimization.steps_per_batch(self))
        return lambda_factor(self.hparams.lambda_schedule, p, gamma=self.hparams.gamma)

    @override
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> dict[str, Tensor]:
        x_s, y_s, x_t, domains = training_batch(batch, self.domain_head, self if self._check_next_batch else None)
        if self._check_next_batch:
            self._check_next_batch = False
        factor = self._lambda_factor()
        all_rows = self.needs_target_predictions or self.candidates.reads_target_predictions
        parts = []
        for nets, setting, terms in zip(
            self.candidates.trained(self), self.candidates.settings, self.candidates.terms, strict=True
        ):
            features = features_of_both_domains(nets.feature_extractor, x_s, x_t, self.hparams.feature_pass)
            class_logits = self.task.check_outputs(nets.classifier(features if all_rows else features[: len(x_s)]))
            discriminator_input = self.discriminator_input(features, class_logits)
            # Manual optimization: the discriminator steps first, on fixed features (automatic: nothing).
            self.optimization.discriminator_step(
                self, nets.discriminator, discriminator_input.detach(), domains, class_logits.detach()
            )
            reversed_input = grad_reverse(discriminator_input, setting.lambda_max * factor)
            domain_logits = self.domain_logits(nets.discriminator, reversed_input)
            source_logits, target_logits = class_logits[: len(x_s)], class_logits[len(x_s) :]
            row_weights = terms.source_weights(y_s)  # label-shift correction, else None
            cls_loss = self.task.loss(source_logits, y_s, row_weights)
            adversarial = self.adversarial_loss(domain_logits, domains, class_logits, row_weights)
            target_loss = terms.loss(target_logits) if terms.reads_target_predictions else None
            if target_loss is not None:
                adversarial = adversarial + target_loss  # logged with the domain loss: what the target adds
            terms.observe(source_logits, y_s, target_logits)
            parts.append((cls_loss, adversarial, self.domain_head.accuracy(domain_logits.detach(), domains)))
        cls_loss, domain_loss, domain_acc = sum_over_candidates(parts)  # each candidate gets its own gradient
        loss = cls_loss + domain_loss

        # The loss every step (progress bar, monitors); its parts as epoch means, which cost no `self.log`.
        self.log("train/loss", loss, on_epoch=True, prog_bar=True, batch_size=len(x_s))
        self.domain_metrics.update_training(len(x_s), cls_loss, domain_loss, domain_acc)
        self.optimization.model_step(self, loss)  # manual optimization: backward and step (automatic: Lightning's)
        return {"loss": loss, "cls_loss": cls_loss.detach(), "domain_loss": domain_loss.detach()}  # the watch reads

    def domain_logits(self, discriminator: nn.Module, inputs: Tensor) -> Tensor:
        """The discriminator's logits on ``inputs``, checked: one per sample (one per domain with several sources)."""
        return self.domain_head.check_logits(discriminator(inputs), len(inputs))

    # Hooks a conditional variant overrides (see CDANLitModule).
    needs_target_predictions = False  # whether the discriminator needs class predictions on target data

    def discriminator_input(self, features: Tensor, class_logits: Tensor) -> Tensor:
        """What the discriminator sees: here the features themselves."""
        return features

    def adversarial_loss(
        self, domain_logits: Tensor, labels: Tensor, class_logits: Tensor, source_weights: Tensor | None = None
    ) -> Tensor:
        """The discriminator's loss: binary cross-entropy (source 0, target 1), or cross-entropy over
        domains; ``source_weights`` weigh the source rows (label-shift correction)."""
        return weighted_domain_loss(domain_logits, labels, source_weights)

    @override
    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        domain = loader_domain(self.trainer.val_dataloaders, "val", dataloader_idx, self.domain_head)
        x, y = unpack_evaluation_batch(batch)
        outputs = [  # every candidate evaluated, then scored on the same rows
            self._evaluate(nets, self.candidates.metrics_of(index), "val", domain, x, y)
            for index, nets in enumerate(self.candidates.trained(self))
        ]
        self.candidates.update(domain, x, y, outputs)
        return outputs[max(self.candidates.kept_index, 0)]  # the kept candidate's, for callbacks

    @override
    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        domain = loader_domain(self.trainer.test_dataloaders, "test", dataloader_idx, self.domain_head)
        feature_extractor, classifier = self.deployed_networks()
        deployed = SimpleNamespace(feature_extractor=feature_extractor, classifier=classifier)
        return self._evaluate(deployed, self.domain_metrics, "test", domain, *unpack_evaluation_batch(batch))

    @override
    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        x, _ = unpack_evaluation_batch(batch)
        return self.task.in_label_units(self(x), domain_data(self.trainer.datamodule))

    def _evaluate(
        self, nets: nn.Module, metrics: DomainMetrics, stage: str, domain: str, x: Tensor, y: Tensor | None
    ) -> dict[str, Any]:
        features = features_of_domain(nets.feature_extractor, x, domain)
        logits = self.task.check_outputs(nets.classifier(features))
        domain_logits = None
        if stage == "val":
            domain_logits = self.domain_logits(nets.discriminator, self.discriminator_input(features, logits))
        data = domain_data(self.trainer.datamodule)
        in_units = self.task.in_label_units
        metrics.update(stage, domain, features, in_units(logits, data), in_units(y, data), domain_logits)
        # For callbacks (embedding plots, proxy A-distance): what the step computed anyway.
        return {"domain": domain, "features": features, "logits": logits, "labels": y}

    @override
    def on_train_epoch_end(self) -> None:
        self.candidates.end_training_epoch(self.trainer.strategy)  # label-shift weights
        scalars = self.domain_metrics.training_epoch_means(self.trainer.strategy)
        scalars["train/lr"] = self.trainer.optimizers[0].param_groups[0]["lr"]  # at the epoch's last batch
        if self.candidates.kept_index >= 0:
            scalars["train/lambda"] = self.current_lambda()  # at the epoch's last batch
        self.log_dict(scalars)
        super().on_train_epoch_end()  # the divergence watch

    @override
    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.candidates.end_validation(self, sanity_checking=self.trainer.sanity_checking))

    @override
    def on_test_epoch_end(self) -> None:
        self.log_dict(self.domain_metrics.metrics("test"))

    @override
    def on_train_end(self) -> None:
        self.candidates.end_training(self)

    @override
    def setup(self, stage: str) -> None:
        data = domain_data(self.trainer.datamodule)
        check_task_of_the_data(self.hparams.task, data)
        if self.task is None:
            self.num_classes = classes_of_the_data(data)
            self._build_for(make_task("classification", num_classes=self.num_classes))
            self.hparams.num_classes = self.num_classes  # so that a checkpoint rebuilds the model at once
        if stage == "fit":
            self._check_next_batch = True
            self.task.check_data(data)
            show_the_data(self, data)  # lazy layers take their widths; the candidates start from them
        if self.hparams.compile and not self._compiled:
            compile_networks([self, *self.candidates.trained(self)], self.hparams.compile)
            self._compiled = True

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        compat.rename_candidate_keys(checkpoint)  # written before 0.2
        if self.automatic_optimization:
            compat.count_optimizer_steps_in_the_automatic_loop(checkpoint)  # a checkpoint of 0.1.0

    @override
    def configure_optimizers(self) -> Any:
        return self.optimization.configure_optimizers(self, self.candidates.trained(self))
