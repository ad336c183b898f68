"""The options of DANNLitModule: their types, and one check of them all before anything is built."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import lightning as L
from torch import nn

from dann_lightning.analysis.scores import SelectionScoreName
from dann_lightning.candidate_settings import CandidateSetting, candidate_settings, check_setting
from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.errors import ConfigurationError
from dann_lightning.lambda_search import check_lambda_search
from dann_lightning.nets import has_domain_norm
from dann_lightning.schedules import LambdaScheduleName, LRScheduleName
from dann_lightning.tasks import check_task_options

OptimizationMode = Literal["automatic", "manual"]
FeaturePass = Literal["joint", "separate"]
ClipAlgorithm = Literal["norm", "value"]


def check_options(
    *,
    feature_extractor: nn.Module,
    classifier: nn.Module | None,
    discriminator: nn.Module | None,
    num_classes: int | None,
    task: str,
    num_outputs: int | None,
    loss: str | None,
    optimizer: Callable[..., Any],
    lambda_max: float | str,
    lambda_candidates: Any,
    lambda_criterion: str,
    lambda_keep: str,
    lambda_margin: float | None,
    mcc_weight: float,
    mcc_temperature: float,
    entropy_weight: float,
    label_shift: bool,
    lambda_schedule: str,
    gamma: float,
    lr_schedule: str,
    lr_alpha: float,
    lr_beta: float,
    optimization: str,
    discriminator_optimizer: Callable[..., Any] | None,
    discriminator_steps: int,
    gradient_clip_val: float | None,
    gradient_clip_algorithm: str,
    feature_pass: str,
    compile: bool | dict[str, Any],
    selection_scores: Any,
    num_sources: int,
) -> None:
    """Raise :class:`~dann_lightning.errors.ConfigurationError` naming the first bad option of
    :class:`~dann_lightning.DANNLitModule`, with the value given and what was expected."""
    networks = {"feature_extractor": feature_extractor, "classifier": classifier, "discriminator": discriminator}
    for name, net in networks.items():
        if not isinstance(net, nn.Module) and not (net is None and name != "feature_extractor"):
            raise ConfigurationError(f"{name} must be a torch.nn.Module, got {type(net).__name__}")
    if num_classes is not None:
        check_int("num_classes", num_classes, minimum=2)
    check_int("num_sources", num_sources, minimum=1)
    check_int("discriminator_steps", discriminator_steps, minimum=1)
    if isinstance(lambda_max, str) and lambda_max != "auto":
        raise ConfigurationError(f"lambda_max must be a number >= 0 or 'auto', got {lambda_max!r}")
    if lambda_max != "auto":
        check_real("lambda_max", lambda_max, minimum=0.0)
    objectives = {"mcc_weight": mcc_weight, "entropy_weight": entropy_weight, "label_shift": label_shift}
    check_setting(CandidateSetting(0.0, **objectives), "the model's")
    check_real("mcc_temperature", mcc_temperature, minimum=0.0, strict=True)
    check_lambda_search(lambda_max, lambda_candidates, lambda_criterion, lambda_keep, lambda_margin, objectives)
    check_real("gamma", gamma, minimum=0.0, strict=True)
    check_real("lr_alpha", lr_alpha, minimum=0.0)
    check_real("lr_beta", lr_beta, minimum=0.0)
    if gradient_clip_val is not None:
        check_real("gradient_clip_val", gradient_clip_val, minimum=0.0, strict=True)
    check_choice("lambda_schedule", lambda_schedule, LambdaScheduleName)
    check_choice("lr_schedule", lr_schedule, LRScheduleName)
    check_choice("optimization", optimization, OptimizationMode)
    check_choice("feature_pass", feature_pass, FeaturePass)
    check_choice("gradient_clip_algorithm", gradient_clip_algorithm, ClipAlgorithm)
    for score in selection_scores or ():
        check_choice("selection score", score, SelectionScoreName)
    check_task_options(
        task,
        num_classes=num_classes,
        num_outputs=num_outputs,
        loss=loss,
        selection_scores=selection_scores,
        lambda_max=lambda_max,
        lambda_criterion=lambda_criterion,
        target_objectives=_target_objectives(lambda_max, lambda_candidates, objectives),
    )
    if not isinstance(compile, bool | dict):
        raise ConfigurationError(f"compile must be True, False or a dict of torch.compile arguments, got {compile!r}")
    for name, factory in [("optimizer", optimizer), ("discriminator_optimizer", discriminator_optimizer)]:
        if factory is not None and not callable(factory):
            raise ConfigurationError(f"{name} must be a callable taking parameters, got {type(factory).__name__}")
    if feature_pass == "joint" and has_domain_norm(feature_extractor):
        raise ConfigurationError(
            "feature_extractor has DomainBatchNorm layers, which need one pass per domain: "
            "set feature_pass='separate' (got 'joint')"
        )
    if optimization == "automatic":
        _check_no_manual_only_options(discriminator_optimizer, discriminator_steps, gradient_clip_val)


def _target_objectives(lambda_max: object, lambda_candidates: Any, objectives: dict[str, Any]) -> list[str]:
    """Names of the candidates (or the model's setting) that train on target class predictions."""
    settings = (
        candidate_settings(lambda_candidates, objectives)
        if lambda_max == "auto"
        else [CandidateSetting(float(lambda_max), **objectives)]
    )
    return [setting.name for setting in settings if setting.reads_target_predictions]


def _check_no_manual_only_options(
    discriminator_optimizer: Callable[..., Any] | None, discriminator_steps: int, gradient_clip_val: float | None
) -> None:
    given = {
        "discriminator_optimizer": discriminator_optimizer is not None,
        "discriminator_steps": discriminator_steps != 1,
        "gradient_clip_val": gradient_clip_val is not None,
    }
    for name, is_given in given.items():
        if is_given:
            hint = " (use Trainer(gradient_clip_val=...))" if name == "gradient_clip_val" else ""
            raise ConfigurationError(f"{name} applies to optimization='manual' only; got it with 'automatic'{hint}")


def check_trainer_options(trainer: L.Trainer, optimization: str) -> None:
    """Name the DANNLitModule option to use instead of a Trainer option manual optimization ignores."""
    if optimization != "manual":
        return
    if trainer.gradient_clip_val:
        raise ConfigurationError(
            f"Trainer(gradient_clip_val={trainer.gradient_clip_val}) is not applied with "
            "optimization='manual'; set DANNLitModule(gradient_clip_val=..., gradient_clip_algorithm=...) "
            "instead and leave the Trainer's unset"
        )
    if trainer.accumulate_grad_batches != 1:
        raise ConfigurationError(
            f"Trainer(accumulate_grad_batches={trainer.accumulate_grad_batches}) is not supported with "
            "optimization='manual'; use optimization='automatic' or a larger batch_size"
        )
