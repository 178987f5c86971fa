"""Numeric parameters of every (op, sign) for one image size: the table all batched backends read.

Row `2 * op + (sign > 0)` holds what the kernels need to reproduce Pillow's result for that op:
the kind code, the enhancement factor (as the float32 Pillow's blend uses), an integer parameter,
the fill value, and six affine coefficients. Geometric rows carry exactly what Pillow computes:
nearest ops (rotate, translate) as 16.16 fixed-point coefficients, as Pillow's affine fast path
uses, so a gather reproduces them bit for bit; bicubic ops (shear) as Pillow's float64 matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch

from awsaug_cli.space import KINDS, Op, Space

COLUMNS: tuple[str, ...] = ("kind", "factor", "iparam", "fill", "a0", "a1", "a2", "a3", "a4", "a5")
COL = {name: i for i, name in enumerate(COLUMNS)}
FIXED_ONE = 1 << 16  # Pillow's nearest affine path works in 16.16 fixed point

Row = dict[str, float]


def row_index(ops: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """Table row of each (op, sign): 2·op + (sign > 0)."""
    return ops * 2 + (signs > 0).to(ops.dtype)


def _fix(value: float) -> int:
    return math.floor(value * 65536.0 + 0.5)


def _enhance(op: Op, sign: int, height: int, width: int) -> Row:
    return {"factor": float(np.float32(1.0 + sign * op.magnitude))}


def _posterize(op: Op, sign: int, height: int, width: int) -> Row:
    bits = int(op.magnitude)
    return {"iparam": float((0xFF << (8 - bits)) & 0xFF)}


def _solarize(op: Op, sign: int, height: int, width: int) -> Row:
    # Pillow keeps v when v < threshold; for integer v that is v < ceil(threshold).
    return {"iparam": float(math.ceil(op.magnitude))}


def _fixed_affine(a: float, b: float, c: float, d: float, e: float, f: float) -> Row:
    """Pillow's nearest affine in 16.16 fixed point, the output pixel centre (+0.5) folded into
    the offsets as its affine_fixed does; black fill."""
    return {
        "fill": 0.0,
        "a0": _fix(a),
        "a1": _fix(b),
        "a2": _fix(c + a * 0.5 + b * 0.5),
        "a3": _fix(d),
        "a4": _fix(e),
        "a5": _fix(f + d * 0.5 + e * 0.5),
    }


def _rotate(op: Op, sign: int, height: int, width: int) -> Row:
    # Image.rotate's inverse matrix (same rounding), then its fixed-point conversion.
    angle = -math.radians((sign * op.magnitude) % 360.0)
    cx, cy = width / 2, height / 2
    a, b = round(math.cos(angle), 15), round(math.sin(angle), 15)
    d, e = round(-math.sin(angle), 15), round(math.cos(angle), 15)
    c = a * -cx + b * -cy + 0.0 + cx
    f = d * -cx + e * -cy + 0.0 + cy
    return _fixed_affine(a, b, c, d, e, f)


def _torchvision_shear(axis: int) -> Callable[[Op, int, int, int], Row]:
    def build(op: Op, sign: int, height: int, width: int) -> Row:
        # torchvision turns the factor into an angle (degrees of atan) and its inverse affine
        # matrix back into tan (x) or sin/cos (y), about the origin
        angle = math.radians(math.degrees(math.atan(sign * op.magnitude)))
        if axis == 0:
            return _fixed_affine(1.0, math.tan(angle), 0.0, 0.0, 1.0, 0.0)
        return _fixed_affine(1.0, 0.0, 0.0, -(math.sin(-angle) / math.cos(angle)), 1.0, 0.0)

    return build


def _torchvision_translate(axis: int) -> Callable[[Op, int, int, int], Row]:
    def build(op: Op, sign: int, height: int, width: int) -> Row:
        # torchvision shifts by int(magnitude) pixels (towards zero) the other way from Pillow's
        # AutoAugment translate: output(x) = input(x − shift)
        return _shift_row(axis, -int(sign * op.magnitude), 0.0)

    return build


def _shift_row(axis: int, pixels: int, fill: float) -> Row:
    """A whole-pixel shift along `axis` (source = output + `pixels`) in 16.16 fixed point."""
    shift = pixels * FIXED_ONE
    return {
        "fill": fill,
        "a0": FIXED_ONE,
        "a1": 0,
        "a2": shift if axis == 0 else 0,
        "a3": 0,
        "a4": FIXED_ONE,
        "a5": shift if axis == 1 else 0,
    }


def _translate(axis: int) -> Callable[[Op, int, int, int], Row]:
    def build(op: Op, sign: int, height: int, width: int) -> Row:
        # Pillow samples floor(x + 0.5 + t): an integer shift of floor(t + 0.5) pixels.
        size = width if axis == 0 else height
        return _shift_row(axis, math.floor(sign * op.magnitude * size + 0.5), 128.0)

    return build


def _shear(axis: int) -> Callable[[Op, int, int, int], Row]:
    def build(op: Op, sign: int, height: int, width: int) -> Row:
        shear = sign * op.magnitude
        return {
            "fill": 128.0,
            "a0": 1.0,
            "a1": shear if axis == 0 else 0.0,
            "a2": 0.0,
            "a3": shear if axis == 1 else 0.0,
            "a4": 1.0,
            "a5": 0.0,
        }

    return build


def _no_params(op: Op, sign: int, height: int, width: int) -> Row:
    return {}


PARAM_BUILDERS: dict[str, Callable[[Op, int, int, int], Row]] = {
    "autocontrast": _no_params,
    "brightness": _enhance,
    "color": _enhance,
    "contrast": _enhance,
    "equalize": _no_params,
    "invert": _no_params,
    "posterize": _posterize,
    "rotate": _rotate,
    "sharpness": _enhance,
    "shear_x": _shear(0),
    "shear_y": _shear(1),
    "solarize": _solarize,
    "translate_x": _translate(0),
    "translate_y": _translate(1),
    "tv_shear_x": _torchvision_shear(0),
    "tv_shear_y": _torchvision_shear(1),
    "tv_translate_x": _torchvision_translate(0),
    "tv_translate_y": _torchvision_translate(1),
}


@lru_cache(maxsize=64)
def _cpu_table(space: Space, height: int, width: int) -> torch.Tensor:
    table = torch.zeros(2 * len(space), len(COLUMNS), dtype=torch.float64)
    for index, op in enumerate(space.ops):
        for sign in (-1, 1):
            row = {"kind": float(KINDS.index(op.kind)), **PARAM_BUILDERS[op.kind](op, sign, height, width)}
            for name, value in row.items():
                table[2 * index + (sign > 0), COL[name]] = float(value)
    return table


_device_tables: dict[tuple[Space, int, int, torch.device], torch.Tensor] = {}


def op_table(space: Space, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The float64 [2·len(space), len(COLUMNS)] parameter table for images of this size, on `device`."""
    key = (space, height, width, torch.device(device))
    if key not in _device_tables:
        _device_tables[key] = _cpu_table(space, height, width).to(device)
    return _device_tables[key]
