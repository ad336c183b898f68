"""The exported model takes raw inputs: its probabilities on raw rows or pixels are the module's on the
standardised ones the data module serves, in torch.export and in ONNX Runtime (the optional `onnx` extra)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from dann_lightning import DANNLitModule
from dann_lightning.cli import build_cli, cli_main
from dann_lightning.data import ImageFilesDataModule
from dann_lightning.data.files import load_image_folder, to_image_size
from dann_lightning.errors import ConfigurationError
from dann_lightning.export import export_model
from dann_lightning.nets import DomainDiscriminator
from dann_lightning.preprocessing import model_inputs
from tests.conftest import REPO, make_trainer

FEATURES = ["c", "a", "b"]  # not the files' column order: the model's input order is this one
# Raw features on scales far apart, so that a model fed unstandardised rows would be far off.
CENTRES, SCALES = {"a": 100.0, "b": -5.0, "c": 0.0}, {"a": 20.0, "b": 0.1, "c": 1000.0}


def onnx_session(path: Path):
    for package in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(package, reason=f"optional (pip install 'dann_lightning[onnx]'): needs {package}")
    import onnxruntime

    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def softmax(logits) -> np.ndarray:
    return torch.softmax(torch.as_tensor(logits), dim=1).numpy()


def write_table(path: Path, n: int, shift: float, seed: int, labelled: bool) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    columns = {"id": np.arange(n)}
    for name in ("a", "b", "c"):
        columns[name] = CENTRES[name] + SCALES[name] * (rng.normal(size=n) + 1.5 * y + shift)
    if labelled:
        columns["label"] = y
    header = ",".join(columns)
    rows = np.column_stack(list(columns.values()))
    np.savetxt(path, rows, delimiter=",", header=header, comments="", fmt="%.6g")


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory):
    """`dann-lightning fit` on raw CSV rows (a TabularDataModule, 3 -> 8 -> 2 networks), whose files are
    then deleted: an export must take everything from the checkpoint."""
    root = tmp_path_factory.mktemp("tabular")
    write_table(root / "source.csv", 96, 0.0, seed=1, labelled=True)
    write_table(root / "target.csv", 64, 0.5, seed=2, labelled=False)
    net = {"in_features": 8, "hidden_features": [8], "activation": "tanh"}
    config = {
        "seed_everything": 0,
        "trainer": {
            "max_steps": 12,
            "limit_val_batches": 0,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(root),
        },
        "model": {
            "class_path": "dann_lightning.DANNLitModule",
            "init_args": {
                "num_classes": 2,
                "feature_extractor": {"class_path": "dann_lightning.nets.MLP", "init_args": {**net, "in_features": 3}},
                "classifier": {"class_path": "torch.nn.Linear", "init_args": {"in_features": 8, "out_features": 2}},
                "discriminator": {"class_path": "dann_lightning.nets.DomainDiscriminator", "init_args": net},
                "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.02}},
            },
        },
        "data": {
            "class_path": "dann_lightning.data.TabularDataModule",
            "init_args": {
                "source": str(root / "source.csv"),
                "target": str(root / "target.csv"),
                "features": FEATURES,
                "batch_size": 16,
            },
        },
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    cli = build_cli(["fit", "--config", str(root / "config.yaml")])
    cli.trainer.save_checkpoint(root / "tabular.ckpt")
    served = cli.datamodule.target_test.tensors[0]  # every target row, standardised, in file order
    table = np.genfromtxt(root / "target.csv", delimiter=",", names=True)
    raw = np.column_stack([table[name] for name in FEATURES]).astype(np.float32)
    (root / "source.csv").unlink()
    (root / "target.csv").unlink()
    model = DANNLitModule.load_from_checkpoint(root / "tabular.ckpt", map_location="cpu").eval()
    with torch.no_grad():
        probabilities = softmax(model(served))
    assert not np.allclose(softmax(model(torch.as_tensor(raw)).detach()), probabilities, atol=0.05)  # raw != served
    return {"root": root, "ckpt": root / "tabular.ckpt", "raw": raw, "probabilities": probabilities}


def export_checkpoint(run, out: Path, *formats: str) -> dict:
    cli_main(["export", "--ckpt_path", str(run["ckpt"]), "--out", str(out), "--format", *formats])
    return json.loads((out / "export.json").read_text())


def test_pt2_on_raw_rows_gives_the_module_probabilities(tabular_run, tmp_path):
    metadata = export_checkpoint(tabular_run, tmp_path, "pt2")
    deployed = torch.export.load(tmp_path / "model.pt2").module()
    with torch.no_grad():
        probabilities = softmax(deployed(torch.as_tensor(tabular_run["raw"])))
    np.testing.assert_allclose(probabilities, tabular_run["probabilities"], rtol=0, atol=1e-5)

    # Everything came from the checkpoint: the files are gone, the statistics are the stored ones.
    state = torch.load(tabular_run["ckpt"], weights_only=True)["TabularDataModule"]
    assert metadata["feature_names"] == FEATURES == state["features"]
    np.testing.assert_allclose(metadata["preprocessing"]["mean"], state["scaler"]["mean"].float().numpy())
    np.testing.assert_allclose(metadata["preprocessing"]["std"], state["scaler"]["std"].float().numpy())
    assert metadata["preprocessing"]["axis"] == "feature" and metadata["preprocessing"]["folded_into_model"]
    assert metadata["input_shape"] == [3] and metadata["input_dtype"] == "float32"
    assert metadata["class_names"] == ["0", "1"] and metadata["num_classes"] == 2
    assert metadata["input"].startswith("float32 rows (N, F) of raw feature values")


def test_an_input_shape_is_checked_against_the_stored_statistics(tabular_run, tmp_path):
    with pytest.raises(SystemExit, match=r"input_shape \[4\] does not match .* rows of shape \[3\]"):
        cli_main(["export", "--ckpt_path", str(tabular_run["ckpt"]), "--out", str(tmp_path), "--input-shape", "4"])


# ---------------------------------------------------------------------- images


def write_image_folder(root: Path, tint: int, seed: int) -> None:
    """Two class folders of four small RGB images of another size than the training one (PNG and PPM)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, name in enumerate(["cat", "dog"]):
        (root / name).mkdir(parents=True)
        for index in range(4):
            pixels = rng.integers(0, 120, size=(10, 12, 3)) + 100 * label + tint
            suffix = ".png" if index % 2 else ".ppm"
            Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(root / name / f"{index}{suffix}")


