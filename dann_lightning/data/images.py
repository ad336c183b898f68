"""Image helpers shared by the digit shifts and the file loaders: photos, MNIST-M blending, resizing,
per-channel normalisation and light augmentation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from typing_extensions import override

from dann_lightning.data.fitted import ScaledDataModule
from dann_lightning.data.transforms import ChannelNormalizer
from dann_lightning.datasets.photos import (  # noqa: F401  (their import path before datasets/)
    PHOTO_SUFFIXES,
    blend_with_photos,
    load_photos,
    read_rgb,
    resize,
    sample_photos,
)


def random_shift(images: Tensor, max_shift: int, generator: torch.Generator | None = None) -> Tensor:
    """Translate each ``(C, H, W)`` image of a batch by up to ``max_shift`` pixels in each direction,
    borders replicated."""
    if max_shift <= 0:
        return images
    n, channels, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4, mode="replicate").flatten(2)
    device = images.device
    draw_on = generator.device if generator is not None else device
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1, 1), generator=generator, device=draw_on).to(device)
    rows = dy + torch.arange(height, device=device)[:, None]
    cols = dx + torch.arange(width, device=device)
    index = (rows * (width + 2 * max_shift) + cols).flatten(1)[:, None].expand(-1, channels, -1)
    return padded.gather(2, index).view(n, channels, height, width)


def augment_training_batch(batch: Any, max_shift: int) -> Any:
    """Shift every image of a DANN training batch ``{"source": (x, y), "target": x | (x, ...)}`` by up
    to ``max_shift`` pixels (on the batch's device, the global torch RNG)."""
    if max_shift <= 0 or not isinstance(batch, dict):
        return batch
    out = dict(batch)
    for domain, entry in batch.items():
        if isinstance(entry, Tensor):
            out[domain] = random_shift(entry, max_shift)
        elif isinstance(entry, (tuple, list)) and entry and isinstance(entry[0], Tensor) and entry[0].ndim == 4:
            out[domain] = [random_shift(entry[0], max_shift), *entry[1:]]
    return out


class ImageDataModule(ScaledDataModule):
    """What the image data modules share: per-channel normalisation with the source training
    split's statistics (``scaler``, a :class:`ChannelNormalizer` kept in the ``state_dict``: a
    resumed or evaluated run normalises as training did), and random shifts of training images
    when ``augment_shift`` > 0.

    Args:
        image_size: the side of the square images served.
        augment_shift: translate each training image by up to this many pixels, afresh at every step.
        batch_size: samples per domain per step.
        num_workers: DataLoader worker processes.
    """

    def __init__(self, *, image_size: int, augment_shift: int, batch_size: int, num_workers: int) -> None:
        super().__init__(ChannelNormalizer(), batch_size=batch_size, num_workers=num_workers)
        self.image_size = image_size
        self.augment_shift = augment_shift

    @property
    def normalizer(self) -> ChannelNormalizer:
        """``scaler``, under its earlier name."""
        return self.scaler

    @override
    def model_inputs(self, input_shape: Sequence[int] | None = None) -> Any:
        """Raw images of the training size, with the fitted per-channel normalisation to fold in."""
        from dann_lightning.preprocessing import standardized_inputs  # preprocessing imports the data package

        return standardized_inputs(
            self.scaler,
            input_shape,
            classes=self.known_classes(),
            image_size=self.image_size,
            describe_images=self.describe_raw_images,
        )

    def describe_raw_images(self, shape: str, colour: str) -> str:
        """What a raw image is, in words, given its ``shape`` text and ``colour``: what an export records."""
        return f"float32 {shape} images on the scale the data module holds them, before its per-channel normalisation"

    @override
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.trainer is not None and self.trainer.training:
            return augment_training_batch(batch, self.augment_shift)
        return batch
