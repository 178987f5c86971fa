"""Stage 2's loop: L loops of W trajectories; each trajectory scores the current policy with an
evaluator, the agent updates θ from the rewards, and the best θ is kept.

`search()` is the engine and takes any evaluator (the real fine-tune from the shared weights,
awsaug_cli.finetune, or a synthetic one in tests):

    evaluate(policy, loop, trajectory, generator) -> Trial(reward_percent, usage LongTensor [K, K], details)

where `generator` is that trajectory's own source of randomness for sampling pairs (the
fine-tune also uses `loop` to share one loop's noise across trajectories) and `details` go
into the trajectory's history record. Under torch.distributed the trajectories are spread over
the ranks and their results summed, so every rank makes the same update.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import torch
import torch.distributed as dist

from awsaug_cli.agent import Agent, AgentSettings, entropy
from awsaug_cli.policy import Policy
from awsaug_cli.space import AWS36, Space
from awsaug_cli.train import distributed, seeded_generator



class Trial(NamedTuple):
    """What one trajectory's evaluation gives the engine."""

    reward: float  # percent
    usage: torch.Tensor  # LongTensor [K, K]: how often each pair was applied
    details: dict[str, Any] = {}  # extra fields for the history record (read, never changed)


Evaluate = Callable[[Policy, int, int, torch.Generator], Trial]
# Identical operations under two names: their probabilities should move together (a noise gauge).
GAUGE = ("Invert", "Solarize_mag0")


class SearchError(ValueError):
    """A search that cannot go on (a diverged fine-tune, trajectories that do not fit the ranks)."""


@dataclass
class SearchResult:
    best_policy: Policy
    final_policy: Policy
    history: list[dict[str, Any]] = field(default_factory=list)


def marginal(joint: torch.Tensor, index: int) -> float:
    """Probability that a pair contains op `index` (as op1, op2 or both)."""
    return float(joint[index, :].sum() + joint[:, index].sum() - joint[index, index])


def kind_marginals(joint: torch.Tensor, space: Space) -> dict[str, float]:
    """Per op kind, the probability that a pair contains an op of that kind."""
    kinds = [op.kind for op in space.ops]
    marginals = {}
    for kind in dict.fromkeys(kinds):
        outside = torch.tensor([k != kind for k in kinds])
        marginals[kind] = float(1 - joint[outside][:, outside].sum())
    return marginals


def loop_summary(agent: Agent, loop: int, rewards: torch.Tensor, before: Policy, info) -> dict[str, Any]:
    joint = before.joint()
    space = agent.space
    return {
        "kind": "loop",
        "loop": loop,
        "rewards": rewards.tolist(),
        "mean_reward": float(rewards.mean()),
        "best_reward": agent.best_reward,
        "best_loop": agent.best_loop,
        "entropy": float(entropy(joint)),
        "kl": info.kl,
        "agent_lr": info.lr,
        "ppo_steps": info.steps,
        "advantages": info.advantages,
        "baselines": info.baselines,
        "gauge": {name: marginal(joint, space.index(name)) for name in GAUGE if name in space.names},
        "kind_marginals": kind_marginals(joint, space),
        "top_pairs": before.top_pairs(5),
    }


def check_sharing(trajectories: int, world: int) -> None:
    """Every process runs the same number of trajectories per loop."""
    if trajectories % world:
        raise SearchError(f"{trajectories} trajectories cannot be shared by {world} processes (need a multiple)")


def search(
    evaluate: Evaluate,
    *,
    loops: int,
    trajectories: int,
    seed: int = 0,
    space: Space = AWS36,
    agent: Agent | None = None,
    on_loop: Callable[[Agent, list[dict[str, Any]]], None] | None = None,
    **agent_options: Any,
) -> SearchResult:
    """Run loops `agent.loop` .. `loops − 1` (a fresh agent unless one is given to continue).

    `agent_options` are AgentSettings fields. `on_loop(agent, records)` runs after every loop
    with that loop's history records (trajectory records, then the loop summary)."""
    if loops < 1 or trajectories < 1:
        raise SearchError(f"loops and trajectories must be positive, got {loops} and {trajectories}")
    rank, world = distributed()
    check_sharing(trajectories, world)
    unknown = set(agent_options) - {f.name for f in fields(AgentSettings)}
    if unknown:
        raise TypeError(f"unknown agent options: {', '.join(sorted(unknown))}")
    agent = agent or Agent(trajectories, AgentSettings(**agent_options), space)
    history: list[dict[str, Any]] = []
    k = len(space)
    while agent.loop < loops:
        loop = agent.loop
        policy = agent.policy()
        rewards = torch.zeros(trajectories, dtype=torch.float64)
        usages = torch.zeros(trajectories, k, k, dtype=torch.int64)
        details: dict[int, dict[str, Any]] = {}
        for trajectory in range(rank, trajectories, world):
            trial = evaluate(policy, loop, trajectory, seeded_generator(seed, loop, trajectory))
            rewards[trajectory] = trial.reward
            usages[trajectory] = trial.usage
            details[trajectory] = trial.details
        if world > 1:
            dist.all_reduce(rewards)
            dist.all_reduce(usages)
            gathered: list[dict[int, dict[str, Any]]] = [{} for _ in range(world)]
            dist.all_gather_object(gathered, details)
            details = {t: detail for part in gathered for t, detail in part.items()}
        bad = [t for t, r in enumerate(rewards.tolist()) if not math.isfinite(r)]
        if bad:
            raise SearchError(f"loop {loop}: trajectory {bad[0]} gave a non-finite reward (a diverged fine-tune?); "
                              f"the search state stays at loop {loop}")
        info = agent.update(rewards, usages)
        records = [
            {"kind": "trajectory", "loop": loop, "trajectory": t, "reward": float(rewards[t]), **details.get(t, {})}
            for t in range(trajectories)
        ]
        records.append(loop_summary(agent, loop, rewards, policy, info))
        history += records
        if on_loop is not None:
            on_loop(agent, records)
    return SearchResult(agent.best_policy(), agent.policy(), history)
