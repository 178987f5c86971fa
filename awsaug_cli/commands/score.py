"""`awsaug score POLICY... --run-dir R`: policies scored with the search's own proxy.

Each policy is fine-tuned from the run's shared weights exactly as a search trajectory is (the
pretrain's data, batch size and optimiser; the search's fine-tune epochs and reward), `repeats`
times. Under common random numbers every policy of a repeat sees the same batch order and the
same crop, flip, sign and Cutout randomness, so the policies differ only through their pairs;
the repeats differ in all of it. A policy's error is the standard error of its reward's
difference from the repeat's mean over the scored policies: the luck a repeat gives every policy
alike cancels there, and what is left is what tells the policies apart.

This is how a user (and the benchmark) checks that the proxy ranks policies as full training
does, and how a search's answer is set beside the policies that need no search.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from awsaug_cli.commands.search import check_pretrained, pretrain_data, shared_weights
from awsaug_cli.devices import resolve_device
from awsaug_cli.errors import OptionError
from awsaug_cli.finetune import REWARDS, FineTune
from awsaug_cli.models import build_model
from awsaug_cli.policy import Policy
from awsaug_cli.policy_names import resolve_policy
from awsaug_cli.presets import get_preset
from awsaug_cli.reporters import Reporter, SilentReporter
from awsaug_cli.runs import read_run
from awsaug_cli.seeds import stream


@dataclass(frozen=True)
class ScoreOptions:
    policies: tuple[str, ...]
    run_dir: Path = Path("runs/default")
    repeats: int = 3
    finetune_epochs: int | None = None  # None: the run's search's, else the preset's
    reward: str | None = None  # None: the run's search's, else the default search's (loss)
    device: str = "auto"
    seed: int | None = None  # None: the pretrain's


@dataclass(frozen=True)
class PolicyScore:
    policy: str
    rewards: list[float]  # one per repeat
    reward: float  # their mean
    error: float  # standard error, paired by repeat (module docstring)
    rank: int  # 1 = the highest reward

    def record(self) -> dict[str, Any]:
        return {"policy": self.policy, "reward": self.reward, "error": self.error, "rank": self.rank,
                "rewards": self.rewards}


@dataclass(frozen=True)
class Scores:
    scores: list[PolicyScore]  # in the order asked
    unit: str  # the reward's unit
    reward: str  # its name (finetune.REWARDS)
    finetune_epochs: int
    repeats: int


def paired_errors(rewards: list[list[float]]) -> list[float]:
    """Per policy, the standard error of its mean reward relative to each repeat's mean over
    the policies (`rewards[policy][repeat]`); a lone policy's plain standard error."""
    repeats = len(rewards[0])
    if repeats < 2:
        return [float("nan")] * len(rewards)
    if len(rewards) == 1:
        return [statistics.stdev(rewards[0]) / repeats**0.5]
    means = [statistics.mean(column) for column in zip(*rewards)]
    return [statistics.stdev([r - m for r, m in zip(row, means)]) / repeats**0.5 for row in rewards]


def ranked(names: list[str], rewards: list[list[float]]) -> list[PolicyScore]:
    """The scores in the order of `names`, each with its rank by mean reward (1 = best)."""
    means = [statistics.mean(row) for row in rewards]
    order = sorted(range(len(names)), key=lambda index: -means[index])
    errors = paired_errors(rewards)
    return [PolicyScore(name, row, mean, error, order.index(index) + 1)
            for index, (name, row, mean, error) in enumerate(zip(names, rewards, means, errors))]


def check_policy_list(policies: tuple[str, ...]) -> None:
    if not policies:
        raise OptionError("name at least one policy to score (a file, or none, uniform, randaugment[:N:M], trivialaugment)")
    repeated = sorted({name for name in policies if policies.count(name) > 1})
    if repeated:
        raise OptionError(f"{', '.join(repeated)} named more than once")


def score_policies(options: ScoreOptions, reporter: Reporter | None = None) -> Scores:
    """Fine-tune every policy `options.repeats` times from the run's shared weights; their rewards."""
    reporter = reporter or SilentReporter()
    check_policy_list(options.policies)
    if options.repeats < 1:
        raise OptionError(f"--repeats must be at least 1, got {options.repeats}")
    check_pretrained(options.run_dir, "score policies with")
    run = read_run(options.run_dir)
    pretrain, searched = run["pretrain"], run.get("search", {})
    reward = options.reward or searched.get("reward", "loss")
    if reward not in REWARDS:
        raise OptionError(f"--reward {reward!r}: choose one of {', '.join(REWARDS)}")
    # every policy is read before any data: a bad name fails at once
    policies: list[Policy | None] = [resolve_policy(spec, tuple(pretrain["image_size"])) for spec in options.policies]
    device = resolve_device(options.device)
    preset = get_preset(pretrain["preset"], device)
    _, shared = shared_weights(options.run_dir, pretrain)
    source, _ = pretrain_data(options.run_dir, "auto", pretrain, preset, device, reporter)
    epochs = options.finetune_epochs or searched.get("finetune_epochs") or preset.finetune_epochs
    seed = pretrain["seed"] if options.seed is None else options.seed
    model = build_model(pretrain["model"], len(source.classes), bn_momentum=preset.bn_momentum, device=device)
    evaluator = FineTune(source, model, shared, preset.optim, epochs=epochs, batch_size=pretrain["batch_size"], seed=seed,
                         reward=reward, reporter=reporter)
    reporter.info(f"scoring {len(policies)} policies × {options.repeats} repeats × {epochs} fine-tune epochs from "
                  f"{options.run_dir} on {device} (reward: {reward}, common random numbers within a repeat)")
    rewards = [[0.0] * options.repeats for _ in policies]
    for repeat in range(options.repeats):
        for index, (spec, policy) in enumerate(zip(options.policies, policies)):
            trial = evaluator.trial(policy, (-1 - repeat,), stream(seed, "score_pairs", repeat, index),
                                    label=f"repeat {repeat + 1}/{options.repeats} {Path(spec).name}")
            rewards[index][repeat] = trial.reward
        reporter.progress("scoring", repeat + 1, options.repeats)
    return Scores(ranked(list(options.policies), rewards), REWARDS[reward][1], reward, epochs, options.repeats)


def as_records(scores: Scores) -> list[dict[str, Any]]:
    """The --json list: one object per policy (`policy`, `reward`, `error`, and more)."""
    return [{**score.record(), "unit": scores.unit, "reward_name": scores.reward, "finetune_epochs": scores.finetune_epochs,
             "repeats": scores.repeats} for score in scores.scores]
