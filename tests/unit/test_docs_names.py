"""Every name the README and docs/ show as code exists in the code: classes, options, criteria, configs,
subcommands, command-line options, files and scripts (issue 27: pages that name what the code lacks).

Names are resolved against the package itself (every module's public objects, their parameters and
attributes, the string values its ``Literal`` types and registries accept), the configs in ``configs/``,
the command line's subcommands, and the Trainer's own parameters. The few Lightning, torch and
scikit-learn names the pages use bare are listed in ``OUTSIDE`` with the import that proves them.
Spans of other shapes (numbers, formulas, shapes, file contents) are not checked.
"""

import ast
import contextlib
import importlib
import importlib.util
import inspect
import pkgutil
import re
import typing
from functools import cache
from pathlib import Path

import lightning as L
import pytest
import yaml

import dann_lightning
from dann_lightning import builtin_configs
from dann_lightning.cli import DESCRIPTIONS
from dann_lightning.selection import SCORE_SPECS
from tests.conftest import REPO
from tests.test_readme import resolve as resolve_name

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]  # docs/api/ renders the code itself

# Names of other libraries the pages use bare, each with where it lives (checked by import below).
OUTSIDE = {
    "LightningModule": "lightning.LightningModule",
    "LightningDataModule": "lightning.LightningDataModule",
    "Trainer": "lightning.Trainer",
    "LightningCLI": "lightning.pytorch.cli.LightningCLI",
    "ModelCheckpoint": "lightning.pytorch.callbacks.ModelCheckpoint",
    "EarlyStopping": "lightning.pytorch.callbacks.EarlyStopping",
    "TensorBoardLogger": "lightning.pytorch.loggers.TensorBoardLogger",
    "CSVLogger": "lightning.pytorch.loggers.CSVLogger",
    "MLFlowLogger": "lightning.pytorch.loggers.MLFlowLogger",
    "WandbLogger": "lightning.pytorch.loggers.WandbLogger",
    "TensorDataset": "torch.utils.data.TensorDataset",
    "BatchNorm": "torch.nn.BatchNorm1d",  # the family, named as such
    "Pipeline": "sklearn.pipeline.Pipeline",
    "DataFrame": "pandas.DataFrame",
    "load_digits": "sklearn.datasets.load_digits",
    "make_moons": "sklearn.datasets.make_moons",
    "make_classification": "sklearn.datasets.make_classification",
    "check_estimator": "sklearn.utils.estimator_checks.check_estimator",
    "clone": "sklearn.base.clone",
    "get_params": "sklearn.base.BaseEstimator.get_params",
    "set_params": "sklearn.base.BaseEstimator.set_params",
}
OUTSIDE_ROOTS = ("torch", "lightning", "sklearn", "numpy", "onnxruntime", "json")
ALIASES = {"np": "numpy", "nn": "torch.nn", "L": "lightning"}  # as the pages' examples import them
# Distributions a page tells the user to install; not importable here, and not names of the code.
DISTRIBUTIONS = {"torchvision", "pyarrow", "mlflow", "wandb", "onnx", "onnxruntime", "onnxscript", "pandas"}
# Parameters of other libraries' functions the pages name, with the function that has them.
OUTSIDE_PARAMETERS = {"weights_only": "torch.load"}
# Symbols the pages define in their own formulas.
FORMULA_SYMBOLS = {"lr_0", "lambda_p", "acc"}
FILE_SUFFIXES = (".pt", ".pt2", ".ckpt", ".csv", ".json", ".onnx", ".yaml", ".png", ".md", ".npz", ".py", ".txt")
# LightningCLI's and argparse's own options, which no code of this package defines.
CLI_OWN_OPTIONS = {"--config", "--ckpt_path", "--print_config", "--help", "--version", "-c"}


def resolve(dotted: str):
    """The object a dotted name names, the pages' import aliases (``np.``, ``nn.``) expanded."""
    head, _, rest = dotted.partition(".")
    return resolve_name(ALIASES.get(head, head) + (f".{rest}" if rest else ""))


def parameters(obj) -> set[str]:
    try:
        return set(inspect.signature(obj).parameters) - {"self", "args", "kwargs"}
    except (TypeError, ValueError):
        return set()


