"""Gradient reversal: the identity going forward, gradient times ``-coeff`` coming back."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dann_lightning.checks import check_real


class _GradientReversalFunction(torch.autograd.Function):
    # ctx in forward, not a separate setup_context: with setup_context, Function.apply binds the
    # arguments through inspect.signature on every call, which costs more than this whole layer.
    @staticmethod
    def forward(ctx, x: Tensor, coeff: Tensor | float) -> Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: Tensor) -> tuple[Tensor, None]:
        coeff = ctx.coeff
        if isinstance(coeff, Tensor):
            # A float32 coefficient must not upcast a bf16/fp16 gradient under autocast.
            coeff = coeff.to(grad_output.dtype)
        return grad_output * -coeff, None


def grad_reverse(x: Tensor, coeff: Tensor | float = 1.0) -> Tensor:
    """Return ``x`` unchanged; in the backward pass multiply its gradient by ``-coeff``.

    Args:
        x: any tensor.
        coeff: the reversal strength (lambda in Ganin et al., 2016). A 0-dim tensor lets
            ``torch.compile`` reuse one graph for every value; a Python float is fine in eager mode.

    Examples:
        >>> x = torch.ones(3, requires_grad=True)
        >>> grad_reverse(x, 0.5).sum().backward()
        >>> x.grad
        tensor([-0.5000, -0.5000, -0.5000])
    """
    return _GradientReversalFunction.apply(x, coeff)


class GradientReversal(nn.Module):
    """Gradient reversal layer (GRL) whose coefficient can change between steps.

    The coefficient lives in a non-persistent buffer updated in place, so it follows the module
    across devices and a compiled graph reads the new value instead of recompiling.

    Examples:
        >>> grl = GradientReversal(coeff=1.0)
        >>> grl.coeff = 0.3
        >>> x = torch.ones(2, requires_grad=True)
        >>> grl(x).sum().backward()
        >>> x.grad
        tensor([-0.3000, -0.3000])
    """

    def __init__(self, coeff: float = 1.0) -> None:
        super().__init__()
        self._coeff_value = _check_coeff(coeff)
        self.register_buffer("_coeff", torch.tensor(self._coeff_value), persistent=False)

    @property
    def coeff(self) -> float:
        return self._coeff_value

    @coeff.setter
    def coeff(self, value: float) -> None:
        self._coeff_value = _check_coeff(value)
        # In place, no host-device sync: the buffer keeps its identity for compiled graphs.
        self._coeff.fill_(self._coeff_value)

    def forward(self, x: Tensor) -> Tensor:
        return _GradientReversalFunction.apply(x, self._coeff)

    def extra_repr(self) -> str:
        return f"coeff={self._coeff_value:g}"


def _check_coeff(value: float) -> float:
    return check_real("GradientReversal coeff", value)
