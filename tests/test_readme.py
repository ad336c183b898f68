"""The README and the documentation in docs/: their python examples run, their links resolve."""

import re
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"
DOCUMENTS = [README, *sorted((REPO / "docs").rglob("*.md"))]
README_LIMIT = 12 * 1024  # the README is a front page; the rest lives in docs/


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def examples() -> list:
    return [
        pytest.param(block, id=f"{path.relative_to(REPO)}:{number}")
        for path in DOCUMENTS
        for number, block in enumerate(python_blocks(path.read_text()), start=1)
    ]


def test_readme_is_a_front_page_with_its_example():
    assert len(README.read_bytes()) <= README_LIMIT, "README.md grew past 12 KB: move the details to docs/"
    assert any('save_checkpoint("dann.ckpt")' in block for block in python_blocks(README.read_text())), (
        "README lost its Lightning example"
    )
    assert len(examples()) > len(python_blocks(README.read_text())), "docs/ lost its python examples"


@pytest.mark.slow
@pytest.mark.parametrize("block", examples())
def test_python_example_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a fresh directory each: the examples write lightning_logs/ and a checkpoint
    namespace: dict = {"__name__": "__main__"}
    exec(compile(block, "example", "exec"), namespace)  # on its own, as a reader would paste it
    if 'save_checkpoint("dann.ckpt")' in block:  # the Lightning example of the README and docs/lightning.md
        assert namespace["predicted"].shape == (512,)
        assert (tmp_path / "dann.ckpt").is_file()


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading; on the headings these pages link to, mkdocs gives the same."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)  # a '#' in a code block is no heading
    return {github_anchor(match) for match in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_relative_links_resolve(path):
    """mkdocs build --strict checks the links inside docs/; this checks them on GitHub too, README first."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.is_file(), f"{path.name} links to {target}: no such file"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{path.name} links to {target}: no such heading"
