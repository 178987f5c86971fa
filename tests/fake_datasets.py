"""Datasets written by the tests in the real on-disk formats (small, deterministic)."""

from __future__ import annotations

import gzip
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def write_cifar(root: Path, variant: str = "cifar10", per_batch: int = 12, classes: int = 10) -> dict:
    """A CIFAR python folder; returns what was written (train/test data and labels)."""
    generator = rng(1)
    if variant == "cifar10":
        folder, train_names, test_name, meta_name, label_key, names_key = (
            "cifar-10-batches-py",
            [f"data_batch_{i}" for i in range(1, 6)],
            "test_batch",
            "batches.meta",
            b"labels",
            b"label_names",
        )
    else:
        folder, train_names, test_name, meta_name, label_key, names_key = (
            "cifar-100-python",
            ["train"],
            "test",
            "meta",
            b"fine_labels",
            b"fine_label_names",
        )
    base = root / folder
    base.mkdir(parents=True)
    written = {"train": [], "train_labels": []}
    for name in train_names + [test_name]:
        data = generator.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in generator.integers(0, classes, per_batch)]
        with open(base / name, "wb") as handle:
            pickle.dump({b"data": data, label_key: labels, b"batch_label": b"x"}, handle)
        if name == test_name:
            written["test"], written["test_labels"] = data, labels
        else:
            written["train"].append(data)
            written["train_labels"] += labels
    with open(base / meta_name, "wb") as handle:
        pickle.dump({names_key: [f"class{c}".encode() for c in range(classes)]}, handle)
    written["train"] = np.concatenate(written["train"])
    return written


def tar_folder(folder: Path, tarball: Path) -> Path:
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(folder, arcname=folder.name)
    return tarball


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(root: Path, gz: bool, train: int = 30, test: int = 10) -> dict:
    generator = rng(2)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": generator.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": generator.integers(0, 10, train).astype(np.uint8),
        "t10k-images-idx3-ubyte": generator.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": generator.integers(0, 10, test).astype(np.uint8),
    }
    for name, array in arrays.items():
        data = idx_bytes(array)
        (root / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)
    return arrays


def write_folder(
    root: Path, classes: tuple[str, ...] = ("cat", "dog", "fox"), per_class: int = 6, size: tuple[int, int] = (20, 17)
) -> None:
    """PNG and JPEG images in RGB, grey (L) and RGBA, of an odd size, one folder per class."""
    generator = rng(3)
    modes = ("RGB", "L", "RGBA")
    for name in classes:
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            mode = modes[i % 3]
            channels = {"RGB": 3, "L": 1, "RGBA": 4}[mode]
            pixels = generator.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8).squeeze()
            image = Image.fromarray(pixels, mode)
            suffix = ".jpg" if mode == "RGB" and i % 2 else ".png"
            image.save(folder / f"{name}_{i}{suffix}")
