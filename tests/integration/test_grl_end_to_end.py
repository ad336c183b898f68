"""The slow half of tests/unit/test_grl.py: fits, subprocesses and whole runs."""

import torch
from torch._dynamo.testing import CompileCounterWithBackend

from dann_lightning import GradientReversal


def test_changing_coefficient_does_not_recompile():
    backend = CompileCounterWithBackend("aot_eager")
    grl = GradientReversal()
    layer = torch.nn.Linear(3, 3)

    def step(x):
        return grl(layer(x)).sum()

    compiled = torch.compile(step, backend=backend)
    x = torch.randn(2, 3, requires_grad=True)
    for coeff in (0.1, 0.5, 0.9):
        grl.coeff = coeff
        x.grad = None
        compiled(x).backward()
        expected = -coeff * layer.weight.sum(dim=0).detach()
        torch.testing.assert_close(x.grad, expected.expand(2, 3))
    assert backend.frame_count == 1
