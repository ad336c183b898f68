"""The smallest LightningModule a user would write for the DANN step: the benchmark's measure of
what Lightning itself costs, so that what ``DANNLitModule`` adds on top can be told apart.

It does what ``DANNLitModule`` does with its defaults in automatic optimization, and nothing else:
one forward pass of the feature extractor over the concatenated source and target batch,
cross-entropy on the source + binary cross-entropy of the discriminator (source 0, target 1)
through the gradient reversal layer, the paper's lambda ramp and LR annealing stepped every batch,
and one ``self.log`` per step. No checks, metrics, candidates or options.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from dann_lightning.grl import grad_reverse
from dann_lightning.schedules import lambda_factor, lr_factor


class MinimalDANN(L.LightningModule):
    """DANN in automatic optimization, as a user would write it from the paper.

    Takes the batches of [`DomainDataModule`][dann_lightning.DomainDataModule]:
    ``{"source": (x_s, y_s), "target": (x_t,)}``.

    Examples:
        >>> model = MinimalDANN(nn.Linear(2, 8), nn.Linear(8, 2), nn.Linear(8, 1))
        >>> model(torch.zeros(4, 2)).shape
        torch.Size([4, 2])
    """

    def __init__(
        self,
        feature_extractor: nn.Module,
        classifier: nn.Module,
        discriminator: nn.Module,
        optimizer: Callable[[Iterable[Tensor]], Optimizer] = torch.optim.Adam,
        lambda_max: float = 0.03,  # DANNLitModule's default
    ) -> None:
        super().__init__()
        self.feature_extractor, self.classifier, self.discriminator = feature_extractor, classifier, discriminator
        self.optimizer, self.lambda_max = optimizer, lambda_max

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.feature_extractor(x))

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        (x_s, y_s), (x_t,) = batch["source"], batch["target"]
        p = self.global_step / self.trainer.estimated_stepping_batches
        features = self.feature_extractor(torch.cat([x_s, x_t]))
        cls_loss = F.cross_entropy(self.classifier(features[: len(x_s)]), y_s)
        domain_logits = self.discriminator(grad_reverse(features, self.lambda_max * lambda_factor("ganin", p)))
        domains = torch.cat([torch.zeros(len(x_s)), torch.ones(len(x_t))]).to(features.device)
        loss = cls_loss + F.binary_cross_entropy_with_logits(domain_logits.reshape(-1), domains)
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self) -> dict:
        optimizer = self.optimizer(self.parameters())
        total = self.trainer.estimated_stepping_batches
        scheduler = LambdaLR(optimizer, lambda step: lr_factor("ganin", min(step / total, 1.0)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
