"""Batches of device-resident data (`--loader memory`): the whole dataset lives on the device as
uint8, an epoch is an order drawn from a generator, and every batch is an index gather put
through the batched TrainTransform. Under torch.distributed each rank takes its slice."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from awsaug_cli.augment import TrainTransform
from awsaug_cli.devices import distributed
from awsaug_cli.kernels.transform_spec import normalisation
from awsaug_cli.policy import Policy


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Full batches per epoch (the last partial batch is dropped; at least one batch)."""
    return max(1, images // batch_size)


Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # normalised inputs, targets, sampled pairs


def epoch_indices(
    size: int, batch_size: int, order_generator: torch.Generator, device: torch.device, *, sharded: bool = True
) -> Iterator[torch.Tensor]:
    """The image indices of an epoch's batches, in the order drawn from `order_generator`. When
    `sharded`, every rank of a distributed run draws the same order and takes its slice of each
    batch (DDP)."""
    rank, world = distributed() if sharded else (0, 1)
    order = torch.randperm(size, generator=order_generator).to(device)
    share = max(1, min(batch_size, size) // world)
    for step in range(steps_per_epoch(size, batch_size)):
        yield order[step * batch_size : (step + 1) * batch_size][rank * share : (rank + 1) * share]


def memory_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    transform: TrainTransform,
    *,
    batch_size: int,
    order_generator: torch.Generator,
    augment_generator: torch.Generator,
    pair_generator: torch.Generator | None = None,
    sharded: bool = True,
) -> Iterator[Batch]:
    """One epoch of device-resident uint8 data (`epoch_indices`), each batch transformed on the
    device (each image `transform.copies` times, labels alike)."""
    for batch in epoch_indices(len(images), batch_size, order_generator, images.device, sharded=sharded):
        inputs, pairs = transform(images.index_select(0, batch), augment_generator, pair_generator=pair_generator)
        yield inputs, labels.index_select(0, batch).repeat_interleave(transform.copies), pairs


def memory_batches_alike(
    images: torch.Tensor,
    labels: torch.Tensor,
    transform: TrainTransform,
    policies: Sequence[Policy],
    *,
    batch_size: int,
    order_generator: torch.Generator,
    augment_generator: torch.Generator,
    pair_generators: Sequence[torch.Generator],
) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]]:
    """One epoch as `memory_batches` gives it to each of `policies` under common random numbers
    (the same order, crops, flips, signs and holes; each policy's pairs from its generator), all
    W copies of a batch transformed in one engine call (TrainTransform.alike): inputs
    [W, B, …], targets [W, B] and each copy's pairs. Not sharded: the search's fine-tunes."""
    for batch in epoch_indices(len(images), batch_size, order_generator, images.device, sharded=False):
        inputs, pairs = transform.alike(images.index_select(0, batch), policies, augment_generator, pair_generators)
        yield inputs, labels.index_select(0, batch).expand(len(policies), -1), pairs


def memory_eval_batches(
    images: torch.Tensor, labels: torch.Tensor, mean, std, *, batch_size: int = 512, sharded: bool = True
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Clean, normalised batches of device-resident images; when `sharded`, this rank's slice."""
    rank, world = distributed() if sharded else (0, 1)
    scale, shift = (t.to(images.device).view(1, 3, 1, 1) for t in normalisation(mean, std))
    mine = torch.arange(rank, len(images), world, device=images.device)
    for start in range(0, len(mine), batch_size):
        index = mine[start : start + batch_size]
        yield images.index_select(0, index).to(torch.float32).mul_(scale).add_(shift), labels.index_select(0, index)
