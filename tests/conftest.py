"""Shared helpers: tiny networks, data and a quiet CPU Trainer."""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from dann_lightning import DANNLitModule, DomainDataModule
from dann_lightning.nets import MLP, DomainDiscriminator

REPO = Path(__file__).resolve().parents[1]


def tiny_networks(in_features: int = 2, num_classes: int = 2, hidden: int = 16) -> dict[str, nn.Module]:
    return {
        "feature_extractor": MLP(in_features, [hidden], activation="tanh"),
        "classifier": nn.Linear(hidden, num_classes),
        "discriminator": DomainDiscriminator(hidden, [hidden], activation="tanh"),
    }


def make_module(seed: int = 0, in_features: int = 2, num_classes: int = 2, **kwargs) -> DANNLitModule:
    torch.manual_seed(seed)
    kwargs.setdefault("optimizer", lambda params: torch.optim.Adam(params, lr=1e-2))
    return DANNLitModule(**tiny_networks(in_features, num_classes), num_classes=num_classes, **kwargs)


def blobs(n: int, shift: float = 0.0, in_features: int = 2, num_classes: int = 2, seed: int = 0):
    """Gaussian class blobs; ``shift`` moves the whole domain."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % num_classes
    x = torch.randn(n, in_features, generator=g) * 0.5 + y[:, None].float() * 2.0 + shift
    return x, y


def make_datamodule(n: int = 64, batch_size: int = 16, **kwargs) -> DomainDataModule:
    xs, ys = blobs(n, seed=1)
    xt, _ = blobs(n, shift=0.5, seed=2)
    defaults = {
        "source_train": TensorDataset(xs, ys),
        "target_train": TensorDataset(xt),
        "source_val": TensorDataset(*blobs(n // 2, seed=3)),
        "target_val": TensorDataset(*blobs(n // 2, shift=0.5, seed=4)),
        "target_test": TensorDataset(*blobs(n // 2, shift=0.5, seed=5)),
    }
    defaults.update(kwargs)
    return DomainDataModule(**defaults, batch_size=batch_size)


def make_trainer(root: Path, **kwargs) -> L.Trainer:
    defaults = {
        "default_root_dir": root,
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
        "max_epochs": 2,
    }
    defaults.update(kwargs)
    return L.Trainer(**defaults)


@pytest.fixture(autouse=True)
def _deterministic():
    L.seed_everything(0, verbose=False)
    yield


# Tests that feed the library bad input and check the error it gives: counted with
# `python -m pytest -m bad_input --collect-only -q` (every parametrized case counts once).
_BAD_INPUT = re.compile(
    r"reject|bad_|_bad|named|names_the|names_a_|must|unknown|missing|damaged|unwritable|diverg|are_checked|explain|outside"
    r"|empty|larger_than|mismatch|wrong"
)


def pytest_collection_modifyitems(items):
    for item in items:
        if _BAD_INPUT.search(getattr(item, "originalname", item.name)):
            item.add_marker(pytest.mark.bad_input)
