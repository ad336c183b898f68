"""The README's shell commands (its ```bash blocks), pasted in order into a fresh folder, as a
newcomer runs them.

A block the README introduces with a line ``<!-- not run by tests/test_readme_commands.py: WHY -->``
is left out (installing, running the test suite itself); every other block runs, so a command that
needs files must make them first (``dann-lightning configs tabular_files --out .`` writes the
example tables).
"""

import csv
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"
NOT_RUN = "<!-- not run by tests/test_readme_commands.py"


def shell_blocks(markdown: str) -> list[tuple[str, bool]]:
    """Each ```bash block, and whether it is run (no "not run" line right above it)."""
    found = re.finditer(r"^(<!-- not run by [^\n]*-->\n)?```bash\n(.*?)^```", markdown, flags=re.DOTALL | re.MULTILINE)
    return [(match.group(2), match.group(1) is None) for match in found]


def run_blocks() -> list[str]:
    return [block for block, runs in shell_blocks(README.read_text()) if runs]


def commands(block: str) -> list[list[str]]:
    """The commands of a block, each as its words, comments and line continuations removed."""
    joined = block.replace("\\\n", " ")
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def option(words: list[str], name: str) -> str | None:
    for index, word in enumerate(words):
        if word == name:
            return words[index + 1]
        if word.startswith(name + "="):
            return word.removeprefix(name + "=")
    return None


def test_the_readme_marks_the_blocks_it_does_not_run():
    blocks = shell_blocks(README.read_text())
    assert [runs for _, runs in blocks].count(False) == 2, "the install and the test blocks are the ones not run"
    assert any("fit" in block and runs for block, runs in blocks)
    assert shell_blocks(f"{NOT_RUN}: why -->\n```bash\npip install x\n```\n```bash\nls\n```\n") == [
        ("pip install x\n", False),
        ("ls\n", True),
    ]


def test_each_checkpoint_the_readme_reads_is_one_an_earlier_fit_of_its_own_folder_wrote():
    """`test`, `predict` and `export` read `ROOT/lightning_logs/version_0/...`: the first run under a
    `--trainer.default_root_dir` no other run of the README shares, so that the path holds in a fresh folder."""
    written, read = [], 0
    for block in run_blocks():
        for words in commands(block):
            if words[0] != "dann-lightning":
                continue
            root = option(words, "--trainer.default_root_dir")
            ckpt_path = option(words, "--ckpt_path")
            if words[1] == "fit":
                assert root is not None and ckpt_path is None, f"each fit names its own folder: {shlex.join(words)}"
                assert all(not path.startswith(f"{root}/") for path in written), f"two fits write under {root}"
                written.append(f"{root}/lightning_logs/version_0/checkpoints/last.ckpt")
            elif ckpt_path is not None:
                assert root is None, f"a run reading {ckpt_path} writes under another folder: {shlex.join(words)}"
                assert ckpt_path in written, f"{shlex.join(words)} reads a checkpoint no earlier fit wrote"
                read += 1
    assert len(written) >= 2 and read >= 3


@pytest.mark.slow
def test_the_readme_commands_run_in_order_in_a_fresh_folder(tmp_path):
    # One thread: the same runs, but the networks are tiny and torch's threads fight over shared
    # cores (the README's moons fit takes 3x as long on a busy 2-core machine without it).
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    printed = []
    for block in run_blocks():
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, f"README block\n{block}\nfailed:\n{done.stderr[-3000:]}"
        printed += done.stdout.splitlines()
    fitted = [line.removeprefix("checkpoint: ") for line in printed if line.startswith("checkpoint: ")]
    read = [option(words, "--ckpt_path") for block in run_blocks() for words in commands(block)]
    assert {path for path in read if path} == set(fitted), "fit printed other checkpoints than the README reads"
    # The tabular predict and export read the tabular run, not the moons run before it.
    (predictions,) = [Path(line.split(" to ", 1)[1]) for line in printed if line.startswith("predictions written to")]
    with open(predictions) as rows, open(tmp_path / "examples" / "tabular" / "target.csv") as target:
        assert [row["id"] for row in csv.DictReader(rows)] == [row["id"] for row in csv.DictReader(target)]
    exported = json.loads((tmp_path / "deploy" / "export.json").read_text())
    assert exported["feature_names"] == [f"x{index}" for index in range(20)]
