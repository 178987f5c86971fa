"""The augmentation vocabulary: one table of operations, in the authors' canonical order.

Every backend (torch, Triton, Pillow reference, exporters) reads the ops from here, so an op's
identity (kind, magnitude, whether it draws a random sign) is written down exactly once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

# The operation kinds, in a fixed order: kernels identify a kind by its index in this tuple.
KINDS: tuple[str, ...] = (
    "autocontrast",
    "brightness",
    "color",
    "contrast",
    "equalize",
    "invert",
    "posterize",
    "rotate",
    "sharpness",
    "shear_x",
    "shear_y",
    "solarize",
    "translate_x",
    "translate_y",
    # torchvision's geometric ops (RandAugment, TrivialAugment): nearest, black fill, its own
    # matrices (torchvision_policies.py); appended so that the kinds above keep their codes
    "tv_shear_x",
    "tv_shear_y",
    "tv_translate_x",
    "tv_translate_y",
)


@dataclass(frozen=True)
class Op:
    """One operation of a search space: a kind at a fixed magnitude.

    `signed` ops draw a sign s = ±1 per image and application (factor 1 + s·m, angle s·m, …).
    """

    name: str
    kind: str
    magnitude: float | None
    signed: bool


@dataclass(frozen=True)
class Space:
    """An ordered op vocabulary; a policy is a distribution over ordered pairs of its ops."""

    key: str
    ops: tuple[Op, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(op.name for op in self.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def __getitem__(self, index: int) -> Op:
        return self.ops[index]

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"unknown op {name!r} in space {self.key!r}") from None


def _op_name(display: str, magnitude: float | None) -> str:
    # The authors' naming, f"{Op}_mag{m:.3g}"; ops without a magnitude keep the bare name.
    return display if magnitude is None else f"{display}_mag{magnitude:.3g}"


def _space_from_table(key: str, table: tuple[tuple[str, str, tuple[float, ...] | None, bool], ...]) -> Space:
    ops = [
        Op(_op_name(display, m), kind, m, signed)
        for display, kind, magnitudes, signed in table
        for m in (magnitudes or (None,))
    ]
    # Canonical index order is the string order of the names, as in the authors' code.
    return Space(key, tuple(sorted(ops, key=lambda op: op.name)))


_TRANSLATE = tuple(150 / 331 * k / 3 for k in (1, 2, 3))

# (display name, kind, magnitudes or None, signed) — docs/OPS.md, "AWS-36".
AWS36_TABLE: tuple[tuple[str, str, tuple[float, ...] | None, bool], ...] = (
    ("AutoContrast", "autocontrast", None, False),
    ("Brightness", "brightness", (0.3, 0.6, 0.9), True),
    ("Color", "color", (0.3, 0.6, 0.9), True),
    ("Contrast", "contrast", (0.3, 0.6, 0.9), True),
    ("Equalize", "equalize", None, False),
    ("Invert", "invert", None, False),
    ("Posterize", "posterize", (4, 5, 7), False),
    ("Rotate", "rotate", (10, 20, 30), True),
    ("Sharpness", "sharpness", (0.3, 0.6, 0.9), True),
    ("ShearX", "shear_x", (0.1, 0.2, 0.3), True),
    ("ShearY", "shear_y", (0.1, 0.2, 0.3), True),
    ("Solarize", "solarize", (0, 256 * 2 / 3, 256 / 3), False),
    ("TranslateX", "translate_x", _TRANSLATE, True),
    ("TranslateY", "translate_y", _TRANSLATE, True),
)

AWS36: Space = _space_from_table("aws36", AWS36_TABLE)


def _trivialaugment() -> Space:
    from awsaug_cli.torchvision_policies import trivialaugment  # torchvision's table; it imports policy.py

    return trivialaugment().space


# What a policy file's "space" may name: key → its op vocabulary, built on first use.
SPACES: dict[str, Callable[[], Space]] = {AWS36.key: lambda: AWS36, "trivialaugment-wide": _trivialaugment}


@functools.cache
def space_named(key: str) -> Space:
    """The op vocabulary `key` names (KeyError for an unknown key)."""
    return SPACES[key]()
