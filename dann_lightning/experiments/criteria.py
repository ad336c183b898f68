"""Which label-free criterion should ``lambda_max="auto"`` choose by? Measured on the shift suite.

For every (task, network, seed) of the suite each candidate ``lambda_max`` is trained on its own
(the same seed, so the same initial weights and batches), then scored by every criterion from what
a user has: labelled source validation rows and unlabelled target rows. ``scripts/lambda_criteria.py``
runs it; :func:`report` gives, per criterion, the Spearman rank correlation of its score with the
target test accuracy across the candidates of one draw (mean over draws), and what picking by it
yields.
"""

from __future__ import annotations

import logging
import statistics
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor

import lightning as L
import torch
from scipy.stats import spearmanr

from dann_lightning import DANNLitModule, DomainDataModule
from dann_lightning.experiments.suite import NETWORKS, TASKS
from dann_lightning.quiet import quiet_trainer
from dann_lightning.selection import SelectionScore

# The criteria lambda_max="auto" can choose by (the registry's names); scores are oriented so that
# higher is better (entropy and DEV negated).
CRITERIA = ("consistency", "source_acc", "entropy", "im", "snd", "dev")
DEFAULT_TASKS = [
    "moons_40",
    "covariate_translation_10d",
    "label_proportion",
    "breast_cancer",
    "class_conditional_10d",
    "subspace_20d",
]
Draws = dict[tuple[str, str, int], dict[float, dict[str, float]]]


def check_candidates(lambdas: list[float]) -> list[float]:
    """``lambdas`` if they include 0, source-only, which every criterion is measured against; else exit.

    Examples:
        >>> check_candidates([0.0, 0.1, 1.0])
        [0.0, 0.1, 1.0]
    """
    if 0.0 not in lambdas:
        sys.exit("lambda_criteria: --lambdas must include 0 (source-only)")
    return lambdas


def train_and_score(job: tuple[str, str, float, int, int]) -> dict[str, float]:
    """Train one candidate, ``(task, network, lambda_max, seed, epochs)``, on one CPU thread: its
    target test accuracy and every criterion's score."""
    task_name, network_name, lambda_max, seed, epochs = job
    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")  # per-run Lightning advice (workers, small batches): not results
    task = TASKS[task_name].draw(seed)
    L.seed_everything(seed, verbose=False)
    networks = NETWORKS[network_name].build(task.in_features, task.num_classes)
    model = DANNLitModule(**networks, num_classes=task.num_classes, lambda_max=lambda_max)
    data = task.datamodule(batch_size=min(64, len(task.x_source), len(task.x_target)))
    quiet_trainer(accelerator="cpu", max_epochs=epochs).fit(model, data)
    return study_scores(model, data, task.num_classes)


def study_scores(model: DANNLitModule, data: DomainDataModule, num_classes: int) -> dict[str, float]:
    """The target test accuracy and each of :data:`CRITERIA` of one trained candidate, computed by the
    shipped scores ([`dann_lightning.selection`][dann_lightning.selection]) from the target training
    rows and the labelled source validation rows, each oriented so that higher is better."""
    data.setup("test")
    model.eval()
    scores = {name: SelectionScore(name, num_classes) for name in CRITERIA}
    with torch.no_grad():
        for domain, (x, *labels) in [("target", data.target_train.tensors), ("source", data.source_val.tensors)]:
            features = model.feature_extractor(x)
            logits = model.classifier(features)
            for score in scores.values():
                score.update(domain, x, features, logits, labels[0] if labels else None)
        x_test, y_test = data.target_test.tensors
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    oriented = {name: score.compute() * (1 if score.higher_is_better else -1) for name, score in scores.items()}
    return {"target_acc": accuracy, **oriented}


def run_study(
    tasks: list[str], networks: list[str], lambdas: list[float], seeds: int, epochs: int, workers: int
) -> Draws:
    """Every candidate of every (task, network, seed), ``workers`` at a time in worker processes."""
    jobs = [
        (task, network, lambda_max, seed, epochs)
        for task in tasks
        for network in networks
        for seed in range(seeds)
        for lambda_max in lambdas
    ]
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(train_and_score, jobs))
    draws: Draws = {}
    for (task, network, lambda_max, seed, _), result in zip(jobs, results, strict=True):
        draws.setdefault((task, network, seed), {})[lambda_max] = result
    return draws


def report(draws: Draws) -> list[str]:
    """Per criterion (and the target-label oracle): rank correlation with target accuracy, and the
    gain over source-only of the candidate it picks. ``draws`` maps ``(task, network, seed)`` to
    ``{lambda_max: train_and_score's result}``; every draw has ``lambda_max`` 0."""
    lines = [
        "| criterion | rank correlation with target accuracy | mean gain | worst | loses > 2 pts "
        "| keeps source-only when DANN hurts |",
        "|---|---|---|---|---|---|",
    ]
    for criterion in (*CRITERIA, "oracle"):
        gains, correlations, hurt, kept = [], [], 0, 0
        for candidates in draws.values():
            lambdas = sorted(candidates)
            accuracy = [candidates[value]["target_acc"] for value in lambdas]
            if criterion == "oracle":  # picks by the target labels: the best any criterion could do
                score = accuracy
            else:
                score = [candidates[value][criterion] for value in lambdas]
                if len(set(score)) > 1 and len(set(accuracy)) > 1:
                    correlations.append(spearmanr(score, accuracy).statistic)
            best = max(range(len(lambdas)), key=lambda i: (score[i], -lambdas[i]))  # ties: the smaller lambda
            source_only = candidates[0.0]["target_acc"]
            gains.append(accuracy[best] - source_only)
            if all(a < source_only - 0.01 for value, a in zip(lambdas, accuracy, strict=True) if value > 0):
                hurt += 1
                kept += lambdas[best] == 0.0
        correlation = f"{statistics.mean(correlations):+.2f}" if correlations else "n/a"
        lines.append(
            f"| {criterion} | {correlation} | {100 * statistics.mean(gains):+.1f} | {100 * min(gains):+.1f} | "
            f"{sum(g < -0.02 for g in gains)} of {len(gains)} | {kept} of {hurt} |"
        )
    return lines
