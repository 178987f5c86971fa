"""`awsaug score POLICY... --run-dir R`: policies scored with the search's own proxy.

Each policy is fine-tuned from the run's shared weights exactly as a search trajectory is (the
pretrain's data, batch size and optimiser; the search's fine-tune epochs and reward), `repeats`
times under common random numbers, and ranked with paired errors (proxy_scores.py). This is how a
user (and the benchmark) checks that the proxy ranks policies as full training does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from awsaug_cli.commands.search import (
    FINETUNE_LR_SCALE,
    REWARD_OF,
    batched_fine_tunes,
    check_pretrained,
    finetune_epochs_for,
    pretrain_data,
    report_plan,
    shared_weights,
)
from awsaug_cli.devices import distributed, resolve_device
from awsaug_cli.errors import OptionError
from awsaug_cli.models import build_model
from awsaug_cli.policy import Policy
from awsaug_cli.policy_names import resolve_policy
from awsaug_cli.presets import get_preset
from awsaug_cli.reporters import Reporter, SilentReporter
from awsaug_cli.run_records import recorded_pretrain, recorded_search
from awsaug_cli.search.finetune import FineTune
from awsaug_cli.search.loop import DEFAULT_ALGORITHM
from awsaug_cli.search.proxy_scores import Scores, fine_tune_rewards, ranked
from awsaug_cli.search.rewards import REWARDS


@dataclass(frozen=True)
class ScoreOptions:
    policies: tuple[str, ...]
    run_dir: Path = Path("runs/default")
    repeats: int = 3
    finetune_epochs: int | None = None  # None: the run's search's, else a default search's
    reward: str | None = None  # None: the run's search's, else the default search's
    finetune_lr: float | None = None  # None: the run's search's, else the default search's
    device: str = "auto"
    seed: int | None = None  # None: the pretrain's


def check_policy_list(policies: tuple[str, ...]) -> None:
    if not policies:
        raise OptionError(
            "name at least one policy to score (a file, or none, uniform, randaugment[:N:M], trivialaugment)"
        )
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
    pretrain, searched = recorded_pretrain(options.run_dir), recorded_search(options.run_dir)
    reward = options.reward or (searched.reward if searched else REWARD_OF[DEFAULT_ALGORITHM])
    if reward not in REWARDS:
        raise OptionError(f"--reward {reward!r}: choose one of {', '.join(REWARDS)}")
    # every policy is read before any data: a bad name fails at once
    policies: list[Policy | None] = [resolve_policy(spec, tuple(pretrain.image_size)) for spec in options.policies]
    device = resolve_device(options.device)
    preset = get_preset(pretrain.preset, device)
    _, shared = shared_weights(options.run_dir, pretrain)
    source, _ = pretrain_data(options.run_dir, "auto", pretrain, preset, device, reporter)
    given = options.finetune_epochs or (searched.finetune_epochs if searched else None)
    # else the fine-tunes a default search from these weights would run
    epochs = given or finetune_epochs_for(preset, source, pretrain, DEFAULT_ALGORITHM)
    if searched:  # the search's own fine-tunes (older searches: at min_lr)
        learning_rate = options.finetune_lr or searched.finetune_lr or preset.optim.min_lr
    else:
        learning_rate = options.finetune_lr or FINETUNE_LR_SCALE[DEFAULT_ALGORITHM] * preset.optim.min_lr
    seed = pretrain.seed if options.seed is None else options.seed
    model = build_model(pretrain.model, len(source.classes), bn_momentum=preset.bn_momentum, device=device)
    evaluator = FineTune(
        source,
        model,
        shared,
        preset.optim,
        epochs=epochs,
        batch_size=pretrain.batch_size,
        seed=seed,
        reward=reward,
        learning_rate=learning_rate,
        batched=batched_fine_tunes(None, pretrain, -(-len(policies) // distributed()[1]), device),
        reporter=reporter,
    )
    report_plan(
        reporter,
        f"scoring {len(policies)} policies × {options.repeats} repeats × {epochs} fine-tune epochs "
        f"({evaluator.steps} steps, learning rate {learning_rate:g}) from "
        f"{options.run_dir} on {device} (reward: {reward}, common random numbers within a repeat)",
        evaluator,
        None if given else preset.finetune_epochs,
    )
    rewards = fine_tune_rewards(evaluator, options.policies, policies, options.repeats, seed, reporter)
    return Scores(ranked(options.policies, rewards), REWARDS[reward][1], reward, epochs, options.repeats)
