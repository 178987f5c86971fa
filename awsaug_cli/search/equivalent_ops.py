"""Ops that do exactly the same thing to this data: awsaug's search judges each such group as one op.

Why: two ops that turn every image into the same image cannot differ in effect, so estimating
them apart only adds noise, and a search that ends with different probabilities for them reports
that noise as a finding. On grey images (the built-in digits, Fashion-MNIST) the Color ops leave
every image as it is, and everywhere Invert and Solarize at threshold 0 are the same operation.
Which ops coincide is measured, never named: every op is applied with both signs to a fixed
sample of the training images, and ops whose outputs agree pixel for pixel on every image of the
sample, sign for sign (in either pairing), form a group.
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


def equivalent_groups(images: torch.Tensor, space: Space) -> list[list[str]]:
    """The groups (op names, each in space order, groups by first member) of two or more ops of
    `space` that act identically on every one of `images` (uint8 [N, 3, H, W])."""
    apply_rows = backends.load("torch", images.device).apply_rows
    actions: dict[tuple[str, ...], list[str]] = {}
    for index, op in enumerate(space.ops):
        outputs = [
            _digest(apply_rows(images, torch.full((len(images), 1), 2 * index + side, device=images.device), space))
            for side in (0, 1)
        ]  # op-table rows 2·op (sign −1) and 2·op + 1 (sign +1)
        actions.setdefault(tuple(sorted(outputs)), []).append(op.name)
    return [names for names in actions.values() if len(names) > 1]


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
