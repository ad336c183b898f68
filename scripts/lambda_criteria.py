"""Which label-free criterion should ``lambda_max="auto"`` choose by? Measured on the shift suite.

For every (task, network, seed) of ``scripts/shift_suite.py`` each candidate ``lambda_max`` is
trained on its own (the same seed, so the same initial weights and batches), then scored by every
criterion from what a user has: labelled source validation rows and unlabelled target rows. The
report gives, per criterion, the Spearman rank correlation of its score with the target test
accuracy across the candidates of one draw (mean over draws), and what picking by it yields:
the mean gain over source-only, the worst loss, how often it loses more than 2 points, and how
often it keeps source-only where every adapted candidate is worse.

    python scripts/lambda_criteria.py --workers 2
    python scripts/lambda_criteria.py --tasks moons_40 breast_cancer --networks relu64 --seeds 1
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor

import lightning as L
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from shift_suite import NETWORKS, QUICK_NETWORKS, TASKS, check_names

from dann_lightning import DANNLitModule
from dann_lightning.analysis.scores import dev_risk, entropy, importance_weights, soft_neighborhood_density
from dann_lightning.lambda_search import DEFAULT_LAMBDA_CANDIDATES, neighbour_agreement

# Each criterion's score from one trained candidate; higher is better for every entry here.
CRITERIA = ("consistency", "source_acc", "neg_entropy", "im", "snd", "neg_dev")
DEFAULT_TASKS = [
    "moons_40",
    "covariate_translation_10d",
    "label_proportion",
    "breast_cancer",
    "class_conditional_10d",
    "subspace_20d",
]


def train_and_score(job: tuple[str, str, float, int, int]) -> dict[str, float]:
    task_name, network_name, lambda_max, seed, epochs = job
    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")  # per-run Lightning advice (workers, small batches): not results
    task = TASKS[task_name].draw(seed)
    L.seed_everything(seed, verbose=False)
    networks = NETWORKS[network_name].build(task.in_features, task.num_classes)
    model = DANNLitModule(**networks, num_classes=task.num_classes, lambda_max=lambda_max)
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    data = task.datamodule(batch_size=min(64, len(task.x_source), len(task.x_target)))
    trainer.fit(model, data)
    data.setup("test")
    model.eval()
    with torch.no_grad():
        x_target = data.target_train.tensors[0]
        x_source_val, y_source_val = data.source_val.tensors
        features_t = model.feature_extractor(x_target)
        logits_t = model.classifier(features_t)
        features_v = model.feature_extractor(x_source_val)
        logits_v = model.classifier(features_v)
        x_test, y_test = data.target_test.tensors
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    probs = torch.softmax(logits_t.double(), dim=1)
    mean_entropy = entropy(probs).mean()
    losses = F.cross_entropy(logits_v, y_source_val, reduction="none").double().numpy()
    weights = importance_weights(features_v.double().numpy(), features_t.double().numpy())
    return {
        "target_acc": accuracy,
        "consistency": neighbour_agreement(x_target, logits_t.argmax(1), task.num_classes).item(),
        "source_acc": (logits_v.argmax(1) == y_source_val).float().mean().item(),
        "neg_entropy": -mean_entropy.item(),
        "im": (entropy(probs.mean(0)) - mean_entropy).item(),
        "snd": soft_neighborhood_density(probs.float()[:2000]).item(),
        "neg_dev": -dev_risk(weights, losses),
    }


def report(draws: dict[tuple[str, str, int], dict[float, dict[str, float]]]) -> list[str]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS)
    parser.add_argument("--networks", nargs="+", default=QUICK_NETWORKS)
    parser.add_argument("--lambdas", nargs="+", type=float, default=list(DEFAULT_LAMBDA_CANDIDATES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    tasks = check_names("task", args.tasks, TASKS)
    networks = check_names("network", args.networks, NETWORKS)
    if 0.0 not in args.lambdas:
        sys.exit("lambda_criteria: --lambdas must include 0 (source-only)")
    jobs = [
        (task, network, lambda_max, seed, args.epochs)
        for task in tasks
        for network in networks
        for seed in range(args.seeds)
        for lambda_max in args.lambdas
    ]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(train_and_score, jobs))
    draws: dict[tuple[str, str, int], dict[float, dict[str, float]]] = {}
    for (task, network, lambda_max, seed, _), result in zip(jobs, results, strict=True):
        draws.setdefault((task, network, seed), {})[lambda_max] = result
    print(f"python scripts/lambda_criteria.py {' '.join(sys.argv[1:])}".strip())
    print(f"candidates lambda_max in {args.lambdas}; {len(draws)} draws (task x network x seed), {args.epochs} epochs")
    print("\n".join(report(draws)))


if __name__ == "__main__":
    main()
