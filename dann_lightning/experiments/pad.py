"""Which linear classifier should the proxy A-distance use? Linear SVM (the paper's) vs logistic
regression, on feature sets whose PAD is known and on a tiny network's features
(``scripts/pad_estimators.py``)."""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dann_lightning.analysis.pad import proxy_a_distance
from dann_lightning.experiments.runs import REPO

FeatureSet = tuple[str, np.ndarray, np.ndarray, float | None]  # name, source, target, true PAD


def gaussian_pair(delta: float, dim: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """N(0, I) vs N(delta * e_1, I) in ``dim`` dimensions, ``n`` rows each, and their PAD with the best
    linear classifier and unlimited data: 2 (1 - 2 Phi(-delta / 2))."""
    rng = np.random.default_rng(seed)
    source, target = rng.normal(size=(n, dim)), rng.normal(size=(n, dim))
    target[:, 0] += delta
    phi = 0.5 * (1.0 + math.erf(-delta / 2 / math.sqrt(2)))  # Phi(-delta / 2), the Bayes error
    return source, target, 2.0 * (1.0 - 2.0 * phi)


def moons_features(lambda_max: float, epochs: int, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The source and target validation features of configs/moons.yaml trained ``epochs`` epochs."""
    from dann_lightning.analysis.report import _by_domain, collect
    from dann_lightning.cli import build_cli

    cli = build_cli(
        [
            "fit",
            f"--config={REPO / 'configs' / 'moons.yaml'}",
            f"--model.init_args.lambda_max={lambda_max}",
            f"--trainer.max_epochs={epochs}",
            f"--trainer.default_root_dir={workdir}",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            "--trainer.logger=false",
        ]
    )
    model, datamodule = cli.model.eval(), cli.datamodule
    datamodule.setup("validate")
    loaders = _by_domain(datamodule.val_dataloader(), "val")
    source, target = (collect(model, loaders[domain])["features"].numpy() for domain in ("source", "target"))
    return source, target


def feature_sets(moons: bool, moons_epochs: int) -> list[FeatureSet]:
    """(name, source, target, true PAD or None) of every feature set the study compares on."""
    sets: list[FeatureSet] = []
    for delta, dim in [(0.0, 16), (0.5, 16), (1.0, 16), (2.0, 16), (4.0, 16), (1.0, 256), (1.0, 2048)]:
        source, target, truth = gaussian_pair(delta, dim, 2000, seed=dim)
        sets.append((f"gauss d={delta:g} D={dim}", source, target, truth))
    if moons:
        with tempfile.TemporaryDirectory() as workdir:
            for lambda_max in (0.0, 1.0):
                source, target = moons_features(lambda_max, moons_epochs, Path(workdir))
                sets.append((f"moons lambda_max={lambda_max:g} ({len(source)}/domain)", source, target, None))
    return sets


def pad_rows(sets: list[FeatureSet], sizes: list[int], seeds: int) -> Iterator[str]:
    """The Markdown table, a line at a time (each row as soon as it is measured)."""
    columns = ["features", "n/domain", "true PAD", "SVM mean ± sd", "logistic mean ± sd", "mean abs(SVM - logistic)"]
    yield "| " + " | ".join([*columns, "SVM s", "logistic s"]) + " |"
    yield "|---|---|---|---|---|---|---|---|"
    for name, source, target, truth in sets:
        for n in sizes:
            if n > len(source) and n != sizes[0]:
                continue
            values, times = {}, {}
            for estimator in ("svm", "logistic"):
                values[estimator], times[estimator] = [], []
                for seed in range(seeds):
                    start = time.perf_counter()
                    values[estimator].append(
                        proxy_a_distance(source, target, classifier=estimator, max_samples=n, seed=seed)
                    )
                    times[estimator].append(time.perf_counter() - start)
            gap = statistics.mean(abs(a - b) for a, b in zip(values["svm"], values["logistic"], strict=True))
            cells = [f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}" for v in values.values()]
            seconds = [f"{statistics.median(t):.2f}" for t in times.values()]
            shown = min(n, len(source))
            truth_cell = "" if truth is None else f"{truth:.3f}"
            row = [name, str(shown), truth_cell, *cells, f"{gap:.3f}", *seconds]
            yield "| " + " | ".join(row) + " |"
