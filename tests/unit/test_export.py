"""Deployment: predictions written to a file; the export API and command line (formats, errors).

The exported models on raw inputs, against the module and ONNX Runtime: tests/unit/test_export_raw_inputs.py.
"""

import dataclasses
import importlib.util
import json
import re
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from dann_lightning import CDANLitModule, DANNLitModule
from dann_lightning.callbacks import PredictionWriter
from dann_lightning.checkpoints import load_run
from dann_lightning.cli import build_cli, cli_main
from dann_lightning.data import MoonsDataModule, ShiftDataModule, make_moons_shift
from dann_lightning.errors import (
    CheckpointError,
    ConfigurationError,
    DataError,
    MissingDependencyError,
    OutputDirectoryError,
)
from dann_lightning.export import EXPORT_FORMATS, export_model, load_for_export
from dann_lightning.preprocessing import Standardize, Unstandardize
from tests.conftest import REPO, make_datamodule, make_module, make_trainer, tiny_networks

QUICK = ["--trainer.max_epochs=1", "--trainer.limit_val_batches=0", "--trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A checkpoint written by `dann-lightning fit` on the built-in moons, and its target test data."""
    root = tmp_path_factory.mktemp("fit")
    cli = build_cli(["fit", *QUICK, f"--trainer.default_root_dir={root}"])
    x_test, _ = cli.datamodule.target_test.tensors
    data = cli.datamodule
    assert type(data) is ShiftDataModule and data.shift == "moons"  # what configs/moons.yaml names
    raw = make_moons_shift(**data.options, seed=data.seed).target_test[0]
    ckpt = Path(cli.trainer.checkpoint_callback.last_model_path)
    return {"root": root, "ckpt": ckpt, "x": x_test, "raw": torch.as_tensor(raw, dtype=torch.float32)}


def module_logits(ckpt: Path, x: torch.Tensor) -> torch.Tensor:
    model = DANNLitModule.load_from_checkpoint(ckpt, map_location="cpu").eval()
    with torch.no_grad():
        return model(x)


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 deprecates torch.jit
        return torch.jit.load(str(path))


# ---------------------------------------------------------------------- predict


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


def test_export_defaults_to_pt2_with_the_standardisation_folded_in(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("dann_lightning.export.onnx_available", lambda: False)  # as without the onnx extra
    cli_main(["export", f"--ckpt_path={run['ckpt']}", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "ONNX skipped" in out and f"pt2: {(tmp_path / 'model.pt2').resolve()}" in out
    assert sorted(path.name for path in tmp_path.iterdir()) == ["export.json", "model.pt2"]  # no staging left
    deployed = torch.export.load(tmp_path / "model.pt2").module()
    logits = module_logits(run["ckpt"], run["x"])  # the module on the rows as the data module serves them
    for rows in (slice(0, 1), slice(0, 3), slice(None)):  # other batch sizes than the one traced
        torch.testing.assert_close(deployed(run["raw"][rows]), logits[rows], rtol=0, atol=1e-5)

    metadata = json.loads((tmp_path / "export.json").read_text())
    scaler = torch.load(run["ckpt"], weights_only=True)["ShiftDataModule"]["scaler"]
    assert metadata["preprocessing"]["kind"] == "standardize" and metadata["preprocessing"]["folded_into_model"]
    np.testing.assert_allclose(metadata["preprocessing"]["mean"], scaler["mean"].float().numpy())
    np.testing.assert_allclose(metadata["preprocessing"]["std"], scaler["std"].float().numpy())
    assert metadata["input_shape"] == [2] and metadata["input_dtype"] == "float32"
    assert metadata["num_classes"] == 2 and metadata["class_names"] == ["0", "1"]
    assert metadata["outputs"] == "logits" and metadata["files"] == {"pt2": "model.pt2"}
    assert "input_standardization" not in metadata  # nothing left for a caller to apply a second time


def test_torchscript_stays_as_a_legacy_format(run, tmp_path, capsys):
    cli_main(["export", f"--ckpt_path={run['ckpt']}", "--out", str(tmp_path), "--format", "torchscript"])
    assert f"torchscript: {(tmp_path / 'model.torchscript.pt').resolve()}" in capsys.readouterr().out
    deployed = load_torchscript(tmp_path / "model.torchscript.pt")
    logits = module_logits(run["ckpt"], run["x"])
    for rows in (slice(0, 3), slice(None)):
        torch.testing.assert_close(deployed(run["raw"][rows]), logits[rows], rtol=0, atol=1e-5)
    assert not any("discriminator" in name for name, _ in deployed.named_parameters())


def test_a_checkpoint_without_a_data_module_needs_the_input_shape(run, tmp_path):
    checkpoint = torch.load(run["ckpt"], weights_only=True)
    del checkpoint["datamodule_hyper_parameters"], checkpoint["ShiftDataModule"]
    torch.save(checkpoint, tmp_path / "model_only.ckpt")
    command = ["export", "--ckpt_path", str(tmp_path / "model_only.ckpt"), "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match=r"holds no data module configuration .*pass --input-shape"):
        cli_main([*command, "--format", "pt2"])
    cli_main([*command, "--format", "pt2", "--input-shape", "2"])
    metadata = json.loads((tmp_path / "out" / "export.json").read_text())
    assert metadata["preprocessing"] is None and "no preprocessing" in metadata["input"]
    deployed = torch.export.load(tmp_path / "out" / "model.pt2").module()
    torch.testing.assert_close(deployed(run["x"]), module_logits(run["ckpt"], run["x"]), rtol=0, atol=1e-6)


def test_an_input_shape_against_the_statistics_is_refused(run, tmp_path):
    with pytest.raises(SystemExit, match=r"input_shape \[3\] does not match .* rows of shape \[2\]"):
        cli_main(["export", f"--ckpt_path={run['ckpt']}", "--out", str(tmp_path), "--input-shape", "3"])
    assert not list(tmp_path.iterdir())


def test_export_says_which_onnx_packages_are_missing(run, tmp_path, monkeypatch):
    # As if onnx were installed and onnxscript, which torch's exporter also needs, were not.
    installed = {"onnx": object(), "onnxscript": None}
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: installed.get(name, real_find_spec(name, *a)))
    with pytest.raises(MissingDependencyError, match=r"needs the package\(s\) onnxscript.*dann_lightning\[onnx\]"):
        export_model(make_module(), tmp_path, input_shape=(2,), formats=["onnx"])
    with pytest.raises(SystemExit, match=r"needs the package\(s\) onnxscript"):  # before the checkpoint is read
        cli_main(["export", "--ckpt_path", str(tmp_path / "none.ckpt"), "--out", str(tmp_path), "--format", "onnx"])
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_export_input_shape_option_and_python_models(tmp_path):
    model = make_module(in_features=5, num_classes=3)
    model.train()
    written = export_model(model, tmp_path, input_shape=(5,), formats=["pt2"], class_names=["a", "b", "c"])
    assert model.training  # the caller's model is left as it was
    x = torch.randn(7, 5)
    with torch.no_grad():
        expected = model.eval()(x)
    torch.testing.assert_close(torch.export.load(written["pt2"]).module()(x), expected, rtol=0, atol=1e-6)
    metadata = json.loads((tmp_path / "export.json").read_text())
    assert metadata["class_names"] == ["a", "b", "c"] and metadata["preprocessing"] is None


def test_class_names_come_from_the_data_module_state(tmp_path):
    # A data module names its classes under "classes" in its state_dict (restored from a checkpoint).
    class Named(type(make_datamodule())):
        def state_dict(self):
            return {"classes": ["cat", "dog"]}

    data = Named(**{name: getattr(make_datamodule(), name) for name in ("source_train", "target_train")})
    export_model(make_module(), tmp_path, datamodule=data, input_shape=(2,), formats=["pt2"])
    metadata = json.loads((tmp_path / "export.json").read_text())
    assert metadata["class_names"] == ["cat", "dog"] and metadata["preprocessing"] is None


def test_a_preprocessing_module_goes_first(tmp_path):
    model = make_module(in_features=2).eval()
    standardize = Standardize([10.0, -3.0], [2.0, 0.5])
    written = export_model(model, tmp_path, input_shape=(2,), formats=["pt2"], preprocessing=standardize)
    raw = torch.randn(6, 2) * torch.tensor([2.0, 0.5]) + torch.tensor([10.0, -3.0])
    with torch.no_grad():
        expected = model(standardize(raw))
    torch.testing.assert_close(torch.export.load(written["pt2"]).module()(raw), expected, rtol=0, atol=1e-6)
    preprocessing = json.loads((tmp_path / "export.json").read_text())["preprocessing"]
    assert preprocessing == {
        "kind": "standardize",
        "axis": "feature",
        "formula": "(x - mean) / std",
        "mean": [10.0, -3.0],
        "std": [2.0, 0.5],
        "folded_into_model": True,
    }


def test_networks_compiled_in_place_export_as_plain_modules_with_their_weights(tmp_path):
    # DANNLitModule(compile=...) compiles each network in place (nn.Module.compile), which
    # torch.export and torch.jit.trace cannot enter: the export uses uncompiled copies of them.
    model = make_module(in_features=3).eval()
    x = torch.randn(6, 3)
    with torch.no_grad():
        expected = model(x)
    for network in (model.feature_extractor, model.classifier):
        network.compile(backend="eager")
    written = export_model(model, tmp_path, input_shape=(3,), formats=["pt2", "torchscript"])
    torch.testing.assert_close(torch.export.load(written["pt2"]).module()(x), expected, rtol=0, atol=1e-6)
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


OLD_CHECKPOINTS = REPO / "tests" / "data" / "checkpoints_0.1.0"


@pytest.mark.parametrize(
    ("name", "cls"), [("moons", DANNLitModule), ("moons_manual", DANNLitModule), ("moons_cdan", CDANLitModule)]
)
def test_the_one_loader_rebuilds_the_class_and_the_data_module_of_0_1_0_checkpoints(name, cls):
    model, datamodule = load_run(OLD_CHECKPOINTS / f"{name}.ckpt", needs_data=True, instead="unused")
    assert type(model) is cls and type(datamodule) is MoonsDataModule
    assert datamodule.hparams.angle == 35.0 and datamodule.scaler.fitted  # its statistics, from the checkpoint
    saved = torch.load(OLD_CHECKPOINTS / f"{name}.ckpt", weights_only=True)
    torch.testing.assert_close(model.classifier.weight, saved["state_dict"]["classifier.weight"], rtol=0, atol=0)
    assert (load_for_export(OLD_CHECKPOINTS / f"{name}.ckpt")[0].hparams) == model.hparams


def test_a_user_subclass_named_in_a_checkpoint_is_rebuilt(tmp_path):
    checkpoint = torch.load(OLD_CHECKPOINTS / "moons.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["_class_path"] = f"{__name__}.MyDANN"
    torch.save(checkpoint, tmp_path / "mine.ckpt")
    model, datamodule = load_run(tmp_path / "mine.ckpt", needs_data=False, instead="unused")
    assert type(model) is MyDANN and isinstance(datamodule, MoonsDataModule)


class MyDANN(DANNLitModule):
    """A user's subclass, as a config's ``class_path`` names it."""


def test_the_loader_names_truncated_and_foreign_files(tmp_path):
    (tmp_path / "truncated.ckpt").write_bytes((OLD_CHECKPOINTS / "moons.ckpt").read_bytes()[:2000])
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    for name in ("truncated.ckpt", "notes.ckpt"):
        with pytest.raises(CheckpointError, match=rf"checkpoint .*{name} cannot be read .*may be truncated"):
            load_run(tmp_path / name, needs_data=False, instead="unused")


def test_export_from_a_data_module_without_the_contract_names_what_is_missing(tmp_path):
    class Mine(L.LightningDataModule):
        pass

    with pytest.raises(
        ConfigurationError, match=r"export needs the data module's model_inputs .*Mine does not implement"
    ):
        export_model(make_module(), tmp_path, datamodule=Mine(), input_shape=(2,), formats=["pt2"])


def test_a_regressor_export_folds_the_data_modules_unscaling_in(tmp_path):
    class Scaled(type(make_datamodule())):
        def model_inputs(self, input_shape=None):  # what a data module that scales its labels declares
            return dataclasses.replace(super().model_inputs(input_shape), postprocessing=Unstandardize(100.0, 4.0))

    model = DANNLitModule(**tiny_networks(num_classes=1), task="regression")
    written = export_model(model, tmp_path, datamodule=Scaled(), input_shape=(2,), formats=["pt2"])
    x = torch.randn(5, 2)
    with torch.no_grad():
        expected = model.eval()(x) * 4.0 + 100.0
    torch.testing.assert_close(torch.export.load(written["pt2"]).module()(x), expected, rtol=0, atol=1e-5)
    folded = json.loads((tmp_path / "export.json").read_text())["postprocessing"]
    assert (folded["kind"], folded["mean"], folded["std"]) == ("unstandardize_outputs", 100.0, 4.0)


def test_the_command_line_offers_the_formats_of_the_literal(tmp_path, capsys):
    assert EXPORT_FORMATS == ("pt2", "onnx", "torchscript")
    with pytest.raises(SystemExit):
        cli_main(["export", "--ckpt_path", "x.ckpt", "--out", str(tmp_path), "--format", "savedmodel"])
    quoted = r"'?pt2'?, '?onnx'?, '?torchscript'?"  # argparse quotes the choices in some Python versions
    assert re.search(rf"invalid choice: 'savedmodel' \(choose from {quoted}\)", capsys.readouterr().err)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"formats": ["savedmodel"]}, "unknown export format 'savedmodel'; valid: 'pt2', 'onnx', 'torchscript'"),
        ({"formats": []}, "no export format given"),
        ({"input_shape": (0,)}, r"input_shape\[0\] must be an integer >= 1, got 0"),
        ({"input_shape": ()}, "input_shape must be one or more positive integers"),
        ({"input_shape": None}, r"export needs one raw sample's shape: pass input_shape \(CLI: --input-shape\)"),
        ({"class_names": ["a"]}, r"1 class names \['a'\] for a model of 2 classes"),
        ({"preprocessing": Standardize([0.0], [1.0]), "datamodule": make_datamodule()}, "preprocessing or datamodule"),
    ],
)
def test_bad_export_options_are_named(tmp_path, options, message):
    options.setdefault("input_shape", (2,))
    options.setdefault("formats", ["pt2"])
    with pytest.raises((ConfigurationError, DataError), match=message):
        export_model(make_module(), tmp_path, **options)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("mean", "std", "message"),
    [
        ([0.0, 1.0], [1.0], r"one equal length .* shapes \(2,\) and \(1,\)"),
        ([0.0], [0.0], r"finite std > 0, got std \[0.0\]"),
        ([], [], "one equal length"),
    ],
)
def test_bad_statistics_are_named(mean, std, message):
    with pytest.raises(ConfigurationError, match=message):
        Standardize(mean, std)
