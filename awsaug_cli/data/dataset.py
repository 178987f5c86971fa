"""The in-memory dataset every reader produces: uint8 images and int64 labels, train and test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from awsaug_cli.errors import UserError


class DataError(UserError):
    """A dataset that cannot be read or used; the message names the path or file."""


@dataclass(frozen=True)
class Dataset:
    """Labelled images as uint8 [N, 3, H, W] tensors (RGB), with labels int64 [N].

    `val_*` is set only when the source ships its own validation split (an image folder with a
    val/ sub-folder); otherwise the training part is split (awsaug_cli.data.split)."""

    name: str
    classes: tuple[str, ...]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    val_images: torch.Tensor | None = None
    val_labels: torch.Tensor | None = None
    skipped: tuple[Path, ...] = ()  # files of an image folder left out as unusable (named to the user)
    _fingerprint: list[str] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = [("train", self.train_images, self.train_labels), ("test", self.test_images, self.test_labels)]
        if self.val_images is not None:
            parts.append(("val", self.val_images, self.val_labels))
        for part, images, labels in parts:
            if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
                raise DataError(
                    f"{self.name}: {part} images must be uint8 [N, 3, H, W], got {images.dtype} {list(images.shape)}"
                )
            if labels is None or labels.shape != (len(images),):
                raise DataError(f"{self.name}: {part} labels do not match the {len(images)} images")
            if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
                raise DataError(f"{self.name}: {part} labels outside the {len(self.classes)} classes")
        if len(self.classes) < 2:
            raise DataError(f"{self.name}: needs at least 2 classes, found {len(self.classes)}")
        if len(self.train_images) == 0:
            raise DataError(f"{self.name}: no training images")

    def fingerprint(self) -> str:
        """A short hash of the classes, shapes and every pixel and label: the identity a run
        records so that a resumed run or a search can refuse different data."""
        if not self._fingerprint:
            digest = hashlib.sha256(repr((self.classes, self.train_images.shape, self.test_images.shape)).encode())
            tensors = [self.train_images, self.train_labels, self.test_images, self.test_labels]
            if self.val_images is not None:
                tensors += [self.val_images, self.val_labels]
            for tensor in tensors:
                digest.update(tensor.contiguous().numpy().tobytes())
            self._fingerprint.append(digest.hexdigest()[:16])
        return self._fingerprint[0]
