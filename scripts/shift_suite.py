"""The shift suite: does DANN with the library's defaults help on shifts and networks we did not tune for?

Each (task, network) pair is trained by every contender on several seeds; the target test accuracy
is compared with source-only training on the same seed. The networks are plain ``torch.nn`` stacks
as a user would write them, not this library's.

    python scripts/shift_suite.py --quick            # a few tasks and networks, 3 seeds
    python scripts/shift_suite.py                    # every task and network
    python scripts/shift_suite.py --slow             # and digits -> digits-M (flattened pixels)
    python scripts/shift_suite.py --tasks moons_40 --networks relu64 --contenders source_only dann --seeds 1

After the table, a summary compares every contender with source-only over all pairs: wins, ties
and losses (a tie is within one point), the median gain over the pairs where source-only is below
0.9, the worst loss, and the share of the largest possible gains ``dann_auto`` keeps.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import logging
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from dann_lightning import DANNLitModule
from dann_lightning.data import make_digits_shift
from dann_lightning.data.shifts import ShiftTask, make_shift

TIE = 0.01  # within one point of source-only counts as a tie


def record(gains: list[float]) -> tuple[int, int, int]:
    """Wins, ties and losses against source-only (accuracy gains rounded: 0.79 - 0.80 is a tie)."""
    rounded = [round(gain, 9) for gain in gains]
    win, loss = sum(g > TIE for g in rounded), sum(g < -TIE for g in rounded)
    return win, len(gains) - win - loss, loss


@dataclass(frozen=True)
class Task:
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
    """A user's plain feature extractor, linear classifier and a discriminator of the same family."""

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
    # DANN as other libraries ship it: constant lambda 1, Adam 1e-3, no annealing.
    "peer_recipe": ({"lambda_schedule": "constant", "lr_schedule": "constant"}, False),
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


def target_accuracy(task: ShiftTask, network: Network, contender: str, seed: int, epochs: int, batch: int) -> float:
    options, on_target = {**CONTENDERS, **ABLATIONS}[contender]
    searching = options.get("lambda_max") == "auto"
    L.seed_everything(seed, verbose=False)
    if on_target:  # trained on the labelled target rows: the upper bound
        task = dataclasses.replace(task, x_source=task.x_target, y_source=task.y_target)
    networks = network.build(task.in_features, task.num_classes)
    model = DANNLitModule(**{**networks, **options}, num_classes=task.num_classes)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=1.0 if searching else 0,  # lambda_max="auto" chooses at validation
        check_val_every_n_epoch=epochs,
        num_sanity_val_steps=0,
    )
    data = task.datamodule(batch_size=min(batch, len(task.x_source), len(task.x_target)))
    trainer.fit(model, data)
    return float(trainer.test(model, data, verbose=False)[0]["test/target_acc"])


def run(job: tuple[str, str, str, int, int, int]) -> float:
    task_name, network_name, contender, seed, epochs, batch = job
    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")  # per-run Lightning advice (workers, small batches): not results
    task = {**TASKS, **SLOW_TASKS}[task_name].draw(seed)
    return target_accuracy(task, NETWORKS[network_name], contender, seed, epochs, batch)


def summary(results: dict[tuple[str, str], dict[str, list[float]]], contenders: list[str]) -> list[str]:
    """Each contender against source-only (and the peers' recipe) over all (task, network) pairs,
    medians over seeds."""
    if "source_only" not in contenders:
        return []
    medians = {pair: {c: statistics.median(values) for c, values in scores.items()} for pair, scores in results.items()}
    peers = "peer_recipe" in contenders
    lines = [
        "| contender | win / tie / loss | not > 1 pt below | > 2 pts below | median gain where source-only < 0.9 "
        "| worst |" + (" within 1 pt of peer_recipe or above |" if peers else ""),
        "|---|---|---|---|---|---|" + ("---|" if peers else ""),
    ]
    for contender in contenders:
        if contender in ("source_only", "target_oracle"):
            continue
        gains = [m[contender] - m["source_only"] for m in medians.values()]
        hard = [m[contender] - m["source_only"] for m in medians.values() if m["source_only"] < 0.9]
        win, tie, loss = record(gains)
        far_below = sum(round(gain, 9) < -2 * TIE for gain in gains)
        median_hard = f"{100 * statistics.median(hard):+.1f}" if hard else "n/a"
        line = (
            f"| {contender} | {win} / {tie} / {loss} | {100 * (1 - loss / len(gains)):.0f}% | {far_below} | "
            f"{median_hard} | {100 * min(gains):+.1f} |"
        )
        if peers:
            _, _, behind = record([m[contender] - m["peer_recipe"] for m in medians.values()])
            line += f" {100 * (1 - behind / len(gains)):.0f}% |"
        lines.append(line)
    if "dann_auto" in contenders:
        for reference in [c for c in contenders if c not in ("source_only", "target_oracle", "dann_auto")]:
            positive = sum(max(0.0, m[reference] - m["source_only"]) for m in medians.values())
            auto = sum(max(0.0, m["dann_auto"] - m["source_only"]) for m in medians.values())
            if positive > 0:
                lines.append(f"\ndann_auto's summed positive gains: {100 * auto / positive:.0f}% of {reference}'s")
    return lines


