"""Digits -> digits-M: splits, the MNIST-M recipe, determinism, normalisation, options."""

import numpy as np
import pytest
import torch
from PIL import Image

from dann_lightning.data import DigitsDataModule, make_digits_shift
from dann_lightning.data.images import blend_with_photos, random_shift
from dann_lightning.errors import DANNError

SPLITS = ("source_train", "source_val", "target_train", "target_val", "target_test")


@pytest.fixture(scope="module")
def shift():
    return make_digits_shift(image_size=16, seed=0)


def built(**kwargs) -> DigitsDataModule:
    datamodule = DigitsDataModule(**{"image_size": 16, "batch_size": 16, **kwargs})
    datamodule.setup("fit")
    datamodule.setup("test")
    return datamodule


def test_source_and_target_are_disjoint_class_balanced_halves(shift):
    source = np.concatenate([shift.indices["source_train"], shift.indices["source_val"]])
    target = np.concatenate([shift.indices[name] for name in ("target_train", "target_val", "target_test")])
    assert len(set(source.tolist())) == len(source) and len(set(target.tolist())) == len(target)
    assert not set(source.tolist()) & set(target.tolist())
    assert len(source) + len(target) == 1797  # every digit, once
    from sklearn.datasets import load_digits

    labels = load_digits().target
    assert np.abs(np.bincount(labels[source]) - np.bincount(labels[target])).max() <= 1
    # Labels travel with their images.
    for name in SPLITS:
        np.testing.assert_array_equal(getattr(shift, name)[1], labels[shift.indices[name]])


def test_split_sizes_follow_the_fractions(shift):
    sizes = {name: len(getattr(shift, name)[1]) for name in SPLITS}
    assert sizes["source_val"] == round(0.1 * (sizes["source_train"] + sizes["source_val"]))
    target = sizes["target_train"] + sizes["target_val"] + sizes["target_test"]
    assert sizes["target_val"] == round(0.1 * target) and sizes["target_test"] == round(0.4 * target)


def test_source_is_grey_in_three_equal_channels_and_target_is_coloured(shift):
    source, target = shift.source_train[0], shift.target_test[0]
    assert source.shape[1:] == target.shape[1:] == (3, 16, 16)
    assert source.dtype == target.dtype == np.float32
    assert np.array_equal(source[:, 0], source[:, 1]) and np.array_equal(source[:, 0], source[:, 2])
    assert np.abs(target[:, 0] - target[:, 1]).mean() > 0.02
    assert target.min() >= 0.0 and target.max() <= 1.0


def test_target_is_the_absolute_difference_of_a_photo_patch_and_the_digit():
    # A photo whose pixels encode where they are: the blend reveals which patch each digit got.
    rows, cols = np.meshgrid(np.arange(30), np.arange(40), indexing="ij")
    photo = np.stack([rows * 8, cols * 6, np.full_like(rows, 77)], axis=-1).astype(np.uint8)
    digits = np.zeros((5, 6, 6), np.float32)
    digits[:, 2:4, 1:5] = 1.0
    blended = blend_with_photos(digits, [photo], np.random.default_rng(0))
    assert blended.shape == (5, 3, 6, 6)
    tops = set()
    for image, digit in zip(blended, digits, strict=True):
        top, left = round(image[0, 0, 0] * 255 / 8), round(image[1, 0, 0] * 255 / 6)
        patch = photo[top : top + 6, left : left + 6].transpose(2, 0, 1) / 255.0
        np.testing.assert_allclose(image, np.abs(patch - digit[None]), atol=1e-6)
        tops.add((top, left))
    assert len(tops) > 1  # patches drawn at random places


def test_same_seed_gives_identical_data_and_another_seed_differs():
    first, again, other = make_digits_shift(16, seed=3), make_digits_shift(16, seed=3), make_digits_shift(16, seed=4)
    for name in SPLITS:
        np.testing.assert_array_equal(getattr(first, name)[0], getattr(again, name)[0])
        np.testing.assert_array_equal(getattr(first, name)[1], getattr(again, name)[1])
    assert not np.array_equal(first.indices["source_train"], other.indices["source_train"])
    assert not np.array_equal(first.target_test[0], other.target_test[0])


def test_several_blends_render_each_training_digit_on_other_patches():
    one, three = make_digits_shift(16, blends_per_digit=1, seed=0), make_digits_shift(16, blends_per_digit=3, seed=0)
    n = len(one.target_train[1])
    assert len(three.target_train[1]) == 3 * n
    np.testing.assert_array_equal(three.indices["target_train"], np.tile(one.indices["target_train"], 3))
    first, second = three.target_train[0][:n], three.target_train[0][n : 2 * n]
    assert np.abs(first - second).mean(axis=(1, 2, 3)).min() > 0  # every digit got another patch
    # Validation and test splits are rendered once, whatever blends_per_digit is.
    assert len(three.target_test[1]) == len(one.target_test[1])


