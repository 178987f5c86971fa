"""What an export keeps of a policy's 1296-way pair distribution, and what that costs.

Other libraries pick a sub-policy uniformly (or by child weights), so an export keeps the top-k
pairs and either carries their renormalised probabilities as weights (exact over the kept pairs)
or repeats each pair in a number of slots proportional to its probability (a stated
quantisation). Either way it states the probability mass it covers and KL(export ‖ policy), and
never claims exactness (docs/FORMATS.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from awsaug_cli.policy import Policy, kl_divergence
from awsaug_cli.space import Op


@dataclass(frozen=True)
class KeptPair:
    """An ordered pair kept by an export, with its weight in the export (weights sum to 1) and
    its integer slot count when the export quantises (None when it carries weights)."""

    op1: int
    op2: int
    weight: float
    slots: int | None = None


@dataclass(frozen=True)
class Approximation:
    pairs: tuple[KeptPair, ...]
    coverage: float  # the source probability of the kept pairs
    kl: float  # KL(export ‖ policy) in nats: 0 only when nothing is lost
    quantisation: str  # how weights were carried, for people

    def metadata(self, policy: Policy) -> dict[str, Any]:
        """The statement every export stores (where its format allows) and prints."""
        return {
            "source": "awsaug",
            "exact": False,
            "pairs_kept": len(self.pairs),
            "pairs_total": len(policy.space) ** 2,
            "coverage": self.coverage,
            "kl_export_to_policy_nats": self.kl,
            "quantisation": self.quantisation,
            "provenance": dict(policy.provenance),
        }


def _top(policy: Policy, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities, flat pair indices) of the k most probable pairs."""
    joint = policy.joint().flatten()
    return joint.topk(min(k, joint.numel()))


def _approximation(
    policy: Policy,
    top: tuple[torch.Tensor, torch.Tensor],
    weights: torch.Tensor,
    slots: torch.Tensor | None,
    quantisation: str,
) -> Approximation:
    probabilities, indices = top
    size = len(policy.space)
    chosen = weights > 0
    counts = slots[chosen].tolist() if slots is not None else [None] * int(chosen.sum())
    pairs = tuple(
        KeptPair(int(i) // size, int(i) % size, float(w), count)
        for i, w, count in zip(indices[chosen], weights[chosen], counts)
    )
    source = probabilities[chosen]
    return Approximation(pairs, float(source.sum()), max(kl_divergence(weights[chosen], source), 0.0), quantisation)


def keep_top(policy: Policy, k: int) -> Approximation:
    """The k most probable pairs weighted by their renormalised probabilities; KL = −log(coverage)."""
    top = _top(policy, k)
    return _approximation(policy, top, top[0] / top[0].sum(), None, "renormalised probabilities of the kept pairs")


def keep_top_in_slots(policy: Policy, k: int, slots: int) -> Approximation:
    """The k most probable pairs repeated in `slots` slots by largest remainder: pair weights
    become multiples of 1/slots, and a pair whose share rounds to no slot is dropped."""
    if slots < 1:
        raise ValueError(f"slots must be at least 1, got {slots}")
    top = _top(policy, k)
    shares = top[0] / top[0].sum() * slots
    counts = shares.floor()
    remainder = int(slots - counts.sum().item())
    if remainder > 0:
        counts[(shares - counts).argsort(descending=True, stable=True)[:remainder]] += 1
    return _approximation(
        policy, top, counts / slots, counts.long(), f"{slots} slots (pair weights are multiples of 1/{slots})"
    )


def describe(approximation: Approximation) -> str:
    """One line for the terminal."""
    nats = approximation.kl
    return (
        f"kept {len(approximation.pairs)} pairs covering {100 * approximation.coverage:.2f} % of the policy's "
        f"probability; KL(export ‖ policy) = {nats:.4f} nats ({nats / math.log(2):.4f} bits); "
        f"{approximation.quantisation}"
    )


SIGN_PAIRS = ((1, 1), (1, -1), (-1, 1), (-1, -1))


def sign_expanded_subpolicies(
    policy: Policy, approximation: Approximation, entry: Callable[[Op, int], Any]
) -> list[list[Any]]:
    """For formats whose ops have no random sign: every slot of every kept pair becomes four
    sub-policies, one per (sign1, sign2), so picking a sub-policy uniformly keeps the pair weights
    and gives each sign probability ½ (an unsigned op ignores its sign, so its entries repeat)."""
    ops = policy.space.ops
    return [
        [entry(ops[pair.op1], sign1), entry(ops[pair.op2], sign2)]
        for pair in approximation.pairs
        for _ in range(pair.slots or 0)
        for sign1, sign2 in SIGN_PAIRS
    ]
