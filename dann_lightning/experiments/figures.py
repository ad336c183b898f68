"""Figures for the README and docs, drawn from real runs into docs/assets/ (``scripts/figures.py``).

- ``moons_boundaries.png``: source-only and DANN decision boundaries on the two-moons shift
  (``configs/moons.yaml`` and the same config with ``lambda_max: 0``, seed 0, 200 epochs each).
- ``schedules.png``: the paper's lambda ramp and learning-rate annealing over training progress.
- ``accuracy_per_seed.png``: every seed's target test accuracy of the results tables (moons,
  digits -> digits-M, the tabular shift), read from ``docs/assets/data/{moons,digits,tabular}.json``,
  which the results scripts write with ``--json`` (each file names the command that measured it).
- ``regression_per_seed.png``: every seed's target test RMSE of source-only, DANN and the oracle on
  each regression shift, from ``docs/assets/data/regression.json`` (``scripts/regression_results.py --json``).
- ``suite_gain.png``: DANN's gain over source-only on every (task, network) pair of the shift
  suite, from ``docs/assets/data/shift_suite.json`` (``scripts/shift_suite.py --json``).
- ``digits_tsne.png``: t-SNE of source and target features on digits -> digits-M, trained
  source-only (``configs/digits_source_only.yaml``) and with DANN (``configs/digits.yaml``), seed 0
  (about 10 minutes on 2 CPU cores).
"""

from __future__ import annotations

import json
import statistics
import textwrap
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from dann_lightning.analysis.embedding import project_2d
from dann_lightning.analysis.report import collect
from dann_lightning.cli import build_cli
from dann_lightning.datasets import make_shift
from dann_lightning.experiments.runs import REPO
from dann_lightning.schedules import lambda_factor, lr_factor

ASSETS = REPO / "docs" / "assets"
DATA = ASSETS / "data"
RESULTS = {"moons": "Two moons, 35 degrees", "digits": "digits -> digits-M", "tabular": "Tabular shift, 20 features"}
REGRESSION = {
    "covariate": "Covariate shift, 10 features",
    "sparse": "Target region sparse in the source",
    "diabetes_bmi": "Diabetes, split by BMI (label units)",
}


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

    data = panels[0][2]  # the data module draws exactly this shift: make_shift(shift, seed, **options)
    shift = make_shift(data.shift, seed=data.seed, **data.options)
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
    angle = data.option("angle")
    figure.suptitle(f"Two moons, target rotated {angle:g} degrees (labels of the target never used)", fontsize=11)
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


def accuracy_per_seed() -> Path:
    """One panel per classification results table: each row's seeds as dots, the median as a bar."""
    present = [name for name in RESULTS if (DATA / f"{name}.json").is_file()]
    records = {name: json.loads((DATA / f"{name}.json").read_text()) for name in present}
    missing = sorted(set(RESULTS) - set(records))
    if missing:  # a results script not run with --json yet: its panel is left out, and said so
        print(f"accuracy_per_seed: no {', '.join(f'docs/assets/data/{name}.json' for name in missing)}; drawn without")
    panels = [  # each record's first table is its main one
        (RESULTS[name], record["command"], next(iter(record["tables"].values()))) for name, record in records.items()
    ]
    return per_seed(panels, "target test accuracy", "accuracy_per_seed.png")


def regression_per_seed() -> Path:
    """One panel per regression shift (each in its label's units): every seed's target test RMSE."""
    record = json.loads((DATA / "regression.json").read_text())
    panels = [(REGRESSION.get(kind, kind), record["command"], rows) for kind, rows in record["tables"].items()]
    return per_seed(panels, "target test RMSE (lower is better)", "regression_per_seed.png")


def per_seed(panels: list[tuple[str, str, dict[str, list[float]]]], xlabel: str, name: str) -> Path:
    """Panels of (title, command, {row: one value per seed}): the seeds as dots, the median as a bar."""
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for axis, (title, command, rows) in zip(axes[0], panels, strict=True):
        for y, values in enumerate(rows.values()):
            axis.scatter(values, [y] * len(values), s=22, alpha=0.7, zorder=3)
            axis.plot([statistics.median(values)] * 2, [y - 0.3, y + 0.3], c="black", lw=1.5)
        axis.set_yticks(range(len(rows)), [row.split(" (")[0] for row in rows], fontsize=8)
        axis.set_ylim(len(rows) - 0.5, -0.5)
        axis.set_xlabel(xlabel, fontsize=8)
        axis.set_title(f"{title}\n{shown(command)}", fontsize=7.5)
        axis.grid(axis="x", alpha=0.3)
    figure.suptitle("Every seed (dots) and the median (bar)", fontsize=10)
    figure.tight_layout()
    return save(figure, name)


