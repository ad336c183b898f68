"""The README and the documentation in docs/: their python examples run, their links resolve, the API
reference names every public name."""

import importlib
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"
DOCUMENTS = [README, REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").rglob("*.md"))]
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
    lightning_page = (REPO / "docs" / "lightning.md").read_text()
    assert any('save_checkpoint("dann.ckpt")' in block for block in python_blocks(lightning_page)), (
        "docs/lightning.md lost the Lightning example (the one place it lives: the README links to it)"
    )
    first_screen = "\n".join(README.read_text().splitlines()[:80])
    for landmark in ("pip install", "dann-lightning fit", "python -m pytest", "## Your own tables", "docs/workflow.md"):
        assert landmark in first_screen, f"a newcomer no longer finds {landmark!r} in the README's first 80 lines"


@pytest.mark.slow
@pytest.mark.parametrize("block", examples())
def test_python_example_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a fresh directory each: the examples write lightning_logs/ and a checkpoint
    namespace: dict = {"__name__": "__main__"}
    exec(compile(block, "example", "exec"), namespace)  # on its own, as a reader would paste it
    if 'save_checkpoint("dann.ckpt")' in block:  # the Lightning example of docs/lightning.md
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


# With __all__ (the package and its subpackages), or the classes and functions a module defines.
PUBLIC_MODULES = ["dann_lightning", "dann_lightning.data", "dann_lightning.analysis", "dann_lightning.tasks"]
PUBLIC_MODULES += ["dann_lightning.sklearn", "dann_lightning.nets", "dann_lightning.callbacks", "dann_lightning.export"]
PUBLIC_MODULES += ["dann_lightning.schedules", "dann_lightning.grl", "dann_lightning.metrics", "dann_lightning.errors"]
PUBLIC_MODULES += ["dann_lightning.selection", "dann_lightning.candidates"]


def public_names(module) -> list[str]:
    if hasattr(module, "__all__"):
        return sorted(set(module.__all__) - {"__version__"})
    defined = [name for name, value in vars(module).items() if getattr(value, "__module__", None) == module.__name__]
    return sorted(name for name in defined if not name.startswith("_") and callable(getattr(module, name)))


def documented_names() -> set[str]:
    """Full names the API pages render: `::: a.b.Name`, and `::: a.b` with its `members:` list."""
    names = set()
    for page in (REPO / "docs" / "api").glob("*.md"):
        module = None
        for line in page.read_text().splitlines():
            if line.startswith("::: "):
                module = line[4:].strip()
                names.add(module)
            elif module and line.strip().startswith("- "):
                names.add(f"{module}.{line.strip()[2:]}")
            elif line and not line.startswith(" "):
                module = None
    return names


def resolve(full_name: str):
    """The object a mkdocstrings identifier names: the longest importable module, then attributes."""
    parts = full_name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(full_name)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_api_reference_lists_every_public_name(module_name):
    """Each public name is rendered on an API page, under this module's name or another that exports it."""
    module = importlib.import_module(module_name)
    documented = [resolve(name) for name in documented_names()]
    for name in public_names(module):
        assert any(getattr(module, name) is entry for entry in documented), (
            f"{module_name}.{name} is public but on no page of docs/api/"
        )


def test_docstring_examples_render_as_code():
    """mkdocstrings shows a Google-style "Examples:" section's >>> lines as code; "Example:" as quoted prose."""
    offending = [
        f"{path.relative_to(REPO)}:{number}"
        for path in sorted((REPO / "dann_lightning").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.strip() == "Example:"
    ]
    assert not offending, f"write 'Examples:' (rendered as code in the API reference): {offending}"


def test_the_changelog_releases_the_package_version():
    """The newest dated section of CHANGELOG.md is the version the package (and `--version`) reports."""
    import dann_lightning

    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", (REPO / "CHANGELOG.md").read_text(), re.M)
    assert released and released[0] == dann_lightning.__version__, (
        f"CHANGELOG.md's newest release is {released[:1]}, the package says {dann_lightning.__version__}"
    )


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_pages_read_a_checkpoint_only_from_a_run_folder_they_name(path):
    """`lightning_logs/version_0/...` holds only under a `--trainer.default_root_dir` that a fit on the
    same page names: every run (fit, test, predict) writes a new version under its root, so a bare
    `lightning_logs/version_0` is some other run's after the first command."""
    text = path.read_text().replace("\\\n", " ")
    roots = set(re.findall(r"--trainer\.default_root_dir[ =](\S+)", text))
    for match in re.finditer(r"(\S*)lightning_logs/version_\d", text):
        root = match.group(1).strip("`(").rstrip("/")
        assert root in roots, f"{path.name} reads {match.group(0)}... without a fit naming that run folder"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_only_the_api_pages_use_mkdocstrings_cross_references(path):
    """`[text][dann_lightning.X]` renders as a link on the site only; on the repository host it shows raw."""
    if "api" in path.relative_to(REPO).parts:
        return
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    found = re.findall(r"\]\[[\w.]+\]", text)
    assert not found, f"{path.name} uses cross-references {found}: write a relative link to a page instead"
