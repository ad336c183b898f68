"""Two-moons DANN on one process vs DDP on two CPU processes (gloo), through the CLI
(``scripts/ddp_moons.py``).

Each run is `python -m dann_lightning fit --config configs/moons.yaml ...` in its own process,
timed from launch to exit; its last checkpoint is then tested on the target test split.

    python scripts/ddp_moons.py --seeds 3

`batch_size` is per process. "DDP, same global batch" halves it, so that two processes take the
same optimizer steps on the same global batch as one process; "DDP, same per-process batch" keeps
it, which doubles the global batch and halves the steps.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dann_lightning.experiments.runs import REPO

DDP = ["--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp"]
RUNS = {
    "one process, batch 64": [],
    "DDP 2 processes, same global batch (32 each)": [*DDP, "--data.init_args.batch_size=32"],
    "DDP 2 processes, same per-process batch (64 each)": DDP,
}


def run_cli(args: list[str], cwd: str, threads: str) -> None:
    """``python -m dann_lightning ARGS`` in ``cwd`` with ``threads`` OpenMP threads; raises with its
    stderr if it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    command = [sys.executable, "-m", "dann_lightning", *args, "--trainer.enable_progress_bar=false"]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")


def run(options: list[str], seed: int) -> dict:
    """Fit configs/moons.yaml with ``options`` and ``seed`` through the CLI in a fresh process, then test
    its last checkpoint: the target test accuracy and the fit's wall seconds (launch to exit)."""
    with tempfile.TemporaryDirectory() as workdir:
        config = [
            f"--config={REPO / 'configs' / 'moons.yaml'}",
            f"--seed_everything={seed}",
            f"--data.init_args.seed={seed}",
        ]
        threads = "1" if options else "2"  # two processes share the two cores
        start = time.perf_counter()
        run_cli(["fit", *config, *options], workdir, threads)
        seconds = time.perf_counter() - start
        checkpoint = Path(workdir) / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
        run_cli(["test", *config, f"--ckpt_path={checkpoint}"], workdir, "2")
        events = sorted((Path(workdir) / "lightning_logs" / "version_1").glob("events.out.tfevents.*"))
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        accumulator = EventAccumulator(str(events[-1]))
        accumulator.Reload()
        return {"accuracy": accumulator.Scalars("test/target_acc")[-1].value, "seconds": seconds}
