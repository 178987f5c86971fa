"""The parts a run works with, on its device: search-train, validation and test images as uint8,
with the per-channel statistics of the training part. Batches are index gathers, not a
DataLoader."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from awsaug_cli.data.dataset import DataError, Dataset
from awsaug_cli.data.split import stratified_split


@dataclass(frozen=True)
class TrainingData:
    classes: tuple[str, ...]
    train_images: torch.Tensor  # uint8 [N, 3, H, W]
    train_labels: torch.Tensor  # int64 [N]
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: tuple[float, float, float]  # of the training part, pixel values / 255
    std: tuple[float, float, float]

    @property
    def device(self) -> torch.device:
        return self.train_images.device


def channel_statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images, in units of 1/255."""
    values = images.transpose(0, 1).reshape(3, -1).to(torch.float64) / 255.0
    return tuple(values.mean(dim=1).tolist()), tuple(values.std(dim=1, unbiased=False).clamp(min=1e-3).tolist())


def prepare(dataset: Dataset, *, val_size: int, split_seed: int, device: torch.device, merge_val: bool = False) -> TrainingData:
    """Split off the validation part (stratified, `split_seed`) unless the dataset ships one;
    `merge_val` trains on both (final training)."""
    if dataset.val_images is not None:
        train_images, train_labels = dataset.train_images, dataset.train_labels
        val_images, val_labels = dataset.val_images, dataset.val_labels
    else:
        if val_size >= len(dataset.train_labels):
            raise DataError(f"{dataset.name}: validation size {val_size} leaves no training images of {len(dataset.train_labels)}")
        train, val = stratified_split(dataset.train_labels, val_size, split_seed)
        train_images, train_labels = dataset.train_images[train], dataset.train_labels[train]
        val_images, val_labels = dataset.train_images[val], dataset.train_labels[val]
    if merge_val:
        train_images = torch.cat([train_images, val_images])
        train_labels = torch.cat([train_labels, val_labels])
    mean, std = channel_statistics(train_images)
    return TrainingData(
        classes=dataset.classes,
        train_images=train_images.to(device),
        train_labels=train_labels.to(device),
        val_images=val_images.to(device),
        val_labels=val_labels.to(device),
        test_images=dataset.test_images.to(device),
        test_labels=dataset.test_labels.to(device),
        mean=mean,
        std=std,
    )
