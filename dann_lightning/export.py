"""`dann-lightning export`: the deployable model, feature extractor + classifier, as TorchScript and ONNX.

The discriminator and the gradient reversal layer are training machinery and are left out: the
exported model maps a batch of inputs, as the data module serves them, to class logits.

    dann-lightning export --ckpt_path lightning_logs/version_0/checkpoints/last.ckpt --out deploy/
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from torch import Tensor, nn

from dann_lightning.batch import unpack_evaluation_batch
from dann_lightning.checkpoints import check_checkpoint_file, load_datamodule
from dann_lightning.checks import check_choice, check_int, choices_of
from dann_lightning.data.transforms import Standardizer
from dann_lightning.errors import CheckpointError, ConfigurationError, DataError, MissingDependencyError

ExportFormat = Literal["torchscript", "onnx"]
EXPORT_FORMATS = choices_of(ExportFormat)
FILE_NAMES = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx"}
METADATA_FILE = "export.json"
_ONNX_PACKAGES = "pip install onnx onnxscript"


class DeployedClassifier(nn.Module):
    """Feature extractor then classifier: the part of a DANN that runs after training.

    Args:
        feature_extractor: maps inputs to features.
        classifier: maps features to class logits.
    """

    def __init__(self, feature_extractor: nn.Module, classifier: nn.Module) -> None:
        super().__init__()
        self.feature_extractor = feature_extractor
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.feature_extractor(x))


def deployed_classifier(model: nn.Module) -> DeployedClassifier:
    """A copy of ``model``'s feature extractor and classifier, on the CPU, in eval mode.

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
    # leaves the compiled call out when it is copied or pickled (tests/test_export.py checks).
    deployed = DeployedClassifier(copy.deepcopy(model.feature_extractor), copy.deepcopy(model.classifier))
    return deployed.cpu().eval()