def suite_gain() -> Path:
    """The shift suite: DANN's (defaults and lambda_max='auto') median gain over source-only per pair."""
    record = json.loads((DATA / "shift_suite.json").read_text())
    contenders = [c for c in ("dann", "dann_auto", "peer_recipe") if c in record["pairs"][0]["accuracy"]]
    rows = []
    for pair in record["pairs"]:
        source_only = statistics.median(pair["accuracy"]["source_only"])
        gains = {c: 100 * (statistics.median(pair["accuracy"][c]) - source_only) for c in contenders}
        rows.append((f"{pair['task']} / {pair['network']}", gains))
    rows.sort(key=lambda row: row[1][contenders[0]])
    figure, axis = plt.subplots(figsize=(7.5, 0.22 * len(rows) + 1.4))
    labels = {"dann": "DANN, the defaults (lambda_max 0.1)", "dann_auto": "lambda_max='auto'", "peer_recipe": "peers"}
    for index, contender in enumerate(contenders):
        y = [position + 0.25 * (index - (len(contenders) - 1) / 2) for position in range(len(rows))]
        axis.scatter([gains[contender] for _, gains in rows], y, s=14, label=labels[contender], zorder=3)
    axis.axvline(0, c="black", lw=0.8)
    axis.axvspan(-1, 1, color="grey", alpha=0.15, label="within 1 point: a tie")
    axis.set_yticks(range(len(rows)), [name for name, _ in rows], fontsize=7)
    axis.set_xlabel("target accuracy minus source-only's, points (median over seeds)", fontsize=8)
    axis.set_title(shown(record["command"]), fontsize=7.5)
    axis.legend(fontsize=7, loc="lower right")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return save(figure, "suite_gain.png")


def digits_tsne(root: Path) -> Path:
    """Source and target features on digits -> digits-M, before (source-only) and after DANN."""
    panels = []
    for title, config in [("source-only", "digits_source_only.yaml"), ("DANN", "digits.yaml")]:
        cli = build_cli(
            [
                "fit",
                "--config",
                str(REPO / "configs" / config),
                "--trainer.logger=false",
                "--trainer.callbacks=[]",
                "--trainer.enable_checkpointing=false",
                "--trainer.enable_progress_bar=false",
                f"--trainer.default_root_dir={root}",
            ],
            save_config_callback=None,
        )
        accuracy = cli.trainer.test(cli.model, cli.datamodule, verbose=False)[0]["test/target_acc"]
        model, data = cli.model.eval(), cli.datamodule
        with torch.no_grad():
            source = collect(model, data.val_dataloader()["source"])
            target = collect(model, data.test_dataloader()["target"])
        panels.append((f"{title}: target accuracy {accuracy:.3f}", source, target))
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.8))
    for axis, (title, source, target) in zip(axes, panels, strict=True):
        points = project_2d(torch.cat([source["features"], target["features"]]).numpy(), "tsne", seed=0)
        n = len(source["features"])
        domains = [(points[:n], source["labels"], "o", "source"), (points[n:], target["labels"], "x", "target")]
        for xy, labels, marker, name in domains:
            colours = {"c": labels.numpy(), "cmap": "tab10", "vmin": 0, "vmax": 9}
            axis.scatter(*xy.T, **colours, s=9, marker=marker, alpha=0.7, label=name)
        axis.set_title(title, fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.legend(fontsize=8, markerscale=2)
    figure.suptitle("t-SNE of the features, digits -> digits-M (colour: digit; o source, x target)", fontsize=11)
    figure.tight_layout()
    return save(figure, "digits_tsne.png")


def shown(command: str) -> str:
    """A command as a title: without the --json option that saved its numbers, wrapped."""
    words = command.split()
    if "--json" in words:
        index = words.index("--json")
        del words[index : index + 2]
    return "\n".join(textwrap.wrap(" ".join(words), width=60))


def save(figure: plt.Figure, name: str) -> Path:
    ASSETS.mkdir(parents=True, exist_ok=True)
    path = ASSETS / name
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path.relative_to(REPO)}")
    return path


FIGURES: dict[str, Callable[[Path], Path]] = {
    "schedules": lambda root: schedules(),
    "accuracy_per_seed": lambda root: accuracy_per_seed(),
    "regression_per_seed": lambda root: regression_per_seed(),
    "suite_gain": lambda root: suite_gain(),
    "moons_boundaries": moons_boundaries,
    "digits_tsne": digits_tsne,
}
