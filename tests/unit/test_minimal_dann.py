"""The benchmark's minimal LightningModule does the same DANN step as DANNLitModule, so that
timing them side by side measures what the library adds over Lightning, nothing else."""

import copy
from functools import partial

import lightning as L
import pytest
import torch
from torch import nn

from dann_lightning import DANNLitModule, DomainDataModule
from dann_lightning.experiments.minimal import MinimalDANN
from dann_lightning.nets import MLP, DomainDiscriminator
from dann_lightning.quiet import quiet_trainer


class LossesSeen(L.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def training_losses(model: L.LightningModule, steps: int) -> list[float]:
    g = torch.Generator().manual_seed(0)
    x_s, y_s = torch.randn(256, 2, generator=g), torch.randint(0, 2, (256,), generator=g)
    x_t = torch.randn(256, 2, generator=g) + 0.5
    L.seed_everything(0, verbose=False)
    seen = LossesSeen()
    trainer = quiet_trainer(accelerator="cpu", devices=1, max_steps=steps, callbacks=[seen])
    trainer.fit(model, DomainDataModule.from_arrays(x_s, y_s, x_t, batch_size=64))
    return seen.losses


def test_the_minimal_module_and_dann_give_the_same_losses_from_the_same_weights():
    torch.manual_seed(0)
    networks = {
        "feature_extractor": MLP(2, [16, 16], activation="tanh"),
        "classifier": nn.Linear(16, 2),
        "discriminator": DomainDiscriminator(16, [16], activation="tanh"),
    }
    adam = partial(torch.optim.Adam, lr=1e-2)
    # Six steps over two epochs: the same batches, lambda ramp and LR annealing, not just the first loss.
    dann = training_losses(DANNLitModule(**copy.deepcopy(networks), num_classes=2, optimizer=adam), steps=6)
    minimal = training_losses(MinimalDANN(**copy.deepcopy(networks), optimizer=adam), steps=6)
    assert minimal[0] == dann[0]
    assert minimal == pytest.approx(dann, rel=1e-6)
    assert len(set(dann)) == 6  # the weights moved: the later steps compare trained models
