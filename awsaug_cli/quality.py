"""What a search found, in a person's terms: each op's probability as a multiple of uniform,
the evidence behind it, the noise level, and how far the policy is from uniform.

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

from awsaug_cli.critic import FALSE_ALARM, Critic
from awsaug_cli.equivalent_ops import membership
from awsaug_cli.policy import Policy
from awsaug_cli.space import Space

# Identical operations under two names: their probabilities should move together (a noise gauge).
GAUGE = ("Invert", "Solarize_mag0")
VERDICT_RIDGE = 1e-3  # the critic's prior when refitting from a history (contrast.ContrastSettings' default)
SHOWN = 5  # ops listed as favoured / avoided


def marginal(joint: torch.Tensor, index: int) -> float:
    """Probability that a pair contains op `index` (as op1, op2 or both)."""
    return float(joint[index, :].sum() + joint[:, index].sum() - joint[index, index])


def op_multiples(policy: Policy) -> dict[str, float]:
    """Each op's marginal as a multiple of its marginal under the uniform policy."""
    joint = policy.joint()
    k = len(policy.space)
    uniform = 1 - (1 - 1 / k) ** 2
    return {name: marginal(joint, index) / uniform for index, name in enumerate(policy.space.names)}


def kind_marginals(joint: torch.Tensor, space: Space) -> dict[str, float]:
    """Per op kind, the probability that a pair contains an op of that kind."""
    kinds = [op.kind for op in space.ops]
    marginals = {}
    for kind in dict.fromkeys(kinds):
        outside = torch.tensor([k != kind for k in kinds])
        marginals[kind] = float(1 - joint[outside][:, outside].sum())
    return marginals


def kl_from_uniform(policy: Policy) -> float:
    """KL(p ‖ uniform) over pairs, in nats: log(K²) − H(p)."""
    joint = policy.joint()
    entropy = -(joint * joint.clamp_min(1e-30).log()).sum()
    return float(math.log(joint.numel()) - entropy)


def critic_from_history(records: list[dict[str, Any]], space: Space, ridge: float = VERDICT_RIDGE,
                        equivalent: Sequence[Sequence[str]] = ()) -> Critic | None:
    """The critic refitted from the trajectory records of finished loops, with the `equivalent`
    ops judged as one; None when the history does not hold op use (made before awsaug recorded it)."""
    loops: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get("kind") == "trajectory":
            if "op_rates" not in record:
                return None
            loops[record["loop"]].append(record)
    critic = Critic.empty(len(space), ridge, membership(space, equivalent))
    for trajectories in loops.values():
        if len(trajectories) > 1:
            critic.add(torch.tensor([t["op_rates"] for t in trajectories]), torch.tensor([t["reward"] for t in trajectories]))
    return critic if critic.observations else None


