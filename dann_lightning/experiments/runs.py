"""Run a shipped config in-process, as `dann-lightning fit --config ...` would, over seeds and in
parallel processes, and the Markdown tables of the results scripts (``scripts/moons_results.py``,
``tabular_results.py``, ``regression_results.py``, ``reproduce.py``, ``sklearn_moons.py``)."""

from __future__ import annotations

import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the repository, whose configs/ the studies run


def run_config(config: str, seed: int, overrides: list[str], threads: int = 0) -> dict:
    """Fit ``config`` (relative to the repository) with ``seed`` for both ``seed_everything`` and the
    data draw, without logger, checkpoints or progress bar, then test it on the target test split.

    Returns the target test accuracy, the fit's wall and CPU seconds, and the data module's
    ``build_seconds`` where it records one.
    """
    import torch

    from dann_lightning.cli import build_cli

    if threads:
        torch.set_num_threads(threads)
    sys.argv = sys.argv[:1]  # LightningCLI reads the args below, not the calling script's command line
    args = [
        f"--config={REPO / config}",
        f"--seed_everything={seed}",
        f"--data.init_args.seed={seed}",
        "--trainer.logger=false",
        "--trainer.callbacks=[]",
        "--trainer.enable_checkpointing=false",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        *overrides,
    ]
    cli = build_cli(args, run=False, save_config_callback=None)
    start, cpu_start = time.perf_counter(), time.process_time()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    (metrics,) = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)
    return {
        "accuracy": float(metrics["test/target_acc"]) if "test/target_acc" in metrics else None,
        "metrics": {name: float(value) for name, value in metrics.items()},
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "build_seconds": getattr(cli.datamodule, "build_seconds", None),
    }


def table(title: str, rows: dict[str, list[dict]]) -> str:
    """A Markdown table of target accuracy (median, worst, best) and mean fit time per row of runs."""
    lines = [
        f"**{title}**",
        "",
        "| run | median | worst | best | fit time per run (s) | per seed |",
        "|---|---|---|---|---|---|",
    ]
    for name, results in rows.items():
        accs = [r["accuracy"] for r in results]
        summary = f"{statistics.median(accs):.3f} | {min(accs):.3f} | {max(accs):.3f}"
        seconds = statistics.mean(r["seconds"] for r in results)
        lines.append(f"| {name} | {summary} | {seconds:.1f} | {' '.join(f'{a:.3f}' for a in accs)} |")
    return "\n".join(lines)


def run_plan(
    plan: dict[tuple[str, str], list[tuple[str, int, list[str]]]], jobs: int, threads: int, json_path: str | None = None
) -> str:
    """Run every (config, seed, overrides) job of each (table title, row) in ``jobs`` processes;
    return the Markdown tables, one per title (and write them to ``json_path`` as :func:`save_json` does)."""
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {key: [pool.submit(run_config, *job, threads) for job in runs] for key, runs in plan.items()}
        results = {key: [future.result() for future in runs] for key, runs in futures.items()}
    tables: dict[str, dict[str, list[dict]]] = {}
    for (title, row), rows in results.items():
        tables.setdefault(title, {})[row] = rows
    if json_path:
        save_json(json_path, tables)
    return "\n\n".join(table(title, rows) for title, rows in tables.items())


def save_json(path: str, tables: dict[str, dict[str, list[dict]]], metric: str = "accuracy") -> None:
    """The per-seed ``metric`` (target test accuracy, or a regression's ``"rmse"``) of every table,
    with the command that measured them: what ``scripts/figures.py`` draws the per-seed figures from."""
    record = {
        "command": "python " + " ".join(["scripts/" + Path(sys.argv[0]).name, *sys.argv[1:]]),
        "metric": metric,
        "tables": {
            title: {row: [round(r[metric], 4) for r in results] for row, results in rows.items()}
            for title, rows in tables.items()
        },
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(record, indent=1) + "\n")
