"""Which linear classifier should the proxy A-distance use? Linear SVM (the paper's) vs logistic regression.

For each feature set, each sample size per domain and each estimator, PAD over ``--seeds`` seeds
(each seed draws another subset and another train/test split): mean, standard deviation across
seeds, and the median wall time of one call (the whole sweep over C). Feature sets:

- Gaussian pairs N(0, I) vs N(delta * e_1, I) in D dimensions, whose PAD with the best linear
  classifier and unlimited data is known: 2 (1 - 2 Phi(-delta / 2));
- the validation features of a tiny network trained on the two moons (``configs/moons.yaml``,
  128 features), source-only (lambda_max 0) and DANN (lambda_max 1).

    python scripts/pad_estimators.py
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dann_lightning.analysis.pad import proxy_a_distance


def gaussian_pair(delta: float, dim: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(seed)
    source, target = rng.normal(size=(n, dim)), rng.normal(size=(n, dim))
    target[:, 0] += delta
    phi = 0.5 * (1.0 + math.erf(-delta / 2 / math.sqrt(2)))  # Phi(-delta / 2), the Bayes error
    return source, target, 2.0 * (1.0 - 2.0 * phi)


def moons_features(lambda_max: float, epochs: int, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    from dann_lightning.analysis.report import _by_domain, collect
    from dann_lightning.cli import build_cli

    cli = build_cli(
        [
            "fit",
            "--config=configs/moons.yaml",
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000])
    parser.add_argument("--moons-epochs", type=int, default=40)
    parser.add_argument("--no-moons", action="store_true")
    args = parser.parse_args()
    print("python " + " ".join(sys.argv), flush=True)

    sets: list[tuple[str, np.ndarray, np.ndarray, float | None]] = []
    for delta, dim in [(0.0, 16), (0.5, 16), (1.0, 16), (2.0, 16), (4.0, 16), (1.0, 256), (1.0, 2048)]:
        source, target, truth = gaussian_pair(delta, dim, 2000, seed=dim)
        sets.append((f"gauss d={delta:g} D={dim}", source, target, truth))
    if not args.no_moons:
        with tempfile.TemporaryDirectory() as workdir:
            for lambda_max in (0.0, 1.0):
                source, target = moons_features(lambda_max, args.moons_epochs, Path(workdir))
                sets.append((f"moons lambda_max={lambda_max:g} ({len(source)}/domain)", source, target, None))

    columns = ["features", "n/domain", "true PAD", "SVM mean ± sd", "logistic mean ± sd", "mean abs(SVM - logistic)"]
    print("| " + " | ".join([*columns, "SVM s", "logistic s"]) + " |")
    print("|---|---|---|---|---|---|---|---|")
    for name, source, target, truth in sets:
        for n in args.sizes:
            if n > len(source) and n != args.sizes[0]:
                continue
            values, times = {}, {}
            for estimator in ("svm", "logistic"):
                values[estimator], times[estimator] = [], []
                for seed in range(args.seeds):
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
            print("| " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
    main()
