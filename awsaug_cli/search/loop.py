"""Stage 2's loop: L loops of W trajectories; each trajectory scores a policy with an evaluator
and the agent updates from the rewards. Two agents: awsaug's default (critic_agent.py: twins that
explore on purpose, a pooled critic) and the paper's (paper_agent.py: PPO on credit by use, the best θ
kept), chosen by the `algorithm` option ("contrast", or "ppo" / "reinforce" for the paper's).

`search()` runs the loop over any evaluator (the real fine-tune from the shared weights,
awsaug_cli.search.finetune, or a synthetic one in tests):

    evaluate(policy, loop, trajectory, generator) -> Trial(reward_percent, usage LongTensor [K, K], details)

where `policy` is the one that trajectory samples its pairs from (the agent's exploration),
`generator` is that trajectory's own source of randomness for sampling pairs (the fine-tune also
uses `loop` to share one loop's noise across trajectories) and `details` go into the
trajectory's history record. An evaluator that can run several trajectories at once
(EvaluatesMany: the fine-tune, batched) gets a loop's share in one call. Under
torch.distributed the trajectories are spread over the ranks and their results summed, so
every rank makes the same update.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
import torch.distributed as dist

from awsaug_cli.devices import distributed
from awsaug_cli.errors import OptionError, UserError
from awsaug_cli.policy import Policy, entropy
from awsaug_cli.search.critic import op_rates
from awsaug_cli.search.critic_agent import CriticAgent, CriticSettings
from awsaug_cli.search.paper_agent import ALGORITHMS as FAITHFUL_ALGORITHMS  # the paper's update (paper_agent.py)
from awsaug_cli.search.paper_agent import PaperAgent, PaperSettings
from awsaug_cli.search.spaces import DEFAULT_SEARCH_SPACE, SEARCH_SPACES, SearchSpace
from awsaug_cli.search.verdict import GAUGE, family_marginals, marginal, op_multiples
from awsaug_cli.seeds import stream
from awsaug_cli.space import Space


class Trial(NamedTuple):
    """What one trajectory's evaluation gives the loop."""

    reward: float  # percent
    usage: torch.Tensor  # LongTensor [K, K]: how often each pair was applied
    details: dict[str, Any] = {}  # extra fields for the history record (read, never changed)


Evaluate = Callable[[Policy, int, int, torch.Generator], Trial]


@runtime_checkable
class EvaluatesMany(Protocol):
    """An evaluator that runs several trajectories of a loop in one call (finetune.FineTune)."""

    def many(
        self, policies: list[Policy], loop: int, trajectories: list[int], generators: list[torch.Generator]
    ) -> list[Trial]: ...


class SearchError(UserError):
    """A search that cannot go on (a diverged fine-tune, trajectories that do not fit the ranks)."""


class SearchAgent(Protocol):
    """What the loop needs of an agent (critic_agent.CriticAgent, paper_agent.PaperAgent)."""

    loop: int  # loops completed
    space: Space

    def explore(self) -> list[Policy]: ...  # the policy each trajectory of the coming loop samples

    def update(self, rewards: torch.Tensor, usages: torch.Tensor) -> Any: ...  # an info with .record()

    def policy(self) -> Policy: ...  # the current one

    def answer(self) -> Policy: ...  # what the search hands back

    def state(self) -> tuple[dict[str, torch.Tensor], dict]: ...

    def load_state(self, tensors: dict[str, torch.Tensor], scalars: dict) -> None: ...


DEFAULT_ALGORITHM = "contrast"
FAITHFUL_SPACE = "aws36"  # the paper's algorithm searches the paper's space
ALGORITHMS = (DEFAULT_ALGORITHM, *FAITHFUL_ALGORITHMS)


def make_agent(
    trajectories: int,
    seed: int = 0,
    space: SearchSpace | None = None,
    algorithm: str = DEFAULT_ALGORITHM,
    *,
    equivalent: Sequence[Sequence[str]] = (),
    unchanged: Sequence[str] = (),
    **options: Any,
) -> SearchAgent:
    """The agent of `algorithm` in `space` with `options` (fields of CriticSettings, or of
    PaperSettings for the paper's algorithms); TypeError names an option the algorithm does not
    have. `equivalent`: groups of ops that act identically on the data, which awsaug's default
    judges as one (the paper's algorithm treats every op apart); `unchanged`: the ops that leave
    the data as it is, which its critic measures from where the space's columns do. `space`: by default the
    algorithm's own (awsaug's default space, or the paper's for the paper's algorithms)."""
    if algorithm not in ALGORITHMS:
        raise OptionError(f"algorithm {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")
    if space is None:
        space = SEARCH_SPACES[DEFAULT_SEARCH_SPACE if algorithm == DEFAULT_ALGORITHM else FAITHFUL_SPACE]
    if algorithm != DEFAULT_ALGORITHM and space.name != FAITHFUL_SPACE:
        raise OptionError(
            f"the paper's algorithm searches the {FAITHFUL_SPACE} space only; these shared weights were "
            f"trained in {space.name!r}: pretrain with --space {FAITHFUL_SPACE} for --faithful"
        )
    settings_type = CriticSettings if algorithm == DEFAULT_ALGORITHM else PaperSettings
    unknown = set(options) - {f.name for f in fields(settings_type)}
    if unknown:
        raise TypeError(f"unknown options for the {algorithm} algorithm: {', '.join(sorted(unknown))}")
    if algorithm == DEFAULT_ALGORITHM:
        return CriticAgent(trajectories, CriticSettings(**options), space, seed, equivalent, unchanged)
    return PaperAgent(trajectories, PaperSettings(algorithm=algorithm, **options), space.space)


