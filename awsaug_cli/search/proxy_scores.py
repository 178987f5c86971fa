"""Policies scored with the search's proxy: fine-tunes from the shared weights, repeated under
common random numbers, ranked with paired errors — for `awsaug score` and for the search's
closing comparison of its answer with the policies that need no search.

Within a repeat every policy sees the same batch order and the same crop, flip, sign and Cutout
randomness; the repeats differ in all of it. A policy's error is the standard error of its
reward's difference from the repeat's mean over the scored policies, and a gap between two
policies is judged by the standard error of their per-repeat differences: the luck a repeat
gives every policy alike cancels there. Every score of a given run, seed and repeat uses the same
fine-tune noise, so `awsaug score` reproduces the numbers the search reported.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from awsaug_cli.devices import distributed
from awsaug_cli.policy import Policy
from awsaug_cli.reporters import Reporter
from awsaug_cli.seeds import stream

if TYPE_CHECKING:  # finetune.py imports the search loop, which imports the verdict, which imports this
    from awsaug_cli.search.finetune import FineTune


@dataclass(frozen=True)
class PolicyScore:
    policy: str
    rewards: list[float]  # one per repeat
    reward: float  # their mean
    error: float  # standard error, paired by repeat (module docstring)
    rank: int  # 1 = the highest reward

    def record(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "reward": self.reward,
            "error": self.error,
            "rank": self.rank,
            "rewards": self.rewards,
        }


@dataclass(frozen=True)
class Scores:
    scores: list[PolicyScore]  # in the order asked
    unit: str  # the reward's unit
    reward: str  # its name (finetune.REWARDS)
    finetune_epochs: int
    repeats: int

    def records(self) -> list[dict[str, Any]]:
        """One object per policy (`policy`, `reward`, `error`, and more): the --json list and scores.json."""
        return [
            {
                **score.record(),
                "unit": self.unit,
                "reward_name": self.reward,
                "finetune_epochs": self.finetune_epochs,
                "repeats": self.repeats,
            }
            for score in self.scores
        ]

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> Scores:
        first = records[0]
        scores = [PolicyScore(r["policy"], r["rewards"], r["reward"], r["error"], r["rank"]) for r in records]
        return cls(scores, first["unit"], first["reward_name"], first["finetune_epochs"], first["repeats"])


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


def gap(better: PolicyScore, worse: PolicyScore) -> tuple[float, float]:
    """How far `better` scored above `worse`, and the standard error of that gap (per-repeat differences)."""
    differences = [a - b for a, b in zip(better.rewards, worse.rewards)]
    error = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else float("nan")
    return statistics.mean(differences), error


def ranked(names: Sequence[str], rewards: list[list[float]]) -> list[PolicyScore]:
    """The scores in the order of `names`, each with its rank by mean reward (1 = best)."""
    means = [statistics.mean(row) for row in rewards]
    order = sorted(range(len(names)), key=lambda index: -means[index])
    errors = paired_errors(rewards)
    return [
        PolicyScore(name, row, mean, error, order.index(index) + 1)
        for index, (name, row, mean, error) in enumerate(zip(names, rewards, means, errors))
    ]


def fine_tune_rewards(
    evaluator: FineTune,
    names: Sequence[str],
    policies: Sequence[Policy | None],
    repeats: int,
    seed: int,
    reporter: Reporter,
) -> list[list[float]]:
    """rewards[policy][repeat]: each policy fine-tuned `repeats` times, repeat r's noise at
    (−1 − r) for every policy (a batched evaluator runs a repeat's fine-tunes together). Under
    torch.distributed the fine-tunes are shared out over the ranks and their rewards summed, so
    every rank returns the same."""
    rank, world = distributed()
    rewards = torch.zeros(len(policies), repeats, dtype=torch.float64)
    jobs = [(repeat, index) for repeat in range(repeats) for index in range(len(policies))]
    mine = [job for done, job in enumerate(jobs) if done % world == rank]
    for repeat in range(repeats):
        indices = [index for r, index in mine if r == repeat]
        trials = evaluator.trials(
            [policies[index] for index in indices],
            [(-1 - repeat,)] * len(indices),
            [stream(seed, "score_pairs", repeat, index) for index in indices],
            [f"repeat {repeat + 1}/{repeats} {Path(names[index]).name}" for index in indices],
        )
        for index, trial in zip(indices, trials):
            rewards[index, repeat] = trial.reward
        reporter.progress("scoring", (repeat + 1) * len(policies), len(jobs))
    if world > 1:
        dist.all_reduce(rewards)
    return rewards.tolist()


TIED_WITHIN = 2.0  # a lead under this many standard errors of the difference is called a tie


def compare_line(scores: Scores, answer: str) -> str:
    """The closing comparison in a sentence: which policy scored best on the proxy, and where the
    searched policy (`answer`, one of the scored names) stands against it."""
    by_rank = sorted(scores.scores, key=lambda s: s.rank)
    mine = next(s for s in scores.scores if s.policy == answer)
    proxy = f"on the search's proxy ({scores.repeats} fine-tunes of {scores.finetune_epochs} epochs each)"
    if mine.rank == 1:
        runner_up = by_rank[1]
        difference, error = gap(mine, runner_up)
        line = (
            f"The searched policy scored best {proxy}: {difference:+.2f} ± {error:.2f} {scores.unit} above "
            f"{runner_up.policy}, the best without a search."
        )
        if difference < TIED_WITHIN * error:  # a lead the fine-tunes' noise could give: say so, not just "best"
            line += f" That is within {TIED_WITHIN:g} errors: the proxy cannot tell them apart."
        else:  # the search tuned it on the validation images this comparison scores: its lead is biased up
            line += (
                " The search chose it on these same validation images, so the lead is optimistic: "
                "confirm it with `awsaug train --compare`."
            )
        return line
    best = by_rank[0]
    difference, error = gap(best, mine)
    return (
        f"No searched policy beat {best.policy} here: {proxy} it scored {difference:+.2f} ± {error:.2f} "
        f"{scores.unit} above the searched policy. Use {best.policy}."
    )
