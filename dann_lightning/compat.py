"""The few places where dann_lightning reads a private Lightning name, because no public one exists.

Each is tested in ``tests/unit/test_compat.py``: a Lightning release that changes it fails that test
loudly instead of silently changing what checkpoints hold.
"""

from __future__ import annotations

import copy
from typing import Any

try:
    # Why: while LightningCLI (or a YAML-built model) instantiates a module, it hands the module's
    # configuration to `save_hyperparameters` through this context variable. Only then are the
    # networks plain config (class_path / init_args) that a checkpoint can keep and rebuild from;
    # built in Python they are live nn.Modules, which must not be pickled into the hyperparameters.
    # Lightning offers no public way to ask which of the two is happening.
    from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
except ImportError:  # pragma: no cover - a Lightning without it: networks are never saved as config
    _given_hyperparameters = None


def instantiated_from_config() -> bool:
    """Whether the module being built right now is instantiated by LightningCLI from a config."""
    return _given_hyperparameters is not None and _given_hyperparameters.get() is not None


def count_optimizer_steps_in_the_automatic_loop(checkpoint: dict[str, Any]) -> None:
    """Let a checkpoint of dann_lightning 0.1.0 resume under optimization='automatic'.

    Why: 0.1.0 ran that mode's step under Lightning's manual-optimization loop, so its checkpoints
    count the optimizer steps (the Trainer's ``global_step``) in the manual loop's progress
    tracker. Lightning offers no public way to restore ``global_step``; this copies the count to
    the automatic loop's tracker in the checkpoint dict before Lightning restores its loops.
    """
    loop_state = checkpoint.get("loops", {}).get("fit_loop", {})
    manual = loop_state.get("epoch_loop.manual_optimization.optim_step_progress")
    automatic = loop_state.get("epoch_loop.automatic_optimization.optim_progress")
    if not manual or not automatic:
        return
    if automatic["optimizer"]["step"]["total"]["completed"] == 0 and manual["total"]["completed"] > 0:
        automatic["optimizer"]["step"] = copy.deepcopy(manual)


def rename_candidate_keys(checkpoint: dict[str, Any]) -> None:
    """Let a checkpoint of ``lambda_max="auto"`` written before 0.2 load: its candidates were kept
    under ``lambda_search.`` in the state dict, now under ``candidates.`` (our own format, not
    Lightning's; here beside the other old-checkpoint step so that both are found in one place)."""
    state = checkpoint.get("state_dict", {})
    for key in [key for key in state if key.startswith("lambda_search.")]:
        state["candidates." + key.removeprefix("lambda_search.")] = state.pop(key)
