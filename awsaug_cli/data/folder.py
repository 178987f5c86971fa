"""An image folder: one sub-folder per class (optionally inside train/, val/, test/). Images are
decoded with Pillow, made RGB (grey and RGBA alike) and resized to image_size × image_size with
bilinear interpolation. Without a test/ folder, 20 % of the images are held out as the test part
(stratified, fixed seed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from awsaug_cli.data.dataset import DataError, Dataset
from awsaug_cli.data.images import to_nchw
from awsaug_cli.data.split import stratified_split

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})
HELD_OUT = 0.2
SPLITS = ("train", "val", "test")


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def claims(path: Path) -> bool:
    if not path.is_dir():
        return False
    root = path / "train" if (path / "train").is_dir() else path
    return any(_images_in(folder) for folder in _class_folders(root))


def _decode(file: Path, image_size: int) -> np.ndarray:
    try:
        with Image.open(file) as image:
            rgb = image.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
            return np.asarray(rgb)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{file}: cannot decode image ({error})") from None


def _read_split(folder: Path, classes: tuple[str, ...], image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = [], []
    for class_folder in _class_folders(folder):
        if class_folder.name not in classes:
            raise DataError(f"{class_folder}: class {class_folder.name!r} is not among the training classes")
        files = _images_in(class_folder)
        if not files:
            raise DataError(f"{class_folder}: class folder without images")
        images += [_decode(file, image_size) for file in files]
        labels += [classes.index(class_folder.name)] * len(files)
    if not images:
        raise DataError(f"{folder}: no class folders with images")
    return to_nchw(np.stack(images)), torch.tensor(labels, dtype=torch.int64)


def read(path: Path, image_size: int) -> Dataset:
    split_layout = (path / "train").is_dir()
    train_folder = path / "train" if split_layout else path
    classes = tuple(folder.name for folder in _class_folders(train_folder))
    if len(classes) < 2:
        raise DataError(f"{train_folder}: an image folder needs at least 2 class folders, found {len(classes)}")
    train_images, train_labels = _read_split(train_folder, classes, image_size)
    parts = {}
    for split in ("val", "test"):
        if split_layout and (path / split).is_dir():
            parts[split] = _read_split(path / split, classes, image_size)
    if "test" not in parts:
        keep, held = stratified_split(train_labels, max(1, round(HELD_OUT * len(train_labels))), seed=0)
        parts["test"] = (train_images[held], train_labels[held])
        train_images, train_labels = train_images[keep], train_labels[keep]
    val_images, val_labels = parts.get("val", (None, None))
    return Dataset(
        name=f"{path.name} (image folder)",
        classes=classes,
        train_images=train_images,
        train_labels=train_labels,
        test_images=parts["test"][0],
        test_labels=parts["test"][1],
        val_images=val_images,
        val_labels=val_labels,
    )
