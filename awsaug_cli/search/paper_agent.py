"""The paper's search agent (`awsaug search --faithful`): logits θ1 [K], θ2 [K, K] and their
update from trajectory rewards (docs/ALGORITHM.md, Stage 2, steps 4–7), exactly as specified.

Per trajectory slot a running baseline b (EMA, updated before the advantage) gives the
advantage Â = scale·(R − b) (+ λ·(R − b0)); each trajectory's advantage is split over the pairs
it used, in proportion to use; clipped PPO on the joint distribution p(i, j) — with the
standard ratio p_new / p_old — or REINFORCE moves θ. The θ whose loop earned the best mean
reward is kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from awsaug_cli.errors import OptionError
from awsaug_cli.policy import PARAMETRIZATIONS, Policy, entropy, joint_probabilities
from awsaug_cli.space import AWS36, Space

ALGORITHMS = ("ppo", "reinforce")


@dataclass(frozen=True)
class PaperSettings:
    parametrization: str = "sigmoid"
    algorithm: str = "ppo"
    clip: float = 0.2  # PPO's ε
    max_steps: int = 5  # PPO steps per loop
    kl_stop: float = 0.002  # stop the loop's PPO steps once KL(p_old ‖ p_new) exceeds this
    lr: float = 0.1
    warmup_start_lr: float = 0.0125
    warmup_loops: int = 10
    betas: tuple[float, float] = (0.5, 0.999)
    baseline_momentum: float = 0.9
    advantage_scale: float = 0.5
    initial_baseline_weight: float = 0.0  # λ of λ·(R − b0)
    entropy_bonus: float = 0.0
    inverted_ratio: bool = False  # the authors' pre-release p_old / p_new: only to show it is wrong

    def __post_init__(self) -> None:
        if self.parametrization not in PARAMETRIZATIONS:
            raise OptionError(f"parametrization {self.parametrization!r}: choose one of {', '.join(PARAMETRIZATIONS)}")
        if self.algorithm not in ALGORITHMS:
            raise OptionError(f"algorithm {self.algorithm!r}: choose one of {', '.join(ALGORITHMS)}")


@dataclass(frozen=True)
class UpdateInfo:
    lr: float
    steps: int  # optimisation steps taken
    kl: float  # KL(p_old ‖ p_new) after the update
    advantages: list[float]  # Â per trajectory
    baselines: list[float]  # b per trajectory, after this loop's EMA update
    best_reward: float  # the best mean reward so far
    best_loop: int  # the loop that earned it

    def record(self) -> dict:
        return {
            "best_reward": self.best_reward,
            "best_loop": self.best_loop,
            "kl": self.kl,
            "agent_lr": self.lr,
            "ppo_steps": self.steps,
            "advantages": self.advantages,
            "baselines": self.baselines,
        }


def ppo_objective(
    joint: torch.Tensor, old: torch.Tensor, pair_advantages: torch.Tensor, clip: float, inverted: bool = False
) -> torch.Tensor:
    """Mean over trajectories of Σ_ij min(r·A, clip(r, 1 − ε, 1 + ε)·A), r = p_new / p_old
    (p_old / p_new when `inverted`, the authors' pre-release)."""
    ratio = old / joint if inverted else joint / old
    clipped = ratio.clamp(1 - clip, 1 + clip)
    return torch.minimum(ratio * pair_advantages, clipped * pair_advantages).sum(dim=(1, 2)).mean()


class PaperAgent:
    """θ and everything its update needs across loops (Adam state, baselines, best θ)."""

    def __init__(self, trajectories: int, settings: PaperSettings = PaperSettings(), space: Space = AWS36) -> None:
        k = len(space)
        self.space = space
        self.settings = settings
        self.trajectories = trajectories
        self.first = torch.zeros(k, dtype=torch.float64, requires_grad=True)
        self.second = torch.zeros(k, k, dtype=torch.float64, requires_grad=True)
        self.optimizer = torch.optim.Adam([self.first, self.second], lr=settings.lr, betas=settings.betas)
        self.loop = 0  # loops completed
        self.baselines = torch.zeros(trajectories, dtype=torch.float64)
        self.initial_baseline = 0.0  # b0: the mean reward of loop 0
        self.best_reward = float("-inf")
        self.best_loop = -1
        self.best_first = self.first.detach().clone()
        self.best_second = self.second.detach().clone()

    # ---------------------------------------------------------------- views

    def _joint(self) -> torch.Tensor:
        return joint_probabilities(self.first, self.second, self.settings.parametrization)

    def policy(self) -> Policy:
        return Policy(self.first.detach(), self.second.detach(), self.settings.parametrization, space=self.space)

    def best_policy(self) -> Policy:
        return Policy(self.best_first, self.best_second, self.settings.parametrization, space=self.space)

    def answer(self) -> Policy:
        """The paper's output: the θ whose loop earned the best mean reward."""
        return self.best_policy()

    def explore(self) -> list[Policy]:
        """Every trajectory samples from the current θ."""
        return [self.policy()] * self.trajectories

    def lr_for(self, loop: int) -> float:
        """Linear warm-up from warmup_start_lr over the first warmup_loops loops, then lr."""
        s = self.settings
        if loop >= s.warmup_loops:
            return s.lr
        return s.warmup_start_lr + (s.lr - s.warmup_start_lr) * loop / s.warmup_loops

    # ---------------------------------------------------------------- the update

    def advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        """Update the baselines with this loop's rewards (EMA, before the advantage; set to R at
        loop 0, where b0 is recorded) and return Â per trajectory."""
        s = self.settings
        rewards = rewards.to(torch.float64)
        if self.loop == 0:
            self.baselines = rewards.clone()
            self.initial_baseline = float(rewards.mean())
        else:
            self.baselines = s.baseline_momentum * self.baselines + (1 - s.baseline_momentum) * rewards
        return s.advantage_scale * (rewards - self.baselines) + s.initial_baseline_weight * (
            rewards - self.initial_baseline
        )

    @staticmethod
    def credit(usages: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
        """Per-pair advantage A_t,ij = U_t,ij / Σ U_t · Â_t, [W, K, K]."""
        usages = usages.to(torch.float64)
        shares = usages / usages.sum(dim=(1, 2), keepdim=True).clamp_min(1.0)
        return shares * advantages.view(-1, 1, 1)

    def update(self, rewards: torch.Tensor, usages: torch.Tensor) -> UpdateInfo:
        """One loop's update from rewards [W] (percent) and pair usage counts [W, K, K]."""
        if rewards.shape != (self.trajectories,) or usages.shape != (
            self.trajectories,
            len(self.space),
            len(self.space),
        ):
            raise ValueError(f"expected rewards [{self.trajectories}] and usages [{self.trajectories}, K, K]")
        if not torch.isfinite(rewards).all():
            raise ValueError("non-finite reward")
        mean_reward = float(rewards.mean())
        if mean_reward > self.best_reward:  # θ as it was when it earned these rewards
            self.best_reward, self.best_loop = mean_reward, self.loop
            self.best_first, self.best_second = self.first.detach().clone(), self.second.detach().clone()
        advantages = self.advantages(rewards)
        pair_advantages = self.credit(usages, advantages)
        lr = self.lr_for(self.loop)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        old = self._joint().detach()
        steps, kl = (
            self._ppo(old, pair_advantages)
            if self.settings.algorithm == "ppo"
            else self._reinforce(old, pair_advantages)
        )
        self.loop += 1
        return UpdateInfo(lr, steps, kl, advantages.tolist(), self.baselines.tolist(), self.best_reward, self.best_loop)

    def _step(self, objective: torch.Tensor, joint: torch.Tensor) -> None:
        loss = -(objective + self.settings.entropy_bonus * entropy(joint))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def _kl(self, old: torch.Tensor) -> float:
        """KL(old ‖ new) for the PPO stop rule, both sides floored as the update's log-probabilities
        are (policy.kl_divergence skips the pairs old cannot draw, and sums in another order)."""
        with torch.no_grad():
            new = self._joint()
            return float((old * (old.clamp_min(1e-30).log() - new.clamp_min(1e-30).log())).sum())

    def _ppo(self, old: torch.Tensor, pair_advantages: torch.Tensor) -> tuple[int, float]:
        s = self.settings
        steps, kl = 0, 0.0
        while steps < s.max_steps and kl <= s.kl_stop:
            joint = self._joint()
            self._step(ppo_objective(joint, old, pair_advantages, s.clip, s.inverted_ratio), joint)
            steps += 1
            kl = self._kl(old)
        return steps, kl

    def _reinforce(self, old: torch.Tensor, pair_advantages: torch.Tensor) -> tuple[int, float]:
        joint = self._joint()
        self._step((pair_advantages * joint.clamp_min(1e-30).log()).sum(dim=(1, 2)).mean(), joint)
        return 1, self._kl(old)

    # ---------------------------------------------------------------- state

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """(tensors, scalars) that restore this agent exactly (see load_state)."""
        tensors = {
            "first": self.first.detach(),
            "second": self.second.detach(),
            "baselines": self.baselines,
            "best_first": self.best_first,
            "best_second": self.best_second,
        }
        adam = self.optimizer.state
        for name, parameter in (("first", self.first), ("second", self.second)):
            for key in ("exp_avg", "exp_avg_sq"):
                if key in adam.get(parameter, {}):
                    tensors[f"adam.{name}.{key}"] = adam[parameter][key]
        steps = {
            name: float(adam[p]["step"])
            for name, p in (("first", self.first), ("second", self.second))
            if "step" in adam.get(p, {})
        }
        scalars = {
            "loop": self.loop,
            "initial_baseline": self.initial_baseline,
            "best_reward": self.best_reward,
            "best_loop": self.best_loop,
            "adam_steps": steps,
            "settings": asdict(self.settings),
        }
        return {name: t.detach().clone().contiguous() for name, t in tensors.items()}, scalars

    def load_state(self, tensors: dict[str, torch.Tensor], scalars: dict) -> None:
        with torch.no_grad():
            self.first.copy_(tensors["first"])
            self.second.copy_(tensors["second"])
        self.baselines = tensors["baselines"].clone()
        self.best_first, self.best_second = tensors["best_first"].clone(), tensors["best_second"].clone()
        self.loop = int(scalars["loop"])
        self.initial_baseline = float(scalars["initial_baseline"])
        self.best_reward = float(scalars["best_reward"])
        self.best_loop = int(scalars["best_loop"])
        for name, parameter in (("first", self.first), ("second", self.second)):
            if f"adam.{name}.exp_avg" in tensors:
                self.optimizer.state[parameter] = {
                    "step": torch.tensor(scalars["adam_steps"][name]),
                    "exp_avg": tensors[f"adam.{name}.exp_avg"].clone(),
                    "exp_avg_sq": tensors[f"adam.{name}.exp_avg_sq"].clone(),
                }
