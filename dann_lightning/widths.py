"""One sample through the networks before training: lazy layers take their widths from the data,
and a network that cannot take its input says so before the first step."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.nn.parameter import is_lazy

from dann_lightning.errors import ConfigurationError

if TYPE_CHECKING:
    from dann_lightning.data.contract import DomainData


def has_lazy_weights(module: nn.Module) -> bool:
    """Whether some parameter of ``module`` still waits for its first batch (``nn.LazyLinear``, ...)."""
    return any(is_lazy(parameter) for parameter in module.parameters())


def classes_of_the_data(data: DomainData | None) -> int:
    """The number of classes the data module says it has (its ``num_classes``), for a model built
    without one; [`ConfigurationError`][dann_lightning.errors.ConfigurationError] when it says none."""
    num_classes = data.num_classes if data is not None else None
    if not isinstance(num_classes, int) or num_classes < 2:
        where = f"the data module {type(data).__name__}" if data is not None else "the data module"
        found = f" (it says num_classes={num_classes!r})" if data is not None else " (it does not implement DomainData)"
        raise ConfigurationError(
            f"num_classes is not set and {where} tells it{found}: pass num_classes (2 or more) to the model"
        )
    return num_classes


def check_task_of_the_data(task: str, data: DomainData | None) -> None:
    """Raise [`ConfigurationError`][dann_lightning.errors.ConfigurationError] when the data module
    says it serves another task (its ``task``: ``"classification"`` or ``"regression"``)."""
    served = data.task if data is not None else None
    if isinstance(served, str) and served != task:
        raise ConfigurationError(
            f"the model has task={task!r} but the data module {type(data).__name__} serves task={served!r} "
            f"labels: give both the same task"
        )


def show_one_batch(
    feature_extractor: nn.Module,
    classifier: nn.Module,
    discriminator: nn.Module,
    discriminator_input: Callable[[Tensor, Tensor], Tensor],
    example: Tensor,
    *,
    check_outputs: Callable[[Tensor], Tensor] | None = None,
) -> None:
    """Run ``example`` (a batch of inputs as the data serves them) through the three networks, in
    eval mode and without gradients: this materialises lazy layers, and a network that cannot take
    what it is given raises [`ConfigurationError`][dann_lightning.errors.ConfigurationError] naming
    the widths. ``check_outputs`` checks the classifier's outputs (their width) before the
    discriminator sees them."""
    networks = (feature_extractor, classifier, discriminator)
    modes = [net.training for net in networks]
    for net in networks:
        net.eval()
    try:
        with torch.no_grad():
            features = _run(feature_extractor, "feature extractor", example, "this data's inputs")
            logits = _run(classifier, "classifier", features, "the feature extractor's outputs")
            if check_outputs is not None:
                check_outputs(logits)
            _run(discriminator, "discriminator", discriminator_input(features, logits), "its input")
    finally:
        for net, mode in zip(networks, modes, strict=True):
            net.train(mode)


def _run(net: nn.Module, role: str, x: Tensor, what: str) -> Tensor:
    try:
        return net(x)
    except RuntimeError as error:
        shape = tuple(x.shape[1:])
        hint = f"set its in_features to {shape[0]}, or leave in_features out to take it from the data" if len(
            shape
        ) == 1 else "make its input layer match"
        raise ConfigurationError(
            f"the {role} ({type(net).__name__}) cannot take {what}, of shape {shape} per sample: {error}; {hint}"
        ) from error


def show_the_data(model: Any, data: DomainData | None) -> None:
    """Before training (and before the optimizers exist): one batch of the data (the model's
    ``example_input_array``, else the data module's ``example_input()``) goes through ``model``'s
    networks, so lazy layers take their widths and a width mismatch is named; then every candidate
    of the model starts from these weights."""
    example = model.example_input_array
    if example is None and data is not None:
        example = data.example_input()
    if example is None:
        if has_lazy_weights(model):
            raise ConfigurationError(
                "the networks have layers without an input width (in_features=None) and the data module does "
                "not implement DomainData to take it from: give the widths, or set model.example_input_array"
            )
        return
    example = torch.as_tensor(example, device=model.device)
    networks = (model.feature_extractor, model.classifier, model.discriminator)
    show_one_batch(*networks, model.discriminator_input, example, check_outputs=model.task.check_outputs)
    model.candidates.start_from(model)
