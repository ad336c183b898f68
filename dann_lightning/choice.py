"""What ``lambda_max="auto"`` keeps: the best candidate by a criterion, unless it beats source-only
by no more than the noise of the validation rows; or an importance-weighted combination of all (IWA).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from dann_lightning.criteria import CandidateOutputs, candidate_predictions, source_targets


@dataclass(frozen=True)
class Choice:
    """The kept candidate, every candidate's score, and by how much the best beat the reference.

    Attributes:
        index: the kept candidate.
        scores: each candidate's score (the mean of its rows).
        best: the best-scoring candidate (``index`` unless the margin kept the reference).
        gain: the best's advantage over the reference in the criterion's better direction.
        noise: the standard error of that advantage over the rows.
    """

    index: int
    scores: tuple[float, ...]
    best: int
    gain: float
    noise: float


def choose(rows: Tensor, higher_is_better: bool, reference: int, margin: float) -> Choice:
    """Keep the best-scoring candidate (the earlier one on a tie) whose paired advantage over the
    ``reference`` (source-only) exceeds ``margin`` standard errors of that advantage across the rows;
    the reference if none does.

    Args:
        rows: ``(K, N)`` each candidate's value on each row; its mean over rows is the score.
        higher_is_better: the criterion's direction.
        reference: the index of source-only training.
        margin: in standard errors; 0 keeps any candidate that scores better than the reference.

    Examples:
        >>> rows = torch.tensor([[0.5, 0.5, 0.5, 0.5], [0.5, 0.6, 0.5, 0.6], [1.0, 0.0, 1.0, 0.4]])
        >>> choose(rows, higher_is_better=True, reference=0, margin=1.0).index  # 2 is best but noisy
        1
        >>> choose(rows, higher_is_better=True, reference=0, margin=0.0).index
        2
    """
    oriented = rows.double() if higher_is_better else -rows.double()
    oriented = torch.where(torch.isfinite(oriented), oriented, torch.full_like(oriented, -math.inf))
    means = oriented.mean(dim=1)
    means = torch.where(torch.isnan(means), torch.full_like(means, -math.inf), means)
    order = sorted(range(len(means)), key=lambda k: (-float(means[k]), k))
    scores = tuple(float(value) for value in rows.double().mean(dim=1))
    gains = [_advantage(oriented[k] - oriented[reference]) for k in order]
    kept = next(
        (k for k, (gain, noise) in zip(order, gains, strict=True) if k == reference or gain > margin * noise), reference
    )
    gain, noise = _advantage(oriented[order[0]] - oriented[reference])
    return Choice(kept, scores, order[0], gain, noise)


def _advantage(differences: Tensor) -> tuple[float, float]:
    """Mean and standard error of paired differences."""
    n = len(differences)
    if n == 0 or not torch.isfinite(differences).all():
        return -math.inf, math.inf
    noise = float(differences.std() / math.sqrt(n)) if n > 1 else math.inf
    return float(differences.mean()), noise


def iwa_weights(out: CandidateOutputs, ridge: float = 1e-6) -> Tensor:
    """IWA (Dinu et al., ICLR 2023): the weights ``c`` of the combination ``sum_k c_k f_k`` of the
    candidates' probabilities (regression: predicted numbers) that minimise the importance-weighted
    squared error against the labelled source rows, ``sum_i w_i |sum_k c_k f_k(x_i) - y_i|^2``
    (a small ridge keeps it solvable when candidates agree).

    Examples:
        >>> labels = torch.tensor([0, 1, 0, 1])
        >>> right, wrong = torch.eye(2)[labels] * 20 - 10, torch.eye(2)[1 - labels] * 20 - 10
        >>> out = CandidateOutputs(torch.zeros(4, 1), torch.stack([wrong, right]), torch.zeros(2, 4, 1),
        ...     torch.zeros(4, 1), labels, torch.stack([wrong, right]), torch.zeros(2, 4, 1), True, None)
        >>> out.source_importance = lambda: torch.ones(4, dtype=torch.float64)
        >>> torch.allclose(iwa_weights(out), torch.tensor([0.0, 1.0], dtype=torch.float64), atol=1e-3)
        True
    """
    predictions = candidate_predictions(out.source_outputs, out.classification)  # (K, N, C)
    design = predictions.flatten(1).T  # (N * C, K)
    targets = source_targets(out).flatten()
    weights = out.source_importance().repeat_interleave(predictions.shape[2])
    gram = design.T @ (weights[:, None] * design)
    gram = gram + ridge * torch.eye(len(gram), dtype=gram.dtype, device=gram.device) * gram.diagonal().mean()
    return torch.linalg.solve(gram, design.T @ (weights * targets))


def combine(outputs: list[Tensor], weights: Tensor, classification: bool) -> Tensor:
    """The combination of the candidates' outputs: ``log(sum_k c_k softmax(z_k))`` as class logits
    (the combined probabilities, floored at 1e-6), or ``sum_k c_k y_k`` for predicted numbers.

    Examples:
        >>> combine([torch.tensor([[0.0, 0.0]]), torch.tensor([[9.0, -9.0]])], torch.tensor([0.5, 0.5]), True).exp()
        tensor([[0.7500, 0.2500]])
    """
    weights = weights.to(outputs[0].dtype)
    if not classification:
        return sum(weight * output for weight, output in zip(weights, outputs, strict=True))
    probs = sum(weight * torch.softmax(output, dim=-1) for weight, output in zip(weights, outputs, strict=True))
    return probs.clamp(min=1e-6).log()


__all__ = ["Choice", "choose", "combine", "iwa_weights"]
