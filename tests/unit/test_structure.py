"""The package's structural numbers (issue 24): short modules, and private torch / Lightning names
read in one place only, ``dann_lightning/compat.py``."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "dann_lightning"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 450
THIRD_PARTY = ("torch", "lightning", "pytorch_lightning")


def private_names_of_torch_and_lightning(source: str) -> list[str]:
    """Every import of, and attribute read from, a torch / Lightning name whose segment starts with ``_``.

    Names bound by ``import torch``, ``import lightning as L``, ``from torch import nn`` and the like
    are followed through attribute reads (``nn.modules.batchnorm._BatchNorm``); dunders such as
    ``torch.__version__`` are public.

    >>> private_names_of_torch_and_lightning("from torch.nn.modules.batchnorm import _BatchNorm")
    ['torch.nn.modules.batchnorm._BatchNorm']
    >>> private_names_of_torch_and_lightning("import lightning as L\\nL.pytorch.overrides._wrap")
    ['L.pytorch.overrides._wrap']
    >>> private_names_of_torch_and_lightning("from torch import nn\\nx = nn._reduction; y = torch.__version__")
    ['nn._reduction']
    >>> private_names_of_torch_and_lightning("import torch._dynamo\\nself._x = helpers._private")
    ['torch._dynamo']
    """

    def private(segment: str) -> bool:
        return segment.startswith("_") and not (segment.startswith("__") and segment.endswith("__"))

    def ours(module: str) -> bool:
        return module.split(".")[0] in THIRD_PARTY

    tree = ast.parse(source)
    roots: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if ours(alias.name):
                    roots.add(alias.asname or alias.name.split(".")[0])
                    if any(private(segment) for segment in alias.name.split(".")):
                        found.append(alias.name)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and ours(node.module):
            for alias in node.names:
                roots.add(alias.asname or alias.name)
                if any(private(segment) for segment in [*node.module.split("."), alias.name]):
                    found.append(f"{node.module}.{alias.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain, inner = [node.attr], node.value
        while isinstance(inner, ast.Attribute):
            chain.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name) and inner.id in roots and private(node.attr):
            found.append(".".join([inner.id, *reversed(chain)]))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(REPO)))
def test_every_module_of_the_package_stays_short(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(REPO)} has {lines} lines: split it (at most {MAX_LINES})"


def test_no_module_but_compat_reads_a_private_torch_or_lightning_name():
    offenders = {
        str(path.relative_to(REPO)): names
        for path in MODULES
        if path.name != "compat.py" or path.parent != PACKAGE
        for names in [private_names_of_torch_and_lightning(path.read_text())]
        if names
    }
    assert not offenders, f"private torch / Lightning names outside dann_lightning/compat.py: {offenders}"


def test_compat_is_where_the_private_names_are():
    # The check above finds what it looks for: compat.py reads Lightning's _given_hyperparameters.
    names = private_names_of_torch_and_lightning((PACKAGE / "compat.py").read_text())
    assert "lightning.pytorch.core.mixins.hparams_mixin._given_hyperparameters" in names
