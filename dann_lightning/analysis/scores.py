"""Unsupervised model-selection scores: how good a model looks on the target without its labels.

Pure functions do the math; the torchmetrics ``Metric`` classes accumulate over validation batches
and reduce across processes under DDP before calling them.

| score | reference | range | better |
|---|---|---|---|
| prediction entropy | Morerio et al., ICLR 2018 | [0, log C] | lower |
| information maximization (IM) | Gomes et al., NeurIPS 2010; Liang et al. (SHOT), ICML 2020 | [0, log C] | higher |
| soft neighbourhood density (SND) | Saito et al., ICCV 2021 | [0, log(N - 1)] | higher |
| deep embedded validation (DEV) | You et al., ICML 2019 | a risk, ~ target loss | lower |
| neighbourhood consistency | the cluster assumption, chance-corrected (Cohen's kappa) | [-1, 1] | higher |

Which score reads what, and which way is better, is registered once in
[`dann_lightning.selection`][dann_lightning.selection].
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from dann_lightning.errors import ConfigurationError

# ------------------------------------------------------------------ the math


def entropy(probs: Tensor) -> Tensor:
    """Shannon entropy (nats) of each row of ``probs``.

    Examples:
        >>> entropy(torch.tensor([[0.5, 0.5], [1.0, 0.0]]))
        tensor([0.6931, 0.0000])
    """
    return torch.special.entr(probs).sum(dim=-1)


def information_maximization(mean_probs: Tensor, mean_entropy: Tensor) -> Tensor:
    """``H(mean prediction) - mean H(prediction)``: high when predictions are confident and diverse."""
    return entropy(mean_probs) - mean_entropy


def soft_neighborhood_density(points: Tensor, temperature: float = 0.05) -> Tensor:
    """Mean entropy of each point's softmax similarity to all other points (cosine, ``/ temperature``).

    High when target points have many close neighbours: dense, well-clustered predictions.

    Examples:
        >>> same = torch.ones(5, 3)  # identical points: every neighbour equally similar
        >>> round(soft_neighborhood_density(same).item(), 4), round(torch.log(torch.tensor(4.0)).item(), 4)
        (1.3863, 1.3863)
    """
    unit = F.normalize(points.double(), dim=1)
    similarity = unit @ unit.T / temperature
    similarity.fill_diagonal_(float("-inf"))
    return entropy(torch.softmax(similarity, dim=1)).mean().to(points.dtype)


def dev_risk(weights: np.ndarray, losses: np.ndarray) -> float:
    """Importance-weighted risk with the control variate of You et al. (2019).

    ``mean(w l) + eta mean(w) - eta`` with ``eta = -Cov(w l, w) / Var(w)``; with constant weights
    (no detectable shift) this is the plain mean loss.
    """
    weighted = weights * losses
    variance = np.var(weights, ddof=1) if len(weights) > 1 else 0.0
    eta = 0.0 if variance < 1e-12 else -np.cov(weighted, weights, ddof=1)[0, 1] / variance
    return float(np.mean(weighted) + eta * np.mean(weights) - eta)


def importance_weights(source_features: np.ndarray, target_features: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Density ratios ``p_target(x) / p_source(x)`` at the source samples, from a domain classifier.

    A logistic regression on standardised features estimates ``P(target | x)``; its ``C`` is the
    one with the lowest log-loss on a held-out 20%, then it is refitted on all samples. The odds
    times ``N_s / N_t`` are the ratios. Indistinguishable domains give weights close to 1.
    """
    x = np.concatenate([source_features, target_features])
    y = np.concatenate([np.zeros(len(source_features)), np.ones(len(target_features))])
    x = StandardScaler().fit(x).transform(x)
    stratify = y if min(len(source_features), len(target_features)) >= 5 else None
    x_fit, x_held, y_fit, y_held = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=stratify)
    best_c, best_loss = 1.0, float("inf")
    for c in (0.001, 0.01, 0.1, 1.0, 10.0):
        loss = log_loss(y_held, _logistic(c).fit(x_fit, y_fit).predict_proba(x_held), labels=[0, 1])
        if loss < best_loss:
            best_c, best_loss = c, loss
    p_target = np.clip(_logistic(best_c).fit(x, y).predict_proba(x[: len(source_features)])[:, 1], 1e-6, 1 - 1e-6)
    return p_target / (1.0 - p_target) * len(source_features) / len(target_features)


