"""The Fast AutoAugment export: its JSON list of sub-policies `[[[op, prob, level], [op, prob,
level]], …]`, level in [0, 1] over Fast AA's ranges (value = level · (high − low) + low), each
kept pair repeated in proportion to its probability (slots) and once per sign combination (the
random sign expressed as separate entries). A bare list, as Fast AA's code consumes it, so the
coverage and KL are printed, not stored.

Stated differences: Fast AA's shear and translate resample nearest with black fill (awsaug:
bicubic shear, fill 128); with its default `random_mirror = True` it flips the sign of shear,
translate and rotate again at random (harmless: those signs are uniform anyway); its translate
range stops at ±0.45, so awsaug's largest translate (0.4532) is clamped to 0.45.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from awsaug_cli.atomic import atomic_write_text
from awsaug_cli.formats.approximation import Approximation, keep_top_in_slots, sign_expanded_subpolicies
from awsaug_cli.policy import Policy
from awsaug_cli.space import Op

_ENHANCE = (0.1, 1.9)


def _signed(op: Op, sign: int) -> float:
    return sign * op.magnitude


def _enhance(op: Op, sign: int) -> float:
    return 1 + sign * op.magnitude


# kind → (Fast AA op name, its (low, high) range, (op, sign) → value in that range).
FASTAA_OPS: dict[str, tuple[str, tuple[float, float], Callable[[Op, int], float]]] = {
    "autocontrast": ("AutoContrast", (0.0, 1.0), lambda op, sign: 0.0),
    "brightness": ("Brightness", _ENHANCE, _enhance),
    "color": ("Color", _ENHANCE, _enhance),
    "contrast": ("Contrast", _ENHANCE, _enhance),
    "equalize": ("Equalize", (0.0, 1.0), lambda op, sign: 0.0),
    "invert": ("Invert", (0.0, 1.0), lambda op, sign: 0.0),
    "posterize": ("Posterize", (4.0, 8.0), lambda op, sign: op.magnitude),
    "rotate": ("Rotate", (-30.0, 30.0), _signed),
    "sharpness": ("Sharpness", _ENHANCE, _enhance),
    "shear_x": ("ShearX", (-0.3, 0.3), _signed),
    "shear_y": ("ShearY", (-0.3, 0.3), _signed),
    "solarize": ("Solarize", (0.0, 256.0), lambda op, sign: op.magnitude),
    "translate_x": ("TranslateX", (-0.45, 0.45), _signed),
    "translate_y": ("TranslateY", (-0.45, 0.45), _signed),
}


def level(op: Op, sign: int) -> float:
    """The level in [0, 1] whose value over Fast AA's range is the op's (clamped to the range).
    Posterize aims a hair above its bit count: Fast AA truncates the value to an int."""
    _, (low, high), value = FASTAA_OPS[op.kind]
    nudge = 1e-9 if op.kind == "posterize" else 0.0
    return min(1.0, max(0.0, (value(op, sign) - low) / (high - low) + nudge))


def entry(op: Op, sign: int) -> list[Any]:
    return [FASTAA_OPS[op.kind][0], 1.0, level(op, sign)]


def write(policy: Policy, out: Path, top_k: int, slots: int) -> Approximation:
    kept = keep_top_in_slots(policy, top_k, slots)
    atomic_write_text(out, json.dumps(sign_expanded_subpolicies(policy, kept, entry)) + "\n")
    return kept
