"""Target-side objectives beside the domain loss, as pure torch: minimum class confusion, entropy
minimisation, and the class weights of a label-shift correction. No Lightning; the module adds
them to its loss.

All three read target predictions only (and, for the label-shift weights, labelled source rows),
never target labels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import nnls
from torch import Tensor, nn

from dann_lightning.checks import check_int, check_real
from dann_lightning.errors import ConfigurationError

__all__ = ["LabelShiftEstimator", "minimum_class_confusion", "target_entropy"]


def minimum_class_confusion(target_logits: Tensor, temperature: float = 2.5) -> Tensor:
    """The minimum class confusion (MCC) loss of a batch of target logits.

    Jin, Wang, Long and Wang, "Minimum Class Confusion for Versatile Domain Adaptation", ECCV 2020
    (arXiv:1912.03699), section 3: the predictions ``Y = softmax(logits / temperature)``; each row
    weighted by ``1 + exp(-H(y_i))`` (confident rows count more; ``H`` the row's entropy, not
    differentiated through), the weights rescaled to sum to the batch size; the class correlation
    ``C = Y^T W Y``; each row of ``C`` divided by its sum (category normalisation); the loss is the
    sum of the off-diagonal entries over the number of classes. Since every normalised row sums to
    one, that is ``1 - mean(diag)``: 0 when every row is one confident class, ``(K - 1) / K`` when
    every prediction is uniform. The default temperature, 2.5, is that of the reference
    implementation's scripts (Transfer-Learning-Library, ``mcc.py``).

    Args:
        target_logits: ``(batch, classes)`` unnormalised class scores of target rows.
        temperature: softmax temperature (> 0); 1 is the plain softmax.

    Returns:
        A scalar in ``[0, 1)``, differentiable through the predictions, in float32.

    Examples:
        >>> confident = torch.eye(3).repeat(4, 1) * 50.0  # every row one class, sure of it
        >>> round(minimum_class_confusion(confident).item(), 6)
        0.0
        >>> round(minimum_class_confusion(torch.zeros(8, 4)).item(), 6)  # uniform: (K - 1) / K
        0.75
    """
    check_real("minimum_class_confusion temperature", temperature, minimum=0.0, strict=True)
    _check_logits("minimum_class_confusion", target_logits)
    batch, num_classes = target_logits.shape
    log_predictions = F.log_softmax(target_logits.float() / temperature, dim=1)
    predictions = log_predictions.exp()
    with torch.no_grad():
        weights = 1.0 + torch.exp((predictions * log_predictions).sum(dim=1))  # 1 + exp(-entropy)
        weights = batch * weights / weights.sum()
    # Row j of C is divided by its own sum, so column j of Y may be scaled by any constant first:
    # by its largest entry, so that a class every row rules out (probabilities below float32's
    # range) keeps a finite row, its limit, instead of 0 / 0.
    scaled = (log_predictions - log_predictions.max(dim=0, keepdim=True).values.detach()).exp()
    correlation = (scaled * weights[:, None]).T @ predictions
    correlation = correlation / correlation.sum(dim=1, keepdim=True)
    return (correlation.sum() - correlation.trace()) / num_classes


def target_entropy(target_logits: Tensor) -> Tensor:
    """The mean entropy (nats) of the predicted class distributions of a batch of target logits.

    Entropy minimisation, Grandvalet and Bengio, "Semi-supervised Learning by Entropy
    Minimization", NeurIPS 2004 (published 2005): penalising it pushes the decision boundary away
    from dense regions of unlabelled (here: target) rows.

    Args:
        target_logits: ``(batch, classes)`` unnormalised class scores of target rows.

    Returns:
        A scalar in ``[0, log K]``, differentiable, in float32.

    Examples:
        >>> round(target_entropy(torch.zeros(5, 4)).item(), 4) == round(float(np.log(4)), 4)
        True
        >>> round(target_entropy(torch.tensor([[30.0, 0.0], [0.0, 30.0]])).item(), 6)
        0.0
    """
    _check_logits("target_entropy", target_logits)
    log_probabilities = F.log_softmax(target_logits.float(), dim=1)
    return -(log_probabilities.exp() * log_probabilities).sum(dim=1).mean()


class LabelShiftEstimator(nn.Module):
    """Class weights ``w_y ~ p_T(y) / p_S(y)`` re-estimated from the model's own predictions (IWDAN).

    The importance weights of Combes, Zhao, Wang and Gordon, "Domain Adaptation with Conditional
    Distribution Matching and Generalized Label Shift", NeurIPS 2020 (IWDAN; their appendix's
    quadratic program), i.e. black-box shift estimation (BBSE, Lipton, Wang and Smola, "Detecting
    and Correcting for Label Shift with Black Box Predictors", ICML 2018) with soft predictions.
    Over an epoch, :meth:`update` accumulates

    - the source confusion matrix ``C[i, j] = p_S(predicted i, label j)`` (softmax predictions of
      labelled source rows, so a soft joint) and the source class frequencies ``p_S(j)``;
    - the mean target prediction ``mu[i] = p_T(predicted i)``.

    Under label shift ``C w = mu``. :meth:`estimate` solves it as nonnegative least squares (exact
    Lawson-Hanson, ``scipy.optimize.nnls``, in float64) with the normalisation ``sum_j p_S(j) w_j = 1``
    appended as one more equation (implied when ``C w = mu`` holds exactly, it steadies a poorly
    conditioned ``C``), rescales to meet the normalisation exactly, clamps into ``bounds``, and
    blends with the previous weights: ``w = momentum * w_old + (1 - momentum) * w_new`` (IWDAN's
    moving average, 0.5). The weights start at all ones (no correction until the first estimate).

    The default ``bounds=(0.1, 10.0)`` are this library's, not IWDAN's (which keeps ``w >= 0``
    only): the floor keeps every source class in the loss, so a class the early classifier
    wrongly believes absent from the target can recover at the next estimate; the ceiling keeps
    one source row from counting as more than ten, bounding the variance of the weighted losses.
    When a bound binds, the normalisation holds only approximately.

    Several processes (DDP): every accumulator in :meth:`sums` is a sum, so all-reducing each with
    ``SUM`` (``torch.distributed.all_reduce``, in place) before :meth:`estimate` gives every
    process the estimate of all rows; ``weights`` is a buffer (moves with the module, saved in
    its ``state_dict``); the accumulators are not saved.

    Args:
        num_classes: classes (at least 2).
        momentum: weight of the previous estimate in the moving average, in ``[0, 1)``.
        bounds: ``(low, high)`` clamp of every weight, ``0 <= low <= 1 <= high``.

    Examples:
        >>> estimator = LabelShiftEstimator(2)
        >>> labels = torch.tensor([0, 1, 0, 1])
        >>> source_logits = F.one_hot(labels).float() * 30  # a perfect, sure source classifier
        >>> target_logits = F.one_hot(torch.tensor([0, 0, 0, 1])).float() * 30  # 3/4 class 0
        >>> estimator.update(source_logits, labels, target_logits)
        >>> estimator.estimate(momentum=0.0).round(decimals=3).tolist()  # (3/4) / (1/2), (1/4) / (1/2)
        [1.5, 0.5]
        >>> estimator.weights_for(labels).round(decimals=3).tolist()
        [1.5, 0.5, 1.5, 0.5]
    """

    weights: Tensor

    def __init__(self, num_classes: int, momentum: float = 0.5, bounds: tuple[float, float] = (0.1, 10.0)) -> None:
        super().__init__()
        self.num_classes = check_int("LabelShiftEstimator num_classes", num_classes, minimum=2)
        self.momentum = _check_momentum(momentum)
        self.bounds = _check_bounds(bounds)
        self.register_buffer("weights", torch.ones(num_classes))
        self.register_buffer("confusion", torch.zeros(num_classes, num_classes, dtype=torch.float64), persistent=False)
        self.register_buffer("source_counts", torch.zeros(num_classes, dtype=torch.float64), persistent=False)
        self.register_buffer("target_sum", torch.zeros(num_classes, dtype=torch.float64), persistent=False)
        self.register_buffer("target_rows", torch.zeros((), dtype=torch.float64), persistent=False)

    def sums(self) -> list[Tensor]:
        """The accumulators, each a sum over rows: all-reduce each in place (``SUM``) across processes."""
        return [self.confusion, self.source_counts, self.target_sum, self.target_rows]

    @torch.no_grad()
    def update(self, source_logits: Tensor | None, source_labels: Tensor | None, target_logits: Tensor | None) -> None:
        """Add one batch: labelled source rows' logits and labels, target rows' logits (either may be ``None``)."""
        if source_logits is not None:
            _check_logits("LabelShiftEstimator source_logits", source_logits, self.num_classes)
            if source_labels is None or source_labels.shape != source_logits.shape[:1]:
                raise ConfigurationError(
                    "LabelShiftEstimator source_labels must hold one class index per source row "
                    f"({source_logits.shape[0]}), got {None if source_labels is None else tuple(source_labels.shape)}"
                )
            predictions = F.softmax(source_logits.double(), dim=1)
            labels = F.one_hot(source_labels.long(), self.num_classes).double()
            self.confusion += predictions.T @ labels
            self.source_counts += labels.sum(dim=0)
        if target_logits is not None:
            _check_logits("LabelShiftEstimator target_logits", target_logits, self.num_classes)
            self.target_sum += F.softmax(target_logits.double(), dim=1).sum(dim=0)
            self.target_rows += len(target_logits)

    @torch.no_grad()
    def estimate(self, momentum: float | None = None) -> Tensor:
        """Solve for new weights from what :meth:`update` saw, blend them in, reset the sums, return ``weights``.

        ``momentum`` overrides the estimator's for this call (0: the new estimate alone). With no
        source or no target rows seen, the weights stay as they are.
        """
        momentum = self.momentum if momentum is None else _check_momentum(momentum)
        rows = self.source_counts.sum()
        if rows > 0 and self.target_rows > 0:
            confusion = (self.confusion / rows).cpu().numpy()
            source_proportions = (self.source_counts / rows).cpu().numpy()
            target_mean = (self.target_sum / self.target_rows).cpu().numpy()
            new = _solve_class_weights(confusion, target_mean, source_proportions, self.bounds)
            blended = momentum * self.weights.double().cpu() + (1.0 - momentum) * torch.from_numpy(new)
            self.weights.copy_(blended.to(self.weights))
        for accumulator in self.sums():
            accumulator.zero_()
        return self.weights

    def weights_for(self, labels: Tensor) -> Tensor:
        """The weight of each source row, by its class label: ``weights[labels]``."""
        return self.weights[labels.long()]


def _solve_class_weights(
    confusion: np.ndarray, target_mean: np.ndarray, source_proportions: np.ndarray, bounds: tuple[float, float]
) -> np.ndarray:
    system = np.vstack([confusion, source_proportions[None]])
    weights, _ = nnls(system, np.append(target_mean, 1.0))
    normaliser = float(source_proportions @ weights)
    # A zero normaliser: nothing of the source matches the target's predictions; no evidence, no correction.
    weights = weights / normaliser if normaliser > 0 else np.ones_like(weights)
    return np.clip(weights, *bounds)


def _check_logits(owner: str, logits: Tensor, num_classes: int | None = None) -> None:
    if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[1] < 2:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ConfigurationError(f"{owner} must be a (rows, classes >= 2) tensor of logits, got {shape}")
    if num_classes is not None and logits.shape[1] != num_classes:
        raise ConfigurationError(f"{owner} must have {num_classes} class columns, got {logits.shape[1]}")


def _check_momentum(momentum: float) -> float:
    value = check_real("LabelShiftEstimator momentum", momentum, minimum=0.0, maximum=1.0)
    if value == 1.0:  # the weights would never move from all ones
        raise ConfigurationError("LabelShiftEstimator momentum must be < 1 (1 never updates the weights), got 1.0")
    return value


def _check_bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    valid = isinstance(bounds, tuple | list) and len(bounds) == 2
    valid = valid and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
    if not valid or not 0.0 <= bounds[0] <= 1.0 <= bounds[1] < float("inf"):
        raise ConfigurationError(
            f"LabelShiftEstimator bounds must be finite (low, high) with 0 <= low <= 1 <= high, got {bounds!r}"
        )
    return float(bounds[0]), float(bounds[1])