def export_model(
    model: nn.Module,
    out_dir: str | Path,
    *,
    example_input: Tensor | None = None,
    input_shape: Sequence[int] | None = None,
    formats: Sequence[ExportFormat] = ("torchscript",),
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``model``'s feature extractor + classifier in each of ``formats`` to ``out_dir``.

    The batch dimension stays free: the files take any number of rows. ``out_dir`` also receives
    ``export.json``: the per-sample input shape, the number of classes and the files' names.

    Args:
        model: a trained [`DANNLitModule`][dann_lightning.DANNLitModule] (or any module with
            ``feature_extractor`` and ``classifier``).
        out_dir: folder to write to (created if missing).
        example_input: a batch the model takes, to trace with; or give ``input_shape``.
        input_shape: shape of one sample, without the batch dimension (e.g. ``(2,)`` or ``(3, 28, 28)``).
        formats: ``"torchscript"`` (``model.torchscript.pt``, for ``torch.jit.load``) and/or ``"onnx"``
            (``model.onnx``, input ``"input"``, output ``"logits"``; needs the ``onnx`` and
            ``onnxscript`` packages).
        metadata: more entries for ``export.json`` (e.g. the input standardisation).

    Returns:
        The written file of each format.

    Example:
        >>> import tempfile
        >>> from dann_lightning.nets import MLP
        >>> model = DeployedClassifier(MLP(2, [8], activation="tanh"), nn.Linear(8, 3))
        >>> with tempfile.TemporaryDirectory() as out:
        ...     path = export_model(model, out, input_shape=(2,))["torchscript"]
        ...     torch.jit.load(path)(torch.zeros(5, 2)).shape
        torch.Size([5, 3])
    """
    formats = list(dict.fromkeys(formats))
    for name in formats:
        check_choice("export format", name, ExportFormat)
    if not formats:
        raise ConfigurationError(f"no export format given; valid: {', '.join(EXPORT_FORMATS)}")
    if "onnx" in formats:
        require_onnx()
    deployed = deployed_classifier(model)
    example = _example_batch(example_input, input_shape)
    with torch.no_grad():
        logits = deployed(example)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in formats:
        path = out / FILE_NAMES[name]
        (_export_torchscript if name == "torchscript" else _export_onnx)(deployed, example, path)
        written[name] = path
    metadata = {
        "input_shape": list(example.shape[1:]),
        "input_dtype": str(example.dtype).removeprefix("torch."),
        "num_classes": int(logits.shape[1]) if logits.ndim == 2 else None,
        "files": {name: path.name for name, path in written.items()},
        "onnx_input": "input",
        "onnx_output": "logits",
        **(metadata or {}),
    }
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
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


def load_for_export(
    ckpt_path: str | Path, input_shape: Sequence[int] | None = None
) -> tuple[L.LightningModule, Tensor, dict[str, Any]]:
    """The model of a checkpoint written by ``dann-lightning fit``, a batch to trace it with, and what
    a deployment must know about its inputs.

    Without ``input_shape`` the batch is the first of the checkpoint's data module's predict data
    (rebuilt from the configuration the CLI stores in the checkpoint). When that data module
    standardises its inputs (``scaler``), the returned dict holds the statistics under
    ``"input_standardization"``: the exported model expects ``(x - mean) / std``.
    """
    path = check_checkpoint_file(ckpt_path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if "_instantiator" not in checkpoint.get("hyper_parameters", {}):
        raise CheckpointError(
            f"{path} does not hold the model configuration (it was not written by `dann-lightning fit`); "
            "load the model in Python and call dann_lightning.export.export_model(model, out_dir, input_shape=...)"
        )
    model = L.LightningModule.load_from_checkpoint(path, map_location="cpu")
    datamodule = None
    if "_instantiator" in checkpoint.get("datamodule_hyper_parameters", {}):
        datamodule = load_datamodule(path)
    facts = _input_standardization(datamodule)
    if input_shape is not None:
        return model, _example_batch(None, input_shape), facts
    if datamodule is None:
        raise CheckpointError(
            f"{path} does not hold a data module configuration to take the input shape from; pass --input-shape"
        )
    try:
        datamodule.setup("predict")
        batch = next(iter(datamodule.predict_dataloader()))
    except (DataError, StopIteration) as error:
        raise DataError(
            f"the data module of {path} ({type(datamodule).__name__}) serves no predict data to take the input "
            f"shape from ({error or 'no batch'}); pass --input-shape"
        ) from error
    x, _ = unpack_evaluation_batch(batch)
    return model, _example_batch(x, None), facts


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
        help="default: torchscript, and onnx when the onnx and onnxscript packages are installed",
    )
    parser.add_argument(
        "--input-shape",
        "--input_shape",
        nargs="+",
        type=int,
        default=None,
        metavar="N",
        help="shape of one sample without the batch dimension (default: from the checkpoint's data module)",
    )
    args = parser.parse_args(argv)
    if args.format is not None and "onnx" in args.format:
        require_onnx()  # before loading anything
    model, example, facts = load_for_export(args.ckpt_path, args.input_shape)
    formats = args.format
    if formats is None:
        formats = ["torchscript", "onnx"] if onnx_available() else ["torchscript"]
        if "onnx" not in formats:
            print(f"ONNX skipped: the onnx and onnxscript packages are not installed ({_ONNX_PACKAGES})")
    written = export_model(model, args.out, example_input=example, formats=formats, metadata=facts)
    for name, path in written.items():
        print(f"{name}: {path.resolve()}")
    print(f"input shape, classes and preprocessing: {(Path(args.out) / METADATA_FILE).resolve()}")
    return written


def _input_standardization(datamodule: L.LightningDataModule | None) -> dict[str, Any]:
    scaler = getattr(datamodule, "scaler", None)
    if not isinstance(scaler, Standardizer) or scaler.mean is None or scaler.std is None:
        return {}
    return {
        "input_standardization": {
            "mean": scaler.mean.tolist(),
            "std": scaler.std.tolist(),
            "note": "the model expects (x - mean) / std, with the source training split's statistics",
        }
    }


def _example_batch(example_input: Tensor | None, input_shape: Sequence[int] | None) -> Tensor:
    if (example_input is None) == (input_shape is None):
        raise ConfigurationError("give exactly one of example_input (a batch) and input_shape (one sample's shape)")
    if input_shape is not None:
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
    # A batch of one would let the ONNX exporter fix the batch size to 1.
    return example if len(example) > 1 else example.repeat(2, *([1] * (example.ndim - 1)))


def _export_torchscript(model: nn.Module, example: Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        # torch >= 2.10 marks torch.jit deprecated in favour of torch.export; TorchScript remains
        # what libtorch (C++) and many serving stacks load.
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit.*")
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(path))


def _export_onnx(model: nn.Module, example: Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch")
    # One self-contained file, unless the weights pass protobuf's 2 GB limit: then a .data file beside it.
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    try:
        torch.onnx.export(
            model,
            (example,),
            str(path),
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes=({0: batch},),
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
