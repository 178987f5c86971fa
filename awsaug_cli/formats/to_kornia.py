"""The kornia export: sub-policies `[[name, 1.0, bin], [name, 1.0, bin]]` in the dialect of
`kornia.augmentation.auto.AutoAugment(policy=…)`, each kept pair repeated in proportion to its
probability (slots) and once per sign combination (kornia's AutoAugment ops have signed ranges,
no random sign).

Load it with::

    from kornia.augmentation.auto import AutoAugment
    augment = AutoAugment(policy=json.load(open(path))["policy"])

What kornia cannot hold, stated rather than hidden:
* kornia's AutoAugment picks **one sub-policy per call for the whole batch**; awsaug picks a pair
  per image. Call it per image (or accept batch-level choice).
* a magnitude *bin* selects an interval of kornia's 11-point scale and kornia samples inside it;
  each op gets the bin whose interval holds its magnitude (posterize: the interval that truncates
  to its bit count), so magnitudes vary around the canonical value by up to half a bin.
* kornia's releases read the same entry differently (`DIALECTS`): from 0.9.2 brightness, contrast
  and color are Pillow's and shear's scale is the shear factor; before, brightness was additive
  (x + f − 1), contrast scaled about 0, color was an HSV saturation and shear's scale was
  "fraction × 180 degrees" (factor m ↦ atan(m)/π). The export is written for the kornia installed
  where it runs and says which (`awsaug.kornia_dialect`): export again where kornia differs.
* in every release rotate/shear/translate are bilinear with black fill and shear is about the
  image centre (Pillow's about the top-left corner). Sharpness, autocontrast, equalize, invert,
  posterize and solarize agree within 1.
Units: translate is a fraction of the size with the opposite sign to Pillow's offset; solarize
thresholds are /255.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from awsaug_cli.atomic import atomic_write_text
from awsaug_cli.formats.approximation import Approximation, keep_top_in_slots, sign_expanded_subpolicies
from awsaug_cli.policy import Policy
from awsaug_cli.space import Op

_ENHANCE = (0.1, 1.9)


def _linspace(low: float, high: float, points: int = 11) -> list[float]:
    return [low + (high - low) * i / (points - 1) for i in range(points)]


ValueOf = Callable[[Op, int], float]


def _shear_factor(op: Op, sign: int) -> float:
    return sign * op.magnitude


def _shear_fraction_of_180_degrees(op: Op, sign: int) -> float:
    return math.atan(sign * op.magnitude) / math.pi


# kind → (kornia's op name, its 11-point scale or None, (op, sign) → value on that scale), in the
# newest dialect; older dialects override values below.
KORNIA_OPS: dict[str, tuple[str, tuple[float, float] | None, ValueOf]] = {
    "autocontrast": ("auto_contrast", None, lambda op, sign: 0.0),
    "brightness": ("brightness", _ENHANCE, lambda op, sign: 1 + sign * op.magnitude),
    "color": ("color", _ENHANCE, lambda op, sign: 1 + sign * op.magnitude),
    "contrast": ("contrast", _ENHANCE, lambda op, sign: 1 + sign * op.magnitude),
    "equalize": ("equalize", None, lambda op, sign: 0.0),
    "invert": ("invert", None, lambda op, sign: 0.0),
    # kornia truncates the sampled bit count: aim inside [b, b + 1).
    "posterize": ("posterize", (4.0, 8.0), lambda op, sign: op.magnitude + 0.3),
    "rotate": ("rotate", (-30.0, 30.0), lambda op, sign: sign * op.magnitude),
    "sharpness": ("sharpness", _ENHANCE, lambda op, sign: 1 + sign * op.magnitude),
    "shear_x": ("shear_x", (-0.3, 0.3), _shear_factor),
    "shear_y": ("shear_y", (-0.3, 0.3), _shear_factor),
    "solarize": ("solarize", (0.0, 1.0), lambda op, sign: op.magnitude / 255),
    "translate_x": ("translate_x", (-0.5, 0.5), lambda op, sign: -sign * op.magnitude),
    "translate_y": ("translate_y", (-0.5, 0.5), lambda op, sign: -sign * op.magnitude),
}


@dataclass(frozen=True)
class Dialect:
    """How the kornia releases from `since` on read an AutoAugment entry: the same bin means a
    different image across releases, so an export must be written for the one that loads it."""

    name: str
    since: tuple[int, ...]
    values: Mapping[str, ValueOf] = field(default_factory=dict)  # overrides of KORNIA_OPS' values


# Newest first. kornia 0.9.2 made shear's scale the shear factor (torchvision's atan to degrees)
# and brightness, contrast and color Pillow's.
DIALECTS = (
    Dialect("kornia >= 0.9.2", since=(0, 9, 2)),
    Dialect(
        "kornia < 0.9.2",
        since=(),
        values={"shear_x": _shear_fraction_of_180_degrees, "shear_y": _shear_fraction_of_180_degrees},
    ),
)


def release(version: str) -> tuple[int, ...]:
    """'0.9.2' → (0, 9, 2); pre-release and local tails ('0.10.0rc1', '0.9.2+cu') are dropped."""
    numbers = []
    for part in version.split(".")[:3]:
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        numbers.append(int(digits.group()))
    return tuple(numbers)


def dialect_of(version: str | None = None) -> Dialect:
    """The dialect of kornia `version`; by default the installed kornia's (the newest when none is)."""
    if version is None:
        try:
            version = metadata.version("kornia")
        except metadata.PackageNotFoundError:
            return DIALECTS[0]
    numbers = release(version)
    if not numbers:  # a build without a release number: the newest is the likeliest
        return DIALECTS[0]
    return next(d for d in DIALECTS if numbers >= d.since)


