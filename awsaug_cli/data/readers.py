"""`--data` → Dataset: the built-in name, or a path whose format is detected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from awsaug_cli.data import cifar, folder, idx
from awsaug_cli.data.builtin import read_digits
from awsaug_cli.data.dataset import DataError, Dataset

BUILTIN: dict[str, Callable[[int], Dataset]] = {"digits": read_digits}

# (what it is, does the path look like one, read it (path, image size, skip bad files)) — tried in this order
FORMATS: tuple[tuple[str, Callable[[Path], bool], Callable[[Path, int, bool], Dataset]], ...] = (
    ("CIFAR-10/100 python folder or tarball", cifar.claims, lambda path, size, skip: cifar.read(path, size)),
    ("MNIST-family IDX folder", idx.claims, lambda path, size, skip: idx.read(path, size)),
    ("image folder (one sub-folder per class)", folder.claims,
     lambda path, size, skip: folder.read(path, size, skip_bad_files=skip)),
)


def is_image_folder(spec: str) -> bool:
    """Whether `spec` names an image folder (the format the DALI loader reads)."""
    path = Path(spec).expanduser()
    return spec not in BUILTIN and path.exists() and not cifar.claims(path) and not idx.claims(path) and folder.claims(path)


def load_dataset(spec: str, *, image_size: int = 32, skip_bad_files: bool = False) -> Dataset:
    """Read `spec`: a built-in name or a path (format detected). `image_size` applies to the
    built-in digits and to image folders; CIFAR and IDX keep their native size. With
    `skip_bad_files`, files of an image folder that are not usable images are left out (named)
    instead of failing the read."""
    if image_size < 8:
        raise DataError(f"image size {image_size} is too small (at least 8)")
    if spec in BUILTIN:
        return BUILTIN[spec](image_size)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"{spec}: no such file or directory (built-in datasets: {', '.join(BUILTIN)})")
    for _, looks_like, read in FORMATS:
        if looks_like(path):
            return read(path, image_size, skip_bad_files)
    kinds = "; ".join(kind for kind, _, _ in FORMATS)
    raise DataError(f"{spec}: not a dataset awsaug can read (expected: {kinds})")
