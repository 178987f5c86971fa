"""awsaug's default search update: contrasts explored on purpose, a pooled critic, and the policy
that trades the critic's predicted gain against distance from the start (docs/ALGORITHM.md,
"awsaug's default"; what each choice replaced and why: BENCHMARKS.md "What was tried").

In the paper's update every trajectory samples from the same p, so trajectories differ in op use
only by sampling noise and the credit-by-use gradient is mostly noise. Here:

1. **Twins explore on purpose, around what is proven.** Trajectories come in pairs; for each
   pair a random half of the space's directions (one per op in AWS-36; each op family's level
   and line in TrivialAugment's) is made e^tilt times more likely than the centre in one twin
   and e^-tilt times in the other (the other half the reverse). With common random numbers the
   twins share everything else. The centre is the policy for the ops whose evidence is
   conclusive (Critic.evident) and the start for the rest, so an op not yet judged stays as well
   measured as any other and a proven label-destroying op stops weighing on every comparison.
2. **Credit by regression.** The critic (critic.py) fits every trajectory's reward to the op use
   it actually sampled, pooled over all loops. Ops that act identically on the data
   (equivalent_ops.py: measured, never named) are one column of the fit and tilt together. In
   TrivialAugment's space the ops that leave the data unchanged (measured too) are the fit's
   zero: every other op is judged by how much better or worse than doing nothing it is.
3. **The policy is the critic's.** p ∝ start · exp(β̃ / T) (in AWS-36, whose start is uniform,
   p(i, j) ∝ exp((β̃_i + β̃_j) / T)): the distribution that maximises the critic's predicted
   reward minus T · KL(p ‖ start), where β̃ = β̂ · β̂² / (β̂² + (c·d·se)²) is each estimate shrunk
   by its own evidence (c = `shrinkage`; d = Critic.doubt(), large while the fit has few residual
   degrees of freedom, → 1 later), so an effect within its noise moves the policy little. No
   op's logit goes further than `reach` from the reference — doing nothing where the critic
   measures from it, else the mean of the ops (the critic is a linear fit made near the
   explored policies). Nothing is integrated step by step and the answer is the last policy (no
   best-loop choice, no winner's curse).

The policy is stored as softmax logits: θ1 = β̃ / T and every row of θ2 = β̃ / T in AWS-36; in
TrivialAugment's space the start's logits plus β̃ / T, the second slot left to Identity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import torch

from awsaug_cli.errors import OptionError
from awsaug_cli.policy import Policy
from awsaug_cli.search.critic import DEFAULT_RIDGE, Critic, op_rates
from awsaug_cli.search.spaces import DEFAULT_SEARCH_SPACE, SEARCH_SPACES, SearchSpace
from awsaug_cli.seeds import stream


@dataclass(frozen=True)
class CriticSettings:
    # twins sample along a direction e^(±tilt) times as often as the centre does; None: the space's
    tilt: float | None = None
    # reward units per nat: an op costing T units per application per image gets e× less probability;
    # None: the search space's (spaces.py, chosen by the search-quality benchmark)
    temperature: float | None = None
    ridge: float = DEFAULT_RIDGE  # the critic's prior: effects of about noise / sqrt(ridge) units believed a priori
    shrinkage: float = 2.0  # c: an effect c standard errors from zero moves the policy half as far as its estimate
    reach: float = 3.0  # no op's logit moves more than this from the mean: the critic is linear and local

    def __post_init__(self) -> None:
        for name in ("tilt", "temperature", "ridge", "shrinkage", "reach"):
            value = getattr(self, name)
            if value is not None and not 0 < value < math.inf:
                raise OptionError(f"{name} must be a positive finite number, got {value}")

    def in_space(self, space: SearchSpace) -> CriticSettings:
        """These settings with the space's temperature and tilt where none was chosen."""
        return replace(
            self,
            temperature=space.temperature if self.temperature is None else self.temperature,
            tilt=space.tilt if self.tilt is None else self.tilt,
        )


@dataclass(frozen=True)
class CriticInfo:
    effects: list[float]  # β̂ per op after this loop (reward points per application per image)
    errors: list[float] | None  # their standard errors (None until the fit has residual freedom)
    noise: float | None  # residual standard deviation of a trajectory's reward (None: as errors)
    threshold: float | None  # |β̂| / error that counts as evidence (None: as errors)

    def record(self) -> dict:
        return {
            "effects": self.effects,
            "effect_errors": self.errors,
            "reward_noise": self.noise,
            "evidence_threshold": self.threshold,
        }


