"""The real evaluator of the search: restore the shared weights ω_share (weights, BatchNorm
buffers and SGD momentum), fine-tune E epochs at the constant learning rate min_lr with pairs
sampled per image from the policy, and score on the validation part after each epoch.

Reward (REWARDS): the paper's mean of the best two epoch-end validation accuracies (percent), or
awsaug's default, −100 × the mean of the two lowest epoch-end validation losses (centi-nats of
cross-entropy: every image's confidence counts, where accuracy moves only when one flips; on
digits, op effects that accuracy could not rank between seeds, the loss ranked alike:
BENCHMARKS.md). With common random numbers (the default), every trajectory of a loop draws the
same batch order and the same crop, flip, sign and Cutout randomness; only the sampled pairs
differ, so rewards differ only through the policy."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import torch
from torch import nn

from awsaug_cli.checkpoint import Checkpoint, restore
from awsaug_cli.data.batches import steps_per_epoch
from awsaug_cli.data.sources import DataSource
from awsaug_cli.engine import OptimSettings, make_optimizer, run_epoch, score_with_loss
from awsaug_cli.models import model_device
from awsaug_cli.policy import Policy
from awsaug_cli.reporters import Reporter, SilentReporter
from awsaug_cli.search_loop import Trial
from awsaug_cli.seeds import stream

REWARD_EPOCHS = 2  # the reward averages this many best epoch-end scores


def _best_mean(values: list[float]) -> float:
    best = sorted(values)[-REWARD_EPOCHS:]
    return sum(best) / len(best)


# reward name → (reward from the epoch-end validation accuracies and losses, its unit)
REWARDS: dict[str, tuple[Callable[[list[float], list[float]], float], str]] = {
    "accuracy": (lambda accuracies, losses: _best_mean(accuracies), "points"),
    "loss": (lambda accuracies, losses: _best_mean([-100.0 * loss for loss in losses]), "centi-nats"),
}


class FineTune:
    def __init__(
        self,
        source: DataSource,
        model: nn.Module,
        shared: Checkpoint,
        optim: OptimSettings,
        *,
        epochs: int,
        batch_size: int,
        seed: int,
        common_noise: bool = True,
        reward: str = "accuracy",
        reporter: Reporter | None = None,
    ) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward {reward!r}: choose one of {', '.join(REWARDS)}")
        self.reward = REWARDS[reward][0]
        self.source, self.model, self.shared = source, model, shared
        self.optim = dataclasses.replace(optim, schedule="constant", lr=optim.min_lr)
        self.optimizer = make_optimizer(model, self.optim)
        self.epochs, self.batch_size = epochs, batch_size
        self.seed, self.common_noise = seed, common_noise
        self.reporter = reporter or SilentReporter()

    def __call__(self, policy: Policy, loop: int, trajectory: int, generator: torch.Generator) -> Trial:
        """A search trajectory: with common random numbers every trajectory of `loop` shares its noise."""
        noise = (loop,) if self.common_noise else (loop, trajectory)
        return self.trial(policy, noise, generator, label=f"loop {loop + 1} trajectory {trajectory + 1}")

    def trial(self, policy: Policy | None, noise: tuple[int, ...], generator: torch.Generator, *, label: str) -> Trial:
        """One fine-tune from the shared weights under `policy` (None: crop, flip and Cutout
        alone), its batch order and crop/flip/sign/Cutout randomness drawn from the streams at
        `noise` (fine-tunes given the same `noise` share it), its pairs from `generator`."""
        start = time.perf_counter()
        restore(self.shared, self.model, self.optimizer)
        k = len(policy.space) if policy is not None else 0
        device = model_device(self.model)
        usage = torch.zeros(k * k, dtype=torch.int64, device=device)

        def count(pairs: torch.Tensor) -> None:  # index_add_, not bincount: no wait for the device
            pair_index = (pairs[:, 0] * k + pairs[:, 1]).to(device)
            usage.index_add_(0, pair_index, torch.ones_like(pair_index))

        steps = steps_per_epoch(self.source.sizes["train"], self.batch_size)
        accuracies, losses = [], []
        for epoch in range(self.epochs):
            batches = self.source.train_batches(
                policy, batch_size=self.batch_size, order_generator=stream(self.seed, "finetune_order", *noise, epoch),
                augment_generator=stream(self.seed, "finetune_augment", *noise, epoch, device=device),
                pair_generator=generator, sharded=False,
            )
            run_epoch(self.model, self.optimizer, batches, steps, self.optim, first_step=epoch * steps,
                      total_steps=self.epochs * steps, on_pairs=count if k else None, reporter=self.reporter,
                      label=f"{label} epoch {epoch + 1}/{self.epochs}", sharded=False)
            accuracy, loss = score_with_loss(self.model, self.source.eval_batches("val", sharded=False), sharded=False)
            accuracies.append(accuracy)
            losses.append(loss)
        return Trial(self.reward(accuracies, losses), usage.view(k, k).cpu(),
                     {"epoch_acc": accuracies, "epoch_val_loss": losses, "seconds": time.perf_counter() - start})
