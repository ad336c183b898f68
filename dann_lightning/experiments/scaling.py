"""Epoch time and peak memory of ``DANNLitModule`` against the number of rows: two epochs on 1e4,
1e5 and 1e6 rows per domain of 32 features, each size in a fresh process.

    python -m dann_lightning.experiments.scaling ROWS BATCH_SIZE   # one size, as JSON
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
from torch import nn

from dann_lightning import DANNLitModule, DomainDataModule
from dann_lightning.experiments.timing import EpochTimer
from dann_lightning.nets import MLP, DomainDiscriminator
from dann_lightning.quiet import quiet_trainer

SIZES = (10_000, 100_000, 1_000_000)


def scaling_run(rows: int, batch_size: int) -> dict:
    """Two epochs on ``rows`` rows per domain, in this process; returns the second epoch's time (the
    first also warms up) and the peak resident memory."""
    rng = np.random.default_rng(0)
    x_s = rng.normal(size=(rows, 32)).astype(np.float32)
    y_s = rng.integers(0, 2, rows)
    x_t = (rng.normal(size=(rows, 32)) + 0.5).astype(np.float32)
    data_bytes = x_s.nbytes + y_s.nbytes + x_t.nbytes
    data = DomainDataModule.from_arrays(x_s, y_s, x_t, batch_size=batch_size)
    model = DANNLitModule(
        feature_extractor=MLP(32, [64, 64]),
        classifier=nn.Linear(64, 2),
        discriminator=DomainDiscriminator(64, [64]),
        num_classes=2,
    )
    timer = EpochTimer()
    quiet_trainer(accelerator="cpu", devices=1, callbacks=[timer], max_epochs=2).fit(model, data)
    return {"rows": rows, "epoch_s": timer.seconds, "peak_bytes": peak_resident_bytes(), "data_bytes": data_bytes}


def peak_resident_bytes() -> int:
    """Peak resident memory of this process: Linux's VmHWM, which starts afresh at exec, where
    ``ru_maxrss`` can carry over the peak of the process this one was forked from."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux and BSD: KiB


def scaling_table(batch_size: int) -> str:
    """Each of :data:`SIZES` in its own process; the Markdown table against the smallest."""
    results = []
    for rows in SIZES:
        command = [sys.executable, "-m", "dann_lightning.experiments.scaling", str(rows), str(batch_size)]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = results[0]
    columns = ["rows per domain", "epoch (s)", "x smallest", "peak RSS (GiB)", "data (GiB)", "limit 1.5 x data + 1 GiB"]
    lines = ["| " + " | ".join(columns) + f" | batch {batch_size} |", "|---" * (len(columns) + 1) + "|"]
    for r in results:
        gib = 2**30
        limit = 1.5 * r["data_bytes"] + gib
        within = "within" if r["peak_bytes"] <= limit else "OVER"
        lines.append(
            f"| {r['rows']:.0e} | {r['epoch_s']:.2f} | {r['epoch_s'] / base['epoch_s']:.1f}x "
            f"(rows {r['rows'] / base['rows']:.0f}x) | {r['peak_bytes'] / gib:.2f} | {r['data_bytes'] / gib:.3f} | "
            f"{limit / gib:.2f} ({within}) | |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(scaling_run(int(sys.argv[1]), int(sys.argv[2]))))