def split_directions(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """`count` directions ±1 [count, size], each +1 on a random half of the ops."""
    directions = torch.ones(count, size, dtype=torch.float64)
    for row in directions:
        row[torch.randperm(size, generator=generator)[: size // 2]] = -1.0
    return directions


def shrink(effects: torch.Tensor, errors: torch.Tensor, shrinkage: float) -> torch.Tensor:
    """Each effect times β̂² / (β̂² + (c·se)²): an effect c standard errors from zero keeps half
    its size, one well within its noise almost none."""
    weight = torch.where(effects != 0, effects**2 / (effects**2 + (shrinkage * errors) ** 2), torch.zeros_like(effects))
    return effects * weight


def preferences(critic: Critic, settings: CriticSettings) -> torch.Tensor:
    """Per op, the log-preference β̃ / T over the search's start, β̃ the critic's effects shrunk
    by their evidence, measured from the critic's reference (Critic.reference: the ops that leave
    the data unchanged where it measures from them, else the mean) and bounded by `reach` (zero
    until the fit can state its errors).
    `settings` with a temperature (CriticSettings.in_space)."""
    effects = critic.effects()
    if math.isnan(critic.noise()):
        return torch.zeros_like(effects)
    logits = shrink(effects, critic.doubt() * critic.errors(), settings.shrinkage) / settings.temperature
    return (logits - logits[critic.reference()].mean()).clamp(-settings.reach, settings.reach)


def critic_policy(
    critic: Critic, settings: CriticSettings, space: SearchSpace = SEARCH_SPACES[DEFAULT_SEARCH_SPACE]
) -> Policy:
    """The start tilted by the critic: in AWS-36 p(i, j) ∝ exp((β̃_i + β̃_j) / T); in a one-op
    space p(i) ∝ start(i) · exp(β̃_i / T)."""
    return space.policy(preferences(critic, settings.in_space(space)))


class CriticAgent:
    """The critic and what the next loop explores; same interface as PaperAgent (the paper's)."""

    def __init__(
        self,
        trajectories: int,
        settings: CriticSettings = CriticSettings(),
        search_space: SearchSpace = SEARCH_SPACES[DEFAULT_SEARCH_SPACE],
        seed: int = 0,
        equivalent: Sequence[Sequence[str]] = (),
        unchanged: Sequence[str] = (),
    ) -> None:
        """`equivalent`: groups of ops that act identically on the data (equivalent_ops.py),
        judged and explored as one; `unchanged`: the ops that leave the data as it is, which
        the critic measures from where the space's columns do (spaces.py)."""
        self.trajectories, self.search_space, self.seed = trajectories, search_space, seed
        self.settings = settings.in_space(search_space)
        self.space = search_space.space
        columns = search_space.columns(self.space, equivalent, unchanged)
        self.critic = Critic.empty(len(self.space), settings.ridge, columns)
        self.directions = search_space.directions(self.space, equivalent, unchanged)
        self.loop = 0  # loops completed

    def policy(self) -> Policy:
        return critic_policy(self.critic, self.settings, self.search_space)

    def answer(self) -> Policy:
        return self.policy()

    def explore(self) -> list[Policy]:
        """The policy each trajectory of the coming loop samples from: twins tilted apart along a
        random split of the ops, around the policy where the evidence is conclusive and around
        uniform elsewhere; an odd last trajectory samples that centre itself. Ops judged as one
        are tilted together."""
        generator = stream(self.seed, "exploration", self.loop)
        k = len(self.space)
        centre = torch.where(
            self.critic.evident(), preferences(self.critic, self.settings), torch.zeros(k, dtype=torch.float64)
        )
        policies = []
        basis = self.directions
        for direction in split_directions(self.trajectories // 2, basis.shape[1], generator) @ basis.T:
            for sign in (1.0, -1.0):
                policies.append(self.search_space.policy(centre + sign * self.settings.tilt * direction))
        return policies + [self.search_space.policy(centre)] * (self.trajectories % 2)

    def update(self, rewards: torch.Tensor, usages: torch.Tensor) -> CriticInfo:
        """Add one loop's rewards [W] (percent) and pair counts [W, K, K] to the critic."""
        k = len(self.space)
        if rewards.shape != (self.trajectories,) or usages.shape != (self.trajectories, k, k):
            raise ValueError(f"expected rewards [{self.trajectories}] and usages [{self.trajectories}, K, K]")
        if not torch.isfinite(rewards).all():
            raise ValueError("non-finite reward")
        self.critic.add(op_rates(usages), rewards)
        self.loop += 1
        noise = self.critic.noise()
        if math.isnan(noise):
            return CriticInfo(self.critic.effects().tolist(), None, None, None)
        return CriticInfo(
            self.critic.effects().tolist(), self.critic.errors().tolist(), noise, self.critic.evidence_threshold()
        )

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors, scalars = self.critic.state()
        return tensors, {**scalars, "loop": self.loop, "settings": {"algorithm": "contrast", **asdict(self.settings)}}

    def load_state(self, tensors: dict[str, torch.Tensor], scalars: dict) -> None:
        self.critic.load_state(tensors, scalars)
        self.loop = int(scalars["loop"])
