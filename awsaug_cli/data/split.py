"""The stratified split: a fixed-seed choice of a second part with every class in proportion."""

from __future__ import annotations

import math

import torch

from awsaug_cli.data.dataset import DataError

MIN_TRAINING_SHARE = 0.1  # a validation split may not leave less than this share of the images for training


def split_validation(labels: torch.Tensor, val_size: int, seed: int, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, validation) indices of a stratified split, refused where the validation part
    leaves training too little: under MIN_TRAINING_SHARE of the images, or a class without any."""
    n = len(labels)
    if val_size >= n:
        raise DataError(f"{where}: validation size {val_size} leaves no training images of {n}")
    limit = n - math.ceil(MIN_TRAINING_SHARE * n)
    if val_size > limit:
        raise DataError(
            f"{where}: validation size {val_size} leaves {n - val_size} of {n} images for training; keep "
            f"at least {MIN_TRAINING_SHARE:.0%} (--val-size {limit} or less)"
        )
    train, val = stratified_split(labels, val_size, seed)
    lacking = sorted(set(labels.unique().tolist()) - set(labels[train].unique().tolist()))
    if lacking:
        raise DataError(
            f"{where}: validation size {val_size} leaves no training images of class(es) "
            f"{', '.join(map(str, lacking))}; choose a smaller --val-size"
        )
    return train, val


def stratified_split(labels: torch.Tensor, second_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Index tensors (first, second), len(second) == second_size, each class's share of the
    second part proportional to its count (largest remainders), members chosen by a
    permutation seeded with `seed`; both sorted."""
    n = len(labels)
    if not 0 < second_size < n:
        raise DataError(f"cannot split {n} images into parts of {n - second_size} and {second_size}")
    classes, counts = labels.unique(return_counts=True)
    quotas = counts.to(torch.float64) * second_size / n
    taken = quotas.floor().to(torch.int64)
    short = second_size - int(taken.sum())
    if short:
        taken[torch.argsort(quotas - quotas.floor(), descending=True, stable=True)[:short]] += 1
    generator = torch.Generator().manual_seed(seed)
    shuffled = torch.randperm(n, generator=generator)
    by_class = shuffled[torch.argsort(labels[shuffled], stable=True)]  # classes in order, each shuffled
    class_of = torch.searchsorted(classes, labels[by_class])
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n) - starts[class_of]
    chosen = rank < taken[class_of]
    return by_class[~chosen].sort().values, by_class[chosen].sort().values
