"""Milliseconds per training step of the same DANN step three ways, on in-memory data.

- a plain PyTorch loop (the floor);
- `MinimalDANN`, the smallest LightningModule a
  user would write, under the Trainer (what Lightning itself costs);
- ``DANNLitModule`` under the Trainer (what this library adds on top of Lightning).

All three run the same networks, batch, optimizer (Adam, learning rate :data:`LR`) and schedules
(the paper's lambda ramp and LR annealing, stepped every batch). skada's DANN is timed too when it
is installed (never a dependency). ``scripts/benchmark.py`` runs this.
"""

from __future__ import annotations

import importlib.util
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from dann_lightning import DANNLitModule, DomainDataModule, grad_reverse
from dann_lightning.experiments.minimal import MinimalDANN
from dann_lightning.experiments.timing import StepTimer
from dann_lightning.nets import MLP, DomainDiscriminator, MNISTFeatures
from dann_lightning.quiet import quiet_trainer
from dann_lightning.schedules import lambda_factor, lr_factor

LR = 3e-4


@dataclass(frozen=True)
class Case:
    name: str
    batch_size: int
    input_shape: tuple[int, ...]
    num_classes: int
    steps_scale: float = 1.0  # of --steps and --warmup: fewer for a case whose steps are long

    def networks(self) -> dict[str, nn.Module]:
        if len(self.input_shape) == 1:  # the moons networks of configs/moons.yaml
            return {
                "feature_extractor": MLP(self.input_shape[0], [128, 128], activation="tanh"),
                "classifier": nn.Linear(128, self.num_classes),
                "discriminator": DomainDiscriminator(128, [128], activation="tanh"),
            }
        features = MNISTFeatures(image_size=self.input_shape[-1], in_channels=self.input_shape[0])
        return {  # the paper's MNIST architecture
            "feature_extractor": features,
            "classifier": MLP(features.out_features, [100, 100], self.num_classes),
            "discriminator": DomainDiscriminator(features.out_features, [100]),
        }


CASES = [
    Case("moons MLP, batch 128", 128, (2,), 2),
    Case("moons MLP, batch 1024", 1024, (2,), 2),
    Case("digits CNN (paper's MNIST net, 3x32x32), batch 128", 128, (3, 32, 32), 10, steps_scale=0.4),
]


