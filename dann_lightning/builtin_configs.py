"""The configs shipped inside the package, runnable by name: ``dann-lightning fit --config digits``.

``configs/*.yaml`` in a clone is the source one edits; ``dann_lightning/configs/`` holds identical
copies, so that an installed wheel can run them (``tests/test_cli.py`` fails when they differ and
prints the command that copies them again). Example files a config names (the tables of
``tabular_files``) are packaged under ``dann_lightning/configs/examples/`` at the path the config
gives them, relative to the working directory.

>>> "moons" in names() and resolve("moons.yaml") == resolve("moons")
True
>>> resolve("no_such_config") is None
True
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

CONFIGS = files("dann_lightning") / "configs"
EXAMPLES = "examples"  # the packaged example files, at the relative paths the configs name them


def names() -> list[str]:
    """The built-in config names, sorted: the file names without ``.yaml``."""
    return sorted(entry.name.removesuffix(".yaml") for entry in CONFIGS.iterdir() if entry.name.endswith(".yaml"))


def resolve(name: str) -> Path | None:
    """The packaged file of the built-in config ``name`` (with or without ``.yaml``), or ``None``."""
    stem = name.removesuffix(".yaml")
    return Path(str(CONFIGS / f"{stem}.yaml")) if stem in names() else None


def description(name: str) -> str:
    """What a config runs: its first comment line, up to the first ``:`` or ``;``."""
    lines = (CONFIGS / f"{name}.yaml").read_text().splitlines()
    first = lines[0] if lines else ""
    if not first.startswith("#"):
        return ""
    for separator in (": ", "; "):
        first = first.split(separator, 1)[0]
    return first.lstrip("#").strip().rstrip(".")


def example_files(name: str) -> list[str]:
    """The packaged example files config ``name`` reads, as the relative paths its text names."""
    text = (CONFIGS / f"{name}.yaml").read_text()
    root = Path(str(CONFIGS))
    return sorted(
        relative
        for path in (root / EXAMPLES).rglob("*")
        if path.is_file() and (relative := path.relative_to(root).as_posix()) in text
    )


def unknown_config_message(value: str, option: str = "--config ") -> str:
    """The one-line error for a ``--config`` value (or a ``configs NAME``) that names nothing."""
    return (
        f"{option}{value!r} is neither a file nor a built-in config; the built-in configs are: "
        f"{', '.join(names())} (`dann-lightning configs` says what each runs)"
    )
