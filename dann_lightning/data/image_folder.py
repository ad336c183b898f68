"""ImageFolderDataModule: two image folders (``root/<class>/<image>``), decoded as their batches are
drawn, the way vision users keep Office-31, Office-Home, VisDA or their own camera domains."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader
from typing_extensions import override

from dann_lightning.checks import check_choice, check_int, check_real
from dann_lightning.data.domain import DomainDataModule
from dann_lightning.data.image_dataset import ImageFileDataset, OnBadImage, readable_listing
from dann_lightning.data.image_listing import ImageListing, list_class_folders, list_images
from dann_lightning.data.image_transforms import NORMALIZE, ImageTransform, Normalize, fixed_statistics
from dann_lightning.data.transforms import ChannelNormalizer
from dann_lightning.errors import ConfigurationError, DataError

Streaming = bool | Literal["auto"]
# streaming: "auto" keeps a domain pair in memory below this many bytes of decoded pixels.
IN_MEMORY_BYTES = 256 * 2**20
STATISTICS_IMAGES = 512  # source images that normalize: source fits its statistics on


class ImageFolderDataModule(DomainDataModule):
    """A source and a target image folder, each ``root/<class>/<image>`` with the same class folders
    (the target's labels are never trained on; ``target_labels: false`` reads a flat or differently
    sorted target folder unlabelled).

    Files are listed, and their headers read, in ``setup``: a folder without class folders, a class
    folder missing from the other domain, a file PIL cannot identify is named before the first
    step; files that are not images (by suffix) are ignored with a count in the log. Each image is
    decoded (PIL), resized to ``resize_size`` square, cropped to ``image_size`` (random resized crop
    and flips at training where asked, the centre at evaluation) and normalised in the DataLoader's
    workers: memory holds the file list only. ``streaming: false`` (or ``"auto"`` below 256 MiB of
    decoded pixels) decodes every image once at ``setup`` and serves them from memory, the same pixels.

    Splits: each domain loses ``val_fraction`` (seeded) to validation; the target test split is
    ``target_test_root``, else the whole target folder (the Office protocol). ``predict`` (a folder
    or a list of files) is what ``dann-lightning predict`` reads; its rows are named by file path.

    Args:
        source_root: labelled source folder, ``root/<class>/<image>``.
        target_root: target folder: the same class folders, or any tree of images with ``target_labels: false``.
        target_test_root: a labelled target folder to test on; default: ``target_root``.
        predict: a folder of images or a list of image files (and folders) to predict.
        image_size: side of the square images the network gets.
        resize_size: side each image is resized to before cropping; default ``image_size`` (no crop).
        random_resized_crop: training crops a random part (area ``crop_scale``) and resizes it to ``image_size``.
        crop_scale: area fractions of a random resized crop.
        horizontal_flip: training flips half the images.
        channels: 3 (RGB) or 1 (grey).
        normalize: ``"imagenet"`` (ImageNet's statistics, what pretrained weights expect), ``"source"``
            (per-channel statistics of up to 512 source training images), ``"none"`` (0..1), or
            ``"auto"``: ``"imagenet"`` when the model has a pretrained network (``pretrained`` true:
            [`Backbone`][dann_lightning.nets.Backbone] or ``ResNetFeatures`` given weights), else ``"source"``.
        target_labels: read the target's class folders as labels (for ``val/target_acc`` and test only).
        streaming: decode at each draw (``true``), once into memory (``false``), or by size (``"auto"``).
        on_bad_image: ``"raise"`` (default) or ``"skip"`` a file that cannot be read or decoded.
        val_fraction: fraction of each domain held out for validation.
        max_samples: use at most this many images of each domain (a seeded subset): quick runs.
        seed: seed of the splits and subsets.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes per loader (training runs one loader per domain).
        pin_memory: pin batches in page-locked memory (faster copies to a GPU).
        persistent_workers: keep workers between epochs; default: whenever ``num_workers > 0``.
    """

    def __init__(
        self,
        source_root: str | None = None,
        target_root: str | None = None,
        target_test_root: str | None = None,
        predict: str | list[str] | None = None,
        image_size: int = 224,
        resize_size: int | None = None,
        random_resized_crop: bool = False,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        horizontal_flip: bool = False,
        channels: int = 3,
        normalize: Normalize = "auto",
        target_labels: bool = True,
        streaming: Streaming = "auto",
        on_bad_image: OnBadImage = "raise",
        val_fraction: float = 0.1,
        max_samples: int | None = None,
        seed: int = 0,
        *,
        batch_size: int = 32,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory)
        check_int("image_size", image_size, minimum=1)
        resize_size = image_size if resize_size is None else check_int("resize_size", resize_size, minimum=image_size)
        low, high = crop_scale
        check_real("crop_scale[0]", low, minimum=0.0, strict=True)
        check_real("crop_scale[1]", high, minimum=low, maximum=1.0)
        check_real("val_fraction", val_fraction, minimum=0.0, maximum=1.0, strict=True)
        if channels not in (1, 3):
            raise ConfigurationError(f"channels must be 1 or 3, got {channels!r}")
        check_choice("normalize", normalize, NORMALIZE)
        check_choice("on_bad_image", on_bad_image, ("raise", "skip"))
        if streaming not in (True, False, "auto"):
            raise ConfigurationError(f"streaming must be true, false or 'auto', got {streaming!r}")
        if max_samples is not None:
            check_int("max_samples", max_samples, minimum=2)
        self.save_hyperparameters()
        self.transform = ImageTransform(image_size, resize_size, random_resized_crop, (low, high), horizontal_flip)
        self.image_size = image_size
        self.persistent_workers = persistent_workers
        self.class_names: list[str] | None = None
        self.normalization: str | None = None if normalize == "auto" else normalize
        self.statistics = (
            fixed_statistics(normalize, channels) if normalize in ("imagenet", "none") else ChannelNormalizer()
        )
        self.predict_set: ImageFileDataset | None = None
        self._listings: dict[str, ImageListing] | None = None

    task = "classification"

    @property
    @override
    def classes(self) -> list[str] | None:
        """The source's class folder names (after ``setup``, or from a checkpoint's ``state_dict``)."""
        return self.class_names

    @override
    def setup(self, stage: str) -> None:
        if stage == "predict" and self.hparams.predict is not None:
            listing = readable_listing(
                list_images(self.hparams.predict, role="predict"), self.hparams.on_bad_image, "predict"
            )
            self._resolve_normalization(fit=False)  # a checkpoint's statistics are restored after setup
            self.predict_set = self._dataset(listing, train=False, labelled=False)
            return
        if self._listings is None:
            self._listings = self._list_splits()
            self._resolve_normalization()
            self._build_datasets()
        super().setup(stage)

    def _list_splits(self) -> dict[str, ImageListing]:
        h = self.hparams
        if h.source_root is None or h.target_root is None:
            raise ConfigurationError("ImageFolderDataModule needs source_root and target_root (folders of images)")
        on_bad = h.on_bad_image
        source = list_class_folders(h.source_root, role="source")
        if h.target_labels:
            target = list_class_folders(h.target_root, source.classes, role="target")
        else:
            target = list_images(h.target_root, role="target")
        self.class_names = source.classes
        rng = np.random.default_rng(h.seed)
        checked = {
            role: readable_listing(self._subset(listing, rng), on_bad, role)
            for role, listing in [("source", source), ("target", target)]
        }
        splits: dict[str, ImageListing] = {}
        for role, listing in checked.items():
            order = rng.permutation(len(listing))
            n_val = max(1, round(h.val_fraction * len(listing)))
            splits[f"{role}_val"], splits[f"{role}_train"] = (
                listing.subset(order[:n_val]),
                listing.subset(order[n_val:]),
            )
        # Without a test folder, the whole target folder (the Office protocol: its labels are never trained on).
        splits["target_test"] = checked["target"]
        if h.target_test_root is not None:
            test = list_class_folders(h.target_test_root, source.classes, role="target test")
            splits["target_test"] = readable_listing(self._subset(test, rng), on_bad, "target test")
        return splits

    def _subset(self, listing: ImageListing, rng: np.random.Generator) -> ImageListing:
        limit = self.hparams.max_samples
        if limit is None or len(listing) <= limit:
            return listing
        return listing.subset(np.sort(rng.choice(len(listing), size=limit, replace=False)))

    def _resolve_normalization(self, fit: bool = True) -> None:
        """``normalize: auto`` decided (from the model), and ``source`` statistics fitted, unless restored."""
        if self.normalization is None:
            self.normalization = "imagenet" if _model_is_pretrained(self.trainer) else "source"
            if self.normalization == "imagenet":
                self.statistics = fixed_statistics("imagenet", self.hparams.channels)
        if fit and self.normalization == "source" and not self.statistics.fitted:
            self.statistics.fit(self._statistics_sample(self._listings["source_train"]))

    def _statistics_sample(self, listing: ImageListing) -> torch.Tensor:
        rng = np.random.default_rng(self.hparams.seed)
        count = min(STATISTICS_IMAGES, len(listing))
        sample = listing.subset(np.sort(rng.choice(len(listing), size=count, replace=False)))
        dataset = self._dataset(sample, train=False)
        return torch.stack([dataset.transform.evaluate(dataset.resized_image(i)) for i in range(count)])

    def _build_datasets(self) -> None:
        s = self._listings
        assert s is not None
        labelled_target = bool(self.hparams.target_labels)
        self.source_train = self._dataset(s["source_train"], train=True)
        self.source_val = self._dataset(s["source_val"], train=False)
        self.target_train = self._dataset(s["target_train"], train=True, labelled=False)
        self.target_val = self._dataset(s["target_val"], train=False, labelled=labelled_target)
        self.target_test = self._dataset(s["target_test"], train=False, labelled=labelled_target)
        if self.in_memory:
            for dataset in (self.source_train, self.source_val, self.target_train, self.target_val, self.target_test):
                dataset.load_into_memory()

    @property
    def in_memory(self) -> bool:
        """Whether images are decoded once into memory (``streaming: false``, or ``"auto"`` for a small set)."""
        streaming = self.hparams.streaming
        if streaming != "auto":
            return not streaming
        if self._listings is None:
            return False
        side, images = self.transform.resize_size, sum(len(listing) for listing in self._listings.values())
        return images * self.hparams.channels * side * side <= IN_MEMORY_BYTES

    def _dataset(self, listing: ImageListing, *, train: bool, labelled: bool = True) -> ImageFileDataset:
        h = self.hparams
        return ImageFileDataset(
            listing,
            self.transform,
            self.statistics,
            train=train,
            channels=h.channels,
            on_bad_image=h.on_bad_image,
            labelled=labelled,
        )

    @override
    def predict_dataloader(self) -> DataLoader:
        if self.predict_set is None:
            return super().predict_dataloader()
        if not self.statistics.fitted:
            raise DataError(
                "predict on image files needs the normalisation the model was trained with: give --ckpt_path "
                "(the checkpoint holds it), or normalize: imagenet | none"
            )
        return self._loader(self.predict_set, sampler=self._evaluation_sampler(self.predict_set))

    @override
    def prediction_ids(self) -> tuple[str, Any] | None:
        """``("path", file paths)`` of the predicted images: ``predict``'s, else the target test split's."""
        dataset = self.predict_set if self.predict_set is not None else self.target_test
        return None if dataset is None else ("path", dataset.listing.paths)

    @override
    def model_inputs(self, input_shape: Sequence[int] | None = None) -> Any:
        """Raw images as decoded and resized (and centre-cropped), with the normalisation folded in."""
        from dann_lightning.preprocessing import standardized_inputs, unscaled_inputs  # imports the data package

        if not self.statistics.fitted:
            return unscaled_inputs(input_shape, classes=self.known_classes())
        return standardized_inputs(
            self.statistics,
            input_shape,
            classes=self.known_classes(),
            image_size=self.image_size,
            describe_images=self.describe_raw_images,
        )

    def describe_raw_images(self, shape: str, colour: str) -> str:
        """What a deployed model's raw input is: the decoding, resizing and cropping it expects done."""
        size, resized = self.image_size, self.transform.resize_size
        crop = f", then its centre {size}x{size} cropped" if resized != size else ""
        return (
            f"float32 {shape} {colour} pixel values 0..255, un-normalised (the {self.normalization} normalisation "
            f"is folded into the model): each image file decoded to {colour}, resized to {resized}x{resized} "
            f"(bilinear, antialiased when shrinking, rounded to whole values){crop}"
        )

    @override
    def state_dict(self) -> dict[str, Any]:
        return {"classes": self.class_names, "normalize": self.normalization, "scaler": self.statistics.state_dict()}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("classes"):
            self.class_names = list(state_dict["classes"])
        if state_dict.get("normalize"):
            self.normalization = state_dict["normalize"]
        self.statistics.load_state_dict(state_dict.get("scaler", {}))  # in place: the datasets read it

    @override
    def _loader_options(self) -> dict[str, Any]:
        options = super()._loader_options()
        if self.persistent_workers is not None:
            options["persistent_workers"] = self.persistent_workers and self.num_workers > 0
        return options


def _model_is_pretrained(trainer: Any) -> bool:
    """Whether the model being trained holds a network marked ``pretrained`` (a backbone given weights)."""
    model = getattr(trainer, "lightning_module", None) if trainer is not None else None
    if model is None:
        return False
    return any(getattr(module, "pretrained", False) is True for module in model.modules())
