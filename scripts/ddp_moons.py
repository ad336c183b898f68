"""Two-moons DANN on one process vs DDP on two CPU processes (gloo), through the CLI.

Each run is `python -m dann_lightning fit --config configs/moons.yaml ...` in its own process,
timed from launch to exit; its last checkpoint is then tested on the target test split.

    python scripts/ddp_moons.py --seeds 3

`batch_size` is per process. "DDP, same global batch" halves it, so that two processes take the
same optimizer steps on the same global batch as one process; "DDP, same per-process batch" keeps
it, which doubles the global batch and halves the steps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DDP = ["--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp"]
RUNS = {
    "one process, batch 64": [],
    "DDP 2 processes, same global batch (32 each)": [*DDP, "--data.init_args.batch_size=32"],
    "DDP 2 processes, same per-process batch (64 each)": DDP,
}


def cli(args: list[str], cwd: str, threads: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    command = [sys.executable, "-m", "dann_lightning", *args, "--trainer.enable_progress_bar=false"]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")


def run(options: list[str], seed: int) -> dict:
    with tempfile.TemporaryDirectory() as workdir:
        config = [
            f"--config={REPO / 'configs' / 'moons.yaml'}",
            f"--seed_everything={seed}",
            f"--data.init_args.seed={seed}",
        ]
        threads = "1" if options else "2"  # two processes share the two cores
        start = time.perf_counter()
        cli(["fit", *config, *options], workdir, threads)
        seconds = time.perf_counter() - start
        checkpoint = Path(workdir) / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
        cli(["test", *config, f"--ckpt_path={checkpoint}"], workdir, "2")
        events = sorted((Path(workdir) / "lightning_logs" / "version_1").glob("events.out.tfevents.*"))
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        accumulator = EventAccumulator(str(events[-1]))
        accumulator.Reload()
        return {"accuracy": accumulator.Scalars("test/target_acc")[-1].value, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(f"| run | target accuracy, median of {args.seeds} seeds | per seed | wall time per fit (s) |")
    print("|---|---|---|---|")
    for name, options in RUNS.items():
        results = [run(options, seed) for seed in range(args.seeds)]
        accs = [r["accuracy"] for r in results]
        seconds = statistics.mean(r["seconds"] for r in results)
        per_seed = " ".join(f"{a:.3f}" for a in accs)
        print(f"| {name} | {statistics.median(accs):.3f} | {per_seed} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
