import re

from tests.conftest import REPO


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example writes lightning_logs/ and a checkpoint
    blocks = python_blocks((REPO / "README.md").read_text())
    assert blocks, "README has no python example"
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["predicted"].shape == (512,)
    assert (tmp_path / "dann.ckpt").is_file()
