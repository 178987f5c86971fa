"""The one training engine: pretraining, the search's fine-tunes and final training all step
through `run_epoch` and measure with `score`, over batches from either loader (device-resident
memory: data/batches.py; image folders: the DALI pipeline).

SGD with Nesterov momentum, weight decay on convolution and linear weights only, a per-step
learning rate (linear warm-up then cosine to min_lr, or constant), label smoothing, gradient-
norm clipping, and the batched `TrainTransform` on device-resident uint8 data. On CUDA: bf16
autocast and channels_last; the loop never waits for the device except at the epoch's end.
Under torch.distributed each rank takes its share of every batch; gradients are averaged by DDP.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from awsaug_cli.data.batches import Batch
from awsaug_cli.devices import distributed
from awsaug_cli.errors import OptionError
from awsaug_cli.models import model_device
from awsaug_cli.reporters import Reporter


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
    return sgd(list(model.parameters()), settings)


def sgd(parameters: list[torch.Tensor], settings: OptimSettings, stacked: int = 0) -> torch.optim.SGD:
    """make_optimizer's SGD over `parameters`, each with `stacked` leading copy dimensions
    (search/stacked.py): weight decay on those that are matrices or more per copy."""
    decay = [p for p in parameters if p.ndim - stacked > 1]
    no_decay = [p for p in parameters if p.ndim - stacked <= 1]
    return torch.optim.SGD(
        [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr,
        momentum=settings.momentum,
        nesterov=settings.nesterov,
    )


@dataclass(frozen=True)
class EpochStats:
    train_loss: float
    train_acc: float  # percent, on augmented batches
    images: int  # seen by all processes together
    seconds: float


def check_schedule(epochs: int, batch_size: int) -> None:
    """Refuse a schedule that trains nothing: the CLI bounds its options, library callers are not."""
    if epochs < 1 or batch_size < 1:
        raise OptionError(f"epochs and batch size must be positive, got {epochs} and {batch_size}")


def run_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Batch],
    steps: int,
    settings: OptimSettings,
    *,
    first_step: int,
    total_steps: int,
    on_pairs: Callable[[torch.Tensor], None] | None = None,
    reporter: Reporter | None = None,
    label: str = "epoch",
    sharded: bool = True,
) -> EpochStats:
    """One pass over `batches` (`steps` of them, from any loader); returns the epoch's mean loss
    and accuracy over all processes when `sharded`, else this process's (the search's
    trajectories train alone). `on_pairs` receives every batch's sampled pairs."""
    world = distributed()[1] if sharded else 1
    device = model_device(model)
    cuda = device.type == "cuda"
    model.train()
    start = time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    for step, (inputs, targets, pairs) in enumerate(batches):
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
        loss_sum += loss.detach().float() * len(targets)
        correct += (logits.detach().argmax(dim=1) == targets).sum()
        seen += len(targets)
        if reporter is not None:
            reporter.progress(label, step + 1, steps)
    totals = torch.stack([loss_sum, correct.to(loss_sum.dtype), torch.tensor(float(seen), device=device)])
    if world > 1:
        dist.all_reduce(totals)
    loss_total, correct_total, seen_total = totals.tolist()
    return EpochStats(
        loss_total / seen_total, 100.0 * correct_total / seen_total, int(seen_total), time.perf_counter() - start
    )


@torch.no_grad()
def score_with_loss(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, sharded: bool = True
) -> tuple[float, float]:
    """Top-1 accuracy (percent) and mean cross-entropy (nats) over `batches`. When `sharded`,
    each rank scores its share and the sums are combined, so every rank returns the same."""
    world = distributed()[1] if sharded else 1
    device = model_device(model)
    cuda = device.type == "cuda"
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # correct, cross-entropy, images
    for inputs, targets in batches:
        if cuda:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(inputs)
        sums[0] += (logits.argmax(dim=1) == targets).sum()
        sums[1] += nn.functional.cross_entropy(logits.float(), targets, reduction="sum").double()
        sums[2] += len(targets)
    if world > 1:
        dist.all_reduce(sums)
    correct, loss, images = sums.tolist()
    return 100.0 * correct / max(1.0, images), loss / max(1.0, images)


def score(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, sharded: bool = True) -> float:
    """Top-1 accuracy (percent) over `batches` (score_with_loss's first number)."""
    return score_with_loss(model, batches, sharded=sharded)[0]