def _logistic(c: float) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, solver="liblinear", max_iter=1000)


def neighbour_agreement(inputs: Tensor, labels: Tensor, num_classes: int, k: int = 10) -> Tensor:
    """Chance-corrected agreement of each row's label with its ``k`` nearest rows' labels.

    ``(a - e) / (1 - e)`` with ``a`` the fraction of (row, neighbour) pairs that share a label and
    ``e = sum_c pi_c ** 2`` the agreement expected of labels drawn at random with the labelling's
    own class frequencies ``pi``. 1: neighbours always agree; 0: no better than chance (and for a
    labelling with a single class).

    Examples:
        >>> x = torch.tensor([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
        >>> neighbour_agreement(x, torch.tensor([0, 0, 0, 1, 1, 1]), 2, k=2).item()
        1.0
        >>> neighbour_agreement(x, torch.tensor([0, 0, 0, 0, 0, 0]), 2, k=2).item()
        0.0
    """
    points = inputs.flatten(1).double()
    k = min(k, len(points) - 1)
    distances = torch.cdist(points, points)
    distances.fill_diagonal_(float("inf"))
    neighbours = distances.topk(k, largest=False).indices
    agreement = (labels[neighbours] == labels[:, None]).double().mean()
    frequencies = torch.bincount(labels, minlength=num_classes).double() / len(labels)
    expected = (frequencies**2).sum()
    if expected >= 1.0 - 1e-12:
        return torch.tensor(0.0, dtype=torch.float64)
    return (agreement - expected) / (1.0 - expected)


# ------------------------------------------------------------------ the metrics


class PredictionEntropy(Metric):
    """Mean entropy of the predicted class distribution on target data; lower is more confident."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("entropy_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: Tensor) -> None:
        self.entropy_sum += entropy(torch.softmax(logits.double(), dim=1)).sum()
        self.count += len(logits)

    def compute(self) -> Tensor:
        return (self.entropy_sum / self.count).float()


class InformationMaximization(Metric):
    """Entropy of the mean prediction minus the mean prediction entropy; higher is better."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, num_classes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("prob_sum", torch.zeros(num_classes, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("entropy_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: Tensor) -> None:
        probs = torch.softmax(logits.double(), dim=1)
        self.prob_sum += probs.sum(dim=0)
        self.entropy_sum += entropy(probs).sum()
        self.count += len(logits)

    def compute(self) -> Tensor:
        return information_maximization(self.prob_sum / self.count, self.entropy_sum / self.count).float()


