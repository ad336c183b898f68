"""One-time cost and steady step time of ``compile: true`` (``torch.compile``, inductor) on the two
moons config, against eager networks. ``scripts/compile_cost.py`` runs it."""

from __future__ import annotations

import statistics
import time

from dann_lightning.cli import build_cli
from dann_lightning.experiments.timing import StepTimer


def measure(compile_networks: bool, epochs: int) -> tuple[float, float, float]:
    """Fit the default config (two moons) for ``epochs``: the fit's seconds, the median step of its
    second half in ms (a `StepTimer` interval), and
    the target test accuracy."""
    cli = build_cli(
        [
            f"--model.init_args.compile={str(compile_networks).lower()}",
            f"--trainer.max_epochs={epochs}",
            "--trainer.logger=false",
            "--trainer.callbacks=[]",
            "--trainer.enable_checkpointing=false",
            "--trainer.enable_progress_bar=false",
        ],
        run=False,
        save_config_callback=None,
    )
    timer = StepTimer()
    cli.trainer.callbacks.append(timer)
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    fit_seconds = time.perf_counter() - start
    (metrics,) = cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)
    steady_ms = statistics.median(timer.times[len(timer.times) // 2 :]) * 1000
    return fit_seconds, steady_ms, metrics["test/target_acc"]


def compile_table(epochs: int) -> str:
    """Eager and compiled networks side by side, and the one-time compile cost."""
    rows = {name: measure(flag, epochs) for name, flag in [("eager", False), ("compile: true", True)]}
    lines = [
        f"| networks | fit time, {epochs} epochs (s) | median training step, second half (ms) | target accuracy |",
        "|---|---|---|---|",
    ]
    for name, (seconds, step_ms, accuracy) in rows.items():
        lines.append(f"| {name} | {seconds:.1f} | {step_ms:.2f} | {accuracy:.3f} |")
    lines.append(f"\nOne-time compile cost: about {rows['compile: true'][0] - rows['eager'][0]:.0f} s")
    return "\n".join(lines)
