"""The real evaluator of the search: restore the shared weights ω_share (weights, BatchNorm
buffers and SGD momentum), fine-tune E epochs at the constant learning rate min_lr with pairs
sampled per image from the policy, and score on the validation part after each epoch.

Reward = mean of the best two epoch-end validation accuracies. With common random numbers (the
default), every trajectory of a loop draws the same batch order and the same crop, flip, sign
and Cutout randomness; only the sampled pairs differ, so rewards differ only through the
policy."""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import nn

from awsaug_cli.checkpoint import Checkpoint, restore
from awsaug_cli.data.sources import DataSource
from awsaug_cli.policy import Policy
from awsaug_cli.reporting import Reporter, SilentReporter
from awsaug_cli.search import Trial
from awsaug_cli.train import OptimSettings, make_optimizer, model_device, run_epoch, score, seeded_generator, steps_per_epoch

REWARD_EPOCHS = 2  # the reward averages this many best epoch-end accuracies


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
        reporter: Reporter | None = None,
    ) -> None:
        self.source, self.model, self.shared = source, model, shared
        self.optim = dataclasses.replace(optim, schedule="constant", lr=optim.min_lr)
        self.optimizer = make_optimizer(model, self.optim)
        self.epochs, self.batch_size = epochs, batch_size
        self.seed, self.common_noise = seed, common_noise
        self.reporter = reporter or SilentReporter()

    def __call__(self, policy: Policy, loop: int, trajectory: int, generator: torch.Generator) -> Trial:
        start = time.perf_counter()
        restore(self.shared, self.model, self.optimizer)
        k = len(policy.space)
        device = model_device(self.model)
        usage = torch.zeros(k * k, dtype=torch.int64, device=device)

        def count(pairs: torch.Tensor) -> None:
            usage.add_(torch.bincount((pairs[:, 0] * k + pairs[:, 1]).to(device), minlength=k * k))

        steps = steps_per_epoch(self.source.sizes["train"], self.batch_size)
        accuracies = []
        for epoch in range(self.epochs):
            noise = (loop, epoch) if self.common_noise else (loop, trajectory, epoch)
            batches = self.source.train_batches(
                policy, batch_size=self.batch_size, order_generator=seeded_generator(self.seed, 1, *noise),
                augment_generator=seeded_generator(self.seed, 2, *noise, device=device), pair_generator=generator,
                sharded=False,
            )
            run_epoch(self.model, self.optimizer, batches, steps, self.optim, first_step=epoch * steps,
                      total_steps=self.epochs * steps, on_pairs=count, reporter=self.reporter,
                      label=f"loop {loop + 1} trajectory {trajectory + 1} epoch {epoch + 1}/{self.epochs}", sharded=False)
            accuracies.append(score(self.model, self.source.eval_batches("val", sharded=False), sharded=False))
        reward = sum(sorted(accuracies)[-REWARD_EPOCHS:]) / min(REWARD_EPOCHS, len(accuracies))
        return Trial(reward, usage.view(k, k).cpu(), {"epoch_acc": accuracies, "seconds": time.perf_counter() - start})
