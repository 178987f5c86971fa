"""Ops that do exactly the same thing to this data: awsaug's search judges each such group as one op.

Why: two ops that turn every image into the same image cannot differ in effect, so estimating
them apart only adds noise, and a search that ends with different probabilities for them reports
that noise as a finding. On grey images (the built-in digits, Fashion-MNIST) the Color ops leave
every image as it is, and everywhere Invert and Solarize at threshold 0 are the same operation.
Which ops coincide is measured, never named: every op is applied with both signs to a fixed
sample of the training images, and ops whose outputs agree pixel for pixel on every image of the
sample, sign for sign (in either pairing), form a group. The same measurement finds the ops that
leave every image unchanged (Identity, and any op at a magnitude that does nothing to this data).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch

from awsaug_cli.kernels import backends
from awsaug_cli.space import Space

SAMPLE = 256  # training images the ops are compared on


def _digest(images: torch.Tensor) -> str:
    return hashlib.sha256(images.contiguous().cpu().numpy().tobytes()).hexdigest()


def op_actions(images: torch.Tensor, space: Space) -> dict[str, tuple[str, str]]:
    """Per op of `space`, what it does to `images` (uint8 [N, 3, H, W]) with either sign: the
    digests of its two outputs, sorted (so ops that agree in either pairing compare equal)."""
    apply_rows = backends.load("torch", images.device).apply_rows
    actions: dict[str, tuple[str, str]] = {}
    for index, op in enumerate(space.ops):
        first, second = sorted(
            _digest(apply_rows(images, torch.full((len(images), 1), 2 * index + side, device=images.device), space))
            for side in (0, 1)
        )  # op-table rows 2·op (sign −1) and 2·op + 1 (sign +1)
        actions[op.name] = (first, second)
    return actions


def equivalent_groups(actions: dict[str, tuple[str, str]]) -> list[list[str]]:
    """The groups (op names, each in space order, groups by first member) of two or more ops
    whose `actions` (op_actions) agree on every image."""
    alike: dict[tuple[str, str], list[str]] = {}
    for name, action in actions.items():
        alike.setdefault(action, []).append(name)
    return [names for names in alike.values() if len(names) > 1]


def unchanged_ops(actions: dict[str, tuple[str, str]], images: torch.Tensor) -> list[str]:
    """The ops (in space order) that leave every one of `images` as it is, with either sign: the
    reference awsaug's critic measures the other ops from where the space has one (spaces.py)."""
    untouched = (_digest(images),) * 2
    return [name for name, action in actions.items() if action == untouched]


def representatives(space: Space, groups: Sequence[Sequence[str]] = ()) -> list[int]:
    """Per op, the index of the first op of its group (itself when `groups` puts it with none)."""
    first_of = list(range(len(space)))
    for names in groups:
        first = min(space.index(name) for name in names)
        for name in names:
            first_of[space.index(name)] = first
    return first_of


def membership(space: Space, groups: Sequence[Sequence[str]] = ()) -> torch.Tensor:
    """float64 [K, G]: 1 where op k is judged in column g. Each op is alone in its column unless
    `groups` puts it with others; columns in the order of their first op."""
    column_of = representatives(space, groups)
    columns = sorted(set(column_of))
    members = torch.zeros(len(space), len(columns), dtype=torch.float64)
    members[torch.arange(len(space)), torch.tensor([columns.index(c) for c in column_of])] = 1.0
    return members