def check_names(kind: str, names: list[str], valid: dict[str, Any]) -> list[str]:
    unknown = [name for name in names if name not in valid]
    if unknown:
        sys.exit(f"shift_suite: unknown {kind} {', '.join(unknown)}; valid: {', '.join(valid)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"tasks {QUICK_TASKS}, networks {QUICK_NETWORKS}")
    parser.add_argument("--tasks", nargs="+", help="default: all (or the quick ones)")
    parser.add_argument("--slow", action="store_true", help=f"also the image tasks {list(SLOW_TASKS)}")
    parser.add_argument("--networks", nargs="+", help="default: all (or the quick ones)")
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), help=f"also: {', '.join(ABLATIONS)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel, one CPU thread each")
    parser.add_argument("--json", help="also write every run's accuracy here (what scripts/figures.py draws)")
    args = parser.parse_args()
    default_tasks = (QUICK_TASKS if args.quick else list(TASKS)) + (list(SLOW_TASKS) if args.slow else [])
    tasks = check_names("task", args.tasks or default_tasks, {**TASKS, **SLOW_TASKS})
    networks = check_names("network", args.networks or (QUICK_NETWORKS if args.quick else list(NETWORKS)), NETWORKS)
    contenders = check_names("contender", args.contenders, {**CONTENDERS, **ABLATIONS})

    print(f"python scripts/shift_suite.py {' '.join(sys.argv[1:])}".strip())
    print(f"target test accuracy, median over {args.seeds} seeds; {args.epochs} epochs, batch {args.batch_size}")
    jobs = [
        (task, network, contender, seed, args.epochs, args.batch_size)
        for task in tasks
        for network in networks
        for contender in contenders
        for seed in range(args.seeds)
    ]
    start = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        accuracies = dict(zip(jobs, pool.map(run, jobs), strict=True))
    results: dict[tuple[str, str], dict[str, list[float]]] = {}
    for (task, network, contender, *_), accuracy in accuracies.items():
        results.setdefault((task, network), {}).setdefault(contender, []).append(accuracy)

    print(f"| task | network | {' | '.join(contenders)} | DANN vs source-only: win / tie / loss |")
    print("|---|---|" + "---|" * (len(contenders) + 1))
    for (task, network), scores in results.items():
        cells = " | ".join(f"{statistics.median(scores[c]):.3f}" for c in contenders)
        seeds = "n/a"
        if "dann" in scores and "source_only" in scores:
            gains = [d - s for d, s in zip(scores["dann"], scores["source_only"], strict=True)]
            seeds = " / ".join(map(str, record(gains)))
        print(f"| {task} | {network} | {cells} | {seeds} |")
    print()
    print("\n".join(summary(results, contenders)))
    print(f"\n{len(jobs)} runs, {time.perf_counter() - start:.0f} s with {args.workers} worker(s)")
    if args.json:
        pairs = [
            {"task": task, "network": network, "accuracy": {c: [round(a, 4) for a in v] for c, v in scores.items()}}
            for (task, network), scores in results.items()
        ]
        command = f"python scripts/shift_suite.py {' '.join(sys.argv[1:])}"
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"command": command, "pairs": pairs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
