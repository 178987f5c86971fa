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
* kornia's ops differ from Pillow's: brightness is additive (x + f − 1), contrast scales about 0
  (x·f, not about the mean), color is an HSV saturation, rotate/shear/translate are bilinear
  with black fill, and its shear is about the image centre (Pillow's about the top-left corner).
  Sharpness, autocontrast, equalize, invert, posterize and solarize agree within 1.
Units: shear is kornia's "fraction × 180 degrees", so factor m ↦ atan(m)/π; translate is a
fraction of the size with the opposite sign to Pillow's offset; solarize thresholds are /255.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from awsaug_cli.atomic import atomic_write_text
from awsaug_cli.formats.approximation import Approximation, keep_top_in_slots, sign_expanded_subpolicies
from awsaug_cli.policy import Policy
from awsaug_cli.space import Op

_ENHANCE = (0.1, 1.9)


def _linspace(low: float, high: float, points: int = 11) -> list[float]:
    return [low + (high - low) * i / (points - 1) for i in range(points)]


# kind → (kornia's op name, its 11-point scale or None, (op, sign) → value on that scale).
KORNIA_OPS: dict[str, tuple[str, tuple[float, float] | None, Callable[[Op, int], float]]] = {
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
    "shear_x": ("shear_x", (-0.3, 0.3), lambda op, sign: math.atan(sign * op.magnitude) / math.pi),
    "shear_y": ("shear_y", (-0.3, 0.3), lambda op, sign: math.atan(sign * op.magnitude) / math.pi),
    "solarize": ("solarize", (0.0, 1.0), lambda op, sign: op.magnitude / 255),
    "translate_x": ("translate_x", (-0.5, 0.5), lambda op, sign: -sign * op.magnitude),
    "translate_y": ("translate_y", (-0.5, 0.5), lambda op, sign: -sign * op.magnitude),
}


def kornia_value(op: Op, sign: int) -> float:
    """The op's magnitude in kornia's units (before kornia's own magnitude function)."""
    return KORNIA_OPS[op.kind][2](op, sign)


def magnitude_bin(op: Op, sign: int) -> int | None:
    """The bin whose interval [scale[b], scale[b + 1]] is centred nearest the op's value."""
    _, scale, _ = KORNIA_OPS[op.kind]
    if scale is None:
        return None
    points = _linspace(*scale)
    value = kornia_value(op, sign)
    centres = [(a + b) / 2 for a, b in zip(points, points[1:])]
    return min(range(len(centres)), key=lambda b: abs(centres[b] - value))


def bin_interval(op: Op, bin: int) -> tuple[float, float]:
    points = _linspace(*KORNIA_OPS[op.kind][1])
    return points[bin], points[bin + 1]


def entry(op: Op, sign: int) -> list[Any]:
    return [KORNIA_OPS[op.kind][0], 1.0, magnitude_bin(op, sign)]


def write(policy: Policy, out: Path, top_k: int, slots: int) -> Approximation:
    kept = keep_top_in_slots(policy, top_k, slots)
    metadata = {**kept.metadata(policy), "selection": "one sub-policy per call for the whole batch (kornia)"}
    data = {"policy": sign_expanded_subpolicies(policy, kept, entry), "awsaug": metadata}
    atomic_write_text(out, json.dumps(data) + "\n")
    return kept
