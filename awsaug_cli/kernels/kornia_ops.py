"""The kornia backend: the op table applied to float images in [0, 1] with kornia's functional
ops, per image, differentiable, on any device.

Each image's (op, sign) is a row of the same op table the other backends read (op_params), so
magnitudes, signs and fills are written down once. Images are grouped by the kind they drew and
each group goes through one batched kornia call with per-image parameters. The semantics are
Pillow's (docs/OPS.md); where kornia's own function means something else, the op is built from
kornia's pieces to Pillow's formula and its entry in KIND_OPS says so. Against Pillow, after
quantising as Pillow does (truncation), the results stay within docs/OPS.md's tolerances, with
these departures, all from working in float instead of rounding to uint8 after each step:

* color, contrast, sharpness: the grey / mean / smoothed image is not rounded to an integer
  level before the blend (contrast rounds its mean, as Pillow: a step function, no gradient);
* rotate, translate: nearest sampling by kornia's warp_affine, whose coordinates carry float32
  error — pixels whose source lies on a sampling boundary may pick the neighbour;
* shear: kornia's bicubic (Keys a = −0.75) where Pillow's transform uses a = −1: mean |diff|
  about 1.5 (the tolerance is 2);
* a pair is two ops on floats, with no rounding between them (Pillow rounds after each).

Gradients: every op passes gradients to the image pixels, except posterize (quantisation:
straight-through, the gradient of the identity) and equalize (a histogram: stopped, zero);
solarize's threshold and the fill of geometric ops are constants.
"""

from __future__ import annotations

from collections.abc import Callable

import kornia
import torch

from awsaug_cli.space import KINDS, Space

from .op_params import COL, FIXED_ONE, op_table
from .torch_ops import pixel_grid, source_points
from .torch_pipeline import crop_flip, cutout_normalise
from .transform_spec import TransformDraw, TransformSettings

KindOp = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (images [n, 3, H, W], op-table rows [n, C]) → images
NEAREST_TIE_BREAK = 2.0**-17  # half Pillow's 16.16 step: floor(s) = round(s − ½ + this) for every fixed-point s


