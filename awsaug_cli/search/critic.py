"""How much each op moves the reward, estimated from every trajectory seen so far.

The model is linear in op use: R = c_loop + Σ_o β_o · x_o, where x_o is how often op o was
applied per image (as op1 or op2; the 36 rates sum to 2) and c_loop absorbs everything a loop's
trajectories share (the policy they explored around, the batch order and crops of common random
numbers). Each loop therefore contributes its trajectories' differences from the loop mean, and
ridge regression pools them over all loops: every op is estimated from every trajectory, so one
op's noise does not leak into another's estimate the way it does when each loop's rewards are
credited to the pairs used (the faithful update).

`effects()` are the estimates β̂ (reward points per application per image); `errors()` their
standard errors from the fit's residuals. Both are plain functions of the pooled sums, which is
what the search state stores. The fit's columns are the search space's (spaces.py): one
per op in AWS-36, where ops that act identically on the data (equivalent_ops.py) share one and
get one estimate; per op family and its strength in TrivialAugment's space. An op's effect is
its row of the columns times the column estimates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.stats import t as student_t

from awsaug_cli.errors import UserError

DEFAULT_RIDGE = 1e-3  # the prior of awsaug's search and of the verdict's refit: effects of ~noise/sqrt(ridge)

# An op is called distinguishable from noise when its estimate is far enough from zero that pure
# noise would show any of the ops so with at most this chance (Bonferroni over the ops, Student's t
# at the fit's residual freedom).
FALSE_ALARM = 0.05


def op_rates(usages: torch.Tensor) -> torch.Tensor:
    """Applications of each op per image [W, K] from pair counts [W, K, K] (op1 and op2 both count)."""
    counts = usages.to(torch.float64)
    images = counts.sum(dim=(1, 2)).clamp_min(1.0).unsqueeze(1)
    return (counts.sum(dim=2) + counts.sum(dim=1)) / images


@dataclass
class Critic:
    """The pooled sums of the ridge fit: Σ xxᵀ, Σ x·y, Σ y² over within-loop differences, in the
    fit's G columns (`members` [K, G]: each op's value in each column; the identity when every op
    has its own)."""

    gram: torch.Tensor  # [G, G]
    moment: torch.Tensor  # [G]
    square: float
    observations: int  # trajectories seen, less one per loop (the loop means)
    ridge: float
    members: torch.Tensor  # [K, G]

    @classmethod
    def empty(cls, size: int, ridge: float, members: torch.Tensor | None = None) -> Critic:
        members = torch.eye(size, dtype=torch.float64) if members is None else members.to(torch.float64)
        if members.shape[0] != size:
            raise ValueError(f"members: expected {size} rows (one per op), got {members.shape[0]}")
        columns = members.shape[1]
        return cls(
            torch.zeros(columns, columns, dtype=torch.float64),
            torch.zeros(columns, dtype=torch.float64),
            0.0,
            0,
            ridge,
            members,
        )

    def add(self, rates: torch.Tensor, rewards: torch.Tensor) -> None:
        """One loop: rates [W, K] and rewards [W] of its trajectories."""
        columns = rates.to(torch.float64) @ self.members
        x = columns - columns.mean(dim=0)
        y = rewards.to(torch.float64) - rewards.to(torch.float64).mean()
        self.gram += x.T @ x
        self.moment += x.T @ y
        self.square += float(y @ y)
        self.observations += len(y) - 1

    def _inverse(self) -> torch.Tensor:
        size = len(self.moment)
        return torch.linalg.inv(self.gram + self.ridge * torch.eye(size, dtype=torch.float64))

    def _column_effects(self) -> torch.Tensor:
        return self._inverse() @ self.moment

    def effects(self) -> torch.Tensor:
        """β̂ [K]: reward points gained per application of each op per image."""
        return self.members @ self._column_effects()

    def reference(self) -> torch.Tensor:
        """Bool [K]: what the effects are measured from — the ops no column judges (their effect
        is zero by construction: the ops that leave the data unchanged, where the columns
        measure from doing nothing), or every op (their mean) where each has a column."""
        outside = ~self.members.any(dim=1)
        return outside if bool(outside.any()) else torch.ones_like(outside)

    def freedom(self) -> float:
        """Residual degrees of freedom: observations less the effective number of parameters."""
        return self.observations - float(torch.trace(self.gram @ self._inverse()))

    def noise(self) -> float:
        """The residual standard deviation of a trajectory's reward (points); NaN before there
        are more observations than the fit uses."""
        beta = self._column_effects()
        residual = self.square - 2 * float(beta @ self.moment) + float(beta @ self.gram @ beta)
        freedom = self.freedom()
        return math.sqrt(max(residual, 0.0) / freedom) if freedom > 1 else math.nan

    def evidence_threshold(self, freedom: float | None = None) -> float:
        """|β̂| / standard error beyond which an op is called distinguishable from noise, at the
        fit's residual freedom (or `freedom`; ∞ while there is none)."""
        freedom = self.freedom() if freedom is None else freedom
        if freedom <= 1:
            return math.inf
        return float(student_t.ppf(1 - FALSE_ALARM / (2 * len(self.moment)), freedom))

    def evident(self) -> torch.Tensor:
        """Bool [K]: the ops whose effect is distinguishable from noise (all False before the
        fit can state its errors)."""
        if math.isnan(self.noise()):
            return torch.zeros(len(self.members), dtype=torch.bool)
        errors = self.errors()  # zero where the rewards never varied (accuracy on a few images): nothing shown
        return (errors > 0) & (self.effects().abs() >= self.evidence_threshold() * errors)

    def doubt(self) -> float:
        """How much less the errors can be trusted than with unlimited residual freedom: the
        evidence threshold now over its limit (8.4 at 2 degrees of freedom, 1.37 at 10, 1.06 at 50).
        Early in a search the noise itself is barely estimated; this keeps it from passing
        for evidence."""
        return self.evidence_threshold() / self.evidence_threshold(math.inf)

    def errors(self) -> torch.Tensor:
        """Standard errors of β̂ [K] (the ridge estimate's sampling spread under the residual noise)."""
        inverse = self._inverse()
        covariance = inverse @ self.gram @ inverse
        per_op = ((self.members @ covariance) * self.members).sum(dim=1)  # diag(M Σ Mᵀ)
        return self.noise() * per_op.clamp_min(0.0).sqrt()

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        return (
            {"critic.gram": self.gram.clone(), "critic.moment": self.moment.clone()},
            {"critic_square": self.square, "critic_observations": self.observations},
        )

    def load_state(self, tensors: dict[str, torch.Tensor], scalars: dict) -> None:
        if tensors["critic.moment"].shape != self.moment.shape:
            raise UserError(
                f"the saved search state fits {len(tensors['critic.moment'])} columns, this one "
                f"{len(self.moment)}: the ops that act alike on the data differ"
            )
        self.gram = tensors["critic.gram"].clone()
        self.moment = tensors["critic.moment"].clone()
        self.square = float(scalars["critic_square"])
        self.observations = int(scalars["critic_observations"])
