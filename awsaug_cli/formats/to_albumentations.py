"""The albumentations export: a serialised `Compose` whose core is a `OneOf` over the kept pairs,
each a `Sequential([op1, op2])` whose `p` is the pair's renormalised probability (OneOf turns
child p's into weights, so the weighting over the kept pairs is exact). A signed op becomes a
`OneOf` of its two signs. Written as the dict `albumentations.from_dict` reads, without importing
albumentations.

Magnitude mapping (fixed magnitudes as degenerate ranges [v, v]), measured against Pillow on a
48×48 photo (tests/test_exports.py holds the tolerances):
* brightness, color, contrast: `ColorJitter` with only that factor ≠ 1 (|diff| ≤ 2);
* sharpness +m: `Sharpen(alpha = m/13, lightness = 1)`, which is Pillow's kernel exactly (the
  1-pixel border differs: OpenCV filters it, Pillow copies it); −m (a blur): `Sharpen` cannot
  blur, so a 3×3 `GaussianBlur` whose centre weight equals Pillow's (mean |diff| ≈ 1);
* shear ±m: `Affine(shear = atan(±m) degrees)` about the centre plus a translation of ∓m/2 of the
  size that moves the shear's origin to the top-left corner as Pillow's; albumentations rounds
  that translation to whole pixels, so the origin lands within half a pixel of Pillow's (for
  square images); bicubic (OpenCV's a = −0.75), fill 128;
* translate ±m: `Affine(translate_percent = ∓m)`, nearest, fill 128 (Pillow reads the input at
  x + s·m·W, so its content moves the other way); OpenCV's nearest rounds the source coordinate
  down where Pillow rounds it, so the offset can differ by one pixel;
* rotate ±m: `Affine(rotate = ±m)`, nearest, fill 0;
* equalize: `Equalize(mode="pil")`, which is not Pillow's formula (mean |diff| ≈ 3);
* autocontrast, invert, posterize, solarize (threshold t/255): exact or within 1.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from awsaug_cli.atomic import atomic_write_text
from awsaug_cli.formats.approximation import Approximation, keep_top
from awsaug_cli.policy import Policy
from awsaug_cli.space import Op

NEAREST, CUBIC = 0, 2  # OpenCV's interpolation flags
SERIALISATION_VERSION = "2.0.8"  # the albumentations release the export was checked with
Transform = dict[str, Any]


def _transform(name: str, **args: Any) -> Transform:
    return {"__class_fullname__": name, "p": 1.0, **args}


def _jitter(factor: str) -> Callable[[Op, int], Transform]:
    def make(op: Op, sign: int) -> Transform:
        factors = {"brightness": [1, 1], "contrast": [1, 1], "saturation": [1, 1]}
        value = 1 + sign * op.magnitude
        factors[factor] = [value, value]
        return _transform("ColorJitter", **factors, hue=[0, 0])

    return make


def _sharpness(op: Op, sign: int) -> Transform:
    strength = op.magnitude / 13
    if sign > 0:
        return _transform("Sharpen", alpha=[strength, strength], lightness=[1, 1], method="kernel")
    # Pillow's blur at factor 1 − m has centre weight 1 − 8m/13; a separable [a, b, a] Gaussian
    # has centre b², so b = sqrt(1 − 8m/13) and b/a = exp(1 / 2σ²).
    centre = math.sqrt(1 - 8 * op.magnitude / 13)
    side = (1 - centre) / 2
    sigma = math.sqrt(1 / (2 * math.log(centre / side)))
    return _transform("GaussianBlur", blur_limit=[3, 3], sigma_limit=[sigma, sigma])


def _axis_values(axis: str, value: float) -> dict[str, list[float]]:
    other = "y" if axis == "x" else "x"
    return {axis: [value, value], other: [0.0, 0.0]}


def _shear(axis: str) -> Callable[[Op, int], Transform]:
    def make(op: Op, sign: int) -> Transform:
        factor = sign * op.magnitude
        degrees = math.degrees(math.atan(factor))
        return _transform(
            "Affine",
            shear=_axis_values(axis, degrees),
            translate_percent=_axis_values(axis, -factor / 2),
            interpolation=CUBIC,
            border_mode=0,
            fill=128,
        )

    return make


def _translate(axis: str) -> Callable[[Op, int], Transform]:
    def make(op: Op, sign: int) -> Transform:
        return _transform(
            "Affine",
            translate_percent=_axis_values(axis, -sign * op.magnitude),
            interpolation=NEAREST,
            border_mode=0,
            fill=128,
        )

    return make


# kind → (op, sign) → albumentations transform dict.
ALBUMENTATIONS_OPS: dict[str, Callable[[Op, int], Transform]] = {
    "autocontrast": lambda op, sign: _transform("AutoContrast", cutoff=0, method="pil"),
    "brightness": _jitter("brightness"),
    "color": _jitter("saturation"),
    "contrast": _jitter("contrast"),
    "equalize": lambda op, sign: _transform("Equalize", mode="pil", by_channels=True),
    "invert": lambda op, sign: _transform("InvertImg"),
    "posterize": lambda op, sign: _transform("Posterize", num_bits=[int(op.magnitude)] * 2),
    "rotate": lambda op, sign: _transform(
        "Affine", rotate=[sign * op.magnitude] * 2, interpolation=NEAREST, border_mode=0, fill=0
    ),
    "sharpness": _sharpness,
    "shear_x": _shear("x"),
    "shear_y": _shear("y"),
    "solarize": lambda op, sign: _transform("Solarize", threshold_range=[op.magnitude / 255] * 2),
    "translate_x": _translate("x"),
    "translate_y": _translate("y"),
}


def op_transform(op: Op) -> Transform:
    """One op as albumentations applies it: a signed op picks its sign per image, as in awsaug."""
    make = ALBUMENTATIONS_OPS[op.kind]
    if not op.signed:
        return make(op, 1)
    return _transform("OneOf", transforms=[make(op, 1), make(op, -1)])


def to_dict(policy: Policy, top_k: int) -> tuple[dict[str, Any], Approximation]:
    kept = keep_top(policy, top_k)
    ops = policy.space.ops
    pairs = [
        {
            "__class_fullname__": "Sequential",
            "p": pair.weight,
            "transforms": [op_transform(ops[pair.op1]), op_transform(ops[pair.op2])],
        }
        for pair in kept.pairs
    ]
    compose = _transform("Compose", transforms=[_transform("OneOf", transforms=pairs)])
    return {"__version__": SERIALISATION_VERSION, "transform": compose, "awsaug": kept.metadata(policy)}, kept


def write(policy: Policy, out: Path, top_k: int, slots: int) -> Approximation:
    """`slots` is unused: OneOf carries the pair probabilities as weights."""
    data, kept = to_dict(policy, top_k)
    atomic_write_text(out, json.dumps(data, indent=1) + "\n")
    return kept
