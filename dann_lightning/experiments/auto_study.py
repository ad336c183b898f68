"""Which ``lambda_max="auto"`` should users get? Every criterion, margin and candidate set, from one
training run per (task, network, seed).

One run trains every candidate of [`STUDY_CANDIDATES`][dann_lightning.experiments.auto_study.STUDY_CANDIDATES]
side by side (``lambda_max="auto"``: the same initial weights and batches for each; each trains as a
run of its own would, but for the random draws of dropout). Then, on the validation rows the search
kept, every criterion picks within each candidate set (with each margin), IWA combines each set,
and each pick is scored on the target test rows. Each candidate is also a fixed-setting contender:
``lambda_0`` is source-only, ``lambda_0.1`` the module's default.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import lightning as L
import torch
from scipy.stats import spearmanr

from dann_lightning import DANNLitModule
from dann_lightning.choice import choose, combine, iwa_weights
from dann_lightning.experiments.heldout import HELDOUT_TASKS
from dann_lightning.experiments.suite import ALL_TASKS, NETWORKS, run_job, target_accuracy
from dann_lightning.quiet import quiet_trainer
from dann_lightning.selection import SCORE_SPECS

STUDY_CANDIDATES: tuple[Any, ...] = (
    0.0,
    0.03,
    0.1,
    0.3,
    1.0,
    {"lambda_max": 0.0, "mcc_weight": 1.0},
    {"lambda_max": 0.1, "mcc_weight": 1.0},
    {"lambda_max": 0.1, "label_shift": True},
    {"lambda_max": 0.1, "entropy_weight": 0.1},
)
"""The candidates one study run trains (names as ``CandidateSetting.name``)."""
CANDIDATE_SETS: dict[str, tuple[str, ...]] = {
    "lambdas": ("lambda_0", "lambda_0.1", "lambda_0.3", "lambda_1"),
    "lambdas_mcc": ("lambda_0", "lambda_0.1", "lambda_0.3", "lambda_1", "lambda_0_mcc_1", "lambda_0.1_mcc_1"),
    "all": (
        "lambda_0",
        "lambda_0.03",
        "lambda_0.1",
        "lambda_0.3",
        "lambda_1",
        "lambda_0_mcc_1",
        "lambda_0.1_mcc_1",
        "lambda_0.1_label_shift",
        "lambda_0.1_entropy_0.1",
    ),
}
"""Candidate sets the criteria choose within; each includes source-only first."""
MARGINS = (0.0, 1.0, 2.0)
KNOWN_TASKS = {**ALL_TASKS, **HELDOUT_TASKS}
"""The suite's tasks and the held-out ones, by name."""


def study_run(job: tuple[str, str, int, int, int]) -> dict[str, float]:
    """``(task, network, seed, epochs, batch)`` -> target test accuracy of every candidate (by name)
    and of every pick (``auto:<criterion>@<margin>/<set>``, ``auto:iwa_combination/<set>``)."""
    task_name, network_name, seed, epochs, batch = job
    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    task = KNOWN_TASKS[task_name].draw(seed)
    L.seed_everything(seed, verbose=False)
    networks = NETWORKS[network_name].build(task.in_features, task.num_classes)
    model = DANNLitModule(
        **networks,
        num_classes=task.num_classes,
        lambda_max="auto",
        lambda_candidates=STUDY_CANDIDATES,
        lambda_criterion="iwcv",
    )
    data = task.datamodule(batch_size=min(batch, len(task.x_source), len(task.x_target)))
    trainer = quiet_trainer(validate_at_end_only=True, accelerator="cpu", devices=1, max_epochs=epochs)
    trainer.fit(model, data)
    search = model.lambda_search
    x_test, y_test = (torch.as_tensor(t) for t in data.target_test.tensors[:2])
    model.eval()
    with torch.no_grad():
        test_outputs = [nets.classifier(nets.feature_extractor(x_test)) for nets in search.candidates]
    accuracy = {name: _accuracy(out, y_test) for name, out in zip(search.names, test_outputs, strict=True)}
    record = dict(accuracy)
    for set_name, names in CANDIDATE_SETS.items():
        indices = [search.names.index(name) for name in names]
        outputs = search.last_outputs.only(indices)
        for criterion, spec in SCORE_SPECS.items():
            rows = spec.rows(outputs)
            for margin in MARGINS:
                choice = choose(rows, spec.higher_is_better, outputs.reference, margin)
                record[f"auto:{criterion}@{margin:g}/{set_name}"] = accuracy[names[choice.index]]
            if set_name == "all":  # how well the scores order the candidates
                sign = 1.0 if spec.higher_is_better else -1.0
                scores = [sign * value for value in choice.scores]
                record[f"rho:{criterion}"] = _spearman(scores, [accuracy[name] for name in names])
        weights = iwa_weights(outputs)
        combined = combine([test_outputs[i] for i in indices], weights, classification=True)
        record[f"auto:iwa_combination/{set_name}"] = _accuracy(combined, y_test)
    return record


def _spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation; NaN when either side is constant."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant side: NaN, said in the report
        return float(spearmanr(a, b).statistic)


def peer_run(job: tuple[str, str, str, int, int, int]) -> float:
    """The suite's ``run_job`` for any task of [`KNOWN_TASKS`][dann_lightning.experiments.auto_study.KNOWN_TASKS]."""
    task_name, network_name, contender, seed, epochs, batch = job
    if task_name in ALL_TASKS:
        return run_job(job)
    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    task = KNOWN_TASKS[task_name].draw(seed)
    return target_accuracy(task, NETWORKS[network_name], contender, seed, epochs, batch)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == labels).float().mean())
