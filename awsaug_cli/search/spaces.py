"""The spaces a search can move in, as data: each names its op vocabulary, the policy the pretrain
trains under and the search starts from, how a policy spends an image's two op slots, and the
columns the critic (critic.py) judges the ops by.

* `aws36` — the paper's: 36 ops, every ordered pair (two ops per image), starting from the
  uniform policy; one critic column per op (ops identical on the data share one). The only
  space of the paper's algorithm (`--faithful`).
* `trivialaugment` — TrivialAugmentWide's: 14 ops with Identity, magnitudes in 31 bins (320
  distinct ops), one op per image (the second slot is always Identity), starting from
  TrivialAugment itself (ops uniform, then bins uniform). Two critic columns per op family (the
  op name without its magnitude): how often the family is applied, and how strongly (each op's
  magnitude scaled to −1 … +1 within its family), so 320 ops are judged by 25 columns and every
  trajectory informs every magnitude of a family. Its start can weaken augmentation: moving
  probability to Identity or to small magnitudes is a move in the space.

An op that acts identically on the data to an earlier op of the space (equivalent_ops.py:
measured, never named) takes that op's columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from awsaug_cli.errors import OptionError
from awsaug_cli.policy import Policy
from awsaug_cli.search.equivalent_ops import membership, representatives
from awsaug_cli.space import AWS36, Space
from awsaug_cli.torchvision_policies import trivialaugment

Columns = Callable[[Space, Sequence[Sequence[str]]], torch.Tensor]  # (ops, identical groups) → [K, G]


def one_per_op(space: Space, equivalent: Sequence[Sequence[str]]) -> torch.Tensor:
    """A column per op; ops identical on the data share one."""
    return membership(space, equivalent)


def family(name: str) -> str:
    """An op's family: its name without the magnitude (`Rotate_mag45` → `Rotate`)."""
    return name.split("_mag")[0]


def family_and_strength(space: Space, equivalent: Sequence[Sequence[str]]) -> torch.Tensor:
    """Per op family, a column of 1s (how often the family is applied) and, where the family has
    several magnitudes, a column of each op's magnitude scaled to −1 … +1 within the family (how
    strongly). An op identical on the data to an earlier op takes that op's values."""
    representative = representatives(space, equivalent)
    families = list(dict.fromkeys(family(name) for name in space.names))
    ranges: dict[str, tuple[float, float]] = {}
    for op in space.ops:
        if op.magnitude is not None:
            low, high = ranges.get(family(op.name), (op.magnitude, op.magnitude))
            ranges[family(op.name)] = (min(low, op.magnitude), max(high, op.magnitude))
    graded = [name for name in families if name in ranges and ranges[name][0] < ranges[name][1]]
    columns = torch.zeros(len(space), len(families) + len(graded), dtype=torch.float64)
    for index, source in enumerate(representative):
        op = space[source]
        name = family(op.name)
        columns[index, families.index(name)] = 1.0
        if name in graded:
            low, high = ranges[name]
            columns[index, len(families) + graded.index(name)] = 2 * (op.magnitude - low) / (high - low) - 1
    return columns


@dataclass(frozen=True)
class SearchSpace:
    """A space the search moves in: its start, how op preferences become a policy, its critic's columns."""

    name: str
    about: str
    start: Callable[[], Policy]  # the pretrain's policy and the search's start (its "uniform")
    start_name: str  # the start as a built-in policy name (policy_names.py)
    paired: bool  # two ops drawn alike per image (True), or one op then Identity
    columns: Columns
    temperature: float  # awsaug's default search's T here (critic_agent.py): chosen by benchmarks/search_quality.py

    @property
    def space(self) -> Space:
        return self.start().space

    def policy(self, preferences: torch.Tensor) -> Policy:
        """The start tilted by per-op log-preferences [K]: p1 ∝ start p1 · e^preference, and with
        pairs every row of p2 alike; one-op spaces keep their second slot."""
        start = self.start()
        second = start.second_logits + preferences if self.paired else start.second_logits
        return Policy(start.first_logits + preferences, second, "softmax", space=start.space)

    def applications(self) -> torch.Tensor:
        """Per op, the applications per image under the start that the search can change (both
        slots with pairs, the first slot otherwise)."""
        start = self.start()
        joint = start.joint()
        return joint.sum(dim=1) + joint.sum(dim=0) if self.paired else joint.sum(dim=1)


SEARCH_SPACES: dict[str, SearchSpace] = {
    space.name: space
    for space in (
        SearchSpace(
            "aws36",
            "the paper's 36 ops, every ordered pair, from the uniform policy",
            lambda: Policy.uniform(AWS36, "softmax"),
            "uniform",
            True,
            one_per_op,
            6.0,  # the known-answer tasks' choice (BENCHMARKS.md "Search quality")
        ),
        SearchSpace(
            "trivialaugment",
            "TrivialAugmentWide's 14 ops with Identity and 31 magnitude bins, one op per image, from TrivialAugment",
            trivialaugment,
            "trivialaugment",
            False,
            family_and_strength,
            1.0,  # T 1 trained best on Fashion-MNIST and digits-150 (BENCHMARKS.md "The answers in each space")
        ),
    )
}
DEFAULT_SEARCH_SPACE = "trivialaugment"  # chosen by benchmarks/search_quality.py ab-spaces (BENCHMARKS.md)
UNNAMED_SPACE = "aws36"  # the space of runs recorded before spaces were named


def search_space(name: str) -> SearchSpace:
    if name not in SEARCH_SPACES:
        raise OptionError(f"unknown space {name!r}; choose one of {', '.join(SEARCH_SPACES)}")
    return SEARCH_SPACES[name]


def search_space_of(space: Space) -> SearchSpace | None:
    """The search space whose ops are `space` (None for a vocabulary no search moves in)."""
    return next((candidate for candidate in SEARCH_SPACES.values() if candidate.space.key == space.key), None)
