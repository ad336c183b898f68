"""The criteria of ``lambda_max="auto"``, row by row: how good each candidate looks without target labels.

Every criterion turns what the validation rows gave all candidates
([`CandidateOutputs`][dann_lightning.criteria.CandidateOutputs]) into one value per candidate and
row, whose mean over the rows is the candidate's score. Rows, not only means, so that the choice can
ask whether a candidate beats source-only by more than the noise of the rows
([`choose`][dann_lightning.choice.choose]). Which criterion reads what and which way is better is
registered once, in [`SCORE_SPECS`][dann_lightning.selection.SCORE_SPECS].

Two kinds of evidence: criteria that read only the target predictions (``entropy``, ``im``,
``snd``, ``consistency``, ``ensv``, ``mixval``) reward confident, clustered, mutually consistent
predictions, which alignment produces whether or not they are right; criteria that estimate the
target *risk* from labelled source rows (``iwcv``, ``dev``, ``iwa``, ``reverse``, ``source_acc``)
do not, but need ``source_val``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from dann_lightning.analysis.scores import entropy, importance_weights

MIX_RATIO = 0.55  # MixVal's share of the dominant input in a mix (Hu et al., 2023)
NEIGHBOURS = 10  # target neighbours per row: consistency
REVERSE_NEIGHBOURS = 5  # pseudo-labelled target rows per source row: reverse validation
SND_TEMPERATURE = 0.05  # Saito et al., 2021


@dataclass
class CandidateOutputs:
    """What the validation rows gave every candidate (``K`` candidates, the same rows for each).

    Attributes:
        target_inputs: ``(N_t, ...)``.
        target_outputs: ``(K, N_t, C)`` logits (regression: predicted numbers, standardised units).
        target_features: ``(K, N_t, D)``.
        source_inputs, source_labels, source_outputs, source_features: the same for the labelled
            source validation rows, or ``None`` without them.
        classification: whether outputs are class logits.
        sample_losses: per-row loss of outputs and labels (cross-entropy; the regression loss).
        reference: index of the source-only candidate.
        predict: candidate ``k``'s outputs on inputs ``x`` (``predict(k, x)``), for ``mixval``.
    """

    target_inputs: Tensor
    target_outputs: Tensor
    target_features: Tensor
    source_inputs: Tensor | None
    source_labels: Tensor | None
    source_outputs: Tensor | None
    source_features: Tensor | None
    classification: bool
    sample_losses: Callable[[Tensor, Tensor], Tensor]
    reference: int = 0
    predict: Callable[[int, Tensor], Tensor] | None = None
    # Which candidate of the full set each one is, and the density ratios computed so far by that
    # index: a subset shares them (each costs a cross-validated domain classifier).
    origin: tuple[int, ...] | None = None
    ratio_cache: dict[int, Tensor] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @property
    def candidates(self) -> int:
        return len(self.target_outputs)

    def only(self, indices: list[int]) -> CandidateOutputs:
        """The outputs of the candidates at ``indices`` alone (the reference: its position there, else the first)."""

        def take(value: Tensor | None) -> Tensor | None:
            return None if value is None else value[indices]

        return dataclasses.replace(
            self,
            origin=tuple(self._origin(index) for index in indices),
            target_outputs=take(self.target_outputs),
            target_features=take(self.target_features),
            source_outputs=take(self.source_outputs),
            source_features=take(self.source_features),
            reference=indices.index(self.reference) if self.reference in indices else 0,
            predict=None if self.predict is None else (lambda index, x: self.predict(indices[index], x)),
        )

    def _origin(self, index: int) -> int:
        return index if self.origin is None else self.origin[index]

    def density_ratios(self, index: int) -> Tensor:
        """``p_target / p_source`` at the source rows, from a domain classifier on candidate ``index``'s
        features ([`importance_weights`][dann_lightning.analysis.scores.importance_weights])."""
        key = self._origin(index)
        if key not in self.ratio_cache:
            source, target = (
                features[index].double().cpu().numpy() for features in (self.source_features, self.target_features)
            )
            ratios = importance_weights(source, target)
            self.ratio_cache[key] = torch.as_tensor(ratios, dtype=torch.float64, device=self.source_outputs.device)
        return self.ratio_cache[key]

    def target_probs(self) -> Tensor:
        return torch.softmax(self.target_outputs.double(), dim=-1)

    def source_importance(self) -> Tensor:
        """Density ratios ``p_target / p_source`` at the source rows, mean 1, from a domain classifier
        on the source-only candidate's features (one estimate for every candidate: their scores then
        estimate the same target risk)."""
        weights = self.density_ratios(self.reference)
        return weights / weights.mean()

    def source_losses(self) -> Tensor:
        """``(K, N_s)`` per-row losses on the labelled source rows."""
        return torch.stack([self.sample_losses(out, self.source_labels).double() for out in self.source_outputs])


# ---------------------------------------------------------------- criteria on the target predictions


def entropy_rows(out: CandidateOutputs) -> Tensor:
    """Prediction entropy (Morerio et al., ICLR 2018); lower is better.

    Examples:
        >>> out = toy_outputs(target=[[[9.0, -9.0], [-9.0, 9.0]], [[0.0, 0.0], [0.0, 0.0]]])
        >>> entropy_rows(out).mean(dim=1).round(decimals=4)
        tensor([0.0000, 0.6931], dtype=torch.float64)
    """
    return entropy(out.target_probs())


def im_rows(out: CandidateOutputs) -> Tensor:
    """Information maximisation (SHOT, Liang et al., ICML 2020): entropy of the mean prediction minus
    each row's entropy; higher is better."""
    probs = out.target_probs()
    return entropy(probs.mean(dim=1))[:, None] - entropy(probs)


