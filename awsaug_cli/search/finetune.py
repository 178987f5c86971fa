"""The real evaluator of the search: restore the shared weights ω_share (weights, BatchNorm
buffers and SGD momentum), fine-tune E epochs at a constant learning rate (the paper's: the
pretrain schedule's last, min_lr; awsaug's default search: a multiple of it) with pairs
sampled per image from the policy, and score on the validation part after each epoch; the
reward is made of those scores (rewards.py). With common random numbers (the default), every
trajectory of a loop draws the same batch order and the same crop, flip, sign and Cutout
randomness; only the sampled pairs differ, so rewards differ only through the policy."""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import nn

from awsaug_cli.checkpoint import Checkpoint, restore
from awsaug_cli.data.batches import steps_per_epoch
from awsaug_cli.data.sources import DataSource
from awsaug_cli.models import model_device
from awsaug_cli.policy import Policy
from awsaug_cli.reporters import Reporter, SilentReporter
from awsaug_cli.search.loop import Trial
from awsaug_cli.search.rewards import REWARDS, validation_score
from awsaug_cli.seeds import stream
from awsaug_cli.training_loop import OptimSettings, make_optimizer, run_epoch


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
        learning_rate: float | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        """`learning_rate`: the fine-tunes' constant rate (None: the schedule's last, `optim.min_lr`,
        as the paper)."""
        if reward not in REWARDS:
            raise ValueError(f"reward {reward!r}: choose one of {', '.join(REWARDS)}")
        self.reward = REWARDS[reward][0]
        self.source, self.model, self.shared = source, model, shared
        self.optim = dataclasses.replace(
            optim, schedule="constant", lr=optim.min_lr if learning_rate is None else learning_rate
        )
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
        scores = []
        for epoch in range(self.epochs):
            batches = self.source.train_batches(
                policy,
                batch_size=self.batch_size,
                order_generator=stream(self.seed, "finetune_order", *noise, epoch),
                augment_generator=stream(self.seed, "finetune_augment", *noise, epoch, device=device),
                pair_generator=generator,
                sharded=False,
            )
            run_epoch(
                self.model,
                self.optimizer,
                batches,
                steps,
                self.optim,
                first_step=epoch * steps,
                total_steps=self.epochs * steps,
                on_pairs=count if k else None,
                reporter=self.reporter,
                label=f"{label} epoch {epoch + 1}/{self.epochs}",
                sharded=False,
            )
            scores.append(validation_score(self.model, self.source.eval_batches("val", sharded=False)))
        return Trial(
            self.reward(scores),
            usage.view(k, k).cpu(),
            {
                "epoch_acc": [s.accuracy for s in scores],
                "epoch_val_loss": [s.loss for s in scores],
                "epoch_val_calibrated_loss": [s.calibrated_loss for s in scores],
                "seconds": time.perf_counter() - start,
            },
        )
