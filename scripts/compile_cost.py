"""One-time cost and steady step time of `compile: true` (torch.compile, inductor) on two moons.

python scripts/compile_cost.py
"""

from __future__ import annotations

import statistics
import time

import lightning as L

from dann_lightning.cli import build_cli


class StepTimer(L.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.times.append(time.perf_counter() - self._start)


def measure(compile_networks: bool, epochs: int) -> tuple[float, float, float]:
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


def main() -> None:
    epochs = 200
    rows = {name: measure(flag, epochs) for name, flag in [("eager", False), ("compile: true", True)]}
    print(f"| networks | fit time, {epochs} epochs (s) | median training step, second half (ms) | target accuracy |")
    print("|---|---|---|---|")
    for name, (seconds, step_ms, accuracy) in rows.items():
        print(f"| {name} | {seconds:.1f} | {step_ms:.2f} | {accuracy:.3f} |")
    print(f"\nOne-time compile cost: about {rows['compile: true'][0] - rows['eager'][0]:.0f} s")


if __name__ == "__main__":
    main()
