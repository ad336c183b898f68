"""Milliseconds per training step: DANNLitModule under the Lightning Trainer vs a plain PyTorch loop.

Both do the identical DANN step (one forward pass of the feature extractor over the concatenated
source and target batch, cross-entropy + binary cross-entropy through the gradient reversal layer,
Adam, the paper's lambda ramp and LR annealing) with the same networks, batch and optimizer, on
in-memory data. The plain loop is the floor. skada's and pytorch-adapt's DANN are timed too when
they are installed (they are never dependencies). A scaling run times an epoch on tabular data of
1e4, 1e5 and 1e6 rows (32 features) and reports epoch time and peak resident memory.

    python scripts/benchmark.py                 # the step-time table
    python scripts/benchmark.py --scaling       # + the scaling table (each size in its own process)
    python scripts/benchmark.py --only moons --scaling-only   # subsets
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from dann_lightning import DANNLitModule, DomainDataModule, grad_reverse
from dann_lightning.nets import MLP, DomainDiscriminator, MNISTFeatures
from dann_lightning.schedules import lambda_factor, lr_factor


@dataclass(frozen=True)
class Case:
    name: str
    batch_size: int
    input_shape: tuple[int, ...]
    num_classes: int
    steps_scale: float = 1.0  # of --steps and --warmup: fewer for a case whose steps are long

    def networks(self) -> dict[str, nn.Module]:
        if len(self.input_shape) == 1:  # the moons networks of configs/moons.yaml
            return {
                "feature_extractor": MLP(self.input_shape[0], [128, 128], activation="tanh"),
                "classifier": nn.Linear(128, self.num_classes),
                "discriminator": DomainDiscriminator(128, [128], activation="tanh"),
            }
        features = MNISTFeatures(image_size=self.input_shape[-1], in_channels=self.input_shape[0])
        return {  # the paper's MNIST architecture
            "feature_extractor": features,
            "classifier": MLP(features.out_features, [100, 100], self.num_classes),
            "discriminator": DomainDiscriminator(features.out_features, [100]),
        }


CASES = [
    Case("moons MLP, batch 128", 128, (2,), 2),
    Case("moons MLP, batch 1024", 1024, (2,), 2),
    Case("digits CNN (paper's MNIST net, 3x32x32), batch 128", 128, (3, 32, 32), 10, steps_scale=0.4),
]
LR = 3e-4


def arrays(case: Case, rows: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_s = torch.randn(rows, *case.input_shape, generator=g)
    y_s = torch.randint(0, case.num_classes, (rows,), generator=g)
    x_t = torch.randn(rows, *case.input_shape, generator=g) + 0.5
    return x_s, y_s, x_t


class StepTimer(L.Callback):
    """Wall time from one training batch start to the next: data, step, and the Trainer's bookkeeping."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._last: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.times.append(now - self._last)
        self._last = now


def quiet_trainer(timer: L.Callback, **length: int) -> L.Trainer:
    """A CPU Trainer that trains only: no logger, checkpoints, progress bar, summary or validation."""
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[timer],
        **length,
    )


def lightning_step_ms(case: Case, steps: int, warmup: int, seed: int) -> float:
    L.seed_everything(seed, verbose=False)
    x_s, y_s, x_t = arrays(case, case.batch_size * 8, seed)
    data = DomainDataModule.from_arrays(x_s, y_s, x_t, batch_size=case.batch_size)
    model = DANNLitModule(
        **case.networks(), num_classes=case.num_classes, optimizer=lambda p: torch.optim.Adam(p, lr=LR)
    )
    timer = StepTimer()
    quiet_trainer(timer, max_steps=warmup + steps + 1).fit(model, data)
    return statistics.median(timer.times[warmup:]) * 1000


