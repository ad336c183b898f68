"""Callbacks that the fault tests load into a training subprocess through its config."""

import os
import signal

import lightning as L


class SigkillAt(L.Callback):
    """Kill the process with SIGKILL when training batch ``batch`` (counted over the run) starts."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.fit_loop.total_batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)
