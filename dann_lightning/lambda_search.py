"""``lambda_max="auto"``: candidates trained side by side, one kept by a score without target labels.

Each candidate is a copy of the three networks (the same initial weights), trained on the same
batches with its own ``lambda_max``; the set includes 0, source-only training. At every validation
each candidate is scored by a label-free criterion and the best one's weights become the model's
(``feature_extractor``, ``classifier``, ``discriminator``), so that ``forward``, ``test``,
``predict`` and export see the chosen model.

The default criterion, ``"consistency"``, rests on the cluster assumption: a good labelling of the
target puts its class boundaries where the *target inputs* are sparse, so the nearest target
neighbours of a target row mostly get its predicted class. It is measured in the input space,
which no candidate can reshape (adapted features can make any labelling look clustered), and
corrected for chance (Cohen's kappa), so that giving every row one class scores 0, not 1.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn
from torchmetrics import Metric

from dann_lightning.analysis.scores import NeighbourhoodConsistency, neighbour_agreement
from dann_lightning.candidates import Candidates, FixedLambda
from dann_lightning.checks import check_choice, check_real
from dann_lightning.errors import ConfigurationError
from dann_lightning.metrics import DomainMetrics
from dann_lightning.selection import SCORE_SPECS, LambdaCriterion, SelectionScore

if TYPE_CHECKING:
    from dann_lightning.data.contract import DomainData

__all__ = [
    "DEFAULT_LAMBDA_CANDIDATES",
    "LambdaCriterion",
    "LambdaSearch",
    "NeighbourhoodConsistency",
    "check_lambda_search",
    "make_candidates",
    "neighbour_agreement",
]

DEFAULT_LAMBDA_CANDIDATES = (0.0, 0.1, 0.3, 1.0)
SOURCE_LABEL_CRITERIA = tuple(name for name, spec in SCORE_SPECS.items() if spec.needs_source_labels)


class LambdaSearch(Candidates):
    """The candidates of ``lambda_max="auto"``: their networks, their scores and the choice.

    Training sums the candidates' losses (each candidate's parameters get exactly their own
    gradient), so ``train/loss`` is that sum and a step costs one step per candidate. At each
    validation every candidate is evaluated; the kept one's metrics are logged under the usual
    names (``val/target_acc``, ...), each candidate's score as ``val/auto/<criterion>_lambda_<value>``
    and the choice as ``val/auto/lambda_max``; ``chosen_lambda`` and ``last_scores`` hold them.
    It needs validation: the target rows' inputs (``DomainDataModule`` serves the target training
    rows when it has no ``target_val``) and, for ``"source_acc"`` and ``"dev"``, labelled source rows.

    Args:
        networks: the model's ``feature_extractor``, ``classifier`` and ``discriminator``; each
            candidate starts from a copy of them.
        lambdas: each candidate's ``lambda_max``; must include 0 (source-only).
        criterion: a [`LambdaCriterion`][dann_lightning.lambda_search.LambdaCriterion].
        num_classes: classes of the classifier.
        metrics: one [`DomainMetrics`][dann_lightning.metrics.DomainMetrics] per candidate: the
            kept candidate's are logged under the usual names (``val/target_acc``, ...).
        sample_losses: per-sample loss of outputs and labels, for ``"dev"`` (default: cross-entropy).
    """

    def __init__(
        self,
        networks: Mapping[str, nn.Module],
        lambdas: Sequence[float],
        criterion: str,
        num_classes: int,
        metrics: Sequence[DomainMetrics],
        sample_losses: Callable[[Tensor, Tensor], Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.lambdas = tuple(float(value) for value in lambdas)
        self.criterion = criterion
        self.candidates = nn.ModuleList(
            nn.ModuleDict({name: copy.deepcopy(net) for name, net in networks.items()}) for _ in self.lambdas
        )
        self.scores = nn.ModuleList(SelectionScore(criterion, num_classes, sample_losses) for _ in self.lambdas)
        self.metrics = nn.ModuleList(metrics)
        self.register_buffer("chosen", torch.tensor(-1))  # index of the kept candidate; -1: none yet
        # A host copy of the buffer, read at every step without a device synchronisation; read
        # again from the buffer after a checkpoint is loaded.
        self._chosen_index: int | None = None
        self.register_load_state_dict_post_hook(_forget_chosen_index)
        self.last_scores: dict[float, float] = {}

    @property
    def chosen_index(self) -> int:
        """Index of the kept candidate, -1 before the first validation."""
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

    def update(
        self, index: int, domain: str, inputs: Tensor, features: Tensor, logits: Tensor, labels: Tensor | None
    ) -> None:
        """Feed candidate ``index``'s outputs on one validation batch to its score."""
        self.scores[index].update(domain, inputs, features, logits, labels)

    def choose(self) -> int:
        """Score every candidate, keep the best (the smaller ``lambda_max`` on a tie) and return its index."""
        values = [score.compute() for score in self.scores]
        self.last_scores = dict(zip(self.lambdas, values, strict=True))
        sign = 1.0 if self.scores[0].higher_is_better else -1.0
        ranked = [
            (sign * value if math.isfinite(value) else -math.inf, -lam) for lam, value in self.last_scores.items()
        ]
        best = ranked.index(max(ranked))
        self.keep(best)
        return best

    def end_validation(self, model: nn.Module, *, sanity_checking: bool = False) -> dict[str, Any]:
        """Choose, copy the kept candidate's weights into ``model``, and return what to log: the kept
        candidate's metrics under the usual names, each candidate's score, the chosen ``lambda_max``.
        The sanity check's untrained candidates only check that the data feeds the scores."""
        if sanity_checking:
            check_scored(self)
            self.reset()
            return {}
        best = self.choose()
        self.copy_into(model, best)
        # Values, not Metric objects: which object backs a name may change between epochs, which
        # Lightning's logging of Metric objects forbids.
        logged = {name: metric.compute() for name, metric in self.metrics[best].metrics("val").items()}
        self.reset()
        logged.update({f"val/auto/{self.criterion}_lambda_{v:g}": score for v, score in self.last_scores.items()})
        logged["val/auto/lambda_max"] = self.lambdas[best]
        return logged

    def end_training(self, model: nn.Module) -> None:
        """Copy the kept candidate, with the weights it ended training with, into ``model``; say which."""
        if self.chosen_lambda is None:
            rank_zero_warn(
                "lambda_max='auto' chose no candidate, because no validation ran during training "
                "(check_val_every_n_epoch > max_epochs?): the source-only candidate is kept"
            )
            self.keep(self.lambdas.index(0.0))
        self.copy_into(model, self.chosen_index)
        scores = ", ".join(f"lambda_max={value:g}: {score:.4g}" for value, score in self.last_scores.items())
        if self.chosen_lambda == 0.0:
            rank_zero_warn(
                f"lambda_max='auto': adaptation did not help on this data by {self.criterion} ({scores}); "
                "the source-only model is kept"
            )
        else:
            rank_zero_info(f"lambda_max='auto' kept lambda_max={self.chosen_lambda:g} by {self.criterion} ({scores})")

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
        """Forget what the validation batches fed to the scores and metrics."""
        for module in self.modules():
            if isinstance(module, Metric):
                module.reset()