def arrays(case: Case, rows: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_s = torch.randn(rows, *case.input_shape, generator=g)
    y_s = torch.randint(0, case.num_classes, (rows,), generator=g)
    x_t = torch.randn(rows, *case.input_shape, generator=g) + 0.5
    return x_s, y_s, x_t


def dann_module(case: Case, cls: type[DANNLitModule] = DANNLitModule) -> DANNLitModule:
    """``DANNLitModule`` (or a subclass) on the case's networks, with the benchmark's optimizer."""
    return cls(**case.networks(), num_classes=case.num_classes, optimizer=partial(torch.optim.Adam, lr=LR))


def minimal_module(case: Case) -> MinimalDANN:
    return MinimalDANN(**case.networks(), optimizer=partial(torch.optim.Adam, lr=LR))


def trainer_step_ms(
    build: Callable[[Case], L.LightningModule], case: Case, steps: int, warmup: int, seed: int
) -> float:
    """Median ms per step (a `StepTimer` interval)
    of the module ``build(case)`` under a quiet CPU Trainer, after ``warmup`` untimed steps."""
    L.seed_everything(seed, verbose=False)
    x_s, y_s, x_t = arrays(case, case.batch_size * 8, seed)
    data = DomainDataModule.from_arrays(x_s, y_s, x_t, batch_size=case.batch_size)
    model = build(case)
    timer = StepTimer()
    quiet_trainer(accelerator="cpu", devices=1, callbacks=[timer], max_steps=warmup + steps + 1).fit(model, data)
    return statistics.median(timer.times[warmup:]) * 1000


def plain_step_ms(case: Case, steps: int, warmup: int, seed: int) -> float:
    """The floor: the same DANN step written by hand."""
    torch.manual_seed(seed)
    nets = case.networks()
    fe, clf, disc = nets["feature_extractor"], nets["classifier"], nets["discriminator"]
    params = [p for net in nets.values() for p in net.parameters()]
    optimizer = torch.optim.Adam(params, lr=LR)
    total = warmup + steps + 1
    scheduler = LambdaLR(optimizer, lambda step: lr_factor("ganin", min(step / total, 1.0)))
    x_s, y_s, x_t = arrays(case, case.batch_size * 8, seed)
    n, b = len(x_s), case.batch_size
    labels = torch.cat([torch.zeros(b), torch.ones(b)])
    times, step = [], 0
    while step < total:
        perm_s, perm_t = torch.randperm(n), torch.randperm(n)
        for i in range(n // b):
            start = time.perf_counter()
            index_s, index_t = perm_s[i * b : (i + 1) * b], perm_t[i * b : (i + 1) * b]
            lam = lambda_factor("ganin", step / total)
            features = fe(torch.cat([x_s[index_s], x_t[index_t]]))
            cls_loss = F.cross_entropy(clf(features[:b]), y_s[index_s])
            dom_loss = F.binary_cross_entropy_with_logits(disc(grad_reverse(features, lam)).reshape(-1), labels)
            optimizer.zero_grad()
            (cls_loss + dom_loss).backward()
            optimizer.step()
            scheduler.step()
            times.append(time.perf_counter() - start)
            step += 1
            if step >= total:
                break
    return statistics.median(times[warmup:]) * 1000


def skada_step_ms(case: Case, steps: int, warmup: int, seed: int) -> float:
    """skada's DANN (a skorch estimator) on the same networks and data: time per step from whole
    fits of two lengths, so that set-up cost cancels. skada batches source and target together,
    so its batch holds ``2 * batch_size`` samples: as many as one step here."""
    from skada.deep import DANN
    from skada.deep.modules import DomainClassifier

    class Model(nn.Module):
        def __init__(self, features: nn.Module, classifier: nn.Module) -> None:
            super().__init__()
            self.features, self.classifier = features, classifier

        def forward(self, x):
            return self.classifier(self.features(x))

    x_s, y_s, x_t = arrays(case, case.batch_size * 8, seed)
    x = torch.cat([x_s, x_t]).numpy()
    y = np.concatenate([y_s.numpy(), -np.ones(len(x_t), dtype=np.int64)])  # -1: no label
    sample_domain = np.concatenate([np.ones(len(x_s)), -np.ones(len(x_t))]).astype(np.int64)
    steps_per_epoch = len(x) // (2 * case.batch_size)

    def fit_seconds(epochs: int) -> float:
        torch.manual_seed(seed)
        nets = case.networks()
        width = next(m for m in nets["discriminator"].modules() if isinstance(m, nn.Linear)).in_features
        estimator = DANN(
            Model(nets["feature_extractor"], nets["classifier"]),
            layer_name="features",
            reg=1.0,
            domain_classifier=DomainClassifier(num_features=width),
            batch_size=2 * case.batch_size,
            max_epochs=epochs,
            optimizer=torch.optim.Adam,
            lr=LR,
            train_split=None,
            verbose=0,
        )
        start = time.perf_counter()
        estimator.fit(x, y, sample_domain)
        return time.perf_counter() - start

    epochs = max(2, math.ceil(steps / steps_per_epoch))
    warm = max(1, math.ceil(warmup / steps_per_epoch))
    return (fit_seconds(epochs + warm) - fit_seconds(warm)) / (epochs * steps_per_epoch) * 1000


CONTENDERS: dict[str, Callable[[Case, int, int, int], float]] = {
    "plain": plain_step_ms,
    "minimal": partial(trainer_step_ms, minimal_module),
    "dann": partial(trainer_step_ms, dann_module),
}


def paired_runs(case: Case, steps: int, warmup: int, repeats: int) -> dict[str, list[float]]:
    """Step times of each contender, ``repeats`` times, run in alternation with the order turned
    around every repeat: a machine whose speed drifts (a shared virtual machine) then slows all
    contenders alike, and each repeat gives a fair ratio."""
    steps, warmup = max(20, round(steps * case.steps_scale)), max(5, round(warmup * case.steps_scale))
    contenders = dict(CONTENDERS)
    if importlib.util.find_spec("skada") is not None:
        contenders["skada"] = skada_step_ms
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for repeat in range(repeats):
        order = list(contenders) if repeat % 2 == 0 else list(contenders)[::-1]
        for name in order:
            times[name].append(contenders[name](case, steps, warmup, repeat))
    return times


def ratio_cell(numerators: list[float], denominators: list[float]) -> str:
    """The median of paired ratios, and their range.

    Examples:
        >>> ratio_cell([2.0, 3.0, 2.2], [1.0, 1.0, 2.0])
        '2.00x (1.10-3.00)'
    """
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True)]
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def step_table(steps: int, warmup: int, repeats: int, only: str | None = None) -> str:
    """The Markdown table of median ms per step and the paired ratios, one row per case of
    :data:`CASES` (those whose name contains ``only``); each row also goes to stderr when done."""
    columns = [
        "case",
        "plain PyTorch loop (floor), ms",
        "minimal LightningModule + Trainer, ms",
        "DANNLitModule + Trainer, ms",
        f"DANN / minimal (median of {repeats} pairs; range)",
        "DANN / plain",
        "skada DANN, ms",
        "pytorch-adapt DANN",
    ]
    rows = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    adapt_note = "not installed" if importlib.util.find_spec("pytorch_adapt") is None else "installed, not timed"
    for case in CASES:
        if only is not None and only not in case.name:
            continue
        times = paired_runs(case, steps, warmup, repeats)
        skada = f"{statistics.median(times['skada']):.2f}" if "skada" in times else "not installed"
        medians = " | ".join(f"{statistics.median(times[name]):.2f}" for name in CONTENDERS)
        rows.append(
            f"| {case.name} | {medians} | {ratio_cell(times['dann'], times['minimal'])} | "
            f"{ratio_cell(times['dann'], times['plain'])} | {skada} | {adapt_note} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)