class SoftNeighborhoodDensity(Metric):
    """SND of the target class probabilities (Saito et al., 2021); higher is better.

    Args:
        temperature: softmax temperature of the similarities (0.05 in the paper).
        max_samples: use at most this many points (evenly spaced), bounding the N x N cost.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, temperature: float = 0.05, max_samples: int = 2000, **kwargs) -> None:
        super().__init__(**kwargs)
        if not temperature > 0:
            raise ConfigurationError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.max_samples = max_samples
        self.add_state("probs", [], dist_reduce_fx="cat")

    def update(self, logits: Tensor) -> None:
        self.probs.append(torch.softmax(logits.float(), dim=1))

    def compute(self) -> Tensor:
        probs = _evenly_spaced(dim_zero_cat(self.probs), self.max_samples)
        return soft_neighborhood_density(probs, self.temperature)


class DeepEmbeddedValidation(Metric):
    """DEV (You et al., 2019): source-validation loss reweighted to the target; lower is better.

    ``update(features, losses=...)`` with per-sample losses of labelled source-validation data,
    ``update(features)`` without losses for target data. Importance weights come from a domain
    classifier on the features.

    Args:
        max_samples: use at most this many samples per domain (evenly spaced).
        seed: seed of the domain classifier's held-out split.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, max_samples: int = 5000, seed: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_samples = max_samples
        self.seed = seed
        self.add_state("source_features", [], dist_reduce_fx="cat")
        self.add_state("source_losses", [], dist_reduce_fx="cat")
        self.add_state("target_features", [], dist_reduce_fx="cat")

    def update(self, features: Tensor, losses: Tensor | None = None) -> None:
        features = features.detach().float().flatten(1)
        if losses is None:
            self.target_features.append(features)
        else:
            self.source_features.append(features)
            self.source_losses.append(losses.detach().float())

    @property
    def has_both_domains(self) -> bool:
        """Whether labelled source and target samples were seen (on this process)."""
        # A list of batches, or one concatenated tensor once states were synced across processes.
        return len(self.source_features) > 0 and len(self.target_features) > 0

    def compute(self) -> Tensor:
        if not self.has_both_domains:
            warnings.warn("DEV needs labelled source and unlabelled target samples; returning nan", stacklevel=2)
            return torch.tensor(float("nan"))
        source = _evenly_spaced(dim_zero_cat(self.source_features), self.max_samples).cpu().double().numpy()
        losses = _evenly_spaced(dim_zero_cat(self.source_losses), self.max_samples).cpu().double().numpy()
        target = _evenly_spaced(dim_zero_cat(self.target_features), self.max_samples).cpu().double().numpy()
        weights = importance_weights(source, target, seed=self.seed)
        return torch.tensor(dev_risk(weights, losses), dtype=torch.float32)


class NeighbourhoodConsistency(Metric):
    """[`neighbour_agreement`][dann_lightning.analysis.scores.neighbour_agreement] of the predicted
    classes of target rows, in their input space; higher is better.

    Args:
        num_classes: classes of the classifier.
        k: neighbours per row.
        max_samples: use at most this many rows (evenly spaced), bounding the N x N distances.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, num_classes: int, k: int = 10, max_samples: int = 2000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.k, self.max_samples = num_classes, k, max_samples
        self.add_state("inputs", [], dist_reduce_fx="cat")
        self.add_state("predictions", [], dist_reduce_fx="cat")

    def update(self, inputs: Tensor, logits: Tensor) -> None:
        self.inputs.append(inputs.detach().flatten(1).float())
        self.predictions.append(logits.detach().argmax(dim=1))

    def compute(self) -> Tensor:
        inputs, predictions = dim_zero_cat(self.inputs), dim_zero_cat(self.predictions)
        if len(inputs) > self.max_samples:
            keep = torch.linspace(0, len(inputs) - 1, self.max_samples, device=inputs.device).round().long()
            inputs, predictions = inputs[keep], predictions[keep]
        if len(inputs) < 2:
            return torch.tensor(float("nan"))
        return neighbour_agreement(inputs, predictions, self.num_classes, self.k).float()


def _evenly_spaced(x: Tensor, limit: int) -> Tensor:
    if len(x) <= limit:
        return x
    return x[torch.linspace(0, len(x) - 1, limit, device=x.device).round().long()]


SelectionScoreName = Literal["entropy", "im", "snd", "dev"]
"""The scores a model logs at validation as ``val/<name>`` (``DANNLitModule(selection_scores=...)``)."""
SCORES: dict[str, type[Metric]] = {
    "entropy": PredictionEntropy,
    "im": InformationMaximization,
    "snd": SoftNeighborhoodDensity,
    "dev": DeepEmbeddedValidation,
}
"""The scores DANNLitModule(selection_scores=...) can log, as ``val/<name>``."""

__all__ = [
    "SCORES",
    "DeepEmbeddedValidation",
    "InformationMaximization",
    "NeighbourhoodConsistency",
    "PredictionEntropy",
    "SelectionScoreName",
    "SoftNeighborhoodDensity",
    "dev_risk",
    "entropy",
    "importance_weights",
    "information_maximization",
    "neighbour_agreement",
    "soft_neighborhood_density",
]