def small_cnn(seed: int = 0) -> DANNLitModule:
    torch.manual_seed(seed)
    return DANNLitModule(
        feature_extractor=nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 8), nn.Tanh()
        ),
        classifier=nn.Linear(8, 2),
        discriminator=DomainDiscriminator(8, [8], activation="tanh"),
        num_classes=2,
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
    )


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    write_image_folder(root / "source", tint=0, seed=1)
    write_image_folder(root / "target", tint=30, seed=2)
    data = ImageFilesDataModule(
        "image-folder", str(root / "source"), "image-folder", str(root / "target"), image_size=8, batch_size=4
    )
    model = small_cnn()
    make_trainer(root, max_steps=4, limit_val_batches=0).fit(model, data)
    model.eval()
    normalised = torch.stack([x for x, _ in data.target_test.__getitems__(list(range(len(data.target_test))))])
    with torch.no_grad():
        probabilities = softmax(model(normalised))
    # Raw: the target images as the data module reads them (decoded, resized to 8x8), 0..255 as float32.
    images, _, _ = load_image_folder(root / "target", 8)
    raw = to_image_size(images, 8, 3).float()
    return {"root": root, "data": data, "model": model, "raw": raw, "probabilities": probabilities}


def test_images_export_with_their_channel_normalisation(image_run, tmp_path):
    export_model(image_run["model"], tmp_path, datamodule=image_run["data"], formats=["pt2"])
    metadata = json.loads((tmp_path / "export.json").read_text())
    assert metadata["input_shape"] == [3, 8, 8] and metadata["class_names"] == ["cat", "dog"]
    assert metadata["feature_names"] is None and "pixel values 0..255" in metadata["input"]
    normaliser = image_run["data"].scaler
    assert metadata["preprocessing"]["axis"] == "channel"
    np.testing.assert_allclose(metadata["preprocessing"]["mean"], normaliser.mean.numpy())
    np.testing.assert_allclose(metadata["preprocessing"]["std"], normaliser.std.numpy())
    deployed = torch.export.load(tmp_path / "model.pt2").module()
    with torch.no_grad():
        probabilities = softmax(deployed(image_run["raw"]))
    np.testing.assert_allclose(probabilities, image_run["probabilities"], rtol=0, atol=1e-5)


def test_image_input_shapes_must_fit_the_channels_and_training_size(image_run):
    data = image_run["data"]
    assert model_inputs(data).input_shape == (3, 8, 8)
    with pytest.raises(ConfigurationError, match=r"input_shape \[1, 8, 8\] does not match .* shape \[3, 8, 8\]"):
        model_inputs(data, (1, 8, 8))


# ---------------------------------------------------------------------- the recipes of docs/deployment.md


def recipe(title: str) -> str:
    """The python block titled ``title`` of docs/deployment.md (tests/test_readme.py runs the untitled
    ones; these need an exported model and onnxruntime)."""
    text = (REPO / "docs" / "deployment.md").read_text()
    (block,) = re.findall(rf'```python title="{re.escape(title)}"\n(.*?)```', text, flags=re.DOTALL)
    return block


def run_recipe(title: str, where: Path, monkeypatch) -> dict:
    monkeypatch.chdir(where)
    namespace: dict = {"__name__": "__main__"}
    exec(compile(recipe(title), title, "exec"), namespace)
    return namespace