def literal_values(annotation) -> set[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return {value for value in typing.get_args(annotation) if isinstance(value, str)}
    return {value for arg in typing.get_args(annotation) for value in literal_values(arg)}


@cache
def package() -> dict[str, set[str]]:
    """What the package names: objects, parameters, attributes, accepted strings, and each parameter's choices."""
    names, params, strings, choices, objects = set(), set(), set(), {}, {}
    modules = [dann_lightning]
    for info in pkgutil.walk_packages(dann_lightning.__path__, "dann_lightning."):
        modules.append(importlib.import_module(info.name))
    for module in modules:
        names.update(module.__name__.split("."))
        source = Path(module.__file__).read_text()
        tree = ast.parse(source)
        strings.update(node.value for node in ast.walk(tree) if isinstance(node, ast.Constant))
        names.update(node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute))  # fitted `scaler_`
        for name, value in vars(module).items():
            if name.startswith("__"):
                continue
            names.add(name)
            objects.setdefault(name, value)
            strings.update(literal_values(value))
            if getattr(value, "__module__", "").startswith("dann_lightning") and callable(value):
                params.update(parameters(value))
                names.update(attribute for attribute in dir(value) if not attribute.startswith("_"))
                hints = {}
                with contextlib.suppress(Exception):  # a hint naming what only type checkers import: no choices
                    hints = typing.get_type_hints(value.__init__ if inspect.isclass(value) else value)
                for parameter, hint in hints.items():
                    if literal_values(hint):
                        choices.setdefault(parameter, set()).update(literal_values(hint))
    for stock in (L.Trainer, L.LightningModule, L.LightningDataModule):
        names.update(attribute for attribute in dir(stock) if not attribute.startswith("_"))
    import builtins

    import numpy

    names.update(dir(builtins), dir(numpy), DISTRIBUTIONS, FORMULA_SYMBOLS)
    names.update(re.findall(r'"(\w+):', (REPO / "pyproject.toml").read_text()))  # the test markers
    params.update(name for name, where in OUTSIDE_PARAMETERS.items() if name in parameters(resolve(where)))
    trainer = parameters(L.Trainer)
    strings = {value for value in strings if isinstance(value, str)}
    return {
        "names": names,
        "params": params,
        "trainer": trainer,
        "strings": strings,
        "choices": choices,
        "objects": objects,
    }


