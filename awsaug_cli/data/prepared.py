"""The parts a run works with, on its device: search-train, validation and test images as uint8,
with the per-channel statistics of the training part. Batches are index gathers, not a
DataLoader."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from awsaug_cli.data.dataset import Dataset
from awsaug_cli.data.split import split_validation
from awsaug_cli.memory_need import check_fits

STATISTICS_CHUNK = 256  # images per float64 chunk of channel_statistics


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


def channel_statistics(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of uint8 images, in units of 1/255: two passes over
    chunks, so a large dataset never has a float64 copy of itself."""
    chunks = images.split(STATISTICS_CHUNK)
    pixels = images.numel() // 3
    mean = sum(chunk.to(torch.float64).sum(dim=(0, 2, 3)) for chunk in chunks) / (255.0 * pixels)
    centred = mean.view(1, 3, 1, 1)
    variance = sum(((chunk.to(torch.float64) / 255.0 - centred) ** 2).sum(dim=(0, 2, 3)) for chunk in chunks) / pixels
    return tuple(mean.tolist()), tuple(variance.sqrt().clamp(min=1e-3).tolist())


def prepare(
    dataset: Dataset, *, val_size: int, split_seed: int, device: torch.device, merge_val: bool = False
) -> TrainingData:
    """Split off the validation part (stratified, `split_seed`) unless the dataset ships one;
    `merge_val` trains on both (final training)."""
    if dataset.val_images is not None:
        train_images, train_labels = dataset.train_images, dataset.train_labels
        val_images, val_labels = dataset.val_images, dataset.val_labels
    else:
        train, val = split_validation(dataset.train_labels, val_size, split_seed, dataset.name)
        train_images, train_labels = dataset.train_images[train], dataset.train_labels[train]
        val_images, val_labels = dataset.train_images[val], dataset.train_labels[val]
    if merge_val:
        train_images = torch.cat([train_images, val_images])
        train_labels = torch.cat([train_labels, val_labels])
    mean, std = channel_statistics(train_images)
    if device.type == "cuda":  # the host held the decode; the device must hold every part
        images = len(train_images) + len(val_images) + len(dataset.test_images)
        check_fits(
            images * train_images[0].numel(),
            device,
            f"{dataset.name}: {images:,} images kept on {device}",
            "Choose a smaller --image-size, or --loader dali for an image folder.",
        )
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
