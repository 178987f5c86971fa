"""A policy: a distribution over ordered op pairs, p(i, j) = p1(i) · p2(j | i) (docs/ALGORITHM.md).

Holds the logits θ1 [K] and θ2 [K, K], turns them into probabilities with the chosen
normalisation, samples one pair per image, and reads and writes the canonical policy JSON
(docs/FORMATS.md) with full validation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from awsaug_cli import __version__
from awsaug_cli.atomic import atomic_write_text
from awsaug_cli.errors import UserError, shown
from awsaug_cli.space import AWS36, SPACES, Space, space_named

FORMAT_NAME = "awsaug.policy"
FORMAT_VERSION = 1
PROBABILITY_TOLERANCE = 1e-6


def _sigmoid_normalised(logits: torch.Tensor) -> torch.Tensor:
    """σ(θ) / Σσ(θ), computed as a softmax of log σ(θ): the same numbers, but any finite logits
    (−800 included, where every σ underflows to 0) give a valid distribution."""
    return torch.softmax(torch.nn.functional.logsigmoid(logits), dim=-1)


# How logits become probabilities along the last axis (θ = 0 is uniform for both).
PARAMETRIZATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": _sigmoid_normalised,
    "softmax": lambda logits: torch.softmax(logits, dim=-1),
}


def joint_probabilities(first_logits: torch.Tensor, second_logits: torch.Tensor, parametrization: str) -> torch.Tensor:
    """p(i, j) = p1(i) · p2(j | i) from logits; differentiable, for the agent's update."""
    normalise = PARAMETRIZATIONS[parametrization]
    return normalise(first_logits).unsqueeze(1) * normalise(second_logits)