@dataclass(frozen=True)
class Verdict:
    multiples: dict[str, float]  # op → marginal × uniform in the answer
    kl: float  # KL(answer ‖ uniform), nats
    twins: tuple[float, float] | None  # the GAUGE ops' multiples
    effects: dict[str, float] | None  # op → reward points if its uniform share were added (β̂ · 2/K)
    errors: dict[str, float] | None  # standard errors of those
    noise: float | None  # residual standard deviation of a trajectory's reward (points)
    trajectories: int  # observations behind the evidence
    threshold: float = math.inf  # |effect| / error that counts as evidence (critic.evidence_threshold)
    unit: str = "points"  # of the reward, the effects and the noise (finetune.REWARDS)
    evident: dict[str, float] = field(default_factory=dict)  # ops distinguishable from noise (Critic.evident) → z
    equivalent: list[list[str]] = field(default_factory=list)  # groups of ops identical on the data, judged as one

    @property
    def found(self) -> bool:
        return bool(self.evident)

    @property
    def twin_gap(self) -> float | None:
        """How far apart the twins ended, relative to the smaller (0.1 = 10 %)."""
        if self.twins is None:
            return None
        low, high = sorted(self.twins)
        return high / low - 1 if low > 0 else math.inf

    @property
    def gauge_tied(self) -> bool:
        """Whether the GAUGE ops were judged as one (then their gap shows no noise)."""
        return any(set(GAUGE) <= set(names) for names in self.equivalent)

    def lines(self) -> list[str]:
        """The verdict as short sentences, most important first."""
        ordered = sorted(self.multiples.items(), key=lambda item: item[1])
        evident = self.evident
        lines = []
        if self.effects is None:
            lines.append("The history holds no op use per trajectory: no evidence can be stated.")
        elif self.errors is None:
            lines.append(f"The search found nothing distinguishable from noise: {self.trajectories} trajectories are too "
                         "few to state the effects' errors. Treat this policy as uniform.")
        elif not evident:
            lines.append(f"The search found nothing distinguishable from noise: no op's effect is {self.threshold:.1f} "
                         f"standard errors from zero over {self.trajectories} trajectories (a {100 * FALSE_ALARM:.0f} % "
                         "false-alarm level over all ops). Treat this policy as uniform.")
        else:
            avoided = sorted((name for name, z in evident.items() if z < 0), key=lambda n: self.multiples[n])
            favoured = sorted((name for name, z in evident.items() if z > 0), key=lambda n: -self.multiples[n])
            for label, names in (("Avoids (harmful, with evidence)", avoided), ("Favours (with evidence)", favoured)):
                if names:
                    lines.append(f"{label}: " + ", ".join(self._describe(name) for name in names[:SHOWN]))
        lines.append("Lowest: " + ", ".join(f"{name} {m:.2f}×" for name, m in ordered[:SHOWN]) +
                     "; highest: " + ", ".join(f"{name} {m:.2f}×" for name, m in reversed(ordered[-SHOWN:])))
        lines.append(f"Distance from uniform: KL {self.kl:.3f} nats.")
        if self.equivalent:
            lines.append("Judged as one (identical on this data): " + "; ".join(" = ".join(names) for names in self.equivalent) + ".")
        if self.twins is not None:
            tied = "; the search judged them as one, so this gap shows no noise" if (
                self.gauge_tied and math.isclose(*self.twins)) else ""
            lines.append(f"Noise gauge (identical ops): {GAUGE[0]} {self.twins[0]:.2f}×, {GAUGE[1]} {self.twins[1]:.2f}× "
                         f"({100 * self.twin_gap:.0f} % apart{tied}).")
        if self.noise is not None and math.isfinite(self.noise):
            lines.append(f"Reward noise between trajectories: ±{self.noise:.2f} {self.unit}; effects: reward "
                         f"{self.unit} if an op had its uniform share.")
        return lines

    def _describe(self, name: str) -> str:
        assert self.effects is not None and self.errors is not None
        return f"{name} {self.multiples[name]:.2f}× ({self.effects[name]:+.2f} ± {self.errors[name]:.2f} {self.unit})"

    def to_json(self) -> dict[str, Any]:
        return {"found": self.found, "evident": self.evident, "multiples": self.multiples, "kl": self.kl,
                "twins": self.twins, "effects": self.effects, "errors": self.errors, "noise": self.noise,
                "trajectories": self.trajectories, "threshold": self.threshold, "unit": self.unit,
                "equivalent": self.equivalent}


def judge(answer: Policy, records: list[dict[str, Any]], unit: str = "points",
          equivalent: Sequence[Sequence[str]] = ()) -> Verdict:
    """The verdict on `answer` given the search history `records` (rewards in `unit`), with the
    `equivalent` ops (identical on the data) judged as one."""
    space = answer.space
    multiples = op_multiples(answer)
    twins = (multiples[GAUGE[0]], multiples[GAUGE[1]]) if all(name in multiples for name in GAUGE) else None
    equivalent = [list(names) for names in equivalent]
    critic = critic_from_history(records, space, equivalent=equivalent)
    if critic is None:
        return Verdict(multiples, kl_from_uniform(answer), twins, None, None, None, 0, unit=unit, equivalent=equivalent)
    share = 2 / len(space)  # applications per image of one op under the uniform policy
    effects = (critic.effects() * share).tolist()
    errors = (critic.errors() * share).tolist()
    noise = critic.noise()
    known = not math.isnan(noise)  # residual freedom left: the errors can be stated
    evident = {name: effect / error for name, effect, error, shown in zip(space.names, effects, errors, critic.evident().tolist())
               if shown}
    return Verdict(multiples, kl_from_uniform(answer), twins, dict(zip(space.names, effects)),
                   dict(zip(space.names, errors)) if known else None, noise if known else None,
                   critic.observations + len({r["loop"] for r in records if r.get("kind") == "trajectory"}),
                   critic.evidence_threshold(), unit, evident, equivalent)
