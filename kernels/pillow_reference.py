"""The reference semantics: each op applied with Pillow to one image, as the authors' code does.

Used by the tests (every batched backend is checked against it) and by the benchmark's baseline
(the per-image loop that AWS AutoAugment's published code runs in DataLoader workers).
"""

from __future__ import annotations

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
}


def apply_op(img: Image.Image, op: Op, sign: int) -> Image.Image:
    """`op` with sign `sign` (±1; ignored by unsigned ops) applied to an RGB Pillow image."""
    return PILLOW_OPS[op.kind](img, op, sign)
