"""Plain ``nn.Module`` building blocks, configurable from YAML (``nn.Sequential`` is not)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

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
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    """A multilayer perceptron: ``Linear -> [BatchNorm] -> activation -> [Dropout]`` per hidden layer.

    With ``out_features=None`` the output is the last hidden layer, activated: a feature
    extractor. With ``out_features`` set, a final ``Linear`` follows: a head.

    Args:
        in_features: width of the input.
        hidden_features: widths of the hidden layers, in order (may be empty for a head).
        out_features: width of a final linear layer, or ``None`` to end at the last hidden layer.
        activation: one of :data:`ACTIVATIONS`.
        dropout: dropout probability after each hidden activation.
        batch_norm: insert ``BatchNorm1d`` before each hidden activation.

    Example:
        >>> import torch
        >>> features = MLP(2, [16, 16], activation="tanh")
        >>> head = MLP(features.out_features, [], 3)
        >>> head(features(torch.zeros(5, 2))).shape
        torch.Size([5, 3])
    """

    def __init__(
        self,
        in_features: int,
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
            if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width < 1):
                raise ValueError(f"MLP {name} must be a positive integer, got {width!r}")
        if out_features is None and not hidden_features:
            raise ValueError("MLP needs hidden_features or out_features; both are empty")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MLP dropout must lie in [0, 1), got {dropout}")
        make_activation(activation)  # fail on a bad name before building anything

        layers: list[nn.Module] = []
        width = in_features
        for hidden in hidden_features:
            layers.append(nn.Linear(width, hidden))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(make_activation(activation))
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden
        if out_features is not None:
            layers.append(nn.Linear(width, out_features))
            width = out_features
        self.layers = nn.Sequential(*layers)
        self.in_features = in_features
        self.out_features = width

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class DomainDiscriminator(MLP):
    """A domain classifier head: features in, one logit per sample out, shape ``(N,)``.

    The gradient reversal layer sits in :class:`~dann_lightning.DANNLitModule`, not here, so the
    same head can be trained directly (manual optimization, proxy A-distance).

    Example:
        >>> import torch
        >>> DomainDiscriminator(8, [16])(torch.zeros(4, 8)).shape
        torch.Size([4])
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: Sequence[int] = (100,),
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__(in_features, hidden_features, 1, activation=activation, dropout=dropout, batch_norm=batch_norm)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).squeeze(-1)
