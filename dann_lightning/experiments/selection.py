"""Which unsupervised score should a user monitor? Rank correlation with target accuracy
(``scripts/selection_study.py``).

Trains one config over seeds and lambda_max values, keeps a checkpoint every few epochs, and
scores every checkpoint without target labels (entropy, IM, SND, DEV, PAD) and with them (target
test accuracy, the oracle).
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from dann_lightning.analysis.report import analyze_model, load_run
from dann_lightning.cli import build_cli

# score -> +1 when higher is better, -1 when lower is better
# The study measured PAD with logistic regression (as the callback did then): kept, to stay comparable.
SCORES = {"entropy": -1, "im": 1, "snd": 1, "dev": -1, "pad_logistic": -1}


def train(config: str, seed: int, lambda_max: float, every: int, workdir: Path) -> list[Path]:
    dirpath = workdir / f"seed{seed}_lambda{lambda_max:g}"
    checkpoints = {
        "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
        "init_args": {"dirpath": str(dirpath), "every_n_epochs": every, "save_top_k": -1, "filename": "{epoch}"},
    }
    cli = build_cli(
        [
            f"--config={config}",
            f"--seed_everything={seed}",
            f"--data.init_args.seed={seed}",
            f"--model.init_args.lambda_max={lambda_max}",
            "--trainer.logger=false",
            f"--trainer.callbacks=[{json.dumps(checkpoints)}]",
            f"--trainer.default_root_dir={workdir}",
            "--trainer.enable_progress_bar=false",
        ],
        run=False,
        save_config_callback=None,
    )
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return sorted(dirpath.glob("epoch=*.ckpt"), key=lambda p: torch.load(p, weights_only=True)["global_step"])


def score_checkpoints(config: str, seeds: int, lambdas: list[float], every: int) -> list[dict]:
    """Train ``config`` per seed and lambda_max, and analyze every kept checkpoint: one row each,
    with its seed, lambda_max, whether it is the final one, and ``analyze_model``'s scores."""
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for seed in range(seeds):
            for lambda_max in lambdas:
                checkpoints = train(config, seed, lambda_max, every, Path(workdir))
                for index, path in enumerate(checkpoints):
                    model, datamodule = load_run(path)
                    result = analyze_model(model, datamodule, embedding=None, pad_classifier="logistic")
                    rows.append(
                        {"seed": seed, "lambda_max": lambda_max, "final": index == len(checkpoints) - 1, **result}
                    )
    return rows


def final_table(rows: list[dict], lambdas: list[float]) -> list[str]:
    """The final checkpoints per lambda_max: PAD and target test accuracy, medians over seeds."""
    finals = [r for r in rows if r["final"]]
    lines = ["| final checkpoints | PAD, median over seeds | target test accuracy, median |", "|---|---|---|"]
    for lambda_max in lambdas:
        chosen = [r for r in finals if r["lambda_max"] == lambda_max]
        name = "source-only" if lambda_max == 0 else f"DANN, lambda_max {lambda_max:g}"
        pad = statistics.median(r["pad_logistic"] for r in chosen)
        accuracy = statistics.median(r["target_test_acc"] for r in chosen)
        lines.append(f"| {name} | {pad:.3f} | {accuracy:.3f} |")
    return lines


def score_table(rows: list[dict]) -> list[str]:
    """Per score: signed Spearman correlation with target accuracy over all checkpoints, and the
    accuracy of the checkpoint it picks beside the oracle's."""
    accuracy = np.array([r["target_test_acc"] for r in rows])
    lines = [
        "| score | Spearman with target accuracy (signed) | accuracy of the checkpoint it picks | oracle best |",
        "|---|---|---|---|",
    ]
    for score, sign in SCORES.items():
        values = np.array([r.get(score, np.nan) for r in rows])
        usable = np.isfinite(values)
        rho = spearmanr(sign * values[usable], accuracy[usable]).statistic
        picked = accuracy[usable][np.argmax(sign * values[usable])]
        lines.append(f"| {score} | {rho:+.2f} | {picked:.3f} | {accuracy.max():.3f} |")
    return lines
