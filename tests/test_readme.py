import re

import pytest

from tests.conftest import REPO


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write lightning_logs/ and a checkpoint
    blocks = python_blocks((REPO / "README.md").read_text())
    assert len(blocks) >= 2, "README lost its python examples"
    namespaces = []
    for block in blocks:  # each on its own, as a reader would paste it
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)
        namespaces.append(namespace)
    main_example = next(namespace for namespace in namespaces if "predicted" in namespace)
    assert main_example["predicted"].shape == (512,)
    assert (tmp_path / "dann.ckpt").is_file()
