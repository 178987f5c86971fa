"""The stratified split: a fixed-seed choice of a second part with every class in proportion."""

from __future__ import annotations

import torch

from awsaug_cli.data.dataset import DataError


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