def _forget_chosen_index(search: LambdaSearch, incompatible_keys: Any) -> None:
    search._chosen_index = None  # the loaded buffer holds the choice now


def check_scored(search: LambdaSearch) -> None:
    """Raise ConfigurationError if a validation pass fed no candidate's score (no fitting data)."""
    if not search.scores[0].metric.update_called:
        what = "labelled source rows" if search.scores[0].needs_source_labels else "target rows"
        raise ConfigurationError(
            f"lambda_max='auto' scores its candidates by {search.criterion!r} on the {what} of the validation "
            f"data, but the validation loaders gave none: serve them at validation (DomainDataModule: "
            f"{'source_val' if 'source' in what else 'target_train or target_val'})"
        )


def check_search_data(search: LambdaSearch, trainer: Any, data: DomainData | None) -> None:
    """Raise ConfigurationError before training if ``lambda_max="auto"`` will have nothing to score."""
    if not trainer.limit_val_batches:
        raise ConfigurationError(
            f"lambda_max='auto' chooses among its candidates at validation, but validation is off "
            f"(Trainer(limit_val_batches={trainer.limit_val_batches!r})): enable it, or give lambda_max a number"
        )
    if search.scores[0].needs_source_labels and data is not None and not data.has_source_val:
        raise ConfigurationError(
            f"lambda_max='auto' with lambda_criterion={search.criterion!r} needs labelled source validation data, "
            "but the data module has no source_val: give it source_val (from_arrays: x_source_val, y_source_val), "
            "or choose lambda_criterion='consistency', which needs target rows only"
        )


def check_lambda_search(lambda_max: object, lambda_candidates: Sequence[float], lambda_criterion: str) -> None:
    """Raise ConfigurationError naming a bad ``lambda_max="auto"`` option."""
    check_choice("lambda_criterion", lambda_criterion, LambdaCriterion)
    if lambda_max != "auto":
        return
    if isinstance(lambda_candidates, str) or not isinstance(lambda_candidates, Sequence) or len(lambda_candidates) < 2:
        raise ConfigurationError(
            "lambda_candidates must be a sequence of at least two lambda_max values including 0, "
            f"got {lambda_candidates!r}"
        )
    for index, value in enumerate(lambda_candidates):
        check_real(f"lambda_candidates[{index}]", value, minimum=0.0)
    if 0 not in lambda_candidates:
        raise ConfigurationError(
            f"lambda_candidates must include 0 (source-only training, the model kept when adaptation does not "
            f"help), got {list(lambda_candidates)!r}"
        )
    if len(set(lambda_candidates)) != len(lambda_candidates):
        raise ConfigurationError(f"lambda_candidates must not repeat a value, got {list(lambda_candidates)!r}")


def make_candidates(model: nn.Module, scores: Sequence[str]) -> Candidates:
    """The candidates of ``model`` (its networks and ``task`` built): one,
    [`FixedLambda`][dann_lightning.candidates.FixedLambda], for a number ``lambda_max``; a
    [`LambdaSearch`][dann_lightning.lambda_search.LambdaSearch] over copies of its networks for
    ``"auto"``, each candidate with its own metrics."""
    hp, task = model.hparams, model.task
    if hp.lambda_max != "auto":
        return FixedLambda(hp.lambda_max, model.domain_metrics)
    networks = {name: getattr(model, name) for name in ("feature_extractor", "classifier", "discriminator")}
    metrics = [DomainMetrics(task.width, model.domain_head, scores, task) for _ in hp.lambda_candidates]
    return LambdaSearch(networks, hp.lambda_candidates, hp.lambda_criterion, task.width, metrics, task.sample_losses)
