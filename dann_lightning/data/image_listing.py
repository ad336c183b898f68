"""Listing image folders: ``root/<class>/<image>`` (labelled) or any tree of images (unlabelled),
checked before anything is decoded.

What is wrong with a folder is said here, at listing time, with its path: a folder without class
folders, a class folder missing from the other domain or holding no image. Files that are not
images (by suffix) are skipped and counted in the log. The listing holds paths as one numpy string
array, not a Python list: DataLoader workers read it without touching a reference count per path,
so their memory does not grow page by page as they go.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dann_lightning.datasets.photos import PHOTO_SUFFIXES
from dann_lightning.errors import DataError, MissingFileError

IMAGE_SUFFIXES = PHOTO_SUFFIXES
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageListing:
    """The image files of one domain, in a fixed order (sorted by class, then by path).

    Attributes:
        paths: ``(N,)`` numpy string array of file paths.
        labels: ``(N,)`` int64 class indices into ``classes``, or ``None`` for unlabelled images.
        classes: the class folder names, sorted; ``None`` for unlabelled images.
        ignored: how many files were skipped because their suffix is not an image's.
    """

    paths: np.ndarray
    labels: np.ndarray | None
    classes: list[str] | None
    ignored: int = 0

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: np.ndarray) -> ImageListing:
        """The files at ``index``, in that order."""
        labels = None if self.labels is None else self.labels[index]
        return ImageListing(self.paths[index], labels, self.classes, 0)


def list_class_folders(root: str | Path, classes: Sequence[str] | None = None, *, role: str = "image") -> ImageListing:
    """Every image of ``root/<class>/...`` (class folders searched recursively), labelled by class folder.

    Args:
        root: the folder of class folders.
        classes: the class folders ``root`` must hold (the other domain's); default: whatever it holds.
        role: what the folder is, for messages (``"source"``).

    Raises:
        MissingFileError: ``root`` does not exist.
        DataError: ``root`` has no class folder, lacks one of ``classes`` or has one more, or a class
            folder holds no image.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ["cat/a.png", "cat/b.jpg", "dog/c.png", "dog/notes.txt"]:
        ...     (root / name).parent.mkdir(exist_ok=True); _ = (root / name).write_bytes(b"")
        >>> listing = list_class_folders(root)
        >>> listing.classes, listing.labels.tolist(), listing.ignored
        (['cat', 'dog'], [0, 0, 1], 1)
    """
    base = _existing_folder(root, role)
    found = sorted(path.name for path in base.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not found:
        raise DataError(
            f"{role} folder {base} has no class folder: expected root/<class>/<image> (one folder per class, as "
            "Office-31 and Office-Home ship); an unlabelled target folder may be flat with target_labels: false"
        )
    if classes is not None and found != list(classes):
        missing = sorted(set(classes) - set(found))
        extra = sorted(set(found) - set(classes))
        raise DataError(
            f"{role} folder {base} must hold the same class folders as the source: missing {missing}, "
            f"extra {extra}. Give both domains the same class folders, or read the target unlabelled "
            "(target_labels: false)"
        )
    paths, labels, ignored = [], [], 0
    for label, name in enumerate(found):
        images, skipped = _images_under(base / name)
        if not images:
            raise DataError(f"{role} class folder {base / name} holds no image (expected {', '.join(IMAGE_SUFFIXES)})")
        paths += images
        labels += [label] * len(images)
        ignored += skipped
    _log_ignored(base, ignored)
    return ImageListing(np.array(paths), np.asarray(labels, dtype=np.int64), found, ignored)


def list_images(sources: str | Path | Sequence[str | Path], *, role: str = "image") -> ImageListing:
    """Unlabelled images: every image under a folder (flat, or class folders whose names are
    ignored), or a list of files and folders. Order: sorted by path within each folder, as given.

    Raises:
        MissingFileError: a folder or file named does not exist.
        DataError: nothing named holds an image, or a file named is not an image.
    """
    entries = [sources] if isinstance(sources, (str, Path)) else list(sources)
    paths: list[str] = []
    ignored = 0
    for entry in entries:
        path = Path(entry)
        if path.is_dir():
            images, skipped = _images_under(path)
            paths += images
            ignored += skipped
            _log_ignored(path, skipped)
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{role} file {path} is not an image: expected one of {', '.join(IMAGE_SUFFIXES)}")
            paths.append(str(path))
        else:
            raise MissingFileError(f"{role} path {path} does not exist (expected a folder of images or an image file)")
    if not paths:
        raise DataError(f"{role} {_named(entries)} holds no image (expected {', '.join(IMAGE_SUFFIXES)})")
    return ImageListing(np.array(paths), None, None, ignored)


def _existing_folder(root: str | Path, role: str) -> Path:
    base = Path(root)
    if not base.is_dir():
        raise MissingFileError(f"{role} folder {base} does not exist (expected root/<class>/<image> files)")
    return base


def _images_under(folder: Path) -> tuple[list[str], int]:
    """The image files under ``folder`` (recursively, sorted, hidden files aside) and how many others."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    images = [str(p) for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    return images, len(files) - len(images)


def _log_ignored(folder: Path, count: int) -> None:
    if count:
        log.warning(
            "%s: ignored %d file(s) that are not images (by suffix: %s)", folder, count, ", ".join(IMAGE_SUFFIXES)
        )


def _named(entries: Sequence[str | Path]) -> str:
    return str(entries[0]) if len(entries) == 1 else f"{len(entries)} paths ({entries[0]}, ...)"
