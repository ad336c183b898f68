"""Offline evidence for the image-folder path (ImageFolderDataModule), three measurements:

1. accuracy: digits -> digits-M written as PNG folders and trained through the folder path, against
   the in-memory ShiftDataModule("digits") on the same draws and seeds (test/target_acc);
2. memory: peak memory (PSS of the process and its DataLoader workers) of a fit over a generated
   folder of 20,000 images against one of 2,000, streaming and in memory;
3. throughput: training images per second of the streaming module in Trainer.fit against a plain
   PyTorch loop decoding the same files with PIL in the same number of workers and doing the same
   DANN step with the same networks.

    nice -n 10 python scripts/image_folders.py                # all three (about 12 min on 2 busy cores)
    nice -n 10 python scripts/image_folders.py --only memory  # one of accuracy, memory, throughput

Each measurement runs in a fresh process (python scripts/image_folders.py --child ...).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SEEDS = (0, 1, 2)
IMAGES_PER_CLASS = 2000  # 10 classes x 2000 = 20,000 images, half source, half target
SMALL_PER_CLASS = 200  # 2,000 images
WORKERS = 2  # per domain loader, in both the module and the plain loop
BATCH = 64
EPOCHS = 10  # of the accuracy runs: 12 steps each (811 source images / 64)


def write_noise_folders(root: Path, per_class: int) -> None:
    """``root/{source,target}/<class>/*.png``: 28x28 colour images, 10 classes, ``per_class`` images
    per class over both domains; made once, then hard-linked for the small set."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for k in range(per_class):
        domain = "source" if k % 2 == 0 else "target"
        for label in range(10):
            folder = root / domain / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8) // (label + 1)
            Image.fromarray(pixels).save(folder / f"{k:05d}.png")


def link_subset(big: Path, small: Path, per_class: int) -> None:
    for path in sorted(big.rglob("*.png")):
        if int(path.stem) < per_class:
            target = small / path.relative_to(big)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.link(path, target)


def networks(light: bool = False):
    """The paper's MNIST network and heads; ``light``: narrow convolutions (8, 16), so that the
    throughput runs measure the data path more than the arithmetic."""
    from dann_lightning.nets import MLP, DomainDiscriminator, MNISTFeatures

    features = MNISTFeatures(image_size=28, channels=(8, 16) if light else (32, 48))
    return features, MLP(features.out_features, [100], 10), DomainDiscriminator(features.out_features, [100])


def quiet_trainer(**kwargs):
    import lightning as L

    quiet = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False}
    quiet |= {"enable_model_summary": False, "num_sanity_val_steps": 0}
    return L.Trainer(accelerator="cpu", devices=1, **(quiet | kwargs))


# ----------------------------------------------------------------------------------------- children
def child_accuracy(seed: int, path: str, folder: str) -> dict:
    import lightning as L

    from dann_lightning import DANNLitModule
    from dann_lightning.data import ImageFolderDataModule, ShiftDataModule

    options = {"image_size": 28, "target_domain": "digits-m", "blends_per_digit": 1}
    if path == "in memory":
        data = ShiftDataModule("digits", seed, options, batch_size=BATCH)
    else:
        root = Path(folder)
        data = ImageFolderDataModule(
            str(root / "source"),
            str(root / "target"),
            str(root / "target_test"),
            image_size=28,
            normalize="source",
            streaming=True,
            val_fraction=0.1,
            seed=seed,
            batch_size=BATCH,
            num_workers=WORKERS,
        )
    L.seed_everything(seed, verbose=False)
    features, classifier, discriminator = networks()
    model = DANNLitModule(features, classifier, discriminator, num_classes=10, lambda_max=1.0)
    trainer = quiet_trainer(max_epochs=EPOCHS, check_val_every_n_epoch=EPOCHS, limit_val_batches=2)
    trainer.fit(model, data)
    tested = trainer.test(model, data, verbose=False)[0]
    return {"seed": seed, "path": path, "target_acc": tested["test/target_acc"]}


def noise_data(folder: str, streaming: bool):
    """The generated folder as the memory and throughput runs read it: 28 px, pixel values / 255."""
    from dann_lightning.data import ImageFolderDataModule

    root = Path(folder)
    return ImageFolderDataModule(
        str(root / "source"),
        str(root / "target"),
        image_size=28,
        normalize="none",
        streaming=streaming,
        batch_size=BATCH,
        num_workers=WORKERS,
    )


def child_memory(folder: str, streaming: bool) -> dict:
    from dann_lightning import DANNLitModule

    peak = PeakMemory()
    data = noise_data(folder, streaming)
    model = DANNLitModule(*networks(light=True), num_classes=10)
    quiet_trainer(max_epochs=1, limit_val_batches=0).fit(model, data)
    images = sum(len(dataset) for dataset in (data.source_train, data.target_train, data.source_val, data.target_val))
    return {"images": images, "streaming": streaming, "peak_mib": peak.stop() / 2**20}


def child_throughput(folder: str, kind: str, steps: int) -> dict:
    import torch

    torch.manual_seed(0)
    if kind == "plain loop":
        return {"kind": kind, "images_per_s": plain_loop_rate(folder, steps)}
    return {"kind": kind, "images_per_s": module_rate(folder, steps)}


# ------------------------------------------------------------------------- the two loops compared
WARMUP = 10


def module_rate(folder: str, steps: int) -> float:
    from dann_lightning import DANNLitModule
    from dann_lightning.experiments.timing import StepTimer

    data = noise_data(folder, streaming=True)
    model = DANNLitModule(*networks(light=True), num_classes=10, optimizer=torch_sgd)
    timer = StepTimer()  # start to start of each batch: its fetch included
    quiet_trainer(max_steps=steps, limit_val_batches=0, callbacks=[timer]).fit(model, data)
    timed = timer.times[WARMUP:]
    return len(timed) * 2 * BATCH / sum(timed)


def torch_sgd(params):
    import torch

    return torch.optim.SGD(params, lr=0.01, momentum=0.9)


def plain_loop_rate(folder: str, steps: int) -> float:
    """The same step without Lightning or the data module: PIL decode in ``WORKERS`` workers per
    domain, 0..1 scaling, features -> classifier and reversed-gradient discriminator, one SGD step."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    from dann_lightning.grl import grad_reverse

    class Files(Dataset):
        def __init__(self, root: Path) -> None:
            classes = sorted(p.name for p in root.iterdir())
            self.items = [(str(f), k) for k, c in enumerate(classes) for f in sorted((root / c).glob("*.png"))]

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, i: int):
            path, label = self.items[i]
            with Image.open(path) as image:
                x = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1)
            return x.float() / 255.0, label

    def loader(domain: str) -> DataLoader:
        return DataLoader(
            Files(Path(folder) / domain),
            batch_size=BATCH,
            shuffle=True,
            drop_last=True,
            num_workers=WORKERS,
            persistent_workers=True,
        )

    features, classifier, discriminator = networks(light=True)
    parameters = [p for net in (features, classifier, discriminator) for p in net.parameters()]
    optimizer = torch_sgd(parameters)
    source, target = iter(loader("source")), iter(loader("target"))
    for step in range(steps):
        if step == WARMUP:
            start = time.perf_counter()
        (xs, ys), (xt, _) = next(source), next(target)
        z = features(torch.cat([xs, xt]))
        loss = F.cross_entropy(classifier(z[:BATCH]), ys)
        domains = torch.cat([torch.zeros(BATCH), torch.ones(BATCH)])
        loss = loss + F.binary_cross_entropy_with_logits(discriminator(grad_reverse(z, 0.1)).reshape(-1), domains)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (steps - WARMUP) * 2 * BATCH / (time.perf_counter() - start)


class PeakMemory:
    """The largest PSS (proportional set size: shared pages split between the processes sharing
    them) of this process and its descendants, sampled every 50 ms by a thread (Linux /proc)."""

    def __init__(self) -> None:
        self.peak = 0
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._running = False
        self._thread.join()
        return self.peak

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, sum(pss_bytes(pid) for pid in process_tree(os.getpid())))
            time.sleep(0.05)


def process_tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------------------- driver
def run_child(*args: str) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def accuracy(work: Path) -> None:
    from dann_lightning.datasets.digit_folders import write_digits_folders

    rows = []
    for seed in SEEDS:
        folder = work / f"digits_{seed}"
        write_digits_folders(folder, seed=seed, image_size=28, blends_per_digit=1)
        for path in ("in memory", "folder"):
            rows.append(run_child("accuracy", str(seed), path, str(folder)))
            print(f"  seed {seed} {path}: test/target_acc {rows[-1]['target_acc']:.3f}", flush=True)
    medians = {p: statistics.median(r["target_acc"] for r in rows if r["path"] == p) for p in ("in memory", "folder")}
    gap = 100 * (medians["folder"] - medians["in memory"])
    print(
        f"median test/target_acc: in memory {medians['in memory']:.3f}, folder {medians['folder']:.3f} "
        f"({gap:+.1f} points; target: within 3) -> {'met' if abs(gap) <= 3 else 'missed'}"
    )


def memory(big: Path, small: Path) -> None:
    rows = {
        (n, s): run_child("memory", str(folder), str(s))
        for n, folder in [("2k", small), ("20k", big)]
        for s in (True, False)
    }
    for streaming in (True, False):
        low, high = rows[("2k", streaming)], rows[("20k", streaming)]
        ratio = high["peak_mib"] / low["peak_mib"]
        verdict = f"-> {'met' if ratio <= 1.2 else 'missed'} (target <= 1.2x)" if streaming else "(beside it)"
        print(
            f"{'streaming' if streaming else 'in memory'}: peak {low['peak_mib']:.0f} MiB over "
            f"{low['images']} images, {high['peak_mib']:.0f} MiB over {high['images']}: {ratio:.2f}x {verdict}"
        )


def throughput(big: Path, steps: int) -> None:
    rates: dict[str, list[float]] = {"plain loop": [], "ImageFolderDataModule": []}
    for _ in range(3):  # interleaved, so that a busy spell on the shared machine hits both
        for kind in rates:
            rates[kind].append(run_child("throughput", str(big), kind, str(steps))["images_per_s"])
    plain, ours = (statistics.median(rates[k]) for k in rates)
    print(
        f"images/s ({WORKERS} workers per domain, batch {BATCH} per domain, {steps} steps): plain loop "
        f"{plain:.0f} {[round(r) for r in rates['plain loop']]}, ImageFolderDataModule {ours:.0f} "
        f"{[round(r) for r in rates['ImageFolderDataModule']]}: {ours / plain:.2f}x "
        f"-> {'met' if ours / plain >= 0.9 else 'missed'} (target >= 0.9x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["accuracy", "memory", "throughput"])
    parser.add_argument("--steps", type=int, default=60, help="training steps per throughput run")
    parser.add_argument("--work", help="folder for the generated images (default: a temporary one)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "accuracy":
            result = child_accuracy(int(rest[0]), rest[1], rest[2])
        elif kind == "memory":
            result = child_memory(rest[0], rest[1] == "True")
        else:
            result = child_throughput(rest[0], rest[1], int(rest[2]))
        print(json.dumps(result))
        return
    print(f"python scripts/image_folders.py {' '.join(sys.argv[1:])}".strip(), flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work or scratch)
        if args.only in (None, "accuracy"):
            accuracy(work)
        if args.only in (None, "memory", "throughput"):
            big, small = work / "noise_20k", work / "noise_2k"
            if not (big / "target").is_dir():
                write_noise_folders(big, IMAGES_PER_CLASS)
            link_subset(big, small, SMALL_PER_CLASS)
            if args.only in (None, "memory"):
                memory(big, small)
            if args.only in (None, "throughput"):
                throughput(big, args.steps)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
