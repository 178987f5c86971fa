"""`--data` → Dataset: the built-in name, or a path whose format is detected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from awsaug_cli.data import cifar, folder, idx
from awsaug_cli.data.builtin import read_digits
from awsaug_cli.data.dataset import DataError, Dataset

BUILTIN: dict[str, Callable[[int], Dataset]] = {"digits": read_digits}

Format = tuple[str, Callable[[Path], bool], Callable[[Path, int, bool], Dataset]]

# (what it is, does the path look like one, read it (path, image size, skip bad files)) — tried in this order
FORMATS: tuple[Format, ...] = (
    ("CIFAR-10/100 python folder or tarball", cifar.claims, lambda path, size, skip: cifar.read(path, size)),
    ("MNIST-family IDX folder", idx.claims, lambda path, size, skip: idx.read(path, size)),
    (
        "image folder (one sub-folder per class)",
        folder.claims,
        lambda path, size, skip: folder.read(path, size, skip_bad_files=skip),
    ),
)


IMAGE_FOLDER = FORMATS[-1]


def _format_of(path: Path) -> Format | None:
    """The first format that claims an existing `path`."""
    return next((entry for entry in FORMATS if entry[1](path)), None)


def is_image_folder(spec: str) -> bool:
    """Whether `spec` names an image folder (the format the DALI loader reads)."""
    path = Path(spec).expanduser()
    return spec not in BUILTIN and path.exists() and _format_of(path) is IMAGE_FOLDER


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
    detected = _format_of(path)
    if detected is not None:
        return detected[2](path, image_size, skip_bad_files)
    kinds = "; ".join(kind for kind, _, _ in FORMATS)
    raise DataError(f"{spec}: not a dataset awsaug can read (expected: {kinds})")
