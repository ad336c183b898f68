"""Deployment: predictions written to a file, and the model exported as TorchScript and ONNX."""

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from dann_lightning import DANNLitModule
from dann_lightning.callbacks import PredictionWriter
from dann_lightning.cli import build_cli, cli_main
from dann_lightning.errors import (
    ConfigurationError,
    DataError,
    MissingDependencyError,
    OutputDirectoryError,
)
from dann_lightning.export import export_model
from tests.conftest import make_datamodule, make_module, make_trainer

QUICK = ["--trainer.max_epochs=1", "--trainer.limit_val_batches=0", "--trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A checkpoint written by `dann-lightning fit` on the built-in moons, and its target test data."""
    root = tmp_path_factory.mktemp("fit")
    cli = build_cli(["fit", *QUICK, f"--trainer.default_root_dir={root}"])
    x_test, _ = cli.datamodule.target_test.tensors
    return {"root": root, "ckpt": Path(cli.trainer.checkpoint_callback.last_model_path), "x": x_test}


def module_logits(ckpt: Path, x: torch.Tensor) -> torch.Tensor:
    model = DANNLitModule.load_from_checkpoint(ckpt, map_location="cpu").eval()
    with torch.no_grad():
        return model(x)


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 deprecates torch.jit
        return torch.jit.load(str(path))


# ---------------------------------------------------------------------- predict


@pytest.mark.slow
def test_predict_writes_predictions_into_the_run_directory(run, tmp_path, capsys):
    cli = build_cli(["predict", f"--ckpt_path={run['ckpt']}", f"--trainer.default_root_dir={tmp_path}", *QUICK[2:]])
    path = Path(cli.trainer.log_dir) / "predictions.csv"
    assert f"predictions written to {path.resolve()}" in capsys.readouterr().out
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    assert path.read_text().splitlines()[0] == "index,prediction,prob_0,prob_1"
    logits = module_logits(run["ckpt"], run["x"])
    np.testing.assert_array_equal(table[:, 0], np.arange(len(run["x"])))  # one row per sample, in order
    np.testing.assert_array_equal(table[:, 1], logits.argmax(dim=1).numpy())
    np.testing.assert_allclose(table[:, 2:], torch.softmax(logits, dim=1).numpy(), atol=1e-7)
    assert (Path(cli.trainer.log_dir) / "config.yaml").is_file()  # next to the run's config


@pytest.mark.slow
def test_a_writer_in_the_config_replaces_the_default(run, tmp_path, capsys):
    target = tmp_path / "out" / "mine.npz"
    cli = build_cli(
        [
            "predict",
            f"--ckpt_path={run['ckpt']}",
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.callbacks+=dann_lightning.callbacks.PredictionWriter",
            f"--trainer.callbacks.path={target}",
            *QUICK[2:],
        ]
    )
    assert not (Path(cli.trainer.log_dir) / "predictions.csv").exists()
    assert f"predictions written to {target.resolve()}" in capsys.readouterr().out
    arrays = np.load(target)
    logits = module_logits(run["ckpt"], run["x"])
    np.testing.assert_allclose(arrays["logits"], logits.numpy(), rtol=0, atol=0)
    np.testing.assert_array_equal(arrays["prediction"], logits.argmax(dim=1).numpy())
    np.testing.assert_allclose(arrays["probabilities"].sum(axis=1), 1.0, atol=1e-6)


def test_prediction_writer_keeps_the_data_order_under_several_loaders(tmp_path):
    # A module built in Python, two predict loaders, rows indexed within each loader.
    model = make_module()
    data = make_datamodule()
    loaders = [data.predict_dataloader(), data.predict_dataloader()]
    writer = PredictionWriter(tmp_path / "p.csv")
    make_trainer(tmp_path, callbacks=[writer]).predict(model, loaders)
    table = np.loadtxt(writer.written, delimiter=",", skiprows=1)
    assert writer.written.read_text().splitlines()[0] == "dataloader,index,prediction,prob_0,prob_1"
    n = len(data.target_test)
    np.testing.assert_array_equal(table[:, 0], np.repeat([0, 1], n))
    np.testing.assert_array_equal(table[:, 1], np.tile(np.arange(n), 2))


def test_prediction_writer_rejects_a_bad_extension():
    with pytest.raises(ConfigurationError, match=r"path 'out.txt' must end in one of \.csv, \.npz"):
        PredictionWriter("out.txt")


def test_prediction_writer_rejects_outputs_that_are_not_logits(tmp_path):
    class Scalars(DANNLitModule):
        def predict_step(self, batch, batch_idx, dataloader_idx=0):
            return self(batch[0]).sum(dim=1)

    model = Scalars(
        **{name: getattr(make_module(), name) for name in ("feature_extractor", "classifier", "discriminator")},
        num_classes=2,
    )
    writer = PredictionWriter(tmp_path / "p.csv")
    with pytest.raises(DataError, match=r"class logits of shape \(batch, num_classes\); got shape \(16,\)"):
        make_trainer(tmp_path, callbacks=[writer]).predict(model, make_datamodule())
    assert not (tmp_path / "p.csv").exists()


def test_unwritable_prediction_path_is_named_before_predicting(tmp_path):
    (tmp_path / "a_file").write_text("")
    writer = PredictionWriter(tmp_path / "a_file" / "p.csv")
    with pytest.raises(OutputDirectoryError, match=r"PredictionWriter cannot write to .*a_file"):
        make_trainer(tmp_path, callbacks=[writer]).predict(make_module(), make_datamodule())


# ---------------------------------------------------------------------- export


def test_exported_torchscript_gives_the_module_logits(run, tmp_path, capsys):
    cli_main(["export", f"--ckpt_path={run['ckpt']}", "--out", str(tmp_path / "deploy"), "--format", "torchscript"])
    out = capsys.readouterr().out
    assert f"torchscript: {(tmp_path / 'deploy' / 'model.torchscript.pt').resolve()}" in out
    deployed = load_torchscript(tmp_path / "deploy" / "model.torchscript.pt")
    logits = module_logits(run["ckpt"], run["x"])
    for rows in (slice(0, 3), slice(None)):  # another batch size than the one traced
        torch.testing.assert_close(deployed(run["x"][rows]), logits[rows], rtol=0, atol=1e-6)
    assert not any("discriminator" in name for name, _ in deployed.named_parameters())

    metadata = json.loads((tmp_path / "deploy" / "export.json").read_text())
    assert metadata["input_shape"] == [2] and metadata["num_classes"] == 2
    scaler = torch.load(run["ckpt"], weights_only=True)["MoonsDataModule"]["scaler"]
    np.testing.assert_allclose(metadata["input_standardization"]["mean"], scaler["mean"].numpy())


def test_exported_onnx_gives_the_module_logits(run, tmp_path):
    for package in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(package, reason=f"optional: ONNX export and its check need {package}")
    import onnxruntime

    cli_main(["export", f"--ckpt_path={run['ckpt']}", "--out", str(tmp_path), "--format", "onnx", "torchscript"])
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    logits = module_logits(run["ckpt"], run["x"])
    for rows in (slice(0, 3), slice(None)):
        (onnx_logits,) = session.run(["logits"], {"input": run["x"][rows].numpy()})
        np.testing.assert_allclose(onnx_logits, logits[rows].numpy(), rtol=1e-5, atol=1e-5)


def test_export_says_which_onnx_packages_are_missing(run, tmp_path, monkeypatch):
    # As if onnx were installed and onnxscript, which torch's exporter also needs, were not.
    installed = {"onnx": object(), "onnxscript": None}
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: installed.get(name, real_find_spec(name, *a)))
    with pytest.raises(MissingDependencyError, match=r"needs the package\(s\) onnxscript.*pip install onnx onnxscript"):
        export_model(make_module(), tmp_path, input_shape=(2,), formats=["onnx"])
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_export_input_shape_option_and_python_models(tmp_path):
    model = make_module(in_features=5, num_classes=3)
    model.train()
    written = export_model(model, tmp_path, input_shape=(5,))
    assert model.training  # the caller's model is left as it was
    x = torch.randn(7, 5)
    with torch.no_grad():
        expected = model.eval()(x)
    torch.testing.assert_close(load_torchscript(written["torchscript"])(x), expected, rtol=0, atol=1e-6)


