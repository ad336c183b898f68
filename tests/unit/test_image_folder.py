"""ImageFolderDataModule: listing, bad input, decoding, normalisation, streaming against in memory,
predictions per file and the export's input contract."""

from __future__ import annotations

import csv
import json
import logging

import numpy as np
import pytest
import torch
from torch import nn

from dann_lightning import DANNLitModule
from dann_lightning.callbacks import PredictionWriter
from dann_lightning.data import ImageFolderDataModule
from dann_lightning.data.image_listing import list_class_folders, list_images
from dann_lightning.data.image_transforms import IMAGENET_MEAN, IMAGENET_STD, ImageTransform, decode_image
from dann_lightning.errors import DataError, MissingFileError
from dann_lightning.export import export_model
from dann_lightning.nets import Backbone
from tests.conftest import make_trainer
from tests.image_folders import write_image_folder


@pytest.fixture
def folders(tmp_path):
    """Two labelled domains (cat, dog) of 6 images each per class, 12x16 colour PNGs."""
    write_image_folder(tmp_path / "source", seed=0)
    write_image_folder(tmp_path / "target", seed=1)
    return tmp_path


def data_module(root, **kwargs) -> ImageFolderDataModule:
    options = {"image_size": 8, "batch_size": 4, "val_fraction": 0.2} | kwargs
    return ImageFolderDataModule(str(root / "source"), str(root / "target"), **options)


def small_cnn(num_classes: int = 2) -> DANNLitModule:
    features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return DANNLitModule(features, nn.Linear(4, num_classes), num_classes=num_classes)


def test_listing_labels_by_class_folder_and_counts_what_is_not_an_image(folders, caplog):
    (folders / "source" / "cat" / "notes.txt").write_text("not an image")
    (folders / "source" / "dog" / "sub").mkdir()
    write_image_folder(folders / "source" / "dog" / "sub", ["deeper"], 1)  # class folders are searched deeply
    with caplog.at_level(logging.WARNING):
        listing = list_class_folders(folders / "source")
    assert listing.classes == ["cat", "dog"]
    assert listing.labels.tolist() == [0] * 6 + [1] * 7
    assert listing.ignored == 1 and "ignored 1 file(s) that are not images" in caplog.text
    assert listing.paths.dtype.kind == "U"  # one numpy array, no Python object per path


def test_a_folder_that_is_not_class_folders_of_images_is_named(tmp_path):
    with pytest.raises(MissingFileError, match=r"source folder .*nowhere does not exist"):
        list_class_folders(tmp_path / "nowhere", role="source")
    write_image_folder(tmp_path / "flat", flat=True)
    with pytest.raises(DataError, match=r"source folder .*flat has no class folder: expected root/<class>/<image>"):
        list_class_folders(tmp_path / "flat", role="source")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match=r"source class folder .*cat holds no image"):
        list_class_folders(tmp_path / "empty", role="source")


def test_a_class_folder_missing_from_the_target_is_named_before_training(folders):
    write_image_folder(folders / "source", ["emu"], 2)
    with pytest.raises(
        DataError,
        match=r"target folder .* must hold the same class folders as the source: "
        r"missing \['emu'\], extra \[\]",
    ):
        data_module(folders).setup("fit")


def test_an_unlabelled_target_may_be_flat(folders):
    write_image_folder(folders / "flat", ["x", "y"], 5, flat=True)
    data = ImageFolderDataModule(
        str(folders / "source"), str(folders / "flat"), image_size=8, batch_size=4, target_labels=False
    )
    data.setup("fit")
    assert len(data.target_train) + len(data.target_val) == 10
    assert isinstance(data.target_train[0], torch.Tensor)  # no label
    assert list_images(folders / "flat").labels is None


