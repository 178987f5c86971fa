"""The one training engine: pretraining, the search's fine-tunes and final training all step
through `train_epoch` and measure with `evaluate`.

SGD with Nesterov momentum, weight decay on convolution and linear weights only, a per-step
learning rate (linear warm-up then cosine to min_lr, or constant), label smoothing, gradient-
norm clipping, and the batched `TrainTransform` on device-resident uint8 data. On CUDA: bf16
autocast and channels_last; the loop never waits for the device except at the epoch's end.
Under torch.distributed each rank takes its share of every batch; gradients are averaged by DDP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from awsaug_cli.augment import TrainTransform
from awsaug_cli.kernels.transform_spec import normalisation
from awsaug_cli.reporting import Reporter


@dataclass(frozen=True)
class OptimSettings:
    lr: float  # peak learning rate (the whole schedule's when "constant")
    warmup_start_lr: float
    warmup_epochs: float
    min_lr: float
    schedule: str = "cosine"  # "cosine": warm-up then cosine to min_lr; "constant": lr throughout
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    grad_clip: float | None = None


def learning_rate(settings: OptimSettings, step: int, steps_per_epoch: int, total_steps: int) -> float:
    """The learning rate of optimisation step `step` (0-based) of `total_steps`."""
    if settings.schedule == "constant":
        return settings.lr
    warmup = round(settings.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return settings.warmup_start_lr + (settings.lr - settings.warmup_start_lr) * step / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return settings.min_lr + 0.5 * (settings.lr - settings.min_lr) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: nn.Module, settings: OptimSettings) -> torch.optim.SGD:
    """SGD; weight decay only on convolution and linear weights (not BatchNorm, not biases)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.SGD(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr, momentum=settings.momentum, nesterov=settings.nesterov,
    )


def seeded_generator(seed: int, *stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator for one stream of randomness (e.g. epoch 3's batch order): the same seed
    and stream give the same draws, so an interrupted epoch replays exactly on resume."""
    value = seed
    for part in stream:
        value = (value * 1_000_003 + part + 1) % (2**63 - 1)
    return torch.Generator(device=device).manual_seed(value)


def distributed() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    """Wait for every rank (no-op outside torch.distributed)."""
    if distributed()[1] > 1:
        dist.barrier()


@dataclass(frozen=True)
class EpochStats:
    train_loss: float
    train_acc: float  # percent, on augmented batches
    images: int  # seen by all processes together
    seconds: float


def check_schedule(epochs: int, batch_size: int) -> None:
    """Refuse a schedule that trains nothing: the CLI bounds its options, library callers are not."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch size must be positive, got {epochs} and {batch_size}")


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Full batches per epoch (the last partial batch is dropped; at least one batch)."""
    return max(1, images // batch_size)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    transform: TrainTransform,
    settings: OptimSettings,
    *,
    batch_size: int,
    first_step: int,
    total_steps: int,
    order_generator: torch.Generator,
    augment_generator: torch.Generator,
    pair_generator: torch.Generator | None = None,
    on_pairs: Callable[[torch.Tensor], None] | None = None,
    reporter: Reporter | None = None,
    label: str = "epoch",
    sharded: bool = True,
) -> EpochStats:
    """One pass over `images` in the order drawn from `order_generator`; returns the epoch's
    mean loss and accuracy. When `sharded`, every rank of a distributed run draws the same order
    and takes its slice of each batch (DDP); otherwise this process trains alone (the search's
    trajectories). `on_pairs` receives every batch's sampled pairs (the search counts them)."""
    rank, world = distributed() if sharded else (0, 1)
    device = images.device
    cuda = device.type == "cuda"
    model.train()
    start = time.perf_counter()
    steps = steps_per_epoch(len(images), batch_size)
    order = torch.randperm(len(images), generator=order_generator).to(device)
    share = max(1, min(batch_size, len(images)) // world)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    for step in range(steps):
        batch = order[step * batch_size : (step + 1) * batch_size][rank * share : (rank + 1) * share]
        inputs, pairs = transform(images.index_select(0, batch), augment_generator, pair_generator=pair_generator)
        targets = labels.index_select(0, batch)
        if on_pairs is not None:
            on_pairs(pairs)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(settings, first_step + step, steps, total_steps)
        if cuda:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(inputs)
            loss = F.cross_entropy(logits, targets, label_smoothing=settings.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        loss_sum += loss.detach().float() * len(batch)
        correct += (logits.detach().argmax(dim=1) == targets).sum()
        seen += len(batch)
        if reporter is not None:
            reporter.progress(label, step + 1, steps)
    totals = torch.stack([loss_sum, correct.to(loss_sum.dtype), torch.tensor(float(seen), device=device)])
    if world > 1:
        dist.all_reduce(totals)
    loss_total, correct_total, seen_total = totals.tolist()
    return EpochStats(loss_total / seen_total, 100.0 * correct_total / seen_total, int(seen_total), time.perf_counter() - start)


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean, std, *, batch_size: int = 512,
             sharded: bool = True) -> float:
    """Top-1 accuracy (percent) on clean, normalised images. When `sharded`, each rank of a
    distributed run scores a slice and the counts are summed, so every rank returns the same
    number; otherwise this process scores all of them."""
    rank, world = distributed() if sharded else (0, 1)
    device = images.device
    cuda = device.type == "cuda"
    scale, shift = (t.to(device).view(1, 3, 1, 1) for t in normalisation(mean, std))
    model.eval()
    mine = torch.arange(rank, len(images), world, device=device)
    counts = torch.zeros(2, dtype=torch.int64, device=device)
    for start in range(0, len(mine), batch_size):
        index = mine[start : start + batch_size]
        inputs = images.index_select(0, index).to(torch.float32).mul_(scale).add_(shift)
        if cuda:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            predictions = model(inputs).argmax(dim=1)
        counts[0] += (predictions == labels.index_select(0, index)).sum()
        counts[1] += len(index)
    if world > 1:
        dist.all_reduce(counts)
    return 100.0 * counts[0].item() / max(1, counts[1].item())
