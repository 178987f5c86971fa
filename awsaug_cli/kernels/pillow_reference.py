"""The reference semantics: each op applied with Pillow to one image, as the authors' code does.

Used by the tests (every batched backend is checked against it) and by the benchmark's baseline
(the per-image loop that AWS AutoAugment's published code runs in DataLoader workers). The
`tv_` kinds transcribe torchvision's RandAugment / TrivialAugment ops (autoaugment._apply_op on
PIL images) into the Pillow calls torchvision makes.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PIL import Image, ImageEnhance, ImageOps

from awsaug_cli.space import Op

GRAY_FILL = (128, 128, 128)


def _enhancer(cls: type) -> Callable[[Image.Image, Op, int], Image.Image]:
    return lambda img, op, sign: cls(img).enhance(1 + sign * op.magnitude)


def _shear(axis: int) -> Callable[[Image.Image, Op, int], Image.Image]:
    def apply(img: Image.Image, op: Op, sign: int) -> Image.Image:
        s = sign * op.magnitude
        matrix = (1, s, 0, 0, 1, 0) if axis == 0 else (1, 0, 0, s, 1, 0)
        return img.transform(img.size, Image.AFFINE, matrix, Image.BICUBIC, fillcolor=GRAY_FILL)

    return apply


def _translate(axis: int) -> Callable[[Image.Image, Op, int], Image.Image]:
    def apply(img: Image.Image, op: Op, sign: int) -> Image.Image:
        shift = sign * op.magnitude * img.size[axis]
        matrix = (1, 0, shift, 0, 1, 0) if axis == 0 else (1, 0, 0, 0, 1, shift)
        return img.transform(img.size, Image.AFFINE, matrix, fillcolor=GRAY_FILL)

    return apply


def _torchvision_inverse_affine(
    center: tuple[float, float], translate: tuple[float, float], shear: tuple[float, float]
) -> list[float]:
    """torchvision.transforms.functional._get_inverse_affine_matrix at angle 0, scale 1, as it
    computes it (the matrix its PIL path hands to Image.transform)."""
    rot, sx, sy = 0.0, math.radians(shear[0]), math.radians(shear[1])
    (cx, cy), (tx, ty) = center, translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    matrix = [d, -b, 0.0, -c, a, 0.0]
    matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty)
    matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty)
    matrix[2] += cx
    matrix[5] += cy
    return matrix


def _torchvision_shear(axis: int) -> Callable[[Image.Image, Op, int], Image.Image]:
    """torchvision's ShearX/ShearY (autoaugment._apply_op): F.affine with the shear angle
    degrees(atan(magnitude)) about the origin, nearest, black fill."""

    def apply(img: Image.Image, op: Op, sign: int) -> Image.Image:
        degrees = math.degrees(math.atan(sign * op.magnitude))
        matrix = _torchvision_inverse_affine((0.0, 0.0), (0.0, 0.0), (degrees, 0.0) if axis == 0 else (0.0, degrees))
        return img.transform(img.size, Image.AFFINE, matrix, Image.NEAREST, fillcolor=(0, 0, 0))

    return apply


def _torchvision_translate(axis: int) -> Callable[[Image.Image, Op, int], Image.Image]:
    """torchvision's TranslateX/TranslateY: F.affine by int(magnitude) pixels about the image
    centre, nearest, black fill."""

    def apply(img: Image.Image, op: Op, sign: int) -> Image.Image:
        shift = int(sign * op.magnitude)
        width, height = img.size
        matrix = _torchvision_inverse_affine(
            (width * 0.5, height * 0.5), (shift, 0) if axis == 0 else (0, shift), (0.0, 0.0)
        )
        return img.transform(img.size, Image.AFFINE, matrix, Image.NEAREST, fillcolor=(0, 0, 0))

    return apply


PILLOW_OPS: dict[str, Callable[[Image.Image, Op, int], Image.Image]] = {
    "autocontrast": lambda img, op, sign: ImageOps.autocontrast(img),
    "brightness": _enhancer(ImageEnhance.Brightness),
    "color": _enhancer(ImageEnhance.Color),
    "contrast": _enhancer(ImageEnhance.Contrast),
    "equalize": lambda img, op, sign: ImageOps.equalize(img),
    "invert": lambda img, op, sign: ImageOps.invert(img),
    "posterize": lambda img, op, sign: ImageOps.posterize(img, int(op.magnitude)),
    "rotate": lambda img, op, sign: img.rotate(sign * op.magnitude),
    "sharpness": _enhancer(ImageEnhance.Sharpness),
    "shear_x": _shear(0),
    "shear_y": _shear(1),
    "solarize": lambda img, op, sign: ImageOps.solarize(img, op.magnitude),
    "translate_x": _translate(0),
    "translate_y": _translate(1),
    "tv_shear_x": _torchvision_shear(0),
    "tv_shear_y": _torchvision_shear(1),
    "tv_translate_x": _torchvision_translate(0),
    "tv_translate_y": _torchvision_translate(1),
}


def apply_op(img: Image.Image, op: Op, sign: int) -> Image.Image:
    """`op` with sign `sign` (±1; ignored by unsigned ops) applied to an RGB Pillow image."""
    return PILLOW_OPS[op.kind](img, op, sign)
