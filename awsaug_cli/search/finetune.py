"""The real evaluator of the search: restore the shared weights ω_share (weights, BatchNorm
buffers and SGD momentum), fine-tune E epochs at a constant learning rate (the paper's: the
pretrain schedule's last, min_lr; awsaug's default search: a multiple of it) with pairs
sampled per image from the policy, and score on the validation part after each epoch; the
reward is made of those scores (rewards.py). With common random numbers (the default), every
trajectory of a loop draws the same batch order and the same crop, flip, sign and Cutout
randomness; only the sampled pairs differ, so rewards differ only through the policy.

Batched (`batched=True`): several fine-tunes run as one stacked model (stacked.py), each from
exactly the batches, crops and pairs it draws alone — the same streams, drawn in the same order —
so they differ from the one-at-a-time fine-tunes only by the float rounding of the stacked
arithmetic."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import torch
from torch import nn

from awsaug_cli.checkpoint import Checkpoint, restore
from awsaug_cli.data.batches import steps_per_epoch
from awsaug_cli.data.sources import DataSource
from awsaug_cli.models import model_device
from awsaug_cli.policy import Policy
from awsaug_cli.reporters import Reporter, SilentReporter
from awsaug_cli.search.loop import Trial
from awsaug_cli.search.rewards import REWARDS, ValidationScore, validation_score, validation_scores
from awsaug_cli.search.stacked import StackedCopies
from awsaug_cli.seeds import stream
from awsaug_cli.training_loop import OptimSettings, learning_rate, make_optimizer, run_epoch


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
        batched: bool = False,
        reporter: Reporter | None = None,
    ) -> None:
        """`learning_rate`: the fine-tunes' constant rate (None: the schedule's last, `optim.min_lr`,
        as the paper). `batched`: `trials` runs its fine-tunes as one stacked model."""
        if reward not in REWARDS:
            raise ValueError(f"reward {reward!r}: choose one of {', '.join(REWARDS)}")
        self.reward = REWARDS[reward][0]
        self.source, self.model, self.shared = source, model, shared
        self.optim = dataclasses.replace(
            optim, schedule="constant", lr=optim.min_lr if learning_rate is None else learning_rate
        )
        self.optimizer = make_optimizer(model, self.optim)
        self.epochs, self.batch_size = epochs, batch_size
        self.seed, self.common_noise, self.batched = seed, common_noise, batched
        self.reporter = reporter or SilentReporter()

    @property
    def epoch_steps(self) -> int:
        """Optimiser steps in one fine-tune epoch (full batches of the training part)."""
        return steps_per_epoch(self.source.sizes["train"], self.batch_size)

    @property
    def steps(self) -> int:
        """Optimiser steps in one fine-tune: what decides whether its reward can show a policy's
        effect (an epoch of a few hundred images is a handful of steps)."""
        return self.epochs * self.epoch_steps

    def __call__(self, policy: Policy, loop: int, trajectory: int, generator: torch.Generator) -> Trial:
        """A search trajectory: with common random numbers every trajectory of `loop` shares its noise."""
        return self.many([policy], loop, [trajectory], [generator])[0]

    def many(
        self, policies: list[Policy], loop: int, trajectories: list[int], generators: list[torch.Generator]
    ) -> list[Trial]:
        """Several trajectories of `loop` (search/loop.py's EvaluatesMany), batched or in turn."""
        return self.trials(
            policies,
            [(loop,) if self.common_noise else (loop, trajectory) for trajectory in trajectories],
            generators,
            [f"loop {loop + 1} trajectory {trajectory + 1}" for trajectory in trajectories],
        )

    def trials(
        self,
        policies: list[Policy | None],
        noises: list[tuple[int, ...]],
        generators: list[torch.Generator],
        labels: list[str],
    ) -> list[Trial]:
        """`trial` of each (policy, noise, generator, label): as one stacked model when batched
        and there are several, else one after another."""
        if self.batched and len(policies) > 1:
            return self._stacked_trials(policies, noises, generators, labels)
        return [self.trial(*job[:3], label=job[3]) for job in zip(policies, noises, generators, labels)]

    def trial(self, policy: Policy | None, noise: tuple[int, ...], generator: torch.Generator, *, label: str) -> Trial:
        """One fine-tune from the shared weights under `policy` (None: crop, flip and Cutout
        alone), its batch order and crop/flip/sign/Cutout randomness drawn from the streams at
        `noise` (fine-tunes given the same `noise` share it), its pairs from `generator`."""
        start = time.perf_counter()
        restore(self.shared, self.model, self.optimizer)
        usage = PairCounts(policy, model_device(self.model))
        steps = self.epoch_steps
        scores = []
        for epoch in range(self.epochs):
            run_epoch(
                self.model,
                self.optimizer,
                self._epoch_batches(policy, noise, generator, epoch),
                steps,
                self.optim,
                first_step=epoch * steps,
                total_steps=self.epochs * steps,
                on_pairs=usage.count if usage.k else None,
                reporter=self.reporter,
                label=f"{label} epoch {epoch + 1}/{self.epochs}",
                sharded=False,
            )
            scores.append(validation_score(self.model, self.source.eval_batches("val", sharded=False)))
        return self._result(scores, usage, time.perf_counter() - start)

    def _stacked_trials(
        self,
        policies: list[Policy | None],
        noises: list[tuple[int, ...]],
        generators: list[torch.Generator],
        labels: list[str],
    ) -> list[Trial]:
        """`trials` as one stacked model: each copy steps on the batch its own streams give."""
        start = time.perf_counter()
        stacked = StackedCopies(self.model, self.shared, len(policies), self.optim)
        device = model_device(self.model)
        usages = [PairCounts(policy, device) for policy in policies]
        steps = self.epoch_steps
        label = f"{labels[0]} … {labels[-1]} ({len(labels)} together)"
        scores: list[list[ValidationScore]] = []
        for epoch in range(self.epochs):
            for step, (inputs, targets, pairs) in enumerate(self._copies_batches(policies, noises, generators, epoch)):
                for usage, chosen in zip(usages, pairs):
                    if usage.k:
                        usage.count(chosen)
                stacked.train_step(
                    inputs, targets, learning_rate(self.optim, epoch * steps + step, steps, self.epochs * steps)
                )
                self.reporter.progress(f"{label} epoch {epoch + 1}/{self.epochs}", step + 1, steps)
            scores.append(validation_scores(stacked.logits, self.source.eval_batches("val", sharded=False), device))
        seconds = (time.perf_counter() - start) / len(policies)  # each trajectory's share of the time
        return [self._result([epoch[w] for epoch in scores], usages[w], seconds) for w in range(len(policies))]

    def _copies_batches(
        self,
        policies: list[Policy | None],
        noises: list[tuple[int, ...]],
        generators: list[torch.Generator],
        epoch: int,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]]:
        """Each copy's batches of `epoch`, drawn exactly as its fine-tune alone draws them, step by
        step as inputs [W, B, …], targets [W, B] and pairs: the W copies in one engine call where
        they share their noise and one space and the source holds the data in memory, else each
        transformed on its own."""
        alike = getattr(self.source, "train_batches_alike", None)
        spaces = {policy.space.key if policy is not None else None for policy in policies}
        if alike is not None and len(set(noises)) == 1 and None not in spaces and len(spaces) == 1:
            yield from alike(
                policies, batch_size=self.batch_size, pair_generators=generators, **self._streams(noises[0], epoch)
            )
            return
        for batches in zip(*(self._epoch_batches(*job, epoch) for job in zip(policies, noises, generators))):
            yield torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches]), [b[2] for b in batches]

    def _epoch_batches(self, policy: Policy | None, noise: tuple[int, ...], generator: torch.Generator, epoch: int):
        return self.source.train_batches(
            policy, batch_size=self.batch_size, pair_generator=generator, sharded=False, **self._streams(noise, epoch)
        )

    def _streams(self, noise: tuple[int, ...], epoch: int) -> dict[str, torch.Generator]:
        """The batch order and the crop/flip/sign/Cutout randomness of `epoch` under `noise`."""
        return {
            "order_generator": stream(self.seed, "finetune_order", *noise, epoch),
            "augment_generator": stream(self.seed, "finetune_augment", *noise, epoch, device=model_device(self.model)),
        }

    def _result(self, scores: list[ValidationScore], usage: PairCounts, seconds: float) -> Trial:
        return Trial(
            self.reward(scores),
            usage.matrix(),
            {
                "epoch_acc": [s.accuracy for s in scores],
                "epoch_val_loss": [s.loss for s in scores],
                "epoch_val_calibrated_loss": [s.calibrated_loss for s in scores],
                "seconds": seconds,
            },
        )


class PairCounts:
    """How often a fine-tune applied each pair of its policy's space (K × K; empty without a policy)."""

    def __init__(self, policy: Policy | None, device: torch.device) -> None:
        self.k = len(policy.space) if policy is not None else 0
        self.counts = torch.zeros(self.k * self.k, dtype=torch.int64, device=device)

    def count(self, pairs: torch.Tensor) -> None:  # index_add_, not bincount: no wait for the device
        pair_index = (pairs[:, 0] * self.k + pairs[:, 1]).to(self.counts.device)
        self.counts.index_add_(0, pair_index, torch.ones_like(pair_index))

    def matrix(self) -> torch.Tensor:
        return self.counts.view(self.k, self.k).cpu()