def test_an_unreadable_image_is_named_at_setup_or_skipped(folders, caplog):
    bad = folders / "target" / "dog" / "broken.png"
    bad.write_bytes(b"this is not a PNG")
    with pytest.raises(DataError, match=r"target image .*broken.png cannot be read: .*on_bad_image: skip drops them"):
        data_module(folders).setup("fit")
    with caplog.at_level(logging.WARNING):
        data = data_module(folders, on_bad_image="skip")
        data.setup("fit")
    assert "skipped 1 image file(s) that cannot be read" in caplog.text and "broken.png" in caplog.text
    assert len(data.target_train) + len(data.target_val) == 12


def test_a_truncated_image_is_named_when_decoded_or_replaced_by_the_next(folders, caplog):
    listed = data_module(folders, normalize="none")
    listed.setup("fit")
    path = listed.source_train.listing.paths[1]  # not a sample setup looks at (index 0)
    with open(path, "rb") as handle:
        head = handle.read(60)  # the header is whole, the pixels are not
    with open(path, "wb") as handle:
        handle.write(head)
    with pytest.raises(DataError, match=rf"cannot decode image file {path}: image file is truncated"):
        data_module(folders, normalize="source").setup("fit")  # met while fitting the statistics: before training
    data = data_module(folders, streaming=True, normalize="none")
    data.setup("fit")
    with pytest.raises(DataError, match=rf"cannot decode image file {path}"):
        data.source_train[1]
    skipping = data_module(folders, streaming=True, normalize="none", on_bad_image="skip")
    skipping.setup("fit")
    with caplog.at_level(logging.WARNING):
        x, _ = skipping.source_train[1]
    assert x.equal(skipping.source_train[2][0]) and path in caplog.text  # the next image in its place


def test_decoding_resizing_and_crops_have_the_promised_shapes(folders):
    image = decode_image(folders / "source" / "cat" / "0.png")
    assert image.dtype == torch.uint8 and image.shape == (3, 12, 16)
    assert decode_image(folders / "source" / "cat" / "0.png", channels=1).shape == (1, 12, 16)
    transform = ImageTransform(image_size=8, resize_size=10, random_resized_crop=True, horizontal_flip=True)
    resized = transform.resized(image)
    assert resized.shape == (3, 10, 10) and resized.dtype == torch.uint8
    assert transform.evaluate(resized).equal(resized[:, 1:9, 1:9].float())
    torch.manual_seed(0)
    crops = torch.stack([transform.train(resized) for _ in range(8)])
    assert crops.shape == (8, 3, 8, 8) and len({crop.sum().item() for crop in crops}) > 1  # random
    flipped = ImageTransform(8, 8, horizontal_flip=True)
    outcomes = {flipped.train(resized[:, :8, :8]).equal(resized[:, :8, :8].float()) for _ in range(20)}
    assert outcomes == {True, False}


