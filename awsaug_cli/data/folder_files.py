"""An image folder as lists of files and labels, per part, checked before anything trains.

One sub-folder per class (optionally inside train/, val/, test/). Every regular file in a class
folder must be an image Pillow can identify in a format both loaders decode; any other file
(a stray notes.txt, a truncated download, a GIF — DALI cannot decode GIFs) is named, and the scan
fails or, with `skip_bad`, leaves it out and says so. Without test/, 20 % of the training part is
held out as test (stratified, fixed seed), so both loaders see the same parts.
"""

from __future__ import annotations

import hashlib
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from awsaug_cli.data.dataset import DataError
from awsaug_cli.data.images import UNSCALED
from awsaug_cli.data.split import stratified_split

# Pillow's format names of the files both the Pillow reader and DALI's decoder read (MPO: the
# JPEG many cameras write)
FORMATS = frozenset({"JPEG", "MPO", "PNG", "BMP", "TIFF", "PPM", "WEBP", "JPEG2000"})
JPEG_END = b"\xff\xd9"  # a JPEG's end-of-image marker: a cut-off download lacks it
TAIL = 1024  # bytes at a file's end searched for it (some writers append a few after it)
HELD_OUT = 0.2
PARTS = ("train", "val", "test")
NAMED = 5  # bad files named in a message; the rest are counted
CHECK_THREADS = 8
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # one source image (decoding 12000×12000 took 880 MB)


@dataclass(frozen=True)
class FileList:
    files: tuple[Path, ...]
    labels: torch.Tensor  # int64 [len(files)]

    def take(self, index: torch.Tensor) -> FileList:
        return FileList(tuple(self.files[i] for i in index.tolist()), self.labels[index])

    def __len__(self) -> int:
        return len(self.files)


@dataclass(frozen=True)
class FolderFiles:
    root: Path
    classes: tuple[str, ...]
    parts: dict[str, FileList]  # "train", "test", and "val" when the folder has val/
    skipped: tuple[Path, ...] = field(default=())

    def fingerprint(self) -> str:
        """Classes, every file's path (relative to the root), size and label: cheap to compute on
        a large folder (no pixels read), and it changes when files are added, removed, moved to
        another class or change size; a rewrite to the same size goes unseen."""
        digest = hashlib.sha256(repr(self.classes).encode())
        for part in sorted(self.parts):
            for file, label in zip(self.parts[part].files, self.parts[part].labels.tolist()):
                digest.update(f"{part}|{file.relative_to(self.root)}|{file.stat().st_size}|{label}\n".encode())
        return digest.hexdigest()[:16]


def class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _truncated_jpeg(file: Path) -> bool:
    with open(file, "rb") as handle:
        handle.seek(max(0, file.stat().st_size - TAIL))
        return JPEG_END not in handle.read()


def _why_not_an_image(file: Path) -> str | None:
    """Why `file` is not usable, from its header (and, for PNG, its checksums; for JPEG, its end
    marker) without decoding it: a full decode of every file would cost what an epoch does."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is judged below
            with Image.open(file) as image:
                kind, mode, (width, height) = image.format, image.mode, image.size
                image.verify()
        if kind in ("JPEG", "MPO") and _truncated_jpeg(file):
            return "truncated JPEG (no end-of-image marker)"
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        return f"not a readable image ({error})"
    if kind not in FORMATS:
        return f"{kind} images are not supported (use one of {', '.join(sorted(FORMATS))})"
    if mode in UNSCALED:
        return f"floating-point pixels (mode {mode}) have no range to scale to 8 bits; save it with 8 or 16 bits"
    if width * height > MAX_PIXELS:
        return (
            f"{width}×{height} pixels, beyond the {MAX_PIXELS:,} Pillow decodes without a decompression-bomb "
            "warning; downscale it first"
        )
    return None


def _bad_files_message(bad: list[tuple[Path, str]]) -> str:
    named = "; ".join(f"{file}: {why}" for file, why in bad[:NAMED])
    more = f"; and {len(bad) - NAMED} more" if len(bad) > NAMED else ""
    return f"{len(bad)} file(s) that are not usable images: {named}{more}"


def _scan_part(folder: Path, classes: tuple[str, ...], skip_bad: bool, skipped: list[Path]) -> FileList:
    listed = []  # (file, label) of every candidate, class by class, sorted
    for class_folder in class_folders(folder):
        if class_folder.name not in classes:
            raise DataError(f"{class_folder}: class {class_folder.name!r} is not among the training classes")
        candidates = sorted(p for p in class_folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not candidates:
            raise DataError(f"{class_folder}: class folder without images")
        listed += [(file, classes.index(class_folder.name)) for file in candidates]
    # opening files waits on the disk, not the CPU: threads overlap the waits
    with ThreadPoolExecutor(max_workers=CHECK_THREADS) as pool:
        verdicts = list(pool.map(_why_not_an_image, [file for file, _ in listed]))
    bad = [(file, why) for (file, _), why in zip(listed, verdicts) if why is not None]
    if bad and not skip_bad:
        raise DataError(_bad_files_message(bad) + " (--skip-bad-files leaves them out)")
    good = [(file, label) for (file, label), why in zip(listed, verdicts) if why is None]
    emptied = sorted(set(label for _, label in listed) - set(label for _, label in good))
    if emptied:
        raise DataError(f"{folder / classes[emptied[0]]}: class folder without usable images")
    skipped += [file for file, _ in bad]
    return FileList(tuple(file for file, _ in good), torch.tensor([label for _, label in good], dtype=torch.int64))


def scan(path: Path, *, skip_bad: bool = False) -> FolderFiles:
    """The folder's classes and files per part (DataError naming what is wrong)."""
    split_layout = (path / "train").is_dir()
    train_folder = path / "train" if split_layout else path
    classes = tuple(folder.name for folder in class_folders(train_folder))
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "none"
        raise DataError(f"{train_folder}: an image folder needs at least 2 class folders, found {found}")
    skipped: list[Path] = []
    parts = {"train": _scan_part(train_folder, classes, skip_bad, skipped)}
    for part in ("val", "test"):
        if split_layout and (path / part).is_dir():
            parts[part] = _scan_part(path / part, classes, skip_bad, skipped)
    if "test" not in parts:
        train = parts["train"]
        keep, held = stratified_split(train.labels, max(1, round(HELD_OUT * len(train))), seed=0)
        parts["train"], parts["test"] = train.take(keep), train.take(held)
    return FolderFiles(path, classes, parts, tuple(skipped))
