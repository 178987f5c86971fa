"""The DALI export: a JSON description of an `nvidia.dali.auto_aug.core.Policy` and the loader
that builds it.

DALI picks a sub-policy per sample and negates magnitudes per sample, as awsaug does, so each
kept pair is one sub-policy `[[name, 1.0, bin], [name, 1.0, bin]]` repeated in proportion to its
probability (slots). With 4 magnitude bins and each op kind's `mag_range` set so that its three
magnitudes fall on bins exactly (e.g. shear (0, 0.3): bins 1, 2, 3 = 0.1, 0.2, 0.3), no magnitude
is rounded. `load_dali_policy` builds DALI's own augmentations with those ranges and Pillow's
fills and resampling (rotate: nearest, fill 0; translate: nearest, fill 128; shear: linear, fill
128 — DALI's CPU warp has no bicubic). Apply it with
`nvidia.dali.auto_aug.auto_augment.apply_auto_augment(policy, images, shape=images.shape())`
inside a pipeline built with `enable_conditionals=True` (translate needs `shape`; DALI refuses
it when no kept pair translates, so pass it only then: `uses_shape(policy)`).

Stated differences from Pillow: DALI's equalize follows OpenCV's formula, contrast uses the
float mean (Pillow rounds it), color is DALI's saturation, shear is bilinear; geometric ops map
forward, so DALI's sign for shear and translate is Pillow's opposite (the distribution is
symmetric, so a randomly negated policy is the same).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from awsaug_cli.atomic import atomic_write_text
from awsaug_cli.formats.approximation import Approximation, keep_top_in_slots
from awsaug_cli.policy import Policy, PolicyFormatError
from awsaug_cli.space import Op

NUM_MAGNITUDE_BINS = 4
_SHEAR_FILL = {"fill_value": 128, "interp": "INTERP_LINEAR"}
_TRANSLATE_FILL = {"fill_value": 128, "interp": "INTERP_NN"}

# kind → (DALI augmentation name, the fills and resampling the loader binds).
DALI_OPS: dict[str, tuple[str, dict[str, Any]]] = {
    "autocontrast": ("auto_contrast", {}),
    "brightness": ("brightness", {}),
    "color": ("color", {}),
    "contrast": ("contrast", {}),
    "equalize": ("equalize", {}),
    "invert": ("invert", {}),
    "posterize": ("posterize", {}),
    "rotate": ("rotate", {"fill_value": 0, "interp": "INTERP_NN"}),
    "sharpness": ("sharpness", {}),
    "shear_x": ("shear_x", _SHEAR_FILL),
    "shear_y": ("shear_y", _SHEAR_FILL),
    "solarize": ("solarize", {}),
    "translate_x": ("translate_x", _TRANSLATE_FILL),
    "translate_y": ("translate_y", _TRANSLATE_FILL),
}


_ENHANCE = (0.0, 0.9)
_SHEAR = (0.0, 0.3)
_TRANSLATE = (0.0, 150 / 331)

# kind → DALI mag_range: its 4-point linspace holds the kind's three magnitudes exactly
# (solarize counts down from 256, a no-op threshold, as DALI's own range does).
MAG_RANGES: dict[str, tuple[float, float]] = {
    "brightness": _ENHANCE,
    "color": _ENHANCE,
    "contrast": _ENHANCE,
    "sharpness": _ENHANCE,
    "posterize": (4.0, 7.0),
    "rotate": (0.0, 30.0),
    "shear_x": _SHEAR,
    "shear_y": _SHEAR,
    "solarize": (256.0, 0.0),
    "translate_x": _TRANSLATE,
    "translate_y": _TRANSLATE,
}


# DALI warps map input to output, so its positive shear and translate are Pillow's negative.
PILLOW_SIGN: dict[str, int] = {"shear_x": -1, "shear_y": -1, "translate_x": -1, "translate_y": -1}


def magnitude_bin(op: Op) -> int | None:
    if op.magnitude is None:
        return None
    low, high = MAG_RANGES[op.kind]
    position = (op.magnitude - low) / (high - low) * (NUM_MAGNITUDE_BINS - 1)
    if abs(position - round(position)) > 1e-6:
        raise RuntimeError(f"{op.name}: magnitude {op.magnitude} is not on a bin of {MAG_RANGES[op.kind]}")
    return round(position)


def to_dict(policy: Policy, top_k: int, slots: int) -> tuple[dict[str, Any], Approximation]:
    kept = keep_top_in_slots(policy, top_k, slots)
    ops = policy.space.ops
    sub_policies = [
        [[DALI_OPS[op.kind][0], 1.0, magnitude_bin(op)] for op in (ops[pair.op1], ops[pair.op2])]
        for pair in kept.pairs
        for _ in range(pair.slots or 0)
    ]
    augmentations = {
        name: {"mag_range": list(MAG_RANGES[kind]) if kind in MAG_RANGES else None}
        for kind, (name, _) in DALI_OPS.items()
    }
    data = {
        "format": "awsaug.dali-policy",
        "name": "awsaug",
        "num_magnitude_bins": NUM_MAGNITUDE_BINS,
        "augmentations": augmentations,
        "sub_policies": sub_policies,
        "awsaug": kept.metadata(policy),
    }
    return data, kept


def write(policy: Policy, out: Path, top_k: int, slots: int) -> Approximation:
    data, kept = to_dict(policy, top_k, slots)
    atomic_write_text(out, json.dumps(data) + "\n")
    return kept


def dali_augmentations(randomly_negate: bool = True) -> dict[str, Any]:
    """DALI's augmentations re-ranged to awsaug's magnitudes, with Pillow's fills bound;
    `randomly_negate=False` gives the positive-sign ops (used by the op-by-op tests)."""
    from nvidia.dali import types
    from nvidia.dali.auto_aug import augmentations as stock
    from nvidia.dali.auto_aug.core import augmentation

    built = {}
    for kind, (name, fills) in DALI_OPS.items():
        original = getattr(stock, name)
        bound = dict(fills)
        if "interp" in bound:
            bound["interp_type"] = getattr(types, bound.pop("interp"))
        op = functools.partial(original.op, **bound) if bound else original.op
        built[name] = augmentation(
            op,
            mag_range=MAG_RANGES.get(kind),
            randomly_negate=original.randomly_negate and randomly_negate,
            mag_to_param=original.mag_to_param if original.mag_range is not None else None,
            param_device=original.param_device,
            name=name,
        )
    return built


def load_dali_policy(path: str | Path) -> Any:
    """An `nvidia.dali.auto_aug.core.Policy` from a file written by `export-policy --format dali`."""
    from nvidia.dali.auto_aug.core import Policy as DaliPolicy

    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise PolicyFormatError(f"{file}: cannot read a DALI policy ({type(error).__name__}: {error})") from None
    if not isinstance(data, dict) or data.get("format") != "awsaug.dali-policy":
        raise PolicyFormatError(f"{file}: not written by `awsaug export-policy --format dali`")
    augmentations = dali_augmentations()
    try:
        sub_policies = [
            [(augmentations[name], probability, bin) for name, probability, bin in sub] for sub in data["sub_policies"]
        ]
    except (KeyError, TypeError, ValueError) as error:
        raise PolicyFormatError(f"{file}: field 'sub_policies' is malformed ({error})") from None
    return DaliPolicy(data["name"], num_magnitude_bins=data["num_magnitude_bins"], sub_policies=sub_policies)


def uses_shape(policy: Any) -> bool:
    """Whether `apply_auto_augment` needs `shape=` for this DALI policy (it has a translate)."""
    return any(name.startswith("translate") for name in policy.augmentations)