def snd_rows(out: CandidateOutputs) -> Tensor:
    """Soft neighbourhood density (Saito et al., ICCV 2021): each row's entropy of its softmax
    similarity to the other rows' predictions; higher is better."""
    rows = []
    for probs in out.target_probs():
        unit = F.normalize(probs, dim=1)
        similarity = unit @ unit.T / SND_TEMPERATURE
        similarity.fill_diagonal_(float("-inf"))
        rows.append(entropy(torch.softmax(similarity, dim=1)))
    return torch.stack(rows)


def consistency_rows(out: CandidateOutputs, k: int = NEIGHBOURS) -> Tensor:
    """Chance-corrected agreement of each target row's predicted class with its nearest target rows'
    in input space (Cohen's kappa, as ``neighbour_agreement``); higher is better.

    Examples:
        >>> out = toy_outputs(inputs=[[0.0], [0.1], [5.0], [5.1]], target=[[[1.0, 0], [1, 0], [0, 1], [0, 1]]])
        >>> consistency_rows(out, k=1).mean().item()
        1.0
    """
    neighbours = _nearest(out.target_inputs, out.target_inputs, k, exclude_self=True)
    rows = []
    for logits in out.target_outputs:
        labels = logits.argmax(dim=1)
        agreement = (labels[neighbours] == labels[:, None]).double().mean(dim=1)
        frequencies = torch.bincount(labels, minlength=logits.shape[1]).double() / len(labels)
        expected = (frequencies**2).sum()
        rows.append(torch.zeros_like(agreement) if expected >= 1 - 1e-12 else (agreement - expected) / (1 - expected))
    return torch.stack(rows)


def ensv_rows(out: CandidateOutputs) -> Tensor:
    """EnsV (Hu et al., NeurIPS 2024): agreement of each candidate's predicted class with the
    ensemble's (the candidates' mean probabilities); higher is better. Regression: minus the squared
    distance to the ensemble's mean prediction.

    Examples:
        >>> out = toy_outputs(target=[[[2.0, 0], [2, 0]], [[2.0, 0], [0, 2]], [[2.0, 0], [2, 0]]])
        >>> ensv_rows(out).mean(dim=1)  # the second disagrees with the ensemble on one row of two
        tensor([1.0000, 0.5000, 1.0000], dtype=torch.float64)
    """
    if not out.classification:
        outputs = out.target_outputs.double()
        return -((outputs - outputs.mean(dim=0)) ** 2).mean(dim=2)
    probs = out.target_probs()
    ensemble = probs.mean(dim=0).argmax(dim=1)
    return (probs.argmax(dim=2) == ensemble).double()


def mixval_rows(out: CandidateOutputs, seed: int = 0) -> Tensor:
    """MixVal (Hu et al., NeurIPS 2023): mix each target row with another (``0.55 / 0.45``) and check
    that the candidate predicts the dominant row's class on the mix; the mean over pairs of the same
    and of different predicted classes, each half the weight. Higher is better.

    Needs ``predict``; the pairs are the same for every candidate.
    """
    x = out.target_inputs
    generator = torch.Generator().manual_seed(seed)
    partner = torch.randperm(len(x), generator=generator).to(x.device)
    mixes = MIX_RATIO * x + (1 - MIX_RATIO) * x[partner]
    rows = []
    for index, logits in enumerate(out.target_outputs):
        labels = logits.argmax(dim=1)
        hits = (out.predict(index, mixes).argmax(dim=1) == labels).double()
        same = labels == labels[partner]
        shares = [group.double() / group.sum().clamp(min=1) for group in (same, ~same)]
        groups = sum(bool(group.any()) for group in (same, ~same))
        rows.append(hits * (shares[0] + shares[1]) * len(x) / groups)
    return torch.stack(rows)