def plain_step_ms(case: Case, steps: int, warmup: int, seed: int) -> float:
    """The floor: the same DANN step written by hand."""
    torch.manual_seed(seed)
    nets = case.networks()
    fe, clf, disc = nets["feature_extractor"], nets["classifier"], nets["discriminator"]
    params = [p for net in nets.values() for p in net.parameters()]
    optimizer = torch.optim.Adam(params, lr=LR)
    total = warmup + steps + 1
    scheduler = LambdaLR(optimizer, lambda step: lr_factor("ganin", min(step / total, 1.0)))
    x_s, y_s, x_t = arrays(case, case.batch_size * 8, seed)
    n, b = len(x_s), case.batch_size
    labels = torch.cat([torch.zeros(b), torch.ones(b)])
    times, step = [], 0
    while step < total:
        perm_s, perm_t = torch.randperm(n), torch.randperm(n)
        for i in range(n // b):
            start = time.perf_counter()
            index_s, index_t = perm_s[i * b : (i + 1) * b], perm_t[i * b : (i + 1) * b]
            lam = lambda_factor("ganin", step / total)
            features = fe(torch.cat([x_s[index_s], x_t[index_t]]))
            cls_loss = F.cross_entropy(clf(features[:b]), y_s[index_s])
            dom_loss = F.binary_cross_entropy_with_logits(disc(grad_reverse(features, lam)).reshape(-1), labels)
            optimizer.zero_grad()
            (cls_loss + dom_loss).backward()
            optimizer.step()
            scheduler.step()
            times.append(time.perf_counter() - start)
            step += 1
            if step >= total:
                break
    return statistics.median(times[warmup:]) * 1000


def skada_step_ms(case: Case, steps: int, warmup: int, seed: int) -> float:
    """skada's DANN (a skorch estimator) on the same networks and data: time per step from whole
    fits of two lengths, so that set-up cost cancels. skada batches source and target together,
    so its batch holds ``2 * batch_size`` samples: as many as one step here."""
    from skada.deep import DANN
    from skada.deep.modules import DomainClassifier

    class Model(nn.Module):
        def __init__(self, features: nn.Module, classifier: nn.Module) -> None:
            super().__init__()
            self.features, self.classifier = features, classifier

        def forward(self, x):
            return self.classifier(self.features(x))

    x_s, y_s, x_t = arrays(case, case.batch_size * 8, seed)
    x = torch.cat([x_s, x_t]).numpy()
    y = np.concatenate([y_s.numpy(), -np.ones(len(x_t), dtype=np.int64)])  # -1: no label
    sample_domain = np.concatenate([np.ones(len(x_s)), -np.ones(len(x_t))]).astype(np.int64)
    steps_per_epoch = len(x) // (2 * case.batch_size)

    def fit_seconds(epochs: int) -> float:
        torch.manual_seed(seed)
        nets = case.networks()
        width = next(m for m in nets["discriminator"].modules() if isinstance(m, nn.Linear)).in_features
        estimator = DANN(
            Model(nets["feature_extractor"], nets["classifier"]),
            layer_name="features",
            reg=1.0,
            domain_classifier=DomainClassifier(num_features=width),
            batch_size=2 * case.batch_size,
            max_epochs=epochs,
            optimizer=torch.optim.Adam,
            lr=LR,
            train_split=None,
            verbose=0,
        )
        start = time.perf_counter()
        estimator.fit(x, y, sample_domain)
        return time.perf_counter() - start

    epochs = max(2, math.ceil(steps / steps_per_epoch))
    warm = max(1, math.ceil(warmup / steps_per_epoch))
    return (fit_seconds(epochs + warm) - fit_seconds(warm)) / (epochs * steps_per_epoch) * 1000


def paired_runs(case: Case, steps: int, warmup: int, repeats: int) -> dict[str, list[float]]:
    """Step times of each contender, ``repeats`` times, run in alternation with the order turned
    around every repeat: a machine whose speed drifts (a shared virtual machine) then slows all
    contenders alike, and each repeat gives a fair ratio."""
    steps, warmup = max(20, round(steps * case.steps_scale)), max(5, round(warmup * case.steps_scale))
    contenders = {"floor": plain_step_ms, "ours": lightning_step_ms}
    if importlib.util.find_spec("skada") is not None:
        contenders["skada"] = skada_step_ms
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for repeat in range(repeats):
        order = list(contenders) if repeat % 2 == 0 else list(contenders)[::-1]
        for name in order:
            times[name].append(contenders[name](case, steps, warmup, repeat))
    return times


def step_table(steps: int, warmup: int, repeats: int, only: str | None = None) -> str:
    columns = [
        "case",
        "plain PyTorch loop (floor), ms",
        "DANNLitModule + Trainer, ms",
        f"ratio (median of {repeats} pairs; range)",
        "skada DANN, ms",
        "pytorch-adapt DANN",
    ]
    rows = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    adapt_note = "not installed" if importlib.util.find_spec("pytorch_adapt") is None else "installed, not timed"
    for case in CASES:
        if only is not None and only not in case.name:
            continue
        times = paired_runs(case, steps, warmup, repeats)
        ratios = [ours / floor for ours, floor in zip(times["ours"], times["floor"], strict=True)]
        skada = f"{statistics.median(times['skada']):.2f}" if "skada" in times else "not installed"
        rows.append(
            f"| {case.name} | {statistics.median(times['floor']):.2f} | {statistics.median(times['ours']):.2f} | "
            f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) | {skada} | {adapt_note} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


# ------------------------------------------------------------------ scaling


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

    class EpochTimer(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            self.seconds = time.perf_counter() - self.start

    timer = EpochTimer()
    quiet_trainer(timer, max_epochs=2).fit(model, data)
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
    results = []
    for rows in (10_000, 100_000, 1_000_000):
        out = subprocess.run(
            [sys.executable, __file__, "--scaling-run", str(rows), "--batch-size", str(batch_size)],
            capture_output=True,
            text=True,
            check=True,
        )
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


def cpu_ticks() -> tuple[int, int] | None:
    """(all, stolen) CPU ticks since boot from Linux's /proc/stat; ``None`` elsewhere. Steal is the
    time a virtual machine's CPUs wanted to run but the host ran something else."""
    stat = Path("/proc/stat")
    if not stat.is_file():
        return None
    fields = [int(value) for value in stat.read_text().splitlines()[0].split()[1:]]
    return sum(fields[:8]), fields[7]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300, help="timed steps per run (default 300)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps first (default 50)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per contender and case; medians are reported")
    parser.add_argument("--only", help="time only the cases whose name contains this text, e.g. 'moons'")
    parser.add_argument("--scaling", action="store_true", help="also the 1e4 / 1e5 / 1e6-row scaling table")
    parser.add_argument("--scaling-only", action="store_true", help="only the scaling table")
    parser.add_argument("--batch-size", type=int, default=256, help="batch size of the scaling runs")
    parser.add_argument("--scaling-run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scaling_run:
        print(json.dumps(scaling_run(args.scaling_run, args.batch_size)))
        return
    torch.set_num_threads(torch.get_num_threads())
    print(
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, lightning {L.__version__}, CPU\n"
    )
    before = cpu_ticks()
    if not args.scaling_only:
        print(step_table(args.steps, args.warmup, args.repeats, args.only))
    if args.scaling or args.scaling_only:
        print()
        print(scaling_table(args.batch_size))
    after = cpu_ticks()
    if before is not None and after is not None and after[0] > before[0]:
        stolen = (after[1] - before[1]) / (after[0] - before[0])
        print(f"\nCPU time stolen by the hypervisor during the run: {stolen:.0%}")


if __name__ == "__main__":
    main()