def test_digits_target_domain_is_the_source_recipe():
    same = make_digits_shift(16, target_domain="digits", seed=0)
    images = same.target_test[0]
    assert np.array_equal(images[:, 0], images[:, 2])


def test_a_folder_of_photos_replaces_the_sample_photos(tmp_path):
    for i, colour in enumerate([(0, 0, 255), (0, 0, 255)]):
        Image.new("RGB", (20, 30), colour).save(tmp_path / f"{i}.png")
    blue = make_digits_shift(16, photos=str(tmp_path), seed=0)
    background = blue.target_test[0][:, :, 0, 0]  # corners carry no ink after upscaling
    np.testing.assert_allclose(background[:, 2], 1.0, atol=0.05)
    np.testing.assert_allclose(background[:, :2], 0.0, atol=0.05)


def test_bad_options_name_the_argument_and_the_valid_values(tmp_path):
    with pytest.raises(DANNError, match=r"unknown target_domain 'mnist-m'; valid: 'digits', 'digits-m'"):
        DigitsDataModule(target_domain="mnist-m")
    with pytest.raises(DANNError, match=r"unknown train_on 'both'; valid: 'source', 'target'"):
        DigitsDataModule(train_on="both")
    with pytest.raises(DANNError, match=r"image_size must be an integer >= 8, got 4"):
        DigitsDataModule(image_size=4)
    with pytest.raises(DANNError, match=r"val_fraction \+ test_fraction must leave target training images"):
        make_digits_shift(16, val_fraction=0.5, test_fraction=0.5)
    Image.new("RGB", (10, 10)).save(tmp_path / "small.png")
    with pytest.raises(DANNError, match=r"no photo is at least 16x16 pixels"):
        make_digits_shift(16, photos=str(tmp_path))


def test_normalisation_comes_from_the_source_and_is_kept_in_the_state():
    datamodule = built(seed=1)
    source = datamodule.source_train.tensors[0]
    torch.testing.assert_close(source.mean((0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(source.std((0, 2, 3), correction=0), torch.ones(3), atol=1e-4, rtol=0)
    target = datamodule.target_train.tensors[0]
    assert target.mean() > 0.1  # the target is normalised with source statistics, not its own
    unshifted = built(seed=1, target_domain="digits")
    torch.testing.assert_close(unshifted.scaler.mean, datamodule.scaler.mean)

    state = datamodule.state_dict()
    restored = DigitsDataModule(image_size=16, seed=1)
    restored.setup("test")
    restored.scaler.mean += 1.0  # as if fitted otherwise: the checkpoint's statistics win
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.target_test.tensors[0], datamodule.target_test.tensors[0])


def test_a_state_dict_of_dann_lightning_0_1_0_still_restores_the_normalisation():
    datamodule = built(seed=1)
    # 0.1.0 kept the image statistics under "normalizer", and the attribute had that name too.
    state = {"normalizer": datamodule.state_dict()["scaler"]}
    assert datamodule.normalizer is datamodule.scaler
    restored = DigitsDataModule(image_size=16, seed=1)
    restored.setup("test")
    restored.scaler.mean += 1.0
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.target_test.tensors[0], datamodule.target_test.tensors[0])


def test_target_training_split_is_unlabelled_and_train_on_target_uses_its_labels():
    datamodule = built(seed=0, blends_per_digit=2)
    assert len(datamodule.target_train.tensors) == 1
    oracle = built(seed=0, blends_per_digit=2, train_on="target")
    torch.testing.assert_close(oracle.source_train.tensors[0], datamodule.target_train.tensors[0])
    expected = torch.as_tensor(make_digits_shift(16, blends_per_digit=2, seed=0).target_train[1])
    assert torch.equal(oracle.source_train.tensors[1], expected)
    # Evaluation splits are the same with either option.
    torch.testing.assert_close(oracle.target_test.tensors[0], datamodule.target_test.tensors[0])


def test_random_shift_translates_with_replicated_borders():
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    shifted = {tuple(random_shift(image, 1).flatten().tolist()) for _ in range(60)}
    assert len(shifted) == 9  # every offset in {-1, 0, 1}^2
    right = torch.tensor([[0.0, 0, 1, 2], [4, 4, 5, 6], [8, 8, 9, 10], [12, 12, 13, 14]])
    assert tuple(right.flatten().tolist()) in shifted
    assert torch.equal(random_shift(image, 0), image)


def test_augmentation_shifts_training_batches_only():
    datamodule = built(augment_shift=2)

    batch = next(iter(datamodule.train_dataloader()))[0]

    class FakeTrainer:
        training = True

    datamodule.trainer = FakeTrainer()
    augmented = datamodule.on_after_batch_transfer(batch, 0)
    assert torch.equal(augmented["source"][1], batch["source"][1])
    assert not torch.equal(augmented["source"][0], batch["source"][0])
    assert not torch.equal(augmented["target"][0], batch["target"][0])
    FakeTrainer.training = False
    assert datamodule.on_after_batch_transfer(batch, 0) is batch