def entropy(joint: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) of a distribution over pairs; differentiable (the paper's update
    uses it as a bonus). A pair of probability 0 adds nothing."""
    return -(joint * joint.clamp_min(1e-30).log()).sum()


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> float:
    """KL(p ‖ q) in nats over the entries p can draw (p > 0); q floored where it is 0 there."""
    drawn = p > 0
    return float((p[drawn] * (p[drawn].log() - q[drawn].clamp_min(1e-300).log())).sum())


class PolicyFormatError(UserError):
    """A policy file or policy tensors that cannot be used; the message names the field."""


class Policy:
    """θ1 [K] and θ2 [K, K] over the ops of `space`, and the pair distribution they define."""

    def __init__(
        self,
        first_logits: torch.Tensor,
        second_logits: torch.Tensor,
        parametrization: str = "sigmoid",
        *,
        space: Space = AWS36,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        k = len(space)
        first = torch.as_tensor(first_logits, dtype=torch.float64).detach().cpu()
        second = torch.as_tensor(second_logits, dtype=torch.float64).detach().cpu()
        if first.shape != (k,):
            raise PolicyFormatError(f"first_logits: expected shape [{k}], got {list(first.shape)}")
        if second.shape != (k, k):
            raise PolicyFormatError(f"second_logits: expected shape [{k}, {k}], got {list(second.shape)}")
        for name, tensor in (("first_logits", first), ("second_logits", second)):
            if not torch.isfinite(tensor).all():
                raise PolicyFormatError(f"{name}: contains NaN or infinite values")
        if parametrization not in PARAMETRIZATIONS:
            raise PolicyFormatError(f"parametrization: {parametrization!r} is not one of {', '.join(PARAMETRIZATIONS)}")
        self.first_logits = first
        self.second_logits = second
        self.parametrization = parametrization
        self.space = space
        self.provenance = dict(provenance or {})
        self._cdfs: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        self._check_distribution()

    def _check_distribution(self) -> None:
        """Every policy, however made (file, checkpoint, agent), is a distribution: the last
        guard before sampling or writing one."""
        for name, probs in zip(("first_probs", "second_probs"), self.probs()):
            if not torch.isfinite(probs).all() or (probs < 0).any():
                raise PolicyFormatError(f"{name}: the logits give probabilities that are not finite and non-negative")
            error = (probs.sum(dim=-1) - 1).abs().max().item()
            if error > PROBABILITY_TOLERANCE:
                raise PolicyFormatError(
                    f"{name}: the probabilities sum to 1 ± {error:.1e}, beyond {PROBABILITY_TOLERANCE:g}"
                )

    @classmethod
    def uniform(cls, space: Space = AWS36, parametrization: str = "sigmoid") -> Policy:
        """θ = 0: every ordered pair equally likely (the shared policy θ̄)."""
        k = len(space)
        return cls(torch.zeros(k), torch.zeros(k, k), parametrization, space=space)

    def probs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(p1 [K], p2 [K, K]) in float64; row i of p2 is p2(· | op1 = i)."""
        normalise = PARAMETRIZATIONS[self.parametrization]
        return normalise(self.first_logits), normalise(self.second_logits)

    def joint(self) -> torch.Tensor:
        """p(i, j) = p1(i) · p2(j | i), float64 [K, K]."""
        return joint_probabilities(self.first_logits, self.second_logits, self.parametrization)

    def sample(
        self, n: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """LongTensor [n, 2]: per image, op1 ~ p1 then op2 ~ p2(· | op1), by inverse CDF.

        Draws 2n uniforms from `generator` (on its device) and returns the pairs on `device`
        (default: the generator's device)."""
        draw_device = generator.device if generator is not None else torch.device(device or "cpu")
        if draw_device not in self._cdfs:  # the logits never change after construction
            self._cdfs[draw_device] = tuple(p.cumsum(-1).to(draw_device) for p in self.probs())
        first_cdf, second_cdf = self._cdfs[draw_device]
        uniforms = torch.rand(2, n, generator=generator, device=draw_device, dtype=torch.float64)
        last = len(self.space) - 1
        op1 = torch.searchsorted(first_cdf, uniforms[0], right=True).clamp_(max=last)
        rows = second_cdf.index_select(0, op1)
        op2 = torch.searchsorted(rows, uniforms[1].unsqueeze(1), right=True).squeeze(1).clamp_(max=last)
        return torch.stack([op1, op2], dim=1).to(device or draw_device)

    def drawable_pairs(self) -> int:
        """How many ordered pairs have a positive probability."""
        return int((self.joint() > 0).sum())

    def sample_distinct(
        self, n: int, copies: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """LongTensor [n · copies, 2]: for each of n images, `copies` different pairs drawn without
        replacement from p(i, j) (Enlarge Batch), an image's copies adjacent. Gumbel top-k: the
        pairs with the largest log p + Gumbel noise are a draw without replacement."""
        k = len(self.space)
        possible = self.drawable_pairs()
        if not 1 <= copies <= possible:
            raise ValueError(f"copies must be between 1 and the {possible} pairs the policy can draw, got {copies}")
        draw_device = generator.device if generator is not None else torch.device(device or "cpu")
        log_p = self.joint().flatten().log().to(draw_device)
        uniforms = torch.rand(n, k * k, generator=generator, device=draw_device, dtype=torch.float64)
        keys = log_p - (-uniforms.clamp_min(1e-300).log()).log()  # log p + Gumbel(0, 1)
        chosen = keys.topk(copies, dim=1).indices.flatten()
        return torch.stack([chosen // k, chosen % k], dim=1).to(device or draw_device)

    def top_pairs(self, k: int = 25) -> list[dict[str, Any]]:
        """The k most probable pairs as {op1, op2, prob}, most probable first."""
        joint = self.joint().flatten()
        values, indices = joint.topk(min(k, joint.numel()))
        size = len(self.space)
        return [
            {"op1": self.space.names[int(i) // size], "op2": self.space.names[int(i) % size], "prob": float(v)}
            for v, i in zip(values, indices)
        ]

    # ---------------------------------------------------------------- canonical JSON

    def to_json(self, *, top_k: int = 25) -> dict[str, Any]:
        first, second = self.probs()
        provenance = {
            "awsaug_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "space": self.space.key,
            "ops": list(self.space.names),
            "parametrization": self.parametrization,
            "first_logits": self.first_logits.tolist(),
            "second_logits": self.second_logits.tolist(),
            "first_probs": first.tolist(),
            "second_probs": second.tolist(),
            "top_pairs": self.top_pairs(top_k),
            "provenance": {**provenance, **self.provenance},
        }

    def save(self, path: str | os.PathLike, *, top_k: int = 25) -> None:
        """Write the canonical policy JSON atomically (an existing file is replaced whole or kept)."""
        atomic_write_text(path, json.dumps(self.to_json(top_k=top_k), indent=1) + "\n")

    @classmethod
    def from_json(cls, data: Any, *, source: str = "policy") -> Policy:
        return _parse_policy(data, source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Policy:
        """Read and validate a canonical policy file; PolicyFormatError names what is wrong."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the JSON
        except FileNotFoundError:
            raise PolicyFormatError(f"{file}: no such file") from None
        except (OSError, UnicodeDecodeError) as error:
            raise PolicyFormatError(f"{file}: cannot read ({error})") from None
        return _parse_policy(parse_json(text, str(file)), str(file))

    def __repr__(self) -> str:
        return f"Policy(space={self.space.key!r}, parametrization={self.parametrization!r})"


# ---------------------------------------------------------------- validation


def parse_json(text: str, source: str) -> Any:
    """The JSON in `text`; PolicyFormatError naming what is wrong (not JSON, nested too deeply, a
    number too long to read)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyFormatError(f"{source}: not valid JSON (line {error.lineno}, column {error.colno})") from None
    except RecursionError:
        raise PolicyFormatError(f"{source}: JSON nested too deeply to be a policy") from None
    except ValueError:  # Python refuses integers of more than 4,300 digits
        raise PolicyFormatError(f"{source}: holds a number too long to read") from None


def _field(data: dict[str, Any], name: str, source: str) -> Any:
    if name not in data:
        raise PolicyFormatError(f"{source}: missing field {name!r}")
    return data[name]


def _matrix(value: Any, shape: tuple[int, ...], name: str, source: str) -> torch.Tensor:
    def shape_of(item: Any, depth: int) -> bool:
        if depth == len(shape):
            return isinstance(item, (int, float)) and not isinstance(item, bool)
        return isinstance(item, list) and len(item) == shape[depth] and all(shape_of(x, depth + 1) for x in item)

    if not shape_of(value, 0):
        dims = " x ".join(str(s) for s in shape)
        raise PolicyFormatError(f"{source}: field {name!r} must be a {dims} array of numbers")
    tensor = torch.tensor(value, dtype=torch.float64)
    if not torch.isfinite(tensor).all():
        raise PolicyFormatError(f"{source}: field {name!r} contains NaN or infinite values")
    return tensor


def _parse_policy(data: Any, source: str) -> Policy:
    if not isinstance(data, dict):
        raise PolicyFormatError(f"{source}: expected a JSON object at the top level")
    file_format = _field(data, "format", source)
    if file_format != FORMAT_NAME:
        raise PolicyFormatError(f"{source}: field 'format' is {shown(file_format)}, expected {FORMAT_NAME!r}")
    version = _field(data, "version", source)
    if not isinstance(version, int) or isinstance(version, bool):
        raise PolicyFormatError(f"{source}: field 'version' must be an integer, got {shown(version)}")
    if version > FORMAT_VERSION or version < 1:
        raise PolicyFormatError(
            f"{source}: field 'version' is {version}; this awsaug ({__version__}) reads version {FORMAT_VERSION}"
        )
    space_key = _field(data, "space", source)
    if not isinstance(space_key, str) or space_key not in SPACES:
        raise PolicyFormatError(f"{source}: field 'space' is {shown(space_key)}; known spaces: {', '.join(SPACES)}")
    space = space_named(space_key)
    ops = _field(data, "ops", source)
    if ops != list(space.names):
        unknown = [name for name in ops if name not in space.names] if isinstance(ops, list) else []
        detail = (
            f"unknown op {unknown[0]!r}" if unknown else f"must list the {len(space)} {space_key} ops in index order"
        )
        raise PolicyFormatError(f"{source}: field 'ops': {detail}")
    parametrization = _field(data, "parametrization", source)
    if not isinstance(parametrization, str) or parametrization not in PARAMETRIZATIONS:
        raise PolicyFormatError(
            f"{source}: field 'parametrization' is {shown(parametrization)}, expected one of "
            f"{', '.join(PARAMETRIZATIONS)}"
        )
    k = len(space)
    first = _matrix(_field(data, "first_logits", source), (k,), "first_logits", source)
    second = _matrix(_field(data, "second_logits", source), (k, k), "second_logits", source)
    provenance = data.get("provenance", {})
    if not isinstance(provenance, dict):
        raise PolicyFormatError(f"{source}: field 'provenance' must be an object")
    policy = Policy(first, second, parametrization, space=space, provenance=provenance)
    derived = dict(zip(("first_probs", "second_probs"), policy.probs()))
    for name, expected in derived.items():
        if name in data:
            stored = _matrix(data[name], tuple(expected.shape), name, source)
            error = (stored - expected).abs().max().item()
            if error > PROBABILITY_TOLERANCE:
                raise PolicyFormatError(
                    f"{source}: field {name!r} does not match the logits (max difference {error:.2e} "
                    f"> {PROBABILITY_TOLERANCE:g})"
                )
    return policy