@dataclass
class SearchResult:
    answer: Policy  # what the search hands back: the default's final policy, or the paper's best θ
    final_policy: Policy  # the policy after the last loop
    history: list[dict[str, Any]] = field(default_factory=list)


def loop_summary(agent: SearchAgent, loop: int, rewards: torch.Tensor, before: Policy, info) -> dict[str, Any]:
    """The loop's history record: its rewards, the policy the loop explored around (`before`),
    and what the agent's update reported."""
    joint = before.joint()
    space = agent.space
    return {
        "kind": "loop",
        "loop": loop,
        "rewards": rewards.tolist(),
        "mean_reward": float(rewards.mean()),
        "entropy": float(entropy(joint)),
        "gauge": {name: marginal(joint, space.index(name)) for name in GAUGE} if set(GAUGE) <= set(space.names) else {},
        "op_multiples": list(op_multiples(before).values()),
        "family_marginals": family_marginals(before),
        "top_pairs": before.top_pairs(5),
        **info.record(),
    }


def check_sharing(trajectories: int, world: int) -> None:
    """Every process runs the same number of trajectories per loop."""
    if trajectories % world:
        raise SearchError(f"{trajectories} trajectories cannot be shared by {world} processes (need a multiple)")


def run_trajectories(
    evaluate: Evaluate, agent: SearchAgent, trajectories: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, dict[int, dict[str, Any]]]:
    """One loop's trajectories (this process's share of them) around the agent's explored
    policies: every trajectory's reward [W], pair counts [W, K, K] and details, gathered from all
    processes; SearchError on a non-finite reward, before any update."""
    rank, world = distributed()
    loop, k = agent.loop, len(agent.space)
    explored = agent.explore()
    rewards = torch.zeros(trajectories, dtype=torch.float64)
    usages = torch.zeros(trajectories, k, k, dtype=torch.int64)
    details: dict[int, dict[str, Any]] = {}
    share = list(range(rank, trajectories, world))
    policies = [explored[trajectory] for trajectory in share]
    generators = [stream(seed, "search_pairs", loop, trajectory) for trajectory in share]
    if isinstance(evaluate, EvaluatesMany):
        trials = evaluate.many(policies, loop, share, generators)
    else:
        trials = [evaluate(policy, loop, t, generator) for policy, t, generator in zip(policies, share, generators)]
    for trajectory, trial in zip(share, trials):
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
        raise SearchError(
            f"loop {loop}: trajectory {bad[0]} gave a non-finite reward (a diverged fine-tune?); "
            f"the search state stays at loop {loop}"
        )
    return rewards, usages, details


def search(
    evaluate: Evaluate,
    *,
    loops: int,
    trajectories: int,
    seed: int = 0,
    space: SearchSpace | None = None,
    agent: SearchAgent | None = None,
    on_loop: Callable[[SearchAgent, list[dict[str, Any]]], None] | None = None,
    **agent_options: Any,
) -> SearchResult:
    """Run loops `agent.loop` .. `loops − 1` (a fresh agent unless one is given to continue).

    `agent_options` go to `make_agent`: `algorithm` ("contrast", the default, or the paper's
    "ppo" / "reinforce") and that algorithm's settings. `on_loop(agent, records)` runs after
    every loop with that loop's history records (trajectory records, then the loop summary)."""
    if loops < 1 or trajectories < 1:
        raise SearchError(f"loops and trajectories must be positive, got {loops} and {trajectories}")
    check_sharing(trajectories, distributed()[1])
    agent = agent or make_agent(trajectories, seed, space, **agent_options)
    history: list[dict[str, Any]] = []
    while agent.loop < loops:
        loop = agent.loop
        policy = agent.policy()
        rewards, usages, details = run_trajectories(evaluate, agent, trajectories, seed)
        info = agent.update(rewards, usages)
        rates = op_rates(usages)
        records = [
            {
                "kind": "trajectory",
                "loop": loop,
                "trajectory": t,
                "reward": float(rewards[t]),
                "op_rates": rates[t].tolist(),
                **details.get(t, {}),
            }
            for t in range(trajectories)
        ]
        records.append(loop_summary(agent, loop, rewards, policy, info))
        history += records
        if on_loop is not None:
            on_loop(agent, records)
    return SearchResult(agent.answer(), agent.policy(), history)
