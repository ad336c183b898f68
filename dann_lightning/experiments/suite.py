"""The shift suite: tasks, networks and contenders, and one run of them.

Does DANN with the library's defaults help on shifts and networks we did not tune for? Each
(task, network) pair is trained by every contender on several seeds; the target test accuracy is
compared with source-only training on the same seed. The networks are plain ``torch.nn`` stacks
as a user would write them, not this library's. ``scripts/shift_suite.py`` runs it;
`suite_report` writes its tables.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import lightning as L
import torch
from torch import nn

from dann_lightning import DANNLitModule
from dann_lightning.data import make_digits_shift
from dann_lightning.data.shifts import ShiftTask, make_shift
from dann_lightning.experiments.suite_report import Results
from dann_lightning.quiet import quiet_trainer


@dataclass(frozen=True)
class Task:
    """A named shift of [`make_shift`][dann_lightning.data.shifts.make_shift] with its options."""

    shift: str
    options: dict[str, Any] = field(default_factory=dict)

    def draw(self, seed: int) -> ShiftTask:
        return make_shift(self.shift, seed=seed, **self.options)


TASKS: dict[str, Task] = {
    **{f"moons_{angle}": Task("moons", {"angle": float(angle)}) for angle in (20, 30, 40, 50, 60)},
    "moons_40_noisy": Task("moons", {"angle": 40.0, "noise": 0.25}),
    "covariate_translation_10d": Task("gaussian_covariate", {"kind": "translation", "dim": 10}),
    "covariate_rotation_2d": Task("gaussian_covariate", {"kind": "rotation", "dim": 2}),
    "covariate_scaling_20d": Task("gaussian_covariate", {"kind": "scaling", "dim": 20}),
    "class_conditional_10d": Task("gaussian_class_conditional", {"dim": 10}),
    "subspace_20d": Task("gaussian_subspace", {"dim": 20}),
    "label_proportion": Task("label_proportion", {}),
    "breast_cancer": Task("breast_cancer", {}),
    "wine": Task("wine", {}),
    "tabular": Task("tabular", {}),
}
QUICK_TASKS = ["moons_40", "covariate_translation_10d", "label_proportion", "breast_cancer"]


@dataclass(frozen=True)
class DigitsTask:
    """digits -> digits-M (``make_digits_shift``), each image flattened to one row of pixels."""

    image_size: int = 16

    def draw(self, seed: int) -> ShiftTask:
        shift = make_digits_shift(image_size=self.image_size, seed=seed)
        splits = [shift.source_train, shift.target_train, shift.source_val, shift.target_test]
        rows = [array for x, y in splits for array in (x.reshape(len(x), -1), y)]
        return ShiftTask("digits_m", *rows, num_classes=10)


SLOW_TASKS: dict[str, DigitsTask] = {"digits_m": DigitsTask()}  # run with --slow or --tasks digits_m


def _stack(widths: list[int], activation: Callable[[], nn.Module], norm: str | None, dropout: float) -> nn.Module:
    layers: list[nn.Module] = []
    for width_in, width_out in itertools.pairwise(widths):
        layers.append(nn.Linear(width_in, width_out))
        if norm == "layer":
            layers.append(nn.LayerNorm(width_out))
        elif norm == "batch":
            layers.append(nn.BatchNorm1d(width_out))
        layers.append(activation())
        if dropout:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class Network:
    """A user's plain feature extractor, linear classifier and a discriminator of the same family.

    Examples:
        >>> nets = NETWORKS["relu64"].build(in_features=5, num_classes=3)
        >>> nets["classifier"]
        Linear(in_features=64, out_features=3, bias=True)
    """

    width: int
    depth: int
    activation: Callable[[], nn.Module]
    norm: str | None = None
    dropout: float = 0.0

    def build(self, in_features: int, num_classes: int) -> dict[str, nn.Module]:
        hidden = [self.width] * self.depth
        discriminator = _stack([self.width, self.width], self.activation, None, 0.0)
        discriminator.append(nn.Linear(self.width, 1))
        return {
            "feature_extractor": _stack([in_features, *hidden], self.activation, self.norm, self.dropout),
            "classifier": nn.Linear(self.width, num_classes),
            "discriminator": discriminator,
        }


NETWORKS: dict[str, Network] = {
    "relu64": Network(64, 2, nn.ReLU),
    "tanh128": Network(128, 2, nn.Tanh),
    "gelu256_layernorm": Network(256, 3, nn.GELU, norm="layer"),
    "gelu256_batchnorm": Network(256, 3, nn.GELU, norm="batch"),
    "relu64_dropout": Network(64, 2, nn.ReLU, dropout=0.2),
}
QUICK_NETWORKS = ["relu64", "gelu256_layernorm"]

# Each contender: the DANNLitModule options, and whether it trains on the target's labels.
CONTENDERS: dict[str, tuple[dict[str, Any], bool]] = {
    "source_only": ({"lambda_max": 0.0}, False),
    "dann": ({}, False),  # every default of DANNLitModule
    "dann_auto": ({"lambda_max": "auto"}, False),  # lambda chosen without target labels
    # DANN as other libraries ship it: constant lambda 1, Adam 1e-3, no annealing. lambda_max is
    # named: left out, it followed the module's default (0.1, then 0.03), which is not the peers'.
    "peer_recipe": ({"lambda_max": 1.0, "lambda_schedule": "constant", "lr_schedule": "constant"}, False),
    "target_oracle": ({"lambda_max": 0.0}, True),
}
# One change to the defaults each, to see what makes DANN's sign flip (not run unless named).
ABLATIONS: dict[str, tuple[dict[str, Any], bool]] = {
    "dann_constant_lr": ({"lr_schedule": "constant"}, False),
    "dann_lambda_0.3": ({"lambda_max": 0.3}, False),
    "dann_lambda_0.1": ({"lambda_max": 0.1}, False),
    "dann_adam_3e-4": ({"optimizer": partial(torch.optim.Adam, lr=3e-4)}, False),
    "dann_adam_beta1_0.5": ({"optimizer": partial(torch.optim.Adam, betas=(0.5, 0.999))}, False),
    "dann_manual": ({"optimization": "manual"}, False),
    "dann_lambda_1": ({"lambda_max": 1.0}, False),
    # The module's own discriminator (default_discriminator) instead of the network's [w, w] one.
    "dann_default_discriminator": ({"discriminator": None}, False),
}
ALL_TASKS: dict[str, Task | DigitsTask] = {**TASKS, **SLOW_TASKS}
ALL_CONTENDERS = {**CONTENDERS, **ABLATIONS}


def target_accuracy(task: ShiftTask, network: Network, contender: str, seed: int, epochs: int, batch: int) -> float:
    """Train ``contender`` with ``network`` on ``task`` (seeded by ``seed``) for ``epochs``; its
    target test accuracy."""
    options, on_target = ALL_CONTENDERS[contender]
    L.seed_everything(seed, verbose=False)
    if on_target:  # trained on the labelled target rows: the upper bound
        task = dataclasses.replace(task, x_source=task.x_target, y_source=task.y_target)
    networks = network.build(task.in_features, task.num_classes)
    model = DANNLitModule(**{**networks, **options}, num_classes=task.num_classes)
    # lambda_max="auto" chooses its candidate at the validation after the last epoch.
    searching = options.get("lambda_max") == "auto"
    trainer = quiet_trainer(validate_at_end_only=searching, accelerator="cpu", devices=1, max_epochs=epochs)
    data = task.datamodule(batch_size=min(batch, len(task.x_source), len(task.x_target)))
    trainer.fit(model, data)
    return float(trainer.test(model, data, verbose=False)[0]["test/target_acc"])


def run_job(job: tuple[str, str, str, int, int, int]) -> float:
    """One run of the suite, ``(task, network, contender, seed, epochs, batch)``, on one CPU thread
    (the suite runs several at a time, in worker processes): its target test accuracy."""
    task_name, network_name, contender, seed, epochs, batch = job
    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")  # per-run Lightning advice (workers, small batches): not results
    task = ALL_TASKS[task_name].draw(seed)
    return target_accuracy(task, NETWORKS[network_name], contender, seed, epochs, batch)


def check_names(kind: str, names: list[str], valid: dict[str, Any], program: str = "shift_suite") -> list[str]:
    """``names`` if each is in ``valid``; else exit, naming the unknown ones and the valid ones.

    Examples:
        >>> check_names("network", ["relu64"], NETWORKS)
        ['relu64']
    """
    unknown = [name for name in names if name not in valid]
    if unknown:
        sys.exit(f"{program}: unknown {kind} {', '.join(unknown)}; valid: {', '.join(valid)}")
    return names


def run_suite(
    tasks: list[str], networks: list[str], contenders: list[str], seeds: int, epochs: int, batch: int, workers: int
) -> Results:
    """Every (task, network, contender, seed) run, ``workers`` at a time in worker processes:
    ``{(task, network): {contender: [accuracy of seed 0, 1, ...]}}``."""
    jobs = [
        (task, network, contender, seed, epochs, batch)
        for task in tasks
        for network in networks
        for contender in contenders
        for seed in range(seeds)
    ]
    with ProcessPoolExecutor(workers) as pool:
        accuracies = dict(zip(jobs, pool.map(run_job, jobs), strict=True))
    results: Results = {}
    for (task, network, contender, *_), accuracy in accuracies.items():
        results.setdefault((task, network), {}).setdefault(contender, []).append(accuracy)
    return results
