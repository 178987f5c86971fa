"""An image folder read into memory: the files of folder_files.scan, decoded with Pillow, made
RGB (grey and RGBA alike) and resized to image_size × image_size with bilinear interpolation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from awsaug_cli.data.dataset import DataError, Dataset
from awsaug_cli.data.folder_files import FileList, class_folders, scan
from awsaug_cli.data.images import rgb_image, to_nchw
from awsaug_cli.memory_need import check_decode_fits

DECODE_BYTES_PER_PIXEL = 9  # at the peak: the decoded RGB list, its stack and the channels-first copy
SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".jp2"})


def claims(path: Path) -> bool:
    """A folder whose (train/) class folders hold files with image suffixes."""
    if not path.is_dir():
        return False
    root = path / "train" if (path / "train").is_dir() else path
    return any(p.suffix.lower() in SUFFIXES for folder in class_folders(root) for p in folder.iterdir())


def decode_image(file: Path, image_size: int) -> np.ndarray:
    """One file as RGB uint8 [side, side, 3], as both loaders' sample images and this reader see it."""
    try:
        with Image.open(file) as image:
            rgb = rgb_image(image).resize((image_size, image_size), Image.BILINEAR)
            return np.asarray(rgb)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{file}: cannot decode image ({error})") from None


def _decoded(part: FileList, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    return to_nchw(np.stack([decode_image(file, image_size) for file in part.files])), part.labels


def read(path: Path, image_size: int, *, skip_bad_files: bool = False) -> Dataset:
    files = scan(path, skip_bad=skip_bad_files)
    check_decode_fits(
        sum(len(part.files) for part in files.parts.values()), image_size, DECODE_BYTES_PER_PIXEL, str(path)
    )
    parts = {name: _decoded(part, image_size) for name, part in files.parts.items()}
    val_images, val_labels = parts.get("val", (None, None))
    return Dataset(
        name=f"{path.name} (image folder)",
        classes=files.classes,
        train_images=parts["train"][0],
        train_labels=parts["train"][1],
        test_images=parts["test"][0],
        test_labels=parts["test"][1],
        val_images=val_images,
        val_labels=val_labels,
        skipped=files.skipped,
    )