def written_for() -> str:
    """What the CLI says after a kornia export: the file is only right for one dialect."""
    return (
        f"written for {dialect_of().name} (the kornia installed here); its releases read the bins "
        "differently: export again where another kornia loads it"
    )


def kornia_value(op: Op, sign: int, dialect: Dialect = DIALECTS[0]) -> float:
    """The op's magnitude in kornia's units (before kornia's own magnitude function)."""
    return dialect.values.get(op.kind, KORNIA_OPS[op.kind][2])(op, sign)


def magnitude_bin(op: Op, sign: int, dialect: Dialect = DIALECTS[0]) -> int | None:
    """The bin whose interval [scale[b], scale[b + 1]] is centred nearest the op's value."""
    _, scale, _ = KORNIA_OPS[op.kind]
    if scale is None:
        return None
    points = _linspace(*scale)
    value = kornia_value(op, sign, dialect)
    centres = [(a + b) / 2 for a, b in zip(points, points[1:])]
    return min(range(len(centres)), key=lambda b: abs(centres[b] - value))


def bin_interval(op: Op, bin: int) -> tuple[float, float]:
    points = _linspace(*KORNIA_OPS[op.kind][1])
    return points[bin], points[bin + 1]


def entry(op: Op, sign: int, dialect: Dialect = DIALECTS[0]) -> list[Any]:
    return [KORNIA_OPS[op.kind][0], 1.0, magnitude_bin(op, sign, dialect)]


def write(policy: Policy, out: Path, top_k: int, slots: int) -> Approximation:
    kept = keep_top_in_slots(policy, top_k, slots)
    spoken = dialect_of()
    statement = {
        **kept.metadata(policy),
        "selection": "one sub-policy per call for the whole batch (kornia)",
        "kornia_dialect": spoken.name,
    }
    data = {"policy": sign_expanded_subpolicies(policy, kept, partial(entry, dialect=spoken)), "awsaug": statement}
    atomic_write_text(out, json.dumps(data) + "\n")
    return kept
