"""MNIST-family IDX files (MNIST, Fashion-MNIST, KMNIST; gzipped or not) in one folder:
train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte.
Grey 28×28 images are made RGB and kept at their size."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from awsaug_cli.data.dataset import DataError, Dataset
from awsaug_cli.data.images import to_nchw

PARTS = {
    "train_images": ("train-images-idx3-ubyte", 3),
    "train_labels": ("train-labels-idx1-ubyte", 1),
    "test_images": ("t10k-images-idx3-ubyte", 3),
    "test_labels": ("t10k-labels-idx1-ubyte", 1),
}
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        matches = sorted(folder.glob(f"*{name}"))
        if matches:
            return matches[0]
    return None


def claims(path: Path) -> bool:
    return path.is_dir() and _find(path, PARTS["train_images"][0]) is not None


def read_idx(file: Path, dimensions: int) -> np.ndarray:
    """The uint8 array of one IDX file, checked against its header."""
    try:
        raw = file.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{file}: cannot read ({error})") from None
    header = 4 + 4 * dimensions
    if len(data) < header:
        raise DataError(f"{file}: truncated IDX file (no complete header)")
    zeros, kind, count = struct.unpack(">HBB", data[:4])
    if zeros != 0 or kind != 0x08 or count != dimensions:
        raise DataError(f"{file}: not an unsigned-byte IDX file with {dimensions} dimension(s)")
    shape = struct.unpack(f">{dimensions}I", data[4:header])
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DataError(
            f"{file}: truncated or padded IDX file ({len(data) - header} bytes of data, header says {expected})"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _check_labels(labels: np.ndarray, test_labels: np.ndarray, file: Path) -> int:
    """The number of classes: labels must be 0 … C−1 (C ≥ 2), each with training images."""
    count = int(max(labels.max(initial=0), test_labels.max(initial=0))) + 1
    missing = sorted(set(range(count)) - set(np.unique(labels).tolist()))
    if count < 2 or missing:
        shown = ", ".join(map(str, missing[:8])) + (" …" if len(missing) > 8 else "")
        raise DataError(
            f"{file}: labels must be the classes 0 … C−1 (at least 2), each with training images; these "
            f"labels run to {count - 1}" + (f" with no training images of {shown}" if missing else "")
        )
    return count


def read(path: Path, image_size: int) -> Dataset:
    arrays, files = {}, {}
    for part, (stem, dimensions) in PARTS.items():
        file = _find(path, stem)
        if file is None:
            raise DataError(f"{path}: IDX folder without a {stem} file")
        arrays[part], files[part] = read_idx(file, dimensions), file
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise DataError(
                f"{files[f'{split}_images']} holds {len(images)} images but {files[f'{split}_labels']} "
                f"{len(labels)} labels"
            )
    train_shape, test_shape = arrays["train_images"].shape[1:], arrays["test_images"].shape[1:]
    if train_shape != test_shape:
        raise DataError(
            f"{files['train_images']} holds {'×'.join(map(str, train_shape))} images but "
            f"{files['test_images']} {'×'.join(map(str, test_shape))}"
        )
    count = _check_labels(arrays["train_labels"], arrays["test_labels"], files["train_labels"])
    fashion = "fashion" in str(path).lower() and count == len(FASHION_CLASSES)
    return Dataset(
        name=f"{path.name} (IDX)",
        classes=FASHION_CLASSES if fashion else tuple(str(c) for c in range(count)),
        train_images=to_nchw(arrays["train_images"]),
        train_labels=torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        test_images=to_nchw(arrays["test_images"]),
        test_labels=torch.from_numpy(arrays["test_labels"].astype(np.int64)),
    )
