"""Which unsupervised score should a user monitor? Rank correlation with target accuracy.

Trains one config over seeds and lambda_max values, keeps a checkpoint every few epochs,
and scores every checkpoint without target labels (entropy, IM, SND, DEV, PAD) and with them
(target test accuracy, the oracle). Prints

1. the proxy A-distance of the final features, source-only (lambda_max 0) vs DANN;
2. per score, the Spearman correlation with target accuracy over all checkpoints (signed so
   that positive means "the better score goes with the better accuracy"), and the target
   accuracy of the checkpoint each score would pick, beside the best one an oracle would pick.

    python scripts/selection_study.py --config configs/moons.yaml
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/moons.yaml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.0, 0.1, 0.3, 1.0, 3.0])
    parser.add_argument("--every", type=int, default=25, help="keep a checkpoint every N epochs")
    args = parser.parse_args()

    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for seed in range(args.seeds):
            for lambda_max in args.lambdas:
                checkpoints = train(args.config, seed, lambda_max, args.every, Path(workdir))
                for index, path in enumerate(checkpoints):
                    model, datamodule = load_run(path)
                    result = analyze_model(model, datamodule, embedding=None, pad_classifier="logistic")
                    rows.append(
                        {"seed": seed, "lambda_max": lambda_max, "final": index == len(checkpoints) - 1, **result}
                    )

    print(f"**{args.config}: {len(rows)} checkpoints, {args.seeds} seeds x lambda_max {args.lambdas}**\n")
    finals = [r for r in rows if r["final"]]
    print("| final checkpoints | PAD, median over seeds | target test accuracy, median |")
    print("|---|---|---|")
    for lambda_max in args.lambdas:
        chosen = [r for r in finals if r["lambda_max"] == lambda_max]
        name = "source-only" if lambda_max == 0 else f"DANN, lambda_max {lambda_max:g}"
        pad = statistics.median(r["pad_logistic"] for r in chosen)
        accuracy = statistics.median(r["target_test_acc"] for r in chosen)
        print(f"| {name} | {pad:.3f} | {accuracy:.3f} |")

    accuracy = np.array([r["target_test_acc"] for r in rows])
    print("\n| score | Spearman with target accuracy (signed) | accuracy of the checkpoint it picks | oracle best |")
    print("|---|---|---|---|")
    for score, sign in SCORES.items():
        values = np.array([r.get(score, np.nan) for r in rows])
        usable = np.isfinite(values)
        rho = spearmanr(sign * values[usable], accuracy[usable]).statistic
        picked = accuracy[usable][np.argmax(sign * values[usable])]
        print(f"| {score} | {rho:+.2f} | {picked:.3f} | {accuracy.max():.3f} |")
    print(f"\n{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
