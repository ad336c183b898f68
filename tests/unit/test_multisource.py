"""Multi-source DANN: several labelled source domains, a discriminator over K + 1 domains."""

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from dann_lightning import DANNLitModule, DomainDataModule
from dann_lightning.data import Standardizer, make_moons_shift
from dann_lightning.errors import ConfigurationError
from dann_lightning.nets import MLP
from tests.conftest import make_trainer


def moons_with_two_sources(n: int = 512) -> DomainDataModule:
    """Sources at 0 and 20 degrees, target at 35 degrees."""
    first = make_moons_shift(n_samples=n, angle=35.0, n_val=128, n_test=128, seed=0)
    second = make_moons_shift(n_samples=n, angle=20.0, n_val=128, n_test=128, seed=1)
    scaler = Standardizer().fit(torch.as_tensor(first.source_train[0], dtype=torch.float32))

    def dataset(split, labelled=True):
        x = scaler.transform(torch.as_tensor(split[0], dtype=torch.float32))
        return TensorDataset(x, torch.as_tensor(split[1])) if labelled else TensorDataset(x)

    return DomainDataModule(
        source_train=[dataset(first.source_train), dataset(second.target_train)],
        target_train=dataset(first.target_train, labelled=False),
        source_val=[dataset(first.source_val), dataset(second.target_val)],
        target_val=dataset(first.target_val),
        batch_size=64,
    )


def multi_source_module(num_sources: int = 2, domain_outputs: int = 3) -> DANNLitModule:
    torch.manual_seed(0)
    return DANNLitModule(
        MLP(2, [64, 64], activation="tanh"),
        nn.Linear(64, 2),
        MLP(64, [64], domain_outputs, activation="tanh"),
        num_classes=2,
        num_sources=num_sources,
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-3),
    )


def test_the_batch_holds_one_pair_per_source():
    datamodule = moons_with_two_sources(n=128)
    datamodule.setup("fit")
    batch, _, _ = next(iter(datamodule.train_dataloader()))
    assert len(batch["source"]) == 2
    assert all(x.shape == (64, 2) and y.shape == (64,) for x, y in batch["source"])
    assert list(datamodule.val_dataloader()) == ["source_0", "source_1", "target"]


def test_mismatched_source_counts_and_discriminator_widths_are_named(tmp_path):
    with pytest.raises(ConfigurationError, match=r"batch holds 2 source domain\(s\) but .* num_sources=1"):
        make_trainer(tmp_path, max_steps=1).fit(
            multi_source_module(num_sources=1, domain_outputs=1), moons_with_two_sources(128)
        )
    with pytest.raises(
        ConfigurationError, match=r"must return 3 logits per sample, shape \(192, 3\), got shape \(192, 1\)"
    ):
        make_trainer(tmp_path, max_steps=1).fit(
            multi_source_module(num_sources=2, domain_outputs=1), moons_with_two_sources(128)
        )
    with pytest.raises(ConfigurationError, match=r"num_sources must be an integer >= 1, got 0"):
        multi_source_module(num_sources=0)
