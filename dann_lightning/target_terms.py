"""The objectives one candidate adds to DANN's two losses, as one object the training step calls:
minimum class confusion and entropy on the target predictions, and label-shift weights on the
source rows (IWDAN), re-estimated at every training epoch's end."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dann_lightning.candidate_settings import CandidateSetting
from dann_lightning.objectives import LabelShiftEstimator, minimum_class_confusion, target_entropy


class TargetTerms(nn.Module):
    """What ``setting`` adds: ``loss(target_logits)`` (MCC and entropy, weighted) and
    ``source_weights(labels)`` (each source row's class weight under label-shift correction, else
    ``None``). ``observe`` feeds the label-shift estimate with a training batch's predictions;
    ``end_epoch`` updates the weights from them.

    Args:
        setting: the candidate's objectives.
        num_classes: classes of the classifier (regression: no target terms apply).
        mcc_temperature: the temperature of MCC's softmax (2.5 in Jin et al., 2020).
    """

    def __init__(self, setting: CandidateSetting, num_classes: int, mcc_temperature: float = 2.5) -> None:
        super().__init__()
        self.setting = setting
        self.mcc_temperature = mcc_temperature
        self.estimator = LabelShiftEstimator(num_classes) if setting.label_shift else None

    @property
    def reads_target_predictions(self) -> bool:
        return self.setting.reads_target_predictions

    def loss(self, target_logits: Tensor) -> Tensor | None:
        """The weighted target objectives, or ``None`` when the setting has none."""
        terms = []
        if self.setting.mcc_weight:
            terms.append(self.setting.mcc_weight * minimum_class_confusion(target_logits, self.mcc_temperature))
        if self.setting.entropy_weight:
            terms.append(self.setting.entropy_weight * target_entropy(target_logits))
        return torch.stack(terms).sum() if terms else None

    def source_weights(self, labels: Tensor) -> Tensor | None:
        """Each labelled source row's weight (its class's estimated target / source ratio), or ``None``."""
        if self.estimator is None:
            return None
        return self.estimator.weights_for(labels)

    def observe(self, source_logits: Tensor, labels: Tensor, target_logits: Tensor) -> None:
        if self.estimator is not None:
            self.estimator.update(source_logits.detach(), labels, target_logits.detach())

    def end_epoch(self, strategy: Any) -> None:
        """Re-estimate the label-shift weights from the epoch's rows of every process."""
        if self.estimator is None:
            return
        for total in self.estimator.sums():
            total.copy_(strategy.reduce(total, reduce_op="sum"))  # one process: as it is
        self.estimator.estimate()