@pytest.mark.parametrize("normalize", ["imagenet", "none"])
def test_fixed_normalisations_need_no_data(folders, normalize):
    data = data_module(folders, normalize=normalize)
    data.setup("fit")
    image = data.transform.evaluate(data.source_val.resized_image(0))
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if normalize == "imagenet" else ((0.0,) * 3, (1.0,) * 3)
    expected = (image / 255.0 - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    torch.testing.assert_close(data.source_val[0][0], expected)


def test_source_normalisation_centres_the_source_images(folders):
    data = data_module(folders, normalize="source", val_fraction=0.1)
    data.setup("fit")
    assert data.normalization == "source"
    x = torch.stack([data.source_train.transform.evaluate(data.source_train.resized_image(i)) for i in range(10)])
    pixels = x.transpose(0, 1).flatten(1)
    torch.testing.assert_close(data.statistics.mean, pixels.mean(1), atol=5.0, rtol=0)


def test_auto_normalisation_is_imagenet_for_a_pretrained_backbone(folders, tmp_path):
    from tests.unit.test_recipe import STAND_IN

    class Pretrained(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = Backbone(STAND_IN, weights="IMAGENET1K_V1")

    data = data_module(folders)
    trainer = make_trainer(tmp_path)
    data.trainer = trainer
    trainer.strategy.connect(Pretrained())
    data.setup("fit")
    assert data.normalization == "imagenet"
    other = data_module(folders)
    other.setup("fit")
    assert other.normalization == "source"


def test_streaming_and_in_memory_serve_the_same_pixels(folders):
    streaming, in_memory = data_module(folders, streaming=True), data_module(folders, streaming=False)
    for data in (streaming, in_memory):
        data.setup("fit")
    assert streaming.source_val.images is None and in_memory.source_val.images is not None
    assert not streaming.in_memory and in_memory.in_memory and data_module(folders).in_memory is False
    auto = data_module(folders)
    auto.setup("fit")
    assert auto.in_memory  # a few small images: "auto" holds them
    for a, b in zip(streaming.test_dataloader()["target"], in_memory.test_dataloader()["target"], strict=True):
        torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)


def test_the_state_dict_restores_classes_and_normalisation(folders):
    data = data_module(folders, normalize="source")
    data.setup("fit")
    restored = data_module(folders)
    restored.load_state_dict(data.state_dict())
    assert restored.classes == ["cat", "dog"] and restored.normalization == "source"
    torch.testing.assert_close(restored.statistics.mean, data.statistics.mean)


def test_predictions_name_each_file_its_class_and_probabilities(folders, tmp_path):
    model = small_cnn()
    make_trainer(tmp_path, max_steps=2, limit_val_batches=1).fit(model, data_module(folders))
    new = tmp_path / "new"
    files = write_image_folder(new, ["a"], 3, flat=True)
    data = data_module(folders, predict=str(new))
    data.load_state_dict(model.trainer.datamodule.state_dict())
    writer = PredictionWriter(tmp_path / "out" / "predictions.csv")
    make_trainer(tmp_path, callbacks=[writer]).predict(model, datamodule=data)
    with open(writer.path) as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["path", "prediction", "prob_cat", "prob_dog"]
    assert [row[0] for row in rows[1:]] == [str(path) for path in sorted(files)]
    assert all(row[1] in ("cat", "dog") and abs(float(row[2]) + float(row[3]) - 1) < 1e-6 for row in rows[1:])


def test_predict_lists_files_and_folders_and_names_what_is_missing(folders, tmp_path):
    files = write_image_folder(tmp_path / "more", ["b"], 2, flat=True)
    listing = list_images([str(files[1]), str(folders / "target" / "cat")])
    assert list(listing.paths[:1]) == [str(files[1])] and len(listing) == 7
    with pytest.raises(MissingFileError, match=r"predict path .*nothing.png does not exist"):
        list_images([str(tmp_path / "nothing.png")], role="predict")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"predict file .*notes.txt is not an image"):
        list_images([str(tmp_path / "notes.txt")], role="predict")


def test_export_writes_the_resize_crop_and_normalisation_it_expects(folders, tmp_path):
    data = data_module(folders, normalize="imagenet", resize_size=10)
    model = small_cnn()
    make_trainer(tmp_path, max_steps=1, limit_val_batches=1).fit(model, data)
    export_model(model, tmp_path / "export", datamodule=data, formats=["torchscript"])
    contract = json.loads((tmp_path / "export" / "export.json").read_text())
    assert contract["input_shape"] == [3, 8, 8] and contract["class_names"] == ["cat", "dog"]
    assert "resized to 10x10" in contract["input"] and "centre 8x8 cropped" in contract["input"]
    assert "imagenet normalisation is folded into the model" in contract["input"]
    np.testing.assert_allclose(contract["preprocessing"]["mean"], np.array(IMAGENET_MEAN) * 255, rtol=1e-6)


def test_it_implements_the_data_module_contract(folders):
    from dann_lightning.data.contract import domain_data

    data = data_module(folders)
    assert domain_data(data) is data
    data.setup("fit")
    assert data.num_classes == 2 and data.task == "classification" and data.example_input().shape == (2, 3, 8, 8)
    assert data.prediction_ids()[0] == "path" and len(data.prediction_ids()[1]) == 12  # the whole target folder