def _per_image(values: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return values.to(images.dtype).view(-1, 1, 1, 1)


def _blend(degenerate: torch.Tensor, images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Pillow's Image.blend: d + f·(image − d), clipped."""
    return (degenerate + _per_image(factor, images) * (images - degenerate)).clamp(0.0, 1.0)


def _straight_through(exact: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """`exact` forward, the identity's gradient backward."""
    return images + (exact - images).detach()


def autocontrast(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Per channel, (v − min) / (max − min); unchanged where max = min (Pillow's ImageOps.autocontrast
    without cutoff; kornia's normalize_min_max would divide by its epsilon there)."""
    low = images.amin(dim=(-2, -1), keepdim=True)
    high = images.amax(dim=(-2, -1), keepdim=True)
    spread = high - low
    return torch.where(spread > 0, ((images - low) / spread.clamp_min(1e-12)).clamp(0.0, 1.0), images)


def brightness(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Pillow's blend with black, v·f clipped (kornia's adjust_brightness adds instead)."""
    return (images * _per_image(rows[:, COL["factor"]], images)).clamp(0.0, 1.0)


def color(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Blend with the image's luma (kornia.color.rgb_to_grayscale: the same 0.299/0.587/0.114 as
    Pillow's L), not kornia's HSV saturation."""
    return _blend(kornia.color.rgb_to_grayscale(images), images, rows[:, COL["factor"]])


def contrast(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Blend with the mean luma rounded to a level, one scalar per image (Pillow); kornia's
    adjust_contrast multiplies instead."""
    mean = kornia.color.rgb_to_grayscale(images).mean(dim=(-3, -2, -1), keepdim=True)
    level = torch.round(mean.detach() * 255.0) / 255.0  # a step function of the image: no gradient
    return _blend(level, images, rows[:, COL["factor"]])


def equalize(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """kornia.enhance.equalize (Pillow's per-channel histogram equalisation); gradient stopped."""
    exact = kornia.enhance.equalize(images.detach().clamp(0.0, 1.0))
    return exact + 0.0 * images  # in the graph with a zero gradient: a batch of only these still back-propagates


def invert(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    return kornia.enhance.invert(images)


def posterize(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Keep the high bits of each 8-bit level (the mask in the table's iparam), straight-through."""
    levels = torch.floor(images.detach() * 255.0 + 0.5).to(torch.int64)
    mask = rows[:, COL["iparam"]].to(torch.int64).view(-1, 1, 1, 1)
    return _straight_through((levels & mask).to(images.dtype) / 255.0, images)


def sharpness(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """kornia.enhance.sharpness: Pillow's SMOOTH kernel, border pixels kept, blended per image."""
    return kornia.enhance.sharpness(images, rows[:, COL["factor"]].to(images.dtype))


def solarize(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """kornia.enhance.solarize at the table's integer threshold: levels at or above it inverted."""
    return kornia.enhance.solarize(images, (rows[:, COL["iparam"]] / 255.0).to(images.dtype))


def _source_map(rows: torch.Tensor, fixed_point: bool) -> torch.Tensor:
    """[n, 3, 3]: output pixel (x, y, 1) → its source point in pixel-centre coordinates (pixel i
    at i), from the table's affine columns: nearest rows hold Pillow's 16.16 fixed-point map with
    the half-pixel fold (the source pixel is the floor), shear rows its float matrix on pixel
    edges (the centre of pixel i at i + ½)."""
    a = rows[:, COL["a0"] : COL["a5"] + 1].view(-1, 2, 3).clone()
    if fixed_point:
        a /= FIXED_ONE
        a[:, :, 2] += NEAREST_TIE_BREAK - 0.5  # floor(s) = round(s − ½), off the ties
    else:
        a[:, :, 2] += 0.5 * (a[:, :, 0] + a[:, :, 1]) - 0.5  # centres in, centres out
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=a.dtype, device=a.device).expand(len(a), 1, 3)
    return torch.cat([a, bottom], dim=1)


def _outside(rows: torch.Tensor, height: int, width: int, fixed_point: bool) -> torch.Tensor:
    """Bool [n, H, W]: where Pillow fills, by its own arithmetic (the torch backend's): the
    16.16 fixed-point source pixel (nearest) or the float64 source point of the pixel centre
    (bicubic) outside the image."""
    ys, xs = pixel_grid(height, width, rows.device, torch.int64 if fixed_point else torch.float64)
    if fixed_point:
        sx, sy = (value >> 16 for value in source_points(rows, xs, ys, torch.int64))
    else:
        sx, sy = source_points(rows, xs + 0.5, ys + 0.5, torch.float64)
    return (sx < 0) | (sx >= width) | (sy < 0) | (sy >= height)


def _geometric(mode: str, padding: str) -> KindOp:
    fixed_point = mode == "nearest"

    def apply(images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        # kornia's warp_affine takes the forward map (source → output) and inverts it itself
        forward = torch.linalg.inv(_source_map(rows, fixed_point))[:, :2].to(images.dtype)
        warped = kornia.geometry.transform.warp_affine(
            images, forward, (height, width), mode=mode, padding_mode=padding, align_corners=True
        )
        fill = _per_image(rows[:, COL["fill"]] / 255.0, images)
        # the cubic overshoots near edges; Pillow clips it
        return torch.where(_outside(rows, height, width, fixed_point).unsqueeze(1), fill, warped.clamp(0.0, 1.0))

    return apply


# kind → its op; every kind of space.KINDS has one
KIND_OPS: dict[str, KindOp] = {
    "autocontrast": autocontrast,
    "brightness": brightness,
    "color": color,
    "contrast": contrast,
    "equalize": equalize,
    "invert": invert,
    "posterize": posterize,
    "rotate": _geometric("nearest", "zeros"),
    "sharpness": sharpness,
    "shear_x": _geometric("bicubic", "border"),  # Pillow clamps the cubic's taps at the edges
    "shear_y": _geometric("bicubic", "border"),
    "solarize": solarize,
    "translate_x": _geometric("nearest", "zeros"),
    "translate_y": _geometric("nearest", "zeros"),
    **dict.fromkeys(("tv_shear_x", "tv_shear_y", "tv_translate_x", "tv_translate_y"), _geometric("nearest", "zeros")),
}
assert sorted(KIND_OPS) == sorted(KINDS)


def apply_rows_float(images: torch.Tensor, rows: torch.Tensor, space: Space) -> torch.Tensor:
    """Float images [N, 3, H, W] in [0, 1] through op-table rows [N, S] (S ops per image, in
    order); differentiable. Each step sorts the images by kind, runs one batched kornia call
    per kind and puts the results back in order: two copies of the batch per step, not one
    per kind."""
    table = op_table(space, images.shape[-2], images.shape[-1], images.device)
    out = images
    for step in range(rows.shape[1]):
        params = table.index_select(0, rows[:, step])
        kinds = params[:, COL["kind"]].to(torch.int64)
        order = kinds.argsort(stable=True)
        present, counts = kinds.index_select(0, order).unique_consecutive(return_counts=True)
        parts = [
            KIND_OPS[KINDS[kind]](out.index_select(0, chosen), params.index_select(0, chosen)).to(out.dtype)
            for kind, chosen in zip(present.tolist(), order.split(counts.tolist()))
        ]
        out = torch.cat(parts).index_select(0, order.argsort()) if parts else out
    return out


def to_levels(images: torch.Tensor) -> torch.Tensor:
    """Float [0, 1] → uint8 as Pillow stores a float result: truncated (a hair above, for float error)."""
    return (images.clamp(0.0, 1.0) * 255.0 + 1e-3).floor().to(torch.uint8)


def apply_rows(images: torch.Tensor, rows: torch.Tensor, space: Space) -> torch.Tensor:
    """The backend interface on uint8 images: through float, quantised back as Pillow does."""
    return to_levels(apply_rows_float(images.to(torch.float32) / 255.0, rows, space))


def train_transform(images: torch.Tensor, draw: TransformDraw, settings: TransformSettings) -> torch.Tensor:
    """Crop and flip (uint8), the pairs in float with kornia, then Cutout and normalisation."""
    cropped = crop_flip(images, draw.crop, draw.flip, settings.padding)
    augmented = apply_rows_float(cropped.to(torch.float32) / 255.0, draw.rows, settings.space)
    return cutout_normalise(augmented * 255.0, draw.cutout, settings)
