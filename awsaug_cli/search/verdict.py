"""What a search found, in a person's terms: each op's probability as a multiple of its
probability in the search's start (the uniform policy in AWS-36, TrivialAugment in its space),
the evidence behind it, the noise level, and how far the policy is from the start.

The evidence is refitted from the history (every trajectory's op use and reward, critic.py), so
the same verdict comes from a finished run, a run stopped half-way, or the paper's algorithm
(whose trajectories differ only by sampling noise, so its evidence is usually weak: that is
the point of saying it).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from awsaug_cli.policy import Policy, entropy, kl_divergence
from awsaug_cli.search.critic import DEFAULT_RIDGE, FALSE_ALARM, Critic
from awsaug_cli.search.equivalent_ops import membership
from awsaug_cli.search.proxy_scores import Scores, compare_line
from awsaug_cli.search.spaces import SearchSpace, family, search_space_of
from awsaug_cli.space import Space

# Identical operations under two names: their probabilities should move together (a noise gauge).
GAUGE = ("Invert", "Solarize_mag0")
SHOWN = 5  # ops listed as favoured / avoided


def marginal(joint: torch.Tensor, index: int) -> float:
    """Probability that a pair contains op `index` (as op1, op2 or both)."""
    return float(joint[index, :].sum() + joint[:, index].sum() - joint[index, index])


def start_name(space: Space) -> str:
    """What the multiples and the distance are measured from: the start of the space's search,
    or the uniform policy over its pairs."""
    searched = search_space_of(space)
    return "uniform" if searched is None or searched.paired else searched.name


def _usage(policy: Policy, searched: SearchSpace | None) -> torch.Tensor:
    """Per op, the probability of appearing: in the pair (two-op spaces), or as the one op."""
    joint = policy.joint()
    if searched is not None and not searched.paired:
        return joint.sum(dim=1)
    return joint.sum(dim=1) + joint.sum(dim=0) - joint.diagonal()


def op_multiples(policy: Policy) -> dict[str, float]:
    """Each op's probability of appearing as a multiple of it under the search's start (the
    uniform policy over pairs for a space no search moves in)."""
    searched = search_space_of(policy.space)
    if searched is None or searched.paired:  # the uniform policy: 1 − (1 − 1/K)² per op
        k = len(policy.space)
        reference = torch.full((k,), 1 - (1 - 1 / k) ** 2, dtype=torch.float64)
    else:
        reference = _usage(searched.start(), searched)
    return dict(zip(policy.space.names, (_usage(policy, searched) / reference).tolist()))


def family_marginals(policy: Policy) -> dict[str, float]:
    """Per op family (the op's name without its magnitude), the probability that an image's ops
    include one of that family (in a one-op space: that its op is of that family)."""
    joint = policy.joint()
    families = [family(name) for name in policy.space.names]
    searched = search_space_of(policy.space)
    one_op = searched is not None and not searched.paired
    marginals = {}
    for name in dict.fromkeys(families):
        inside = torch.tensor([f == name for f in families])
        marginals[name] = float(joint[inside].sum() if one_op else 1 - joint[~inside][:, ~inside].sum())
    return marginals


def kl_from_start(policy: Policy) -> float:
    """KL(p ‖ start) over pairs, in nats (the uniform start: log(K²) − H(p))."""
    joint = policy.joint()
    searched = search_space_of(policy.space)
    if searched is None or searched.paired:
        return float(math.log(joint.numel()) - entropy(joint))
    return kl_divergence(joint, searched.start().joint())


def critic_from_history(
    records: list[dict[str, Any]],
    space: Space,
    ridge: float = DEFAULT_RIDGE,
    equivalent: Sequence[Sequence[str]] = (),
    unchanged: Sequence[str] = (),
) -> Critic | None:
    """The critic refitted from the trajectory records of finished loops, in the columns of the
    space's search, with the `equivalent` ops judged as one and measured from the `unchanged` ops
    where the space's columns do; None when the history does not hold op use (made before awsaug
    recorded it)."""
    loops: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get("kind") == "trajectory":
            if "op_rates" not in record:
                return None
            loops[record["loop"]].append(record)
    searched = search_space_of(space)
    columns = searched.columns(space, equivalent, unchanged) if searched is not None else membership(space, equivalent)
    critic = Critic.empty(len(space), ridge, columns)
    for trajectories in loops.values():
        if len(trajectories) > 1:
            critic.add(  # float64, as the search's own critic: the refit is that critic bit for bit
                torch.tensor([t["op_rates"] for t in trajectories], dtype=torch.float64),
                torch.tensor([t["reward"] for t in trajectories], dtype=torch.float64),
            )
    return critic if critic.observations else None


@dataclass(frozen=True)
class Verdict:
    multiples: dict[str, float]  # op → its probability of appearing, × under the start, in the answer
    kl: float  # KL(answer ‖ start), nats
    gauge_multiples: tuple[float, float] | None  # the GAUGE ops' multiples (identical ops: their gap is noise)
    effects: dict[str, float] | None  # op → reward points if its share under the start were added (β̂ · share)
    errors: dict[str, float] | None  # standard errors of those
    noise: float | None  # residual standard deviation of a trajectory's reward (points)
    trajectories: int  # observations behind the evidence
    threshold: float = math.inf  # |effect| / error that counts as evidence (critic.evidence_threshold)
    unit: str = "points"  # of the reward, the effects and the noise (finetune.REWARDS)
    evident: dict[str, float] = field(default_factory=dict)  # ops distinguishable from noise (Critic.evident) → z
    equivalent: list[list[str]] = field(default_factory=list)  # groups of ops identical on the data, judged as one
    start: str = "uniform"  # what the multiples and the distance are measured from (start_name)
    comparison: str | None = None  # the closing comparison on the proxy (proxy_scores.compare_line)
    from_nothing: bool = False  # effects measured against leaving the images unchanged (else: against the mean op)

    @property
    def found(self) -> bool:
        return bool(self.evident)

    @property
    def gauge_gap(self) -> float | None:
        """How far apart the two gauge ops (identical on the data) ended, relative to the smaller (0.1 = 10 %)."""
        if self.gauge_multiples is None:
            return None
        low, high = sorted(self.gauge_multiples)
        return high / low - 1 if low > 0 else math.inf

    @property
    def gauge_tied(self) -> bool:
        """Whether the GAUGE ops were judged as one (then their gap shows no noise)."""
        return any(set(GAUGE) <= set(names) for names in self.equivalent)

    def lines(self) -> list[str]:
        """The verdict as short sentences, most important first."""
        ordered = sorted(self.multiples.items(), key=lambda item: item[1])
        evident = self.evident
        lines = [self.comparison] if self.comparison else []
        if self.effects is None:
            lines.append("The history holds no op use per trajectory: no evidence can be stated.")
        elif self.errors is None:
            lines.append(
                f"The search found nothing distinguishable from noise: {self.trajectories} trajectories are too "
                f"few to state the effects' errors. Treat this policy as the start ({self.start})."
            )
        elif not evident:
            lines.append(
                f"The search found nothing distinguishable from noise: no op's effect is {self.threshold:.1f} "
                f"standard errors from zero over {self.trajectories} trajectories (a {100 * FALSE_ALARM:.0f} % "
                f"false-alarm level over all ops). Treat this policy as the start ({self.start})."
            )
        else:
            avoided = sorted((name for name, z in evident.items() if z < 0), key=lambda n: self.multiples[n])
            favoured = sorted((name for name, z in evident.items() if z > 0), key=lambda n: -self.multiples[n])
            for label, names in (("Avoids (harmful, with evidence)", avoided), ("Favours (with evidence)", favoured)):
                if names:
                    lines.append(f"{label}: " + ", ".join(self._describe(name) for name in names[:SHOWN]))
        lines.append(
            "Lowest: "
            + ", ".join(f"{name} {m:.2f}×" for name, m in ordered[:SHOWN])
            + "; highest: "
            + ", ".join(f"{name} {m:.2f}×" for name, m in reversed(ordered[-SHOWN:]))
        )
        lines.append(f"Distance from the start ({self.start}): KL {self.kl:.3f} nats.")
        if self.equivalent:
            lines.append(
                "Judged as one (identical on this data): " + "; ".join(map(group_sentence, self.equivalent)) + "."
            )
        if self.gauge_multiples is not None:
            tied = (
                "; the search judged them as one, so this gap shows no noise"
                if (self.gauge_tied and math.isclose(*self.gauge_multiples))
                else ""
            )
            first, second = self.gauge_multiples
            lines.append(
                f"Noise gauge (identical ops): {GAUGE[0]} {first:.2f}×, {GAUGE[1]} {second:.2f}× "
                f"({100 * self.gauge_gap:.0f} % apart{tied})."
            )
        if self.noise is not None and math.isfinite(self.noise):
            against = ", against leaving those images unchanged" if self.from_nothing else ""
            lines.append(
                f"Reward noise between trajectories: ±{self.noise:.2f} {self.unit}; effects: reward "
                f"{self.unit} if an op had its share under the start{against}."
            )
        return lines

    def _describe(self, name: str) -> str:
        assert self.effects is not None and self.errors is not None
        effect = with_error(self.effects[name], self.errors[name])
        return f"{name} {self.multiples[name]:.2f}× ({effect} {self.unit})"

    def to_json(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "evident": self.evident,
            "multiples": self.multiples,
            "kl": self.kl,
            "gauge_multiples": self.gauge_multiples,
            "effects": self.effects,
            "errors": self.errors,
            "noise": self.noise,
            "trajectories": self.trajectories,
            "threshold": self.threshold,
            "unit": self.unit,
            "equivalent": self.equivalent,
            "start": self.start,
            "comparison": self.comparison,
            "from_nothing": self.from_nothing,
        }


def with_error(value: float, error: float) -> str:
    """`value ± error` to two significant digits of the error (at least two decimals): in
    TrivialAugment's space an op's share is ~1/430, and at a fixed two decimals its effect
    read "-0.01 ± 0.00", as if it had none."""
    digits = 2 if error <= 0 or not math.isfinite(error) else max(2, 1 - math.floor(math.log10(error)))
    return f"{value:+.{digits}f} ± {error:.{digits}f}"


def strongest_evidence(z: dict[str, float], shown: int = 3) -> list[tuple[str, float]]:
    """The `shown` op families with the largest |z| (effect / error), each named by its
    strongest op — or by the family where all its ops that moved share one z (a critic that
    judges the family by one strength term): "Rotate_mag4.5, Rotate_mag9, Rotate_mag13.5" would
    read as three findings about three angles."""
    by_family: dict[str, dict[str, float]] = defaultdict(dict)
    for name, value in z.items():
        by_family[family(name)][name] = value
    picks = []
    for name_of_family, members in by_family.items():
        name, value = max(members.items(), key=lambda item: abs(item[1]))
        moved = [v for v in members.values() if v != 0]
        shared = len(moved) > 1 and all(math.isclose(v, value, rel_tol=1e-6) for v in moved)
        picks.append((name_of_family if shared else name, value))
    return sorted(picks, key=lambda item: -abs(item[1]))[:shown]


def group_sentence(names: Sequence[str], shown: int = 6) -> str:
    """A group of identical ops in a sentence; a long one by its first members and its size."""
    if len(names) <= shown:
        return " = ".join(names)
    return " = ".join(names[: shown - 1]) + f" = … ({len(names)} ops)"


def judge(
    answer: Policy,
    records: list[dict[str, Any]],
    unit: str = "points",
    equivalent: Sequence[Sequence[str]] = (),
    scores: Scores | None = None,
    unchanged: Sequence[str] = (),
) -> Verdict:
    """The verdict on `answer` given the search history `records` (rewards in `unit`), with the
    `equivalent` ops (identical on the data) judged as one and the `unchanged` ops as the search's
    critic took them, and the closing comparison `scores` (the answer named "searched") when the
    search made one."""
    comparison = compare_line(scores, "searched") if scores is not None else None
    space = answer.space
    multiples = op_multiples(answer)
    gauge_multiples = (multiples[GAUGE[0]], multiples[GAUGE[1]]) if all(name in multiples for name in GAUGE) else None
    equivalent = [list(names) for names in equivalent]
    critic = critic_from_history(records, space, equivalent=equivalent, unchanged=unchanged)
    if critic is None:
        return Verdict(
            multiples,
            kl_from_start(answer),
            gauge_multiples,
            None,
            None,
            None,
            0,
            unit=unit,
            equivalent=equivalent,
            start=start_name(space),
            comparison=comparison,
        )
    searched = search_space_of(space)
    # applications per image of each op under the start (the uniform start: exactly 2/K)
    share = 2 / len(space) if searched is None or searched.paired else searched.applications()
    effects = (critic.effects() * share).tolist()
    errors = (critic.errors() * share).tolist()
    noise = critic.noise()
    known = not math.isnan(noise)  # residual freedom left: the errors can be stated
    evident = {
        name: effect / error
        for name, effect, error, shown in zip(space.names, effects, errors, critic.evident().tolist())
        if shown
    }
    return Verdict(
        multiples,
        kl_from_start(answer),
        gauge_multiples,
        dict(zip(space.names, effects)),
        dict(zip(space.names, errors)) if known else None,
        noise if known else None,
        critic.observations + len({r["loop"] for r in records if r.get("kind") == "trajectory"}),
        critic.evidence_threshold(),
        unit,
        evident,
        equivalent,
        start_name(space),
        comparison,
        not bool(critic.reference().all()),
    )
