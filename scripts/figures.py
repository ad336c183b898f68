"""Figures for the README and docs, drawn from real runs into docs/assets/.

    python scripts/figures.py                 # every figure below
    python scripts/figures.py --only schedules

- ``moons_boundaries.png``: source-only and DANN decision boundaries on the two-moons shift
  (``configs/moons.yaml`` and the same config with ``lambda_max: 0``, seed 0, 200 epochs each).
- ``schedules.png``: the paper's lambda ramp and learning-rate annealing over training progress.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from dann_lightning.cli import build_cli
from dann_lightning.data.moons import make_moons_shift
from dann_lightning.schedules import lambda_factor, lr_factor

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "docs" / "assets"


def moons_boundaries(root: Path) -> Path:
    """Train source-only and DANN on the moons config; plot both boundaries over source and target."""
    panels = []
    for title, extra in [("source-only (lambda_max 0)", ["--model.init_args.lambda_max=0"]), ("DANN", [])]:
        cli = build_cli(
            [
                "fit",
                "--config",
                str(REPO / "configs" / "moons.yaml"),
                *extra,
                "--trainer.logger=false",
                "--trainer.enable_progress_bar=false",
                f"--trainer.default_root_dir={root}",
            ],
            save_config_callback=None,
        )
        accuracy = cli.trainer.test(cli.model, cli.datamodule, verbose=False)[0]["test/target_acc"]
        panels.append((f"{title}: target accuracy {accuracy:.3f}", cli.model.eval(), cli.datamodule))

    h = panels[0][2].hparams
    shift = make_moons_shift(h.n_samples, h.noise, h.angle, h.n_val, h.n_test, h.seed)
    (x_s, y_s), (x_t, y_t) = shift.source_train, shift.target_test
    points = np.concatenate([x_s, x_t])
    low, high = points.min(axis=0) - 0.5, points.max(axis=0) + 0.5
    grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], 300), np.linspace(low[1], high[1], 300))
    grid = torch.as_tensor(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1), dtype=torch.float32)

    figure, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharex=True, sharey=True)
    for axis, (title, model, datamodule) in zip(axes, panels, strict=True):
        with torch.no_grad():
            predicted = model(datamodule.scaler.transform(grid)).argmax(dim=1).numpy().reshape(grid_x.shape)
        axis.contourf(grid_x, grid_y, predicted, levels=[-0.5, 0.5, 1.5], colors=["#dbe7f5", "#fbe3cf"])
        axis.scatter(*x_s[y_s == 0].T, s=6, c="#1f77b4", label="source, class 0")
        axis.scatter(*x_s[y_s == 1].T, s=6, c="#ff7f0e", label="source, class 1")
        axis.scatter(*x_t[y_t == 0].T, s=10, marker="x", c="#0b3d66", label="target, class 0")
        axis.scatter(*x_t[y_t == 1].T, s=10, marker="x", c="#8c3d00", label="target, class 1")
        axis.set_title(title, fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
    axes[0].legend(loc="lower left", fontsize=7, markerscale=2)
    figure.suptitle(f"Two moons, target rotated {h.angle:g} degrees (labels of the target never used)", fontsize=11)
    figure.tight_layout()
    return save(figure, "moons_boundaries.png")


def schedules() -> Path:
    p = np.linspace(0, 1, 201)
    figure, axis = plt.subplots(figsize=(6, 3.2))
    axis.plot(p, [lambda_factor("ganin", x) for x in p], label="lambda factor (ganin, gamma 10)")
    axis.plot(p, [lr_factor("ganin", x) for x in p], label="learning-rate factor (ganin, alpha 10, beta 0.75)")
    axis.plot(p, [lr_factor("cosine", x) for x in p], "--", label="learning-rate factor (cosine)")
    axis.set_xlabel("training progress p")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return save(figure, "schedules.png")


def save(figure: plt.Figure, name: str) -> Path:
    ASSETS.mkdir(parents=True, exist_ok=True)
    path = ASSETS / name
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path.relative_to(REPO)}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["moons_boundaries", "schedules"], help="one figure")
    parser.add_argument("--root", default="/tmp/dann_lightning_figures", help="where the training runs write")
    args = parser.parse_args()
    if args.only in (None, "schedules"):
        schedules()
    if args.only in (None, "moons_boundaries"):
        moons_boundaries(Path(args.root))


if __name__ == "__main__":
    main()
