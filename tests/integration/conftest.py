"""Integration tests: whole runs through the CLI, subprocesses, DDP, every shipped config, estimator
conformance. Every test under this folder is marked ``slow`` (skip them with ``-m "not slow"``)."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m selects on the marks
def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.slow)
