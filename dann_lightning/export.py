"""`dann-lightning export`: the deployable model, preprocessing + feature extractor + classifier, as a
``torch.export`` program (``.pt2``) and ONNX.

The discriminator and the gradient reversal layer are training machinery and are left out. The
data module's source-fitted standardisation is folded in
(see [`dann_lightning.preprocessing`][dann_lightning.preprocessing]): the exported model maps a
batch of *raw* inputs (feature rows as the files hold them, images before their per-channel
normalisation) to class logits, and ``export.json`` says what raw means, the feature and class
names, and the statistics folded in.

    dann-lightning export --ckpt_path lightning_logs/version_0/checkpoints/last.ckpt --out deploy/
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import importlib.util
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from torch import Tensor, nn

from dann_lightning.checkpoints import load_run
from dann_lightning.checks import check_choice, check_int, choices_of
from dann_lightning.data.contract import data_providing
from dann_lightning.errors import CheckpointError, ConfigurationError, DataError, MissingDependencyError
from dann_lightning.preprocessing import ModelInputs, Standardize, Unstandardize

ExportFormat = Literal["pt2", "onnx", "torchscript"]
"""``"pt2"``: ``torch.export`` (``model.pt2``); ``"onnx"``: ONNX (``model.onnx``); ``"torchscript"``: legacy."""
EXPORT_FORMATS = choices_of(ExportFormat)
FILE_NAMES = {"pt2": "model.pt2", "onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
METADATA_FILE = "export.json"
INPUT_NAME, OUTPUT_NAME = "input", "logits"
_ONNX_PACKAGES = 'pip install "dann_lightning[onnx]" (or: pip install onnx onnxscript onnxruntime)'


class DeployedClassifier(nn.Module):
    """Preprocessing, feature extractor, classifier: the part of a DANN that runs after training.

    Args:
        feature_extractor: maps inputs to features.
        classifier: maps features to class logits.
        preprocessing: applied to the raw inputs first (e.g. a
            [`Standardize`][dann_lightning.preprocessing.Standardize]); ``None``: the inputs go to the
            feature extractor as they are.
        postprocessing: applied to the classifier's outputs (a regressor's
            [`Unstandardize`][dann_lightning.preprocessing.Unstandardize]); ``None``: none.
    """

    def __init__(
        self,
        feature_extractor: nn.Module,
        classifier: nn.Module,
        preprocessing: nn.Module | None = None,
        postprocessing: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.preprocessing = preprocessing if preprocessing is not None else nn.Identity()
        self.feature_extractor = feature_extractor
        self.classifier = classifier
        self.postprocessing = postprocessing if postprocessing is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.postprocessing(self.classifier(self.feature_extractor(self.preprocessing(x))))


def deployed_classifier(
    model: nn.Module, preprocessing: nn.Module | None = None, postprocessing: nn.Module | None = None
) -> DeployedClassifier:
    """A copy of ``model``'s feature extractor and classifier, after ``preprocessing``, on the CPU, in eval mode.

    ``model`` (a [`DANNLitModule`][dann_lightning.DANNLitModule] or anything with ``feature_extractor`` and
    ``classifier``) is left as it was.
    """
    missing = [
        name for name in ("feature_extractor", "classifier") if not isinstance(getattr(model, name, None), nn.Module)
    ]
    if missing:
        raise ConfigurationError(
            f"export needs a model with feature_extractor and classifier modules (a DANNLitModule); "
            f"{type(model).__name__} lacks {', '.join(missing)}"
        )
    # A network compiled in place (nn.Module.compile(), as DANNLitModule(compile=...) does) runs
    # torch.compile, which tracing cannot enter; its copies are plain modules, because nn.Module
    # leaves the compiled call out when it is copied or pickled (tests/unit/test_export.py checks).
    # A model may deploy other networks than its own (lambda_keep="combination": the weighted candidates).
    networks = (
        model.deployed_networks()
        if hasattr(model, "deployed_networks")
        else (model.feature_extractor, model.classifier)
    )
    deployed = DeployedClassifier(
        copy.deepcopy(networks[0]),
        copy.deepcopy(networks[1]),
        copy.deepcopy(preprocessing),
        copy.deepcopy(postprocessing),
    )
    return deployed.cpu().eval()


def default_formats() -> list[ExportFormat]:
    """``pt2``, and ``onnx`` when its packages are installed.

    ``torch.export`` is PyTorch's supported way to save a model as a graph (TorchScript is deprecated
    since torch 2.10): the file loads with ``torch.export.load`` and no model code, and AOTInductor
    compiles it for C++ serving. ONNX serves without torch at all (ONNX Runtime, in any language).
    TorchScript stays an opt-in for stacks that still load it (libtorch before torch.export).
    """
    return ["pt2", "onnx"] if onnx_available() else ["pt2"]


def export_model(
    model: nn.Module,
    out_dir: str | Path,
    *,
    datamodule: L.LightningDataModule | None = None,
    input_shape: Sequence[int] | None = None,
    example_input: Tensor | None = None,
    preprocessing: nn.Module | None = None,
    postprocessing: nn.Module | None = None,
    class_names: Sequence[str] | None = None,
    formats: Sequence[ExportFormat] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``model``'s preprocessing + feature extractor + classifier in each of ``formats`` to ``out_dir``.

    With ``datamodule`` (fitted, or restored from a checkpoint), its standardisation is folded in:
    the files take raw inputs. The input shape, feature and class names come from it too. The batch
    dimension stays free. ``out_dir`` also receives ``export.json`` (see the
    [deployment guide](../deployment.md)). Every file is written to a temporary folder first and
    moved in at the end: a failure leaves what ``out_dir`` held.

    Args:
        model: a trained [`DANNLitModule`][dann_lightning.DANNLitModule] (or any module with
            ``feature_extractor`` and ``classifier``).
        out_dir: folder to write to (created if missing).
        datamodule: the data module the model was trained on; its ``scaler`` is folded in.
        input_shape: shape of one raw sample, no batch dimension (e.g. ``(20,)`` or ``(3, 28, 28)``);
            default: from ``datamodule``, else from ``example_input`` or ``model.example_input_array``.
        example_input: a raw batch to trace with (default: random values of ``input_shape``).
        preprocessing: a module to put first, when there is no ``datamodule`` (e.g.
            [`Standardize`][dann_lightning.preprocessing.Standardize]).
        postprocessing: a module to put last, when there is no ``datamodule`` (a regressor's
            [`Unstandardize`][dann_lightning.preprocessing.Unstandardize]); with one, a regressor
            ends with the data module's ``unscale_targets``.
        class_names: the name of each class, in logit order (default: the data module's, else
            ``"0"``, ``"1"``, ...).
        formats: any of ``"pt2"`` (``model.pt2``: ``torch.export.load(path).module()``), ``"onnx"``
            (``model.onnx``, input ``"input"``, output ``"logits"``; needs ``pip install
            "dann_lightning[onnx]"``) and ``"torchscript"`` (legacy: ``model.torchscript.pt``, for
            ``torch.jit.load``); default: [`default_formats()`][dann_lightning.export.default_formats].
        metadata: more entries for ``export.json``.

    Returns:
        The written file of each format.

    Examples:
        >>> import tempfile
        >>> from dann_lightning.nets import MLP
        >>> model = DeployedClassifier(MLP(2, [8], activation="tanh"), nn.Linear(8, 3))
        >>> with tempfile.TemporaryDirectory() as out:
        ...     path = export_model(model, out, input_shape=(2,), formats=["pt2"])["pt2"]
        ...     torch.export.load(path).module()(torch.zeros(5, 2)).shape
        torch.Size([5, 3])
    """
    formats = default_formats() if formats is None else list(dict.fromkeys(formats))
    for name in formats:
        check_choice("export format", name, ExportFormat)
    if not formats:
        raise ConfigurationError(f"no export format given; valid: {', '.join(EXPORT_FORMATS)}")
    if "onnx" in formats:
        require_onnx()
    inputs = _inputs(model, datamodule, input_shape, example_input, preprocessing, postprocessing)
    regression = getattr(getattr(model, "task", None), "name", None) == "regression"
    if regression and datamodule is not None:  # the data module's label unscaling, if it scales labels
        postprocessing = inputs.postprocessing
    deployed = deployed_classifier(model, inputs.preprocessing, postprocessing)
    example = _example_batch(example_input, inputs.input_shape)
    with torch.no_grad():
        logits = deployed(example)
    if logits.ndim != 2:
        raise DataError(
            f"export expects class logits of shape (batch, num_classes) from the model; got shape {tuple(logits.shape)}"
        )
    num_classes = int(logits.shape[1])
    names = list(class_names) if class_names is not None else None if regression else inputs.class_names
    if names is not None and len(names) != num_classes:
        raise DataError(f"{len(names)} class names {names} for a model of {num_classes} classes (logits)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as staging:
        for name in formats:
            _WRITERS[name](deployed, example, Path(staging) / FILE_NAMES[name])
            written[name] = out / FILE_NAMES[name]
        description = {
            "input_shape": list(example.shape[1:]),
            "input_dtype": str(example.dtype).removeprefix("torch."),
            "input": inputs.description,
            "feature_names": inputs.feature_names,
            "class_names": [str(name) for name in names] if names else [str(i) for i in range(num_classes)],
            "num_classes": num_classes,
            "preprocessing": _describe(deployed.preprocessing),
            "outputs": "logits",
            "probabilities": "softmax of the logits over axis 1; class_names[argmax] is the predicted class",
            "files": {name: path.name for name, path in written.items()},
            "onnx_input": INPUT_NAME,
            "onnx_output": OUTPUT_NAME,
            **(metadata or {}),
        }
        if regression:  # numbers, not classes
            for key in ("class_names", "num_classes", "probabilities"):
                description.pop(key)
            description |= {
                "task": "regression",
                "num_outputs": num_classes,
                "outputs": "predicted numbers, one column per output, in the label's units",
                "postprocessing": _describe(deployed.postprocessing),
            }
        (Path(staging) / METADATA_FILE).write_text(json.dumps(description, indent=2) + "\n")
        for file in Path(staging).iterdir():  # ONNX weights past 2 GB come as a .data file beside
            os.replace(file, out / file.name)
    return written


def require_onnx() -> None:
    """Raise [`MissingDependencyError`][dann_lightning.errors.MissingDependencyError] unless ONNX export can run."""
    missing = [package for package in ("onnx", "onnxscript") if importlib.util.find_spec(package) is None]
    if missing:
        raise MissingDependencyError(
            f"ONNX export needs the package(s) {', '.join(missing)}, which are not installed "
            f"(torch's exporter uses onnx and onnxscript): {_ONNX_PACKAGES}"
        )


def onnx_available() -> bool:
    """Whether the packages ONNX export needs are importable."""
    try:
        require_onnx()
    except MissingDependencyError:
        return False
    return True


def load_for_export(ckpt_path: str | Path) -> tuple[L.LightningModule, L.LightningDataModule | None]:
    """The model and data module (``None`` if not stored) of a checkpoint written by ``dann-lightning fit``:
    ``dann_lightning.checkpoints.load_run``, which reads no training file."""
    return load_run(
        ckpt_path,
        needs_data=False,
        instead="load the model in Python and call dann_lightning.export.export_model(model, out_dir, datamodule=...)",
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Path]:
    """``dann-lightning export``: parse the command line, export, print what was written."""
    parser = argparse.ArgumentParser(prog="dann-lightning export", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ckpt_path", "--ckpt-path", required=True, help="a checkpoint written by `dann-lightning fit`"
    )
    parser.add_argument("--out", required=True, help="folder to write the exported model(s) and export.json to")
    parser.add_argument(
        "--format",
        nargs="+",
        choices=EXPORT_FORMATS,
        default=None,
        help="default: pt2, and onnx when the onnx and onnxscript packages are installed (torchscript: legacy)",
    )
    parser.add_argument(
        "--input-shape",
        "--input_shape",
        nargs="+",
        type=int,
        default=None,
        metavar="N",
        help="shape of one raw sample without the batch dimension (default: from the checkpoint's data module)",
    )
    args = parser.parse_args(argv)
    if args.format is not None and "onnx" in args.format:
        require_onnx()  # before loading anything
    formats = args.format
    if formats is None:
        formats = default_formats()
        if "onnx" not in formats:
            print(f"ONNX skipped: the onnx and onnxscript packages are not installed ({_ONNX_PACKAGES})")
    model, datamodule = load_for_export(args.ckpt_path)
    if datamodule is None and args.input_shape is None and getattr(model, "example_input_array", None) is None:
        raise CheckpointError(
            f"{args.ckpt_path} holds no data module configuration to take the input shape from: pass "
            "--input-shape (one sample's shape, e.g. --input-shape 20 or --input-shape 3 28 28)"
        )
    written = export_model(model, args.out, datamodule=datamodule, input_shape=args.input_shape, formats=formats)
    for name, path in written.items():
        print(f"{name}: {path.resolve()}")
    print(f"input shape, names, classes and preprocessing: {(Path(args.out) / METADATA_FILE).resolve()}")
    return written


def _inputs(
    model: nn.Module,
    datamodule: L.LightningDataModule | None,
    input_shape: Sequence[int] | None,
    example_input: Tensor | None,
    preprocessing: nn.Module | None,
    postprocessing: nn.Module | None = None,
) -> ModelInputs:
    if input_shape is not None and example_input is not None:
        raise ConfigurationError("give at most one of example_input (a batch) and input_shape (one sample's shape)")
    if isinstance(example_input, Tensor):
        input_shape = tuple(example_input.shape[1:])
    if datamodule is not None:
        for name, step in [("preprocessing", preprocessing), ("postprocessing", postprocessing)]:
            if step is not None:
                raise ConfigurationError(f"give {name} or datamodule, not both: the data module's scaling is folded in")
        data = data_providing("model_inputs (input shape, preprocessing, names)", datamodule, for_what="export")
        inputs = data.model_inputs(input_shape)
    else:
        description = "inputs as the model takes them" + (
            ", before the preprocessing folded in" if preprocessing is not None else " (no preprocessing folded in)"
        )
        inputs = ModelInputs(tuple(input_shape) if input_shape is not None else None, preprocessing, description)
    if inputs.input_shape is None and example_input is None:
        example = getattr(model, "example_input_array", None)
        if not isinstance(example, Tensor):
            raise ConfigurationError(
                "export needs one raw sample's shape: pass input_shape (CLI: --input-shape), e.g. (20,) or "
                f"(3, 28, 28){'' if datamodule is None else f'; {type(datamodule).__name__} does not give it'}"
            )
        inputs = dataclasses.replace(inputs, input_shape=tuple(example.shape[1:]))
    return inputs


def _describe(preprocessing: nn.Module) -> dict[str, Any] | None:
    if isinstance(preprocessing, nn.Identity):
        return None
    if isinstance(preprocessing, Standardize | Unstandardize):
        return preprocessing.describe()
    return {"kind": type(preprocessing).__name__, "folded_into_model": True}


def _example_batch(example_input: Tensor | None, input_shape: Sequence[int] | None) -> Tensor:
    if example_input is None:
        assert input_shape is not None
        shape = tuple(input_shape)
        if not shape:
            raise ConfigurationError(
                "input_shape must be one or more positive integers (one sample's shape, no batch dimension), got []"
            )
        for index, size in enumerate(shape):
            check_int(f"input_shape[{index}]", size, minimum=1)
        return torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
    if not isinstance(example_input, Tensor) or example_input.ndim < 2 or len(example_input) == 0:
        raise ConfigurationError(
            "example_input must be a non-empty batch tensor of shape (batch, ...), got "
            f"{tuple(example_input.shape) if isinstance(example_input, Tensor) else type(example_input).__name__}"
        )
    example = example_input.detach().cpu()[:4]
    # A batch of one would let the exporters fix the batch size to 1.
    return example if len(example) > 1 else example.repeat(2, *([1] * (example.ndim - 1)))


def _dynamic_batch() -> tuple[dict[int, Any]]:
    return ({0: torch.export.Dim("batch")},)


def _export_pt2(model: nn.Module, example: Tensor, path: Path) -> None:
    program = torch.export.export(model, (example,), dynamic_shapes=_dynamic_batch())
    torch.export.save(program, str(path))


def _export_torchscript(model: nn.Module, example: Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        # torch >= 2.10 marks torch.jit deprecated in favour of torch.export; kept for libtorch users.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit.*")
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(path))


@contextmanager
def _quiet_onnx_registry() -> Iterator[None]:
    # The exporter logs a warning per torchvision operator it cannot register: noise here.
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry.level
    registry.setLevel(logging.ERROR)
    try:
        yield
    finally:
        registry.setLevel(level)


def _export_onnx(model: nn.Module, example: Tensor, path: Path) -> None:
    # One self-contained file, unless the weights pass protobuf's 2 GB limit: then a .data file beside it.
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    try:
        with _quiet_onnx_registry():
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=_dynamic_batch(),
                dynamo=True,
                external_data=weight_bytes > 2**31 - 2**28,
                verbose=False,
            )
    except ImportError as error:
        raise MissingDependencyError(
            f"torch's ONNX exporter needs the package {error.name or error}, which is not installed: "
            f"{_ONNX_PACKAGES} (and any package named here)"
        ) from error
    except Exception as error:
        if isinstance(error.__cause__, ImportError):
            raise MissingDependencyError(
                f"torch's ONNX exporter needs a package that is not installed ({error.__cause__}): {_ONNX_PACKAGES}"
            ) from error
        raise


_WRITERS = {"pt2": _export_pt2, "onnx": _export_onnx, "torchscript": _export_torchscript}
