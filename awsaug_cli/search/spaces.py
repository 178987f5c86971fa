"""The spaces a search can move in, as data: each names its op vocabulary, the policy the pretrain
trains under and the search starts from, how a policy spends an image's two op slots, and the
columns the critic (critic.py) judges the ops by.

* `aws36` — the paper's: 36 ops, every ordered pair (two ops per image), starting from the
  uniform policy; one critic column per op (ops identical on the data share one). The only
  space of the paper's algorithm (`--faithful`).
* `trivialaugment` — TrivialAugmentWide's: 14 ops with Identity, magnitudes in 31 bins (320
  distinct ops), one op per image (the second slot is always Identity), starting from
  TrivialAugment itself (ops uniform, then bins uniform). The critic judges the ops from doing
  nothing: the ops that leave the data unchanged (Identity, every family's zero magnitude:
  measured) are its zero, and each op family gets one column, its strength — how far its
  magnitude is from the unchanged one, 0 … 1 — or, for a family with no unchanged magnitude, how
  often it is applied and how strongly (−1 … +1). So 320 ops are judged by about 14 columns and
  every trajectory informs every magnitude of a family. The twins tilt each family's level and
  line. Its start can weaken augmentation: moving probability to Identity or to small
  magnitudes is a move in the space.

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

Columns = Callable[[Space, Sequence[Sequence[str]], Sequence[str]], torch.Tensor]
# (ops, groups identical on the data, ops that leave the data unchanged) → [K, G]


def one_per_op(space: Space, equivalent: Sequence[Sequence[str]], unchanged: Sequence[str] = ()) -> torch.Tensor:
    """A column per op; ops identical on the data share one. Every op is judged, the unchanged
    ones too (the paper's space has no op meant to do nothing)."""
    return membership(space, equivalent)


def family(name: str) -> str:
    """An op's family: its name without the magnitude (`Rotate_mag45` → `Rotate`)."""
    return name.split("_mag")[0]


def _magnitude_ranges(space: Space) -> dict[str, tuple[float, float]]:
    """Per family with several magnitudes, the lowest and highest."""
    ranges: dict[str, tuple[float, float]] = {}
    for op in space.ops:
        if op.magnitude is not None:
            low, high = ranges.get(family(op.name), (op.magnitude, op.magnitude))
            ranges[family(op.name)] = (min(low, op.magnitude), max(high, op.magnitude))
    return {name: bounds for name, bounds in ranges.items() if bounds[0] < bounds[1]}


def family_and_strength(
    space: Space, equivalent: Sequence[Sequence[str]], unchanged: Sequence[str] = ()
) -> torch.Tensor:
    """Per op family, a column of 1s (how often the family is applied) and, where the family has
    several magnitudes, a column of each op's magnitude scaled to −1 … +1 within the family (how
    strongly). An op identical on the data to an earlier op takes that op's values.

    With `unchanged` ops (measured: they leave the data as it is), effects are measured from
    doing nothing: the unchanged ops get no column (their effect is the critic's zero), and a
    family with unchanged magnitudes gets no level, only its strength: its distance in
    magnitude from the nearest unchanged one, 1 for the farthest op — a family's effect grows
    from nothing as its magnitude moves away from doing nothing, instead of being a free line
    whose ends set its middle."""
    representative = representatives(space, equivalent)
    nothing = {space.index(name) for name in unchanged}
    families = list(dict.fromkeys(family(name) for name in space.names))
    ranges = _magnitude_ranges(space)
    distances = _distances_from_nothing(space, nothing, ranges, set(representative))
    anchored = {family(space[index].name) for index in distances}
    acting = {family(op.name) for index, op in enumerate(space.ops) if index not in nothing}
    silent = set(families) - acting  # every magnitude does nothing here: no column at all
    levelled = [name for name in families if name not in anchored | silent]
    graded = [name for name in families if name in ranges and name not in silent]
    columns = torch.zeros(len(space), len(levelled) + len(graded), dtype=torch.float64)
    for index, source in enumerate(representative):
        if source in nothing or index in nothing:
            continue
        op = space[source]
        name = family(op.name)
        if name in levelled:
            columns[index, levelled.index(name)] = 1.0
        if name in graded:
            low, high = ranges[name]
            strength = distances[source] if name in anchored else 2 * (op.magnitude - low) / (high - low) - 1
            columns[index, len(levelled) + graded.index(name)] = strength
    return columns


def _distances_from_nothing(
    space: Space, nothing: set[int], ranges: dict[str, tuple[float, float]], distinct: set[int]
) -> dict[int, float]:
    """Per op of a family with several magnitudes some of which leave the data unchanged, its
    magnitude's distance from the nearest unchanged one, over the family's largest such distance
    among the `distinct` ops (those that act unlike any earlier op)."""
    anchors: dict[str, list[float]] = {}
    for index in sorted(nothing):
        if family(space[index].name) in ranges:
            anchors.setdefault(family(space[index].name), []).append(space[index].magnitude)
    distances = {
        index: min(abs(op.magnitude - anchor) for anchor in anchors[family(op.name)])
        for index, op in enumerate(space.ops)
        if family(op.name) in anchors and index in distinct
    }
    farthest: dict[str, float] = {}
    for index, distance in distances.items():
        name = family(space[index].name)
        farthest[name] = max(farthest.get(name, 0.0), distance)
    return {  # a family that does nothing here has no strength
        index: distance / farthest[family(space[index].name)]
        for index, distance in distances.items()
        if farthest[family(space[index].name)] > 0
    }


def family_level_and_line(
    space: Space, equivalent: Sequence[Sequence[str]], unchanged: Sequence[str] = ()
) -> torch.Tensor:
    """The twins' directions in TrivialAugment's space: each family's level and line
    (family_and_strength without a reference), whatever the critic measures from, so every
    family and both ends of its magnitudes are explored."""
    return family_and_strength(space, equivalent)


@dataclass(frozen=True)
class SearchSpace:
    """A space the search moves in: its start, how op preferences become a policy, its critic's columns."""

    name: str
    about: str
    start: Callable[[], Policy]  # the pretrain's policy and the search's start (its "uniform")
    start_name: str  # the start as a built-in policy name (policy_names.py)
    paired: bool  # two ops drawn alike per image (True), or one op then Identity
    columns: Columns  # the critic's
    directions: Columns  # what the twins tilt apart (a random half of these columns each way)
    temperature: float  # awsaug's default search's T here (critic_agent.py): chosen by benchmarks/search_quality.py
    tilt: float  # how far its twins lean apart here (critic_agent.py): chosen by benchmarks/search_quality.py

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
            one_per_op,
            6.0,  # the known-answer tasks' choice (BENCHMARKS.md "Search quality")
            0.5,
        ),
        SearchSpace(
            "trivialaugment",
            "TrivialAugmentWide's 14 ops with Identity and 31 magnitude bins, one op per image, from TrivialAugment",
            trivialaugment,
            "trivialaugment",
            False,
            family_and_strength,
            family_level_and_line,
            1.0,  # T 1 trained best on Fashion-MNIST and digits-150 (BENCHMARKS.md "The answers in each space")
            1.0,  # its critic needs the evidence (BENCHMARKS.md "Measured from doing nothing")
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
