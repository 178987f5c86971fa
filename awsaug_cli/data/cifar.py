"""CIFAR-10 and CIFAR-100 in their official python layout: a folder or the .tar.gz as shipped.

The batches are pickles; they are read with an unpickler that admits only what CIFAR files
contain (dicts, lists, bytes and numpy arrays), so a crafted file cannot run code."""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from awsaug_cli.data.dataset import DataError, Dataset
from awsaug_cli.errors import shown

# (folder name, training files, test file, meta file, label key, class-name key)
VARIANTS = {
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        "test_batch",
        "batches.meta",
        b"labels",
        b"label_names",
    ),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta", b"fine_labels", b"fine_label_names"),
}
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}


class _CifarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a CIFAR file")
        return super().find_class(module, name)


def _unpickle(data: bytes, where: str) -> dict:
    try:
        loaded = _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:  # truncated or foreign: pickle raises many types
        raise DataError(f"{where}: not a readable CIFAR batch ({type(error).__name__}: {error})") from None
    if not isinstance(loaded, dict):
        raise DataError(f"{where}: not a readable CIFAR batch (no dictionary inside)")
    return loaded


class _Source:
    """The files of one CIFAR copy, in a folder or a tarball."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.variant, self.prefix = _locate(path)

    def read(self, name: str) -> bytes:
        where = f"{self.path}/{self.prefix}{name}" if self.path.is_dir() else f"{self.path}:{self.prefix}{name}"
        try:
            if self.path.is_dir():
                return (self.path / (self.prefix + name)).read_bytes()
            with tarfile.open(self.path) as archive:
                member = archive.getmember(self.prefix + name)
                if not member.isfile():  # a link would be followed inside the archive, or fail
                    raise DataError(
                        f"{where}: not a regular file (awsaug reads only regular files from a CIFAR tarball)"
                    )
                return archive.extractfile(member).read()
        except (OSError, tarfile.TarError, EOFError, KeyError) as error:
            raise DataError(f"{where}: cannot read ({error})") from None


def _locate(path: Path) -> tuple[str, str]:
    """(variant, member prefix) of a CIFAR copy at `path`, or DataError (naming the files missing
    from a copy that has some of its files)."""
    if path.is_dir():
        places = [
            (variant, prefix, lambda name, base=base: (base / name).is_file())
            for variant, (folder, *_) in VARIANTS.items()
            for prefix, base in (("", path), (folder + "/", path / folder))
        ]
        nothing = f"{path}: not a CIFAR folder"
    else:
        try:
            with tarfile.open(path) as archive:
                names = set(archive.getnames())
        except (OSError, tarfile.TarError, EOFError) as error:
            raise DataError(f"{path}: not a readable tarball ({error})") from None
        places = [
            (variant, folder + "/", lambda name, folder=folder: f"{folder}/{name}" in names)
            for variant, (folder, *_) in VARIANTS.items()
        ]
        nothing = f"{path}: a tarball without a CIFAR-10 or CIFAR-100 python folder"
    for variant, prefix, present in places:
        _, train, test, meta, *_ = VARIANTS[variant]
        missing = [name for name in (*train, test, meta) if not present(name)]
        if not missing:
            return variant, prefix
        if len(missing) < len(train) + 2:
            raise DataError(f"{path}: a {variant} copy without {', '.join(prefix + name for name in missing)}")
    raise DataError(nothing)


def claims(path: Path) -> bool:
    if path.is_dir():
        return any(
            (base / train[0]).is_file() for folder, train, *_ in VARIANTS.values() for base in (path, path / folder)
        )
    return path.is_file() and any(path.name.endswith(suffix) for suffix in (".tar.gz", ".tgz", ".tar"))


def _batch(source: _Source, name: str, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    where = f"{source.path} ({source.prefix}{name})"
    batch = _unpickle(source.read(name), where)
    data, labels = batch.get(b"data"), batch.get(label_key)
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 or labels is None:
        raise DataError(f"{where}: not a CIFAR batch (expected 'data' N x 3072 and {label_key.decode()!r})")
    if data.dtype != np.uint8:  # a cast would wrap or truncate the pixels silently
        raise DataError(f"{where}: field 'data' holds {data.dtype} values; CIFAR pixels are uint8")
    labels = _labels(labels, f"{where}: field {label_key.decode()!r}")
    if len(labels) != len(data):
        raise DataError(f"{where}: {len(data)} images but {len(labels)} labels (truncated?)")
    return data.reshape(-1, 3, 32, 32), labels


def _labels(values: Any, where: str) -> np.ndarray:
    """A batch's labels as int64, or DataError: a flat list of class indices, nothing else."""
    try:
        labels = np.asarray(values)
    except ValueError:  # ragged nesting
        labels = None
    if (
        labels is None
        or labels.ndim != 1
        or labels.dtype.kind not in "iu"
        or (len(labels) and not 0 <= labels.min() <= labels.max() < 2**31)
    ):
        raise DataError(f"{where}: expected a list of class indices (whole numbers from 0), found {shown(values)}")
    return labels.astype(np.int64)


def _class_names(values: Any, where: str) -> tuple[str, ...]:
    """The meta file's class names as text, or DataError naming the field."""
    if not isinstance(values, list) or not all(isinstance(name, (bytes, str)) for name in values):
        raise DataError(f"{where}: expected a list of class names, found {shown(values)}")
    try:
        return tuple(name.decode() if isinstance(name, bytes) else name for name in values)
    except UnicodeDecodeError:
        raise DataError(f"{where}: a class name is not UTF-8 text") from None


def read(path: Path, image_size: int) -> Dataset:
    source = _Source(path)
    folder, train_names, test_name, meta_name, label_key, names_key = VARIANTS[source.variant]
    train = [_batch(source, name, label_key) for name in train_names]
    test_images, test_labels = _batch(source, test_name, label_key)
    where = f"{path} ({source.prefix}{meta_name})"
    classes = _class_names(
        _unpickle(source.read(meta_name), where).get(names_key, []), f"{where}: field {names_key.decode()!r}"
    )
    return Dataset(
        name=source.variant,
        classes=classes,
        train_images=torch.from_numpy(np.concatenate([images for images, _ in train])),
        train_labels=torch.from_numpy(np.concatenate([labels for _, labels in train])),
        test_images=torch.from_numpy(test_images.copy()),
        test_labels=torch.from_numpy(test_labels),
    )
