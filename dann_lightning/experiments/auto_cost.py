"""What ``lambda_max="auto"`` costs against one DANN run: wall time of the fit and peak resident
memory, each run in a fresh process (``python -m dann_lightning.experiments.auto_cost``).

A run is what a user runs: the module's defaults, validation after every epoch (the Trainer's
default), on the suite's MLPs (``moons_40``: 1,000 source and 1,000 target rows) or on the digits
CNN of ``configs/digits.yaml``.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence

import lightning as L
import torch

SETUPS = ("relu64", "gelu256_layernorm", "digits_cnn")


def fit_once(setup: str, auto: bool, epochs: int) -> float:
    """Seconds of one ``Trainer.fit`` of ``setup``, one CPU thread; ``auto``: four candidates."""
    from dann_lightning import DANNLitModule
    from dann_lightning.experiments.suite import NETWORKS, TASKS
    from dann_lightning.quiet import quiet_trainer

    torch.set_num_threads(1)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    L.seed_everything(0, verbose=False)
    options = {"lambda_max": "auto"} if auto else {}
    if setup == "digits_cnn":
        model, data = _digits(options)
    else:
        task = TASKS["moons_40"].draw(0)
        networks = NETWORKS[setup].build(task.in_features, task.num_classes)
        model, data = DANNLitModule(**networks, num_classes=2, **options), task.datamodule(batch_size=64)
    trainer = quiet_trainer(accelerator="cpu", devices=1, max_epochs=epochs, limit_val_batches=1.0)
    start = time.perf_counter()
    trainer.fit(model, data)
    return time.perf_counter() - start


def _digits(options: dict) -> tuple:
    """The network and data of ``configs/digits.yaml`` (its lambda_max unless ``options`` say auto)."""
    from dann_lightning import DANNLitModule
    from dann_lightning.data import ShiftDataModule
    from dann_lightning.nets import MLP, DomainDiscriminator, MNISTFeatures

    model = DANNLitModule(
        MNISTFeatures(image_size=28, norm="domain"),
        MLP(768, [100, 100], out_features=10),
        DomainDiscriminator(768, [1024, 1024], dropout=0.5),
        num_classes=10,
        feature_pass="separate",
        optimization="manual",
        discriminator_steps=2,
        **{"lambda_max": 1.0, **options},
    )
    options = {"image_size": 28, "target_domain": "digits-m", "blends_per_digit": 10}
    return model, ShiftDataModule("digits", options=options, augment_shift=2, batch_size=64)


def measure(setup: str, auto: bool, epochs: int) -> dict[str, float]:
    """Fit in a fresh process: its fit seconds and its peak resident memory (MiB)."""
    command = [sys.executable, "-m", "dann_lightning.experiments.auto_cost", setup, str(int(auto)), str(epochs)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("setup", choices=SETUPS)
    parser.add_argument("auto", type=int)
    parser.add_argument("epochs", type=int)
    args = parser.parse_args(argv)
    seconds = fit_once(args.setup, bool(args.auto), args.epochs)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"seconds": seconds, "peak_mib": peak_mib}))


if __name__ == "__main__":
    main()