# ---------------------------------------------------------------- criteria on the labelled source rows


def source_acc_rows(out: CandidateOutputs) -> Tensor:
    """Accuracy on the labelled source validation rows; higher is better."""
    return (out.source_outputs.argmax(dim=2) == out.source_labels).double()


def iwcv_rows(out: CandidateOutputs) -> Tensor:
    """Importance-weighted validation (IWCV, Sugiyama et al., JMLR 2007): the source rows' losses
    weighted by ``p_target / p_source``, an estimate of the target risk; lower is better."""
    return out.source_importance() * out.source_losses()


def dev_rows(out: CandidateOutputs) -> Tensor:
    """Deep embedded validation (You et al., ICML 2019): IWCV with each candidate's own features for
    the weights and a control variate; lower is better."""
    rows = []
    for index, losses in enumerate(out.source_losses()):
        weights = out.density_ratios(index)
        weighted = weights * losses
        variance = weights.var() if len(weights) > 1 else weights.new_tensor(0.0)
        centred = torch.stack([weighted - weighted.mean(), weights - weights.mean()])
        covariance = (centred[0] * centred[1]).sum() / max(len(weights) - 1, 1)
        eta = 0.0 if variance < 1e-12 else -covariance / variance
        rows.append(weighted + eta * (weights - 1))
    return torch.stack(rows)


def source_targets(out: CandidateOutputs) -> Tensor:
    """What a candidate's source outputs should be: one-hot labels, or the numbers themselves."""
    if out.classification:
        return F.one_hot(out.source_labels, out.source_outputs.shape[2]).double()
    labels = out.source_labels.double()
    return labels[:, None] if labels.ndim == 1 else labels


def candidate_predictions(outputs: Tensor, classification: bool) -> Tensor:
    """Probabilities of class logits, or the numbers themselves (the quantities IWA combines)."""
    return torch.softmax(outputs.double(), dim=-1) if classification else outputs.double()


def iwa_rows(out: CandidateOutputs) -> Tensor:
    """Importance-weighted squared error of each candidate's probabilities (numbers) against the
    source labels: the quantity IWA (Dinu et al., ICLR 2023) minimises, for one candidate; lower is
    better."""
    errors = (candidate_predictions(out.source_outputs, out.classification) - source_targets(out)) ** 2
    return out.source_importance() * errors.sum(dim=2)


def reverse_rows(out: CandidateOutputs) -> Tensor:
    """Reverse validation (Zhong et al., 2010; Ganin et al., 2016): label the target rows with the
    candidate, carry the labels back to each source row through its nearest target rows in input
    space, and score them against the source labels; higher is better. A cheap reverse classifier
    (nearest neighbours, not a reverse DANN): it trusts ``p(y | x)`` to be shared between domains."""
    neighbours = _nearest(out.source_inputs, out.target_inputs, REVERSE_NEIGHBOURS, exclude_self=False)
    rows = []
    for logits in out.target_outputs:
        votes = F.one_hot(logits.argmax(dim=1), logits.shape[1])[neighbours].sum(dim=1)
        rows.append((votes.argmax(dim=1) == out.source_labels).double())
    return torch.stack(rows)


def _nearest(queries: Tensor, points: Tensor, k: int, *, exclude_self: bool) -> Tensor:
    distances = torch.cdist(queries.flatten(1).double(), points.flatten(1).double())
    if exclude_self:
        distances.fill_diagonal_(float("inf"))
    return distances.topk(min(k, len(points) - int(exclude_self)), largest=False).indices


def toy_outputs(target: list, inputs: list | None = None) -> CandidateOutputs:
    """Outputs of a doctest: target logits ``(K, N, C)`` and, optionally, their inputs."""
    logits = torch.tensor(target, dtype=torch.float64)
    x = torch.tensor(inputs) if inputs is not None else torch.zeros(logits.shape[1], 1)
    return CandidateOutputs(x, logits, logits, None, None, None, None, True, lambda o, y: o)


__all__ = [
    "CandidateOutputs",
    "candidate_predictions",
    "consistency_rows",
    "dev_rows",
    "ensv_rows",
    "entropy_rows",
    "im_rows",
    "iwa_rows",
    "iwcv_rows",
    "mixval_rows",
    "reverse_rows",
    "snd_rows",
    "source_acc_rows",
    "source_targets",
]
