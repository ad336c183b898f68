import pytest
import torch

from dann_lightning import GradientReversal, grad_reverse
from dann_lightning.errors import ConfigurationError


@pytest.mark.parametrize("coeff", [0.0, 0.3, 1.0, 2.5])
def test_function_is_identity_forward_and_scales_gradient_by_minus_coeff(coeff):
    x = torch.randn(4, 3, requires_grad=True)
    upstream = torch.randn(4, 3)
    y = grad_reverse(x, coeff)
    assert torch.equal(y, x)
    y.backward(upstream)
    torch.testing.assert_close(x.grad, -coeff * upstream)


def test_module_coefficient_can_change_between_steps():
    grl = GradientReversal(coeff=1.0)
    x = torch.randn(5, requires_grad=True)
    upstream = torch.randn(5)
    for coeff in (1.0, 0.3, 0.0, 2.0):
        grl.coeff = coeff
        x.grad = None
        grl(x).backward(upstream)
        torch.testing.assert_close(x.grad, -coeff * upstream)
    assert grl.coeff == 2.0
    assert "coeff=2" in repr(grl)


def test_gradient_keeps_bf16_dtype_under_cpu_autocast():
    grl = GradientReversal(coeff=0.5)
    linear = torch.nn.Linear(3, 3)
    x = torch.randn(4, 3, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = linear(x)
        assert h.dtype == torch.bfloat16
        out = grl(h)
    assert out.dtype == torch.bfloat16
    captured = {}
    out.register_hook(lambda g: captured.setdefault("upstream", g))
    h.register_hook(lambda g: captured.setdefault("reversed", g))
    out.float().pow(2).sum().backward()
    assert captured["reversed"].dtype == torch.bfloat16
    torch.testing.assert_close(captured["reversed"], -0.5 * captured["upstream"])


@pytest.mark.parametrize(("value", "error"), [(float("nan"), ValueError), (float("inf"), ValueError), ("1", TypeError)])
def test_bad_coefficients_are_rejected(value, error):
    # The library's own error, also the built-in one a caller may already catch.
    with pytest.raises(ConfigurationError, match="coeff") as raised:
        GradientReversal(coeff=value)
    assert isinstance(raised.value, error)
    grl = GradientReversal()
    with pytest.raises(error, match="coeff"):
        grl.coeff = value
