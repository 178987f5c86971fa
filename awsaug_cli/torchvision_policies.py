"""RandAugment and TrivialAugment (TrivialAugmentWide) as awsaug policies: what a search must beat
without any search, run by the same engine (every backend) with a magnitude per image.

Their ops and magnitude ranges are torchvision's (transforms/autoaugment.py, `_augmentation_space`
and `_apply_op` on PIL images), written down here as data. Each (op, magnitude) a policy can
draw is one op of its Space, so an image's op-table row carries its own magnitude: RandAugment's
14 ops at magnitude M, TrivialAugment's 14 ops over their 31 bins (equal magnitudes merged, their
probabilities added). The op pair is the engine's unit: RandAugment with N = 2 draws two ops
uniformly and independently (torchvision draws with replacement too), N = 1 and TrivialAugment
draw one op and pair it with Identity.

How they match torchvision: magnitudes are its float32 `linspace` values; signed ops flip with
probability ½ (the engine draws a sign per image and op); shears are `F.affine` with the angle
degrees(atan(m)) about the origin, translates `int(m)` pixels, rotate `F.rotate`, all nearest with
black fill (torchvision's defaults: `interpolation=NEAREST`, `fill=None`); Brightness, Color,
Contrast, Sharpness, Posterize, Solarize, AutoContrast and Equalize are the PIL operations
torchvision calls. Identity is Posterize to 8 bits (v & 0xFF = v: exactly nothing, and every
backend already runs it). What differs: N is 1 or 2 (the engine applies pairs; torchvision
allows any N). tests/test_torchvision_policies.py checks every op against the Pillow calls
torchvision makes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from awsaug_cli.errors import OptionError
from awsaug_cli.policy import Policy
from awsaug_cli.space import Op, Space

BINS = 31  # torchvision's num_magnitude_bins
IMPOSSIBLE = -800.0  # a softmax logit whose probability is exactly 0 in float64

Magnitudes = Callable[[int, tuple[int, int]], list[float]]  # (bins, (H, W)) → the magnitude of each bin


# torchvision op → (awsaug kind, magnitudes, signed); None: the op has no magnitude
def _linspace(end: float, start: float = 0.0) -> Magnitudes:
    return lambda bins, size: torch.linspace(start, end, bins).tolist()


def _posterize(levels: int) -> Magnitudes:
    return lambda bins, size: (8 - (torch.arange(bins) / ((bins - 1) / levels)).round().int()).tolist()


RANDAUGMENT_OPS: dict[str, tuple[str, Magnitudes | None, bool]] = {
    "Identity": ("posterize", None, False),
    "ShearX": ("tv_shear_x", _linspace(0.3), True),
    "ShearY": ("tv_shear_y", _linspace(0.3), True),
    "TranslateX": (
        "tv_translate_x",
        lambda bins, size: torch.linspace(0.0, 150.0 / 331.0 * size[1], bins).tolist(),
        True,
    ),
    "TranslateY": (
        "tv_translate_y",
        lambda bins, size: torch.linspace(0.0, 150.0 / 331.0 * size[0], bins).tolist(),
        True,
    ),
    "Rotate": ("rotate", _linspace(30.0), True),
    "Brightness": ("brightness", _linspace(0.9), True),
    "Color": ("color", _linspace(0.9), True),
    "Contrast": ("contrast", _linspace(0.9), True),
    "Sharpness": ("sharpness", _linspace(0.9), True),
    "Posterize": ("posterize", _posterize(4), False),
    "Solarize": ("solarize", lambda bins, size: torch.linspace(255.0, 0.0, bins).tolist(), False),
    "AutoContrast": ("autocontrast", None, False),
    "Equalize": ("equalize", None, False),
}

TRIVIALAUGMENT_OPS: dict[str, tuple[str, Magnitudes | None, bool]] = {
    **RANDAUGMENT_OPS,
    "ShearX": ("tv_shear_x", _linspace(0.99), True),
    "ShearY": ("tv_shear_y", _linspace(0.99), True),
    "TranslateX": ("tv_translate_x", _linspace(32.0), True),
    "TranslateY": ("tv_translate_y", _linspace(32.0), True),
    "Rotate": ("rotate", _linspace(135.0), True),
    "Brightness": ("brightness", _linspace(0.99), True),
    "Color": ("color", _linspace(0.99), True),
    "Contrast": ("contrast", _linspace(0.99), True),
    "Sharpness": ("sharpness", _linspace(0.99), True),
    "Posterize": ("posterize", _posterize(6), False),
}

IDENTITY = Op("Identity", "posterize", 8, False)


def _op(name: str, kind: str, magnitude: float | None, signed: bool) -> Op:
    if name == "Identity":
        return IDENTITY
    if kind == "posterize":
        magnitude = int(magnitude)
    return Op(name if magnitude is None else f"{name}_mag{magnitude:.4g}", kind, magnitude, signed)


def _weighted_ops(table: dict, bins: int, size: tuple[int, int], bin_index: int | None) -> dict[Op, float]:
    """Each op the table can draw → its probability: ops uniform, then bins uniform (or the
    one `bin_index`); draws that give the same op add up."""
    weights: dict[Op, float] = {}
    for name, (kind, magnitudes, signed) in table.items():
        values = [None] if magnitudes is None else magnitudes(bins, size)
        if bin_index is not None and magnitudes is not None:
            values = [values[bin_index]]
        for value in values:
            op = _op(name, kind, value, signed)
            weights[op] = weights.get(op, 0.0) + 1.0 / (len(table) * len(values))
    return weights


def _policy(key: str, weights: dict[Op, float], paired: bool) -> Policy:
    """p1 = the weights; op2 independent from the same weights (`paired`) or always Identity."""
    space = Space(key, tuple(weights))
    first = torch.tensor(list(weights.values()), dtype=torch.float64).log()
    if paired:
        second = first.repeat(len(space), 1)
    else:
        second = torch.full((len(space), len(space)), IMPOSSIBLE, dtype=torch.float64)
        second[:, space.ops.index(IDENTITY)] = 0.0
    return Policy(first, second, "softmax", space=space, provenance={"built_in": key})


def randaugment(num_ops: int = 2, magnitude: int = 9, image_size: tuple[int, int] = (32, 32)) -> Policy:
    """torchvision's RandAugment(num_ops, magnitude) for images of `image_size` (its translate
    range scales with the image)."""
    if num_ops not in (1, 2):
        raise OptionError(f"RandAugment's N: awsaug applies 1 or 2 ops per image, got {num_ops}")
    if not 0 <= magnitude < BINS:
        raise OptionError(f"RandAugment's M must be between 0 and {BINS - 1}, got {magnitude}")
    weights = _weighted_ops(RANDAUGMENT_OPS, BINS, image_size, magnitude)
    return _policy(f"randaugment-n{num_ops}-m{magnitude}-{image_size[0]}x{image_size[1]}", weights, paired=num_ops == 2)


def trivialaugment() -> Policy:
    """torchvision's TrivialAugmentWide: one op, its magnitude uniform over 31 bins."""
    return _policy("trivialaugment-wide", _weighted_ops(TRIVIALAUGMENT_OPS, BINS, (0, 0), None), paired=False)


def parse_built_in(spec: str, image_size: tuple[int, int]) -> Policy | None:
    """`randaugment` (N 2, M 9), `randaugment:N:M` or `trivialaugment`; None for other names."""
    name, colon, arguments = spec.partition(":")
    if name == "trivialaugment":
        if colon:
            raise OptionError(f"--policy {spec!r}: TrivialAugment takes no arguments; write trivialaugment")
        return trivialaugment()
    if name != "randaugment":
        return None
    values = arguments.split(":") if colon else ["2", "9"]
    if len(values) != 2 or not all(value.isascii() and value.isdigit() for value in values):
        raise OptionError(f"--policy {spec!r}: write randaugment or randaugment:N:M (e.g. randaugment:2:9)")
    return randaugment(int(values[0]), int(values[1]), image_size)