def test_networks_compiled_in_place_export_as_plain_modules_with_their_weights(tmp_path):
    # DANNLitModule(compile=...) compiles each network in place (nn.Module.compile), which
    # torch.jit.trace cannot enter: the export traces uncompiled copies of them.
    model = make_module(in_features=3).eval()
    x = torch.randn(6, 3)
    with torch.no_grad():
        expected = model(x)
    for network in (model.feature_extractor, model.classifier):
        network.compile(backend="eager")
    written = export_model(model, tmp_path, input_shape=(3,))
    deployed = load_torchscript(written["torchscript"])
    torch.testing.assert_close(deployed(x), expected, rtol=0, atol=1e-6)
    with torch.no_grad():
        deployed.classifier.bias.add_(1.0)  # the file computes with its own parameters
    torch.testing.assert_close(deployed(x), expected + 1.0, rtol=0, atol=1e-6)


def test_export_of_a_checkpoint_without_configuration_is_explained(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=1, limit_val_batches=0)
    trainer.fit(make_module(), make_datamodule())
    trainer.save_checkpoint(tmp_path / "python.ckpt")
    with pytest.raises(SystemExit, match=r"was not written by `dann-lightning fit`.*export_model\(model, out_dir"):
        cli_main(["export", "--ckpt_path", str(tmp_path / "python.ckpt"), "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match=r"missing.ckpt does not exist"):
        cli_main(["export", "--ckpt_path", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "out")])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"formats": ["savedmodel"]}, "unknown export format 'savedmodel'; valid: 'torchscript', 'onnx'"),
        ({"formats": []}, "no export format given"),
        ({"input_shape": (0,)}, r"input_shape\[0\] must be an integer >= 1, got 0"),
        ({"input_shape": ()}, "input_shape must be one or more positive integers"),
    ],
)
def test_bad_export_options_are_named(tmp_path, options, message):
    options.setdefault("input_shape", (2,))
    with pytest.raises(ConfigurationError, match=message):
        export_model(make_module(), tmp_path, **options)
