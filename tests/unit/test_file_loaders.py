"""The readers of user files and ImageFilesDataModule, on tiny files each test writes itself."""

import bz2
import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from dann_lightning.data import ImageFilesDataModule
from dann_lightning.data.files import (
    load_image_folder,
    load_mnist,
    load_mnistm,
    load_svhn,
    load_usps,
    make_mnistm,
    read_idx,
    to_image_size,
)
from dann_lightning.errors import DANNError


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_mnist(root, n_train=40, n_test=20, seed=0, gz=True):
    """MNIST-like IDX files: digit-ish blobs whose brightness is the label (so classes differ)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in [("train", n_train), ("t10k", n_test)]:
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
        images[:, 8:20, 10:18] = 100 + 15 * labels[:, None, None]
        for kind, array in [("images-idx3", images), ("labels-idx1", labels)]:
            data = idx_bytes(array)
            name = f"{split}-{kind}-ubyte"
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
    return root


def write_photos(folder, colours=((250, 10, 10), (10, 250, 10)), size=(40, 50)):
    folder.mkdir(parents=True, exist_ok=True)
    for i, colour in enumerate(colours):
        Image.new("RGB", size, colour).save(folder / f"photo{i}.png")
    return folder


# ---------------------------------------------------------------------- IDX / MNIST


@pytest.mark.parametrize("dtype", [np.uint8, ">i4", ">f4"])
def test_idx_round_trip_plain_and_gzip(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) * 3).astype(dtype)
    (tmp_path / "a").write_bytes(idx_bytes(array))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(array)))
    for name in ("a", "a.gz"):
        read = read_idx(tmp_path / name)
        assert read.shape == (2, 3, 4)
        np.testing.assert_array_equal(read, array)


def test_malformed_idx_files_name_the_file_and_what_was_expected(tmp_path):
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(DANNError, match=r"bad-magic is not an IDX file: expected two zero bytes"):
        read_idx(bad_magic)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(idx_bytes(np.zeros((4, 5), np.uint8))[:-3])
    with pytest.raises(DANNError, match=r"truncated: an IDX array of shape \(4, 5\).*takes 32 bytes, got 29"):
        read_idx(truncated)


def test_mnist_reads_the_four_idx_files_and_names_a_missing_one(tmp_path):
    root = write_mnist(tmp_path / "mnist", n_train=30, n_test=10)
    images, labels = load_mnist(root, "train")
    assert images.shape == (30, 1, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [i % 10 for i in range(30)]
    assert load_mnist(root, "test")[0].shape == (10, 1, 28, 28)
    plain = write_mnist(tmp_path / "plain", n_train=30, gz=False)
    np.testing.assert_array_equal(load_mnist(plain, "train")[0], images)

    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DANNError, match=r"MNIST file t10k-labels-idx1-ubyte not found in folder .*mnist"):
        load_mnist(root, "test")
    with pytest.raises(DANNError, match=r"unknown split 'val'; valid: 'train', 'test'"):
        load_mnist(root, "val")


def test_mnist_with_mismatched_label_count_names_the_label_file(tmp_path):
    root = write_mnist(tmp_path, n_train=30)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(7, np.uint8))))
    with pytest.raises(DANNError, match=r"train-labels-idx1-ubyte.gz: expected 30 labels"):
        load_mnist(root, "train")


# ---------------------------------------------------------------------- MNIST-M


def test_mnistm_is_the_absolute_difference_of_photo_patch_and_digit(tmp_path):
    photos = write_photos(tmp_path / "photos", colours=[(200, 100, 0)])
    digits = np.zeros((3, 1, 28, 28), np.uint8)
    digits[:, :, 10:18, 10:18] = 255
    blended = make_mnistm(digits, photos, seed=0)
    assert blended.shape == (3, 3, 28, 28) and blended.dtype == np.uint8
    # Background: the photo's colour; ink: |colour - 255|.
    assert blended[:, :, 0, 0].tolist() == [[200, 100, 0]] * 3
    assert blended[:, :, 12, 12].tolist() == [[55, 155, 255]] * 3


def test_mnistm_from_mnist_files_keeps_labels_and_is_seeded(tmp_path):
    root = write_mnist(tmp_path / "mnist", n_train=20)
    photos = write_photos(tmp_path / "photos")
    images, labels = load_mnistm(root, "train", photos=photos, seed=1)
    again, _ = load_mnistm(root, "train", photos=photos, seed=1)
    other, _ = load_mnistm(root, "train", photos=photos, seed=2)
    assert images.shape == (20, 3, 28, 28)
    assert labels.tolist() == load_mnist(root, "train")[1].tolist()
    np.testing.assert_array_equal(images, again)
    assert not np.array_equal(images, other)


def test_photos_that_are_missing_or_too_small_say_so(tmp_path):
    root = write_mnist(tmp_path / "mnist", n_train=10)
    with pytest.raises(DANNError, match=r"photos folder .*nowhere does not exist"):
        load_mnistm(root, photos=tmp_path / "nowhere")
    small = write_photos(tmp_path / "small", size=(10, 10))
    with pytest.raises(DANNError, match=r"no photo is at least 28x28 pixels"):
        load_mnistm(root, photos=small)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DANNError, match=r"photos folder .*empty holds no image file"):
        load_mnistm(root, photos=tmp_path / "empty")


# ---------------------------------------------------------------------- USPS / SVHN


def usps_line(label: int, pixels: np.ndarray) -> str:
    return " ".join([str(label + 1)] + [f"{i + 1}:{v:.4f}" for i, v in enumerate(pixels) if v != 0])


def test_usps_reads_libsvm_lines_plain_or_bz2(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.uniform(-1, 1, size=(5, 256)).round(3)
    pixels[:, :10] = 0.0  # sparse entries: missing indices are 0, i.e. mid grey
    text = "\n".join(usps_line(i % 10, p) for i, p in enumerate(pixels)) + "\n"
    (tmp_path / "usps.bz2").write_bytes(bz2.compress(text.encode()))
    (tmp_path / "usps.t").write_text(text)
    for split in ("train", "test"):
        images, labels = load_usps(tmp_path, split)
        assert images.shape == (5, 1, 16, 16) and images.dtype == np.uint8
        assert labels.tolist() == [0, 1, 2, 3, 4]
        expected = np.clip(np.round((pixels + 1) * 127.5), 0, 255)
        np.testing.assert_array_equal(images.reshape(5, 256), expected)


def test_malformed_usps_names_the_file_and_line(tmp_path):
    (tmp_path / "usps").write_text("3 1:0.5 2:0.1\n4 1:0.5 oops\n")
    with pytest.raises(DANNError, match=r"usps line 2: expected 'label index:value"):
        load_usps(tmp_path, "train")
    (tmp_path / "usps").write_text("11 1:0.5\n")
    with pytest.raises(DANNError, match=r"labels must lie in 1..10"):
        load_usps(tmp_path, "train")


def test_svhn_reads_mat_files_and_maps_label_ten_to_zero(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(32, 32, 3, 4), dtype=np.uint8)
    savemat(tmp_path / "train_32x32.mat", {"X": x, "y": np.array([[10], [1], [2], [9]], dtype=np.uint8)})
    images, labels = load_svhn(tmp_path, "train")
    assert images.shape == (4, 3, 32, 32)
    np.testing.assert_array_equal(images[2], x[..., 2].transpose(2, 0, 1))
    assert labels.tolist() == [0, 1, 2, 9]

    savemat(tmp_path / "test_32x32.mat", {"images": x})
    with pytest.raises(DANNError, match=r"test_32x32.mat: expected arrays 'X' and 'y', found \['images'\]"):
        load_svhn(tmp_path, "test")
    (tmp_path / "test_32x32.mat").write_text("not a mat file")
    with pytest.raises(DANNError, match=r"cannot read .*test_32x32.mat: expected a MATLAB .mat file"):
        load_svhn(tmp_path, "test")


# ---------------------------------------------------------------------- image folders


def write_image_folder(root, classes=("bike", "cup"), per_class=3, size=(20, 12)):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("RGB", size, (40 * c + i, 0, 255 - 40 * c)).save(
                root / name / f"{i}.jpg" if i else root / name / f"{i}.png"
            )
    return root


def test_image_folder_reads_classes_in_sorted_order_and_resizes(tmp_path):
    root = write_image_folder(tmp_path / "office", classes=("mug", "bike"), per_class=2)
    images, labels, classes = load_image_folder(root, image_size=16)
    assert classes == ["bike", "mug"]
    assert images.shape == (4, 3, 16, 16) and labels.tolist() == [0, 0, 1, 1]


def test_image_folder_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(DANNError, match=r"image folder .*missing does not exist"):
        load_image_folder(tmp_path / "missing", 16)
    (tmp_path / "flat").mkdir()
    with pytest.raises(DANNError, match=r"has no class folder \(expected root/<class>/<image>"):
        load_image_folder(tmp_path / "flat", 16)
    root = write_image_folder(tmp_path / "broken", per_class=1)
    (root / "cup" / "fake.png").write_text("not an image")
    with pytest.raises(DANNError, match=r"cannot read image file .*fake.png"):
        load_image_folder(root, 16)


def test_to_image_size_replicates_grey_and_turns_colour_grey():
    grey = np.full((2, 1, 8, 8), 100, np.uint8)
    assert to_image_size(grey, 16, 3).shape == (2, 3, 16, 16)
    assert int(to_image_size(grey, 16, 3)[0, 2, 5, 5]) == 100
    colour = np.zeros((1, 3, 8, 8), np.uint8)
    colour[:, 1] = 200
    assert int(to_image_size(colour, 8, 1)[0, 0, 0, 0]) == round(0.587 * 200)


# ---------------------------------------------------------------------- the data module


def test_mnist_to_mnistm_data_module(tmp_path):
    root = write_mnist(tmp_path / "mnist", n_train=50, n_test=20)
    photos = write_photos(tmp_path / "photos")
    datamodule = ImageFilesDataModule("mnist", str(root), "mnist-m", str(root), photos=str(photos), batch_size=8)
    datamodule.setup("fit")
    datamodule.setup("test")
    assert len(datamodule.source_train) + len(datamodule.source_val) == 50
    assert len(datamodule.source_val) == 5 and len(datamodule.target_test) == 20
    x, y = datamodule.source_train[0]
    assert x.shape == (3, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.long
    target = datamodule.target_train[0]
    assert isinstance(target, torch.Tensor) and target.shape == (3, 28, 28)  # no label to leak

    # Normalised with source statistics: the source has mean 0 and std 1 per channel, the target not.
    source = torch.stack([datamodule.source_train[i][0] for i in range(len(datamodule.source_train))])
    torch.testing.assert_close(source.mean((0, 2, 3)), torch.zeros(3), atol=0.06, rtol=0)
    torch.testing.assert_close(source.std((0, 2, 3)), torch.ones(3), atol=0.06, rtol=0)
    state = datamodule.state_dict()
    restored = ImageFilesDataModule("mnist", str(root), "mnist-m", str(root), photos=str(photos))
    restored.load_state_dict(state)
    restored.setup("test")
    torch.testing.assert_close(restored.target_test[3][0], datamodule.target_test[3][0])

    batch = next(iter(datamodule.train_dataloader()))[0]
    assert batch["source"][0].shape == (8, 3, 28, 28) and batch["target"].shape == (8, 3, 28, 28)


def test_train_on_target_trains_on_the_labelled_target_split(tmp_path):
    root = write_mnist(tmp_path / "mnist", n_train=40, n_test=10)
    photos = write_photos(tmp_path / "photos")
    oracle = ImageFilesDataModule(
        "mnist", str(root), "mnist-m", str(root), photos=str(photos), train_on="target", batch_size=8
    )
    oracle.setup("fit")
    x, y = oracle.source_train[0]
    torch.testing.assert_close(x, oracle.target_train[0])
    assert y == oracle._splits["target_train"][1][0]
    assert len(oracle.source_train) == len(oracle.target_train)


def test_max_samples_caps_every_split(tmp_path):
    root = write_mnist(tmp_path / "mnist", n_train=60, n_test=30)
    datamodule = ImageFilesDataModule("mnist", str(root), "mnist", str(root), max_samples=20, batch_size=4)
    datamodule.setup("fit")
    datamodule.setup("test")
    assert len(datamodule.source_train) + len(datamodule.source_val) == 20
    assert len(datamodule.target_test) == 20


def test_office_style_folders_need_the_same_classes(tmp_path):
    amazon = write_image_folder(tmp_path / "amazon", classes=("bike", "cup"), per_class=5)
    webcam = write_image_folder(tmp_path / "webcam", classes=("bike", "cup"), per_class=5)
    datamodule = ImageFilesDataModule(
        "image-folder", str(amazon), "image-folder", str(webcam), image_size=16, batch_size=2
    )
    datamodule.setup("fit")
    datamodule.setup("test")
    assert datamodule.class_names == ["bike", "cup"]
    assert len(datamodule.target_test) == 10  # the whole target domain
    dslr = write_image_folder(tmp_path / "dslr", classes=("bike", "mug"), per_class=2)
    other = ImageFilesDataModule("image-folder", str(amazon), "image-folder", str(dslr), image_size=16)
    with pytest.raises(DANNError, match=r"same class folders.*\['bike', 'cup'\].*\['bike', 'mug'\]"):
        other.setup("fit")


def test_unknown_data_set_names_the_valid_ones():
    with pytest.raises(
        DANNError, match=r"unknown target data set 'mnistm'; valid: 'mnist', 'mnist-m', 'usps', 'svhn', 'image-folder'"
    ):
        ImageFilesDataModule("mnist", "a", "mnistm", "b")
    with pytest.raises(DANNError, match=r"unknown train_on 'both'; valid: 'source', 'target'"):
        ImageFilesDataModule("mnist", "a", "mnist", "b", train_on="both")


def write_mnist_mnistm_user_files(root):
    """Tiny stand-ins where configs/mnist_mnistm.yaml expects MNIST and the photos (for test_cli)."""
    write_mnist(root / "data" / "mnist", n_train=100, n_test=20)
    write_photos(root / "data" / "photos")
