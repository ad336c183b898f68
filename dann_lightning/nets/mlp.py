"""Multilayer perceptrons and the domain discriminator: the plain building blocks of tabular DANN."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from dann_lightning.checks import check_choice, check_int
from dann_lightning.errors import ConfigurationError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by name; ValueError listing the valid names otherwise."""
    return ACTIVATIONS[check_choice("activation", name, sorted(ACTIVATIONS))]()


class MLP(nn.Module):
    """A multilayer perceptron: ``Linear -> [BatchNorm] -> activation -> [Dropout]`` per hidden layer.

    With ``out_features=None`` the output is the last hidden layer, activated: a feature
    extractor. With ``out_features`` set, a final ``Linear`` follows: a head.

    With ``in_features=None`` the first layer is an ``nn.LazyLinear``: its input width is taken
    from the first batch it sees ([`DANNLitModule`][dann_lightning.DANNLitModule] shows it one
    sample of the data before training, so the optimizer sees every weight).

    Args:
        in_features: width of the input; ``None``: from the data.
        hidden_features: widths of the hidden layers, in order (may be empty for a head).
        out_features: width of a final linear layer, or ``None`` to end at the last hidden layer.
        activation: one of [`ACTIVATIONS`][dann_lightning.nets.ACTIVATIONS].
        dropout: dropout probability after each hidden activation.
        batch_norm: insert ``BatchNorm1d`` before each hidden activation.

    Examples:
        >>> import torch
        >>> features = MLP(2, [16, 16], activation="tanh")
        >>> head = MLP(features.out_features, [], 3)
        >>> head(features(torch.zeros(5, 2))).shape
        torch.Size([5, 3])
    """

    def __init__(
        self,
        in_features: int | None = None,
        hidden_features: Sequence[int] = (),
        out_features: int | None = None,
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        hidden_features = list(hidden_features)
        for name, width in [("in_features", in_features), ("out_features", out_features)] + [
            (f"hidden_features[{i}]", w) for i, w in enumerate(hidden_features)
        ]:
            if width is not None:
                check_int(f"MLP {name}", width, minimum=1)
        if out_features is None and not hidden_features:
            raise ConfigurationError("MLP needs hidden_features or out_features; both are empty")
        if not 0.0 <= dropout < 1.0:
            raise ConfigurationError(f"MLP dropout must lie in [0, 1), got {dropout}")
        make_activation(activation)  # fail on a bad name before building anything

        layers: list[nn.Module] = []
        width = in_features
        for hidden in hidden_features:
            layers.append(_linear(width, hidden))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(make_activation(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden
        if out_features is not None:
            layers.append(_linear(width, out_features))
            width = out_features
        self.layers = nn.Sequential(*layers)
        self.in_features = in_features
        self.out_features = width

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


def _linear(in_features: int | None, out_features: int) -> nn.Module:
    return nn.LazyLinear(out_features) if in_features is None else nn.Linear(in_features, out_features)


class DomainDiscriminator(MLP):
    """A domain classifier head: features in, one logit per sample out, shape ``(N,)``.

    The gradient reversal layer sits in [`DANNLitModule`][dann_lightning.DANNLitModule], not here, so the
    same head can be trained directly (manual optimization, proxy A-distance). ``in_features=None``
    takes the feature width from the first batch, as [`MLP`][dann_lightning.nets.MLP] does.

    Examples:
        >>> import torch
        >>> DomainDiscriminator(8, [16])(torch.zeros(4, 8)).shape
        torch.Size([4])
    """

    def __init__(
        self,
        in_features: int | None = None,
        hidden_features: Sequence[int] = (100,),
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__(in_features, hidden_features, 1, activation=activation, dropout=dropout, batch_norm=batch_norm)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).squeeze(-1)


def default_discriminator(num_sources: int = 1) -> nn.Module:
    """The discriminator [`DANNLitModule`][dann_lightning.DANNLitModule] builds when given none: the
    paper's MNIST one, one hidden layer of 100 ReLU units, its input width taken from the features;
    one logit per sample, or ``num_sources + 1`` with several sources."""
    if num_sources == 1:
        return DomainDiscriminator(None, (100,))
    return MLP(None, (100,), num_sources + 1)


# ---------------------------------------------------------------------- normalisation


def compile_networks(models: Sequence[nn.Module], options: bool | dict) -> None:
    """``torch.compile`` in place the ``feature_extractor``, ``classifier`` and ``discriminator`` of
    each of ``models`` (each network once; ``options``: ``True`` or ``torch.compile`` arguments).
    The state dict keeps its keys."""
    arguments = options if isinstance(options, dict) else {}
    every = [net for nets in models for net in (nets.feature_extractor, nets.classifier, nets.discriminator)]
    networks = {id(net): net for net in every}
    for net in networks.values():
        net.compile(**arguments)
