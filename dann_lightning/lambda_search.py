"""``lambda_max="auto"``: candidates trained side by side; a criterion keeps one, or a weighted
combination of all.

Each candidate is a copy of the three networks (the same initial weights), trained on the same
batches with its own [setting][dann_lightning.candidate_settings.CandidateSetting] (a
``lambda_max``, with or without target objectives); the set includes source-only training. At
every validation each candidate is scored on the same validation rows
([criteria][dann_lightning.criteria]); the kept one's weights become the model's
(``feature_extractor``, ``classifier``, ``discriminator``), so that ``forward``, ``test``,
``predict`` and export see the chosen model. A candidate is kept over source-only only if it beats
it by more than ``lambda_margin`` standard errors of the difference across the rows
([`choose`][dann_lightning.choice.choose]). With ``lambda_keep="combination"`` the model is the
IWA combination of every candidate ([`iwa_weights`][dann_lightning.choice.iwa_weights]).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn
from torchmetrics import Metric

from dann_lightning.analysis.scores import NeighbourhoodConsistency, neighbour_agreement
from dann_lightning.candidate_settings import CandidateSetting, candidate_settings
from dann_lightning.candidates import Candidates, FixedLambda
from dann_lightning.checks import check_choice, check_real
from dann_lightning.choice import Choice, choose, iwa_weights
from dann_lightning.combination import CandidateFeatures, WeightedHeads
from dann_lightning.criteria import CandidateOutputs
from dann_lightning.errors import ConfigurationError
from dann_lightning.metrics import DomainMetrics
from dann_lightning.nets import features_of_domain
from dann_lightning.selection import SCORE_SPECS, LambdaCriterion
from dann_lightning.target_terms import TargetTerms
from dann_lightning.validation_rows import ValidationRows

if TYPE_CHECKING:
    from dann_lightning.data.contract import DomainData

__all__ = [
    "DEFAULT_LAMBDA_CANDIDATES",
    "LambdaCriterion",
    "LambdaKeep",
    "LambdaSearch",
    "NeighbourhoodConsistency",
    "check_lambda_search",
    "make_candidates",
    "neighbour_agreement",
]

DEFAULT_LAMBDA_CANDIDATES = (0.0, 0.1, 0.3, 1.0)
SOURCE_LABEL_CRITERIA = tuple(name for name, spec in SCORE_SPECS.items() if spec.needs_source_labels)
LambdaKeep = Literal["best", "combination"]
"""What ``lambda_max="auto"`` keeps: the best candidate, or the IWA combination of all (``lambda_keep``)."""
PREDICT_CHUNK = 1024  # rows per forward pass when a criterion runs the candidates again (mixval)


class LambdaSearch(Candidates):
    """The candidates of ``lambda_max="auto"``: their networks, the validation rows they are scored
    on, and what is kept.

    Training sums the candidates' losses (each candidate's parameters get exactly their own
    gradient), so ``train/loss`` is that sum and a step costs one step per candidate. At each
    validation the kept one's metrics are logged under the usual names (``val/target_acc``, ...),
    each candidate's score as ``val/auto/<criterion>_<candidate>`` (e.g. ``val/auto/iwcv_lambda_0.1``),
    the kept ``lambda_max`` as ``val/auto/lambda_max`` and, for a combination, each weight as
    ``val/auto/weight_<candidate>``; ``chosen_lambda``, ``last_scores`` and ``combination_weights``
    hold them. It needs validation: the target rows (``DomainDataModule`` serves the target training
    rows when it has no ``target_val``) and, for the criteria that read source labels, labelled
    source rows.

    Args:
        networks: the model's ``feature_extractor``, ``classifier`` and ``discriminator``; each
            candidate starts from a copy of them.
        settings: each candidate's setting; one must be source-only.
        criterion: a [`LambdaCriterion`][dann_lightning.selection.LambdaCriterion].
        metrics: one [`DomainMetrics`][dann_lightning.metrics.DomainMetrics] per candidate.
        classification: whether the outputs are class logits (else predicted numbers).
        num_classes: the classifier's outputs.
        sample_losses: per-row loss of outputs and labels (the criteria that weigh source losses).
        keep: ``"best"`` or ``"combination"`` (a criterion that can combine: ``"iwa"``).
        margin: keep an adapted candidate only if it beats source-only by more than this many
            standard errors of the difference across the validation rows (0: by anything).
        max_rows: validation rows per domain the criteria read at most (evenly spread).
        logged_scores: the label-free scores logged for the kept candidate as ``val/<score>``,
            computed from the same rows (the candidates' own metrics then need none).
        mcc_temperature: MCC's softmax temperature, for the candidates that use it.
    """

    def __init__(
        self,
        networks: Mapping[str, nn.Module],
        settings: Sequence[CandidateSetting],
        criterion: str,
        metrics: Sequence[DomainMetrics],
        *,
        classification: bool,
        num_classes: int,
        sample_losses: Callable[[Tensor, Tensor], Tensor],
        keep: str = "best",
        margin: float = 1.0,
        max_rows: int = 2000,
        mcc_temperature: float = 2.5,
        logged_scores: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.settings = tuple(settings)
        self.criterion, self.keep_mode, self.margin = criterion, keep, margin
        self.logged_scores = tuple(logged_scores)
        self.classification, self.sample_losses = classification, sample_losses
        self.reference = next(index for index, setting in enumerate(self.settings) if setting.source_only)
        self.candidates = nn.ModuleList(
            nn.ModuleDict({name: copy.deepcopy(net) for name, net in networks.items()}) for _ in self.settings
        )
        self.terms = nn.ModuleList(TargetTerms(setting, num_classes, mcc_temperature) for setting in self.settings)
        self.rows = ValidationRows(max_rows)
        self.metrics = nn.ModuleList(metrics)
        self.register_buffer("chosen", torch.tensor(-1))  # index of the kept candidate; -1: none yet
        self.register_buffer("combination_weights", torch.zeros(len(self.settings)))  # keep="combination"
        # A host copy of the buffer, read at every step without a device synchronisation; read
        # again from the buffer after a checkpoint is loaded.
        self._chosen_index: int | None = None
        self.register_load_state_dict_post_hook(_forget_chosen_index)
        self.last_scores: dict[float | str, float] = {}
        self.last_choice: Choice | None = None
        self.last_outputs: CandidateOutputs | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Each candidate's name in logs (``lambda_0.1``, ``lambda_0.1_mcc_1``, ...)."""
        return tuple(setting.name for setting in self.settings)

    @property
    def keys(self) -> tuple[float | str, ...]:
        """What ``last_scores`` is keyed by: each ``lambda_max``, or each name where two share one."""
        return self.lambdas if len(set(self.lambdas)) == len(self.lambdas) else self.names

    @property
    def chosen_index(self) -> int:
        """Index of the kept candidate (a combination: the largest weight), -1 before the first validation."""
        if self._chosen_index is None:
            self._chosen_index = int(self.chosen)
        return self._chosen_index

    @property
    def chosen_lambda(self) -> float | None:
        """``lambda_max`` of the kept candidate, or ``None`` before the first validation."""
        return None if self.chosen_index < 0 else self.lambdas[self.chosen_index]

    @property
    def kept_index(self) -> int:
        return self.chosen_index

    @property
    def combines(self) -> bool:
        """Whether the model is a combination of the candidates (after a choice, with keep="combination")."""
        return self.keep_mode == "combination" and self.chosen_index >= 0

    def trained(self, model: nn.Module) -> list[nn.Module]:
        return list(self.candidates)

    def metrics_of(self, index: int) -> DomainMetrics:
        return self.metrics[index]

    def check_fit(self, trainer: Any, data: Any) -> None:
        check_search_data(self, trainer, data)

    def keep(self, index: int) -> None:
        """Make candidate ``index`` the kept one."""
        self.chosen.fill_(index)
        self._chosen_index = index

    def deployed(self, model: nn.Module) -> tuple[nn.Module, nn.Module]:
        if not self.combines:
            return model.feature_extractor, model.classifier
        features = CandidateFeatures([nets.feature_extractor for nets in self.candidates])
        heads = WeightedHeads(
            [nets.classifier for nets in self.candidates], self.combination_weights, self.classification
        )
        return features, heads

    def update(
        self, domain: str, inputs: Tensor, labels: Tensor | None, outputs: Sequence[Mapping[str, Tensor]]
    ) -> None:
        """Keep (some of) the rows of one validation batch with every candidate's outputs on them."""
        if domain != "target" and labels is None:
            return
        stacked = {
            "outputs": torch.stack([output["logits"].detach() for output in outputs], dim=1),
            "features": torch.stack([output["features"].detach().flatten(1) for output in outputs], dim=1),
        }
        if domain == "target":
            self.rows.update("target", inputs=inputs, **stacked)
        else:
            self.rows.update("source", inputs=inputs, labels=labels, **stacked)

    def outputs(self) -> CandidateOutputs:
        """The kept validation rows, as the criteria read them."""
        rows = self.rows.compute()

        def over_candidates(name: str) -> Tensor | None:  # (rows, K, ...) -> (K, rows, ...)
            return None if rows[name] is None else rows[name].transpose(0, 1)

        return CandidateOutputs(
            target_inputs=rows["target_inputs"],
            target_outputs=over_candidates("target_outputs"),
            target_features=over_candidates("target_features"),
            source_inputs=rows["source_inputs"],
            source_labels=rows["source_labels"],
            source_outputs=over_candidates("source_outputs"),
            source_features=over_candidates("source_features"),
            classification=self.classification,
            sample_losses=self.sample_losses,
            reference=self.reference,
            predict=self.predict,
        )

    @torch.no_grad()
    def predict(self, index: int, x: Tensor) -> Tensor:
        """Candidate ``index``'s outputs on target inputs ``x`` (in chunks, as the networks are: eval at validation)."""
        nets = self.candidates[index]
        chunks = [
            nets.classifier(features_of_domain(nets.feature_extractor, part, "target"))
            for part in x.split(PREDICT_CHUNK)
        ]
        return torch.cat(chunks)

    def choose(self) -> int:
        """Score every candidate on the validation rows and keep one (or weigh all); return the kept index."""
        out = self.outputs()
        spec = SCORE_SPECS[self.criterion]
        choice = choose(spec.rows(out), spec.higher_is_better, self.reference, self.margin)
        self.last_choice = choice
        self.last_outputs = out  # what the criteria read: for studies of other criteria on the same rows
        self.last_scores = dict(zip(self.keys, choice.scores, strict=True))
        kept = choice.index
        if self.keep_mode == "combination":
            weights = iwa_weights(out)
            self.combination_weights.copy_(weights.to(self.combination_weights))
            kept = int(weights.argmax())
        self.keep(kept)
        return kept

    def end_validation(self, model: nn.Module, *, sanity_checking: bool = False) -> dict[str, Any]:
        """Choose, copy the kept candidate's weights into ``model``, and return what to log: the kept
        candidate's metrics under the usual names, each candidate's score, the kept ``lambda_max``.
        The sanity check's untrained candidates only check that the data feeds the criterion."""
        if sanity_checking:
            check_scored(self)
            self.reset()
            return {}
        best = self.choose()
        self.copy_into(model, best)
        # Values, not Metric objects: which object backs a name may change between epochs, which
        # Lightning's logging of Metric objects forbids.
        logged = {name: metric.compute() for name, metric in self.metrics[best].metrics("val").items()}
        logged.update(self._kept_scores(best))
        self.reset()
        logged.update({f"val/auto/{self.criterion}_{name}": score for name, score in self._named_scores()})
        logged["val/auto/lambda_max"] = self.lambdas[best]
        if self.keep_mode == "combination":
            logged.update(
                {f"val/auto/weight_{n}": float(w) for n, w in zip(self.names, self.combination_weights, strict=True)}
            )
        return logged

    def _kept_scores(self, index: int) -> dict[str, float]:
        """``val/<score>`` of candidate ``index`` from the rows the criterion read (a score that needs
        labelled source rows is left out without them)."""
        kept = self.last_outputs.only([index])
        specs = {name: SCORE_SPECS[name] for name in self.logged_scores}
        return {
            f"val/{name}": float(spec.rows(kept).mean())
            for name, spec in specs.items()
            if kept.source_outputs is not None or not spec.needs_source_labels
        }

    def _named_scores(self) -> list[tuple[str, float]]:
        """Each candidate's name and last score (none before the first validation)."""
        return list(zip(self.names, self.last_scores.values(), strict=True)) if self.last_scores else []

    def end_training(self, model: nn.Module) -> None:
        """Copy the kept candidate, with the weights it ended training with, into ``model``; say which."""
        if self.chosen_lambda is None:
            rank_zero_warn(
                "lambda_max='auto' chose no candidate, because no validation ran during training "
                "(check_val_every_n_epoch > max_epochs?): the source-only candidate is kept"
            )
            self.keep(self.reference)
        self.copy_into(model, self.chosen_index)
        scores = ", ".join(f"{name}: {score:.4g}" for name, score in self._named_scores())
        if self.keep_mode == "combination":
            weights = ", ".join(
                f"{name}: {float(w):.3g}" for name, w in zip(self.names, self.combination_weights, strict=True)
            )
            rank_zero_info(f"lambda_max='auto' keeps the IWA combination of its candidates ({weights})")
        elif self.chosen_index == self.reference:
            rank_zero_warn(
                f"lambda_max='auto': adaptation did not help on this data by {self.criterion} ({scores}); "
                "the source-only model is kept"
            )
        else:
            name = self.names[self.chosen_index]
            rank_zero_info(f"lambda_max='auto' kept {name} by {self.criterion} ({scores})")

    def copy_into(self, model: nn.Module, index: int) -> None:
        """Load candidate ``index``'s weights into ``model``'s networks of the same names."""
        for name, net in self.candidates[index].items():
            getattr(model, name).load_state_dict(net.state_dict())

    def start_from(self, model: nn.Module) -> None:
        """Give every candidate ``model``'s current weights (after lazy layers took their widths)."""
        for candidate in self.candidates:
            for name, net in candidate.items():
                net.load_state_dict(getattr(model, name).state_dict())

    def reset(self) -> None:
        """Forget what the validation batches fed to the rows and metrics."""
        for module in self.modules():
            if isinstance(module, Metric):
                module.reset()


def _forget_chosen_index(search: LambdaSearch, incompatible_keys: Any) -> None:
    search._chosen_index = None  # the loaded buffer holds the choice now


def check_scored(search: LambdaSearch) -> None:
    """Raise ConfigurationError if a validation pass fed the criterion no rows (no fitting data)."""
    source = SCORE_SPECS[search.criterion].needs_source_labels
    if search.rows.kept("source" if source else "target") == 0:
        what = "labelled source rows" if source else "target rows"
        raise ConfigurationError(
            f"lambda_max='auto' scores its candidates by {search.criterion!r} on the {what} of the validation "
            f"data, but the validation loaders gave none: serve them at validation (DomainDataModule: "
            f"{'source_val' if source else 'target_train or target_val'})"
        )


def check_search_data(search: LambdaSearch, trainer: Any, data: DomainData | None) -> None:
    """Raise ConfigurationError before training if ``lambda_max="auto"`` will have nothing to score."""
    if not trainer.limit_val_batches:
        raise ConfigurationError(
            f"lambda_max='auto' chooses among its candidates at validation, but validation is off "
            f"(Trainer(limit_val_batches={trainer.limit_val_batches!r})): enable it, or give lambda_max a number"
        )
    if SCORE_SPECS[search.criterion].needs_source_labels and data is not None and not data.has_source_val:
        raise ConfigurationError(
            f"lambda_max='auto' with lambda_criterion={search.criterion!r} needs labelled source validation data, "
            "but the data module has no source_val: give it source_val (from_arrays: x_source_val, y_source_val), "
            "or choose a criterion that reads target rows only ('ensv', 'consistency')"
        )


def check_lambda_search(
    lambda_max: object,
    lambda_candidates: Sequence[Any],
    lambda_criterion: str,
    lambda_keep: str = "best",
    lambda_margin: float | None = None,
    objectives: Mapping[str, Any] | None = None,
) -> None:
    """Raise ConfigurationError naming a bad ``lambda_max="auto"`` option."""
    check_choice("lambda_criterion", lambda_criterion, LambdaCriterion)
    check_choice("lambda_keep", lambda_keep, LambdaKeep)
    if lambda_margin is not None:
        check_real("lambda_margin", lambda_margin, minimum=0.0)
    if lambda_keep == "combination" and not SCORE_SPECS[lambda_criterion].can_combine:
        combining = [name for name, spec in SCORE_SPECS.items() if spec.can_combine]
        raise ConfigurationError(
            f"lambda_keep='combination' weighs the candidates by importance-weighted least squares on labelled "
            f"source rows, which lambda_criterion={lambda_criterion!r} does not compute: use lambda_criterion in "
            f"{combining}, or lambda_keep='best'"
        )
    if lambda_max == "auto":
        candidate_settings(lambda_candidates, objectives or {})


def objective_options(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The model's own target objectives: what a plain ``lambda_max`` candidate trains with."""
    return {name: hparams[name] for name in ("mcc_weight", "entropy_weight", "label_shift")}


def make_candidates(model: nn.Module, scores: Sequence[str]) -> Candidates:
    """The candidates of ``model`` (its networks and ``task`` built): one,
    [`FixedLambda`][dann_lightning.candidates.FixedLambda], for a number ``lambda_max``; a
    [`LambdaSearch`][dann_lightning.lambda_search.LambdaSearch] over copies of its networks for
    ``"auto"``, each candidate with its own metrics."""
    hp, task = model.hparams, model.task
    objectives = objective_options(hp)
    if hp.lambda_max != "auto":
        setting = CandidateSetting(float(hp.lambda_max), **objectives)
        return FixedLambda(setting, model.domain_metrics, task.width, hp.mcc_temperature)
    settings = candidate_settings(hp.lambda_candidates, objectives)
    networks = {name: getattr(model, name) for name in ("feature_extractor", "classifier", "discriminator")}
    # The kept candidate's val/<score> come from the rows the criterion reads: no score per candidate.
    metrics = [DomainMetrics(task.width, model.domain_head, (), task) for _ in settings]
    return LambdaSearch(
        networks,
        settings,
        hp.lambda_criterion,
        metrics,
        classification=task.has_classes,
        num_classes=task.width,
        sample_losses=task.sample_losses,
        keep=hp.lambda_keep,
        margin=task.default_lambda_margin if hp.lambda_margin is None else hp.lambda_margin,
        mcc_temperature=hp.mcc_temperature,
        logged_scores=scores,
    )