@cache
def config_keys() -> set[str]:
    keys = set()

    def walk(node):
        if isinstance(node, dict):
            keys.update(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (REPO / "configs").glob("*.yaml"):
        walk(yaml.safe_load(path.read_text()))
    return keys


def known_word(word: str) -> bool:
    found = package()
    return (
        word in found["names"]
        or word in found["params"]
        or word in found["trainer"]
        or word in found["strings"]
        or word in config_keys()
        or word in builtin_configs.names()
        or word in OUTSIDE
    )


def check_option(option: str) -> str | None:
    """``--trainer.X``, ``--model.init_args.X``, ``--data.init_args.[options.]X`` or a subcommand's own option."""
    name = option.split("=")[0].rstrip("+")
    if name in CLI_OWN_OPTIONS or placeholder(name.split(".")[-1]):
        return None
    parts = name.lstrip("-").split(".")
    if parts[0] == "trainer":
        return None if parts[1] in package()["trainer"] else f"{option}: the Trainer has no {parts[1]!r}"
    if parts[0] in ("model", "data"):
        last = parts[-1]
        return None if known_word(last) else f"{option}: no parameter {last!r} in the package"
    sources = "".join(
        path.read_text() for folder in ("dann_lightning", "scripts") for path in (REPO / folder).rglob("*.py")
    )
    return None if f'"{name}"' in sources else f"{option}: no command-line option {name!r}"


def check_command(words: list[str]) -> list[str]:
    problems = []
    if len(words) > 1 and not words[1].startswith("-") and not placeholder(words[1]) and words[1] not in DESCRIPTIONS:
        problems.append(f"dann-lightning has no subcommand {words[1]!r}")
    for index, word in enumerate(words):
        if word.startswith("-") and not word.startswith("-m"):
            problems += [problem for problem in [check_option(word)] if problem]
        if word in ("--config", "-c") and index + 1 < len(words):
            config = words[index + 1]
            is_file = (REPO / config).is_file() or config.startswith("my_")  # the pages' own examples
            copied = config.removesuffix(".yaml") in builtin_configs.names()  # `dann-lightning configs NAME --out .`
            if not is_file and config not in builtin_configs.names() and not copied:
                problems.append(f"--config {config}: no built-in config of that name")
    return problems


def check_path(span: str) -> list[str]:
    path = span.split()[0]
    if "<" in path:  # a pattern the page spells out in words
        return []
    if "*" in path:
        return [] if list(REPO.glob(path)) else [f"{span}: no file in the repository matches"]
    return [] if (REPO / path).exists() else [f"{span}: no such file in the repository"]


def placeholder(word: str) -> bool:
    """A word the page stands in for a value of yours (``DIR``, ``NAME``, ``s``), not a name of the code."""
    return len(word) <= 2 or word in {"DIR", "NAME", "VALUE", "PATH", "METRIC", "FILE", "ROOT", "SUBCOMMAND", "WHY"}


def check_name(name: str) -> list[str]:
    if name.endswith(FILE_SUFFIXES) or placeholder(name.split(".")[-1]):
        return []
    root = name.split(".")[0]
    if root in DISTRIBUTIONS and importlib.util.find_spec(root) is None:
        return []  # an optional extra this environment lacks (CI's lowest has no onnxruntime)
    if root in ("dann_lightning", *OUTSIDE_ROOTS, *ALIASES):
        try:
            resolve(name)
        except (ImportError, AttributeError):
            return [f"{name}: nothing of that name"]
        return []
    last = name.split(".")[-1]
    return [] if known_word(last) else [f"{name}: the package has no {last!r}"]


def check_assignment(name: str, value: str) -> list[str]:
    if not known_word(name):
        return [f"{name}: no parameter or config key of that name"]
    value = value.strip().strip("\"'")
    if placeholder(value):
        return []
    allowed = package()["choices"].get(name)
    if allowed and re.fullmatch(r"[A-Za-z_][\w-]*", value) and value not in allowed | {"None", "null", "true", "false"}:
        return [f"{name}={value!r}: {name} takes one of {sorted(allowed)}"]
    return []


def check_span(span: str) -> list[str]:
    """The problems of one backticked span; [] for a name the code has, or a span of a shape not checked."""
    span = span.strip()
    if span.split()[0] == "dann-lightning":  # not "dann-lightning: error: ...", a message
        return check_command(span.split())
    if span.startswith("python scripts/") or re.match(
        r"(configs|examples|scripts|tests|docs|dann_lightning|\.ci)/\S+$", span
    ):
        return check_path(span.removeprefix("python "))
    if re.fullmatch(r"--[\w.+-]+(=\S+)?", span) and not placeholder(span.split("=")[0].split(".")[-1]):
        return [problem for problem in [check_option(span)] if problem]
    if metric := re.fullmatch(r"val/(\w+)", span):
        score = metric.group(1)
        composed = re.search(r"source|target|domain|pad|auto|embedding", score)
        return [] if composed or score in SCORE_SPECS else [f"{span}: no selection score {score!r}"]
    if call := re.fullmatch(r"([A-Za-z_][\w.]*)\((.*)\)", span):
        problems = check_name(call.group(1))
        callee = package()["objects"].get(call.group(1).split(".")[-1])
        takes = parameters(callee) if callable(callee) else set()
        open_ended = callable(callee) and any(
            parameter.kind is inspect.Parameter.VAR_KEYWORD
            for parameter in inspect.signature(callee).parameters.values()
        )
        for keyword, value in re.findall(r"(\w+)=([^,()]+)", call.group(2)):
            if takes and not open_ended and keyword not in takes:
                problems.append(f"{span}: {call.group(1)} takes no {keyword!r}")
            problems += check_assignment(keyword, value)
        return problems
    if assignment := re.fullmatch(r"([a-z_][a-z0-9_]*)(?:=|: )([^\s,]+)", span):
        return check_assignment(*assignment.groups())
    if re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", span):
        return check_name(span)
    return []


def spans(path: Path) -> list[str]:
    text = path.read_text()
    commands = [
        line.strip()
        for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)
        for line in block.replace("\\\n", " ").splitlines()
        if line.strip().startswith("dann-lightning")
    ]
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    inline = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]  # a span may break a line
    return inline + [line.split("#")[0] for line in commands]


@pytest.mark.parametrize("path", PAGES, ids=lambda path: str(path.relative_to(REPO)))
def test_every_name_a_page_shows_as_code_exists(path):
    problems = sorted({problem for span in spans(path) for problem in check_span(span)})
    assert not problems, f"{path.name} names what the code does not have:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "span",
    [
        "lambda_criterion=neg_entropy",
        "neg_dev",
        'feature_pass="separat"',
        "python scripts/nope.py",
        "val/neg_dev",
        "DANNLitModel",
        "dann-lightning fitt",
        "dann-lightning fit --config digts",
        "--model.init_args.lambda_maxx=1",
        "--trainer.max_epoch=3",
        "configs/moon.yaml",
        "dann_lightning.nets.MLPP",
        "optimization: automagic",
        "TabularDataModule(labels='y')",
    ],
)
def test_a_name_the_code_lacks_is_found(span):
    assert check_span(span), f"{span!r} passed, but the code has no such name"


@pytest.mark.parametrize("name", sorted(OUTSIDE))
def test_the_outside_names_exist_where_the_list_says(name):
    pytest.importorskip(OUTSIDE[name].split(".")[0])
    assert resolve(OUTSIDE[name]) is not None
