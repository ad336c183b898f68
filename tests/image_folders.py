"""Small image folders written by the tests themselves, and a stand-in for torchvision's ResNet."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dann_lightning.datasets.digit_folders import write_digits_folders


def write_image_folder(
    root: Path,
    classes: Sequence[str] = ("cat", "dog"),
    per_class: int = 6,
    size: tuple[int, int] = (12, 16),
    *,
    suffix: str = ".png",
    seed: int = 0,
    flat: bool = False,
) -> list[Path]:
    """``root/<class>/<k><suffix>`` colour images (``root/<class>_<k>`` when ``flat``); their paths."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for label, name in enumerate(classes):
        for k in range(per_class):
            path = root / f"{name}_{k}{suffix}" if flat else root / name / f"{k}{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 100, (*size, 3), dtype=np.uint8) + np.uint8(100 * label)
            Image.fromarray(pixels).save(path)
            paths.append(path)
    return paths


class TinyResNet(nn.Module):
    """What ``torchvision.models.resnet50`` looks like to ``Backbone``: takes ``weights``, ends in ``fc``."""

    def __init__(self, weights: str | None = None, num_classes: int = 1000) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 7, stride=4), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1))


# configs/image_folders_resnet.yaml run here: the stand-in for torchvision, no workers on a small machine.
RESNET_CONFIG_STAND_IN = [
    f"--model.init_args.feature_extractor.init_args.network={__name__}.TinyResNet",
    "--data.init_args.num_workers=0",
    "--data.init_args.pin_memory=false",
]


def write_office_user_files(root: Path) -> None:
    """Two tiny Office-31-like domains where configs/image_folders_resnet.yaml expects them."""
    for seed, domain in enumerate(["amazon", "webcam"]):
        classes = ("back_pack", "bike", "mug")
        write_image_folder(
            root / "data" / "office31" / domain / "images", classes, 24, (40, 48), suffix=".jpg", seed=seed
        )


def write_digits_user_files(root: Path) -> None:
    """digits -> digits-M as PNG folders where configs/image_folders_offline.yaml expects them."""
    write_digits_folders(root / "data" / "digits_folders", image_size=28)
