"""Digits -> digits-M written as image folders (PNG files), the layout of Office-31: a stand-in for
a user's own two folders that needs nothing downloaded (what ``configs/image_folders_offline.yaml``
and ``scripts/image_folders.py`` read)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dann_lightning.datasets.digits import make_digits_shift

FOLDERS = ("source", "target", "target_test")


def write_digits_folders(root: str | Path, *, seed: int = 0, **options: Any) -> dict[str, Path]:
    """Write :func:`~dann_lightning.datasets.make_digits_shift`'s draw as ``root/source/<digit>/*.png``
    (source training and validation images), ``root/target/<digit>/*.png`` (target training and
    validation renderings) and ``root/target_test/<digit>/*.png``, pixel values rounded to whole numbers.

    Args:
        root: the folder to write into (created).
        seed: the draw's seed.
        options: more keywords of ``make_digits_shift`` (``image_size``, ``blends_per_digit``, ...).

    Returns:
        The three folders, by name.

    Examples:
        >>> import tempfile
        >>> folders = write_digits_folders(tempfile.mkdtemp(), image_size=16)
        >>> sorted(p.name for p in folders["source"].iterdir())[:3], len(list(folders["target_test"].rglob("*.png")))
        (['0', '1', '2'], 358)
    """
    from PIL import Image

    shift = make_digits_shift(seed=seed, **options)
    parts = {
        "source": [shift.source_train, shift.source_val],
        "target": [shift.target_train, shift.target_val],
        "target_test": [shift.target_test],
    }
    folders = {}
    for name, splits in parts.items():
        folder = Path(root) / name
        images = np.concatenate([split[0] for split in splits if split is not None])
        labels = np.concatenate([split[1] for split in splits if split is not None])
        pixels = np.round(images * 255.0).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
        for index, (image, label) in enumerate(zip(pixels, labels, strict=True)):
            path = folder / str(int(label)) / f"{index:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path)
        folders[name] = folder
    return folders
