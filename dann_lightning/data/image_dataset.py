"""ImageFileDataset: image files decoded when their batch is drawn (streaming), or once into memory."""

from __future__ import annotations

import logging
from typing import Any, Literal

import torch
from torch import Tensor
from torch.utils.data import Dataset

from dann_lightning.data.image_listing import ImageListing
from dann_lightning.data.image_transforms import ImageTransform, check_image_header, decode_image, normalized
from dann_lightning.data.transforms import ChannelNormalizer
from dann_lightning.errors import DataError

OnBadImage = Literal["raise", "skip"]
log = logging.getLogger(__name__)


class ImageFileDataset(Dataset):
    """The images of a listing, each decoded, resized, cropped, flipped and normalised in
    ``__getitem__`` (so in the DataLoader's workers), yielding ``(x, y)`` or ``x`` when unlabelled.

    Memory holds the listing alone, unless :meth:`load_into_memory` decoded every image once (the
    in-memory path for small sets: uint8 at ``resize_size``). ``statistics`` is read at every item,
    so a checkpoint's statistics, restored after the dataset was built, apply.

    Args:
        listing: the files, with their labels or none.
        transform: resize / crop / flip.
        statistics: the per-channel normalisation, on the 0..255 scale.
        train: draw random crops and flips (training), else the centre crop.
        channels: 3 (RGB) or 1 (grey).
        on_bad_image: ``"raise"``: an image that cannot be decoded stops with its path; ``"skip"``:
            it is logged with its path and the next image is served in its place.
        labelled: yield labels (when the listing has them).
    """

    def __init__(
        self,
        listing: ImageListing,
        transform: ImageTransform,
        statistics: ChannelNormalizer,
        *,
        train: bool,
        channels: int = 3,
        on_bad_image: OnBadImage = "raise",
        labelled: bool = True,
    ) -> None:
        self.listing, self.transform, self.statistics = listing, transform, statistics
        self.train, self.channels, self.on_bad_image = train, channels, on_bad_image
        self.labels = torch.from_numpy(listing.labels) if labelled and listing.labels is not None else None
        self.images: Tensor | None = None  # uint8 (N, C, R, R) once loaded into memory

    def __len__(self) -> int:
        return len(self.listing)

    def __getitem__(self, index: int) -> Any:
        image = self.resized_image(index)
        x = self.transform.train(image) if self.train else self.transform.evaluate(image)
        x = normalized(x, self.statistics)
        return x if self.labels is None else (x, self.labels[index])

    def resized_image(self, index: int) -> Tensor:
        """Image ``index`` decoded and resized to ``resize_size``, uint8; a bad file skipped or named."""
        if self.images is not None:
            return self.images[index]
        for attempt in range(len(self)):
            path = str(self.listing.paths[(index + attempt) % len(self)])
            try:
                return self.transform.resized(decode_image(path, self.channels))
            except DataError as error:
                if self.on_bad_image == "raise":
                    raise
                log.warning("skipped an image that cannot be decoded (on_bad_image: skip): %s", error)
        raise DataError(f"no image of {len(self)} could be decoded (the first: {self.listing.paths[0]})")

    def load_into_memory(self) -> None:
        """Decode every image once, now, into one uint8 tensor (the in-memory path)."""
        side = self.transform.resize_size
        images = torch.empty((len(self), self.channels, side, side), dtype=torch.uint8)
        for index in range(len(self)):
            images[index] = self.resized_image(index)
        self.images = images


def readable_listing(listing: ImageListing, on_bad_image: OnBadImage, role: str) -> ImageListing:
    """``listing`` with every file's header read: a file PIL cannot identify stops with its path
    (``"raise"``) or is dropped, counted in the log with the first paths (``"skip"``).

    Examples:
        >>> import numpy as np, tempfile, pathlib
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "bad.png"; _ = bad.write_bytes(b"not a png")
        >>> readable_listing(ImageListing(np.array([str(bad)]), None, None), "raise", "target")
        Traceback (most recent call last):
        ...
        dann_lightning.errors.DataError: target image ... cannot be read: ...
    """
    problems = [(index, check_image_header(path)) for index, path in enumerate(listing.paths)]
    bad = [(index, why) for index, why in problems if why is not None]
    if not bad:
        return listing
    first_index, first_why = bad[0]
    if on_bad_image == "raise":
        raise DataError(
            f"{role} image {listing.paths[first_index]} cannot be read: {first_why} ({len(bad)} such file(s); "
            "on_bad_image: skip drops them)"
        )
    shown = ", ".join(str(listing.paths[index]) for index, _ in bad[:3])
    log.warning("%s: skipped %d image file(s) that cannot be read (on_bad_image: skip): %s", role, len(bad), shown)
    keep = sorted(set(range(len(listing))) - {index for index, _ in bad})
    if not keep:
        raise DataError(f"{role}: none of its {len(listing)} image files can be read (the first: {shown})")
    return listing.subset(torch.as_tensor(keep).numpy())
