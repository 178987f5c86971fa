"""Batched torch implementation of the op table: the CPU backend and the readable reference.

Images are grouped by the kind of op they drew and each group is processed with batched tensor
ops and per-image parameters, so the work done is proportional to what each image chose (no op
runs on an image that did not draw it, and there is no loop over images). The arithmetic follows
Pillow's C code (float32 blends truncated to uint8, 16.16 fixed-point nearest sampling, integer
luma, its histogram equalisation), so results equal Pillow's rather than approximate them —
except the shears' cubic, evaluated in float32 where Pillow uses float64 (see `cubic`).

Kinds that share their last step form a family and run that step once for all their images:
* pointwise (invert, posterize, solarize, brightness, contrast, autocontrast, equalize): a
  [3, 256] table per image from its statistics, then one gather; invert and posterize, one
  uint8 operation each, skip the table;
* blends (color, sharpness): a degenerate image per image (luma, 3×3 smoothing), then one blend;
* nearest resampling (rotate, translate, torchvision's shears and translates): one gather through fixed-point maps;
* bicubic resampling (shear_x, shear_y): Pillow's cubic along each line, its four taps copied
  as runs of the edge-padded line (row_windows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from awsaug_cli.space import KINDS, Space

from .op_params import COL, op_table

# Pillow's nearest affine (torchvision's shears and translates are nearest too)
NEAREST_KINDS = ("rotate", "translate_x", "translate_y", "tv_shear_x", "tv_shear_y", "tv_translate_x", "tv_translate_y")
CUBIC_KINDS = ("shear_x", "shear_y")  # Pillow's bicubic affine


@dataclass(frozen=True)
class RowTables:
    """What each op-table row does independently of pixel values, for one image size; built once.

    kind [R] int64, factor [R] float32, fill [R] uint8, iparam [R] uint8: op-table columns in
    the dtypes used (iparam: posterize's bit mask; solarize's threshold, 171 at most);
    rank [R] int64: position of the row's kind in family order (see _apply_stage);
    fixed_luts [R, 256] uint8: the table of kinds without statistics (identity for other rows);
    Sampling maps exist only for the rows of their family, found through a slot per row:
    nearest_slot [R] → nearest_index [S, H·W]: flat source pixel per output pixel, H·W where
    Pillow fills (rotate, translate); cubic_slot [R] → the line tables of shears (_cubic_maps).
    """

    kind: torch.Tensor
    rank: torch.Tensor
    factor: torch.Tensor
    fill: torch.Tensor
    iparam: torch.Tensor
    fixed_luts: torch.Tensor
    nearest_slot: torch.Tensor
    nearest_index: torch.Tensor
    cubic_slot: torch.Tensor
    cubic_start: torch.Tensor
    cubic_offset: torch.Tensor
    cubic_outside: torch.Tensor
    cubic_pad: int


@dataclass(frozen=True)
class Group:
    """Images of a batch that drew kinds of one family, with their op-table rows."""

    images: torch.Tensor  # uint8 [n, 3, H, W]
    rows: torch.Tensor  # int64 [n]
    tables: RowTables

    def factor(self) -> torch.Tensor:
        return self.tables.factor.index_select(0, self.rows)

    def fill(self) -> torch.Tensor:
        return self.tables.fill.index_select(0, self.rows)

    def iparam(self) -> torch.Tensor:
        return self.tables.iparam.index_select(0, self.rows)

    def part(self, images: slice) -> Group:
        return Group(self.images[images], self.rows[images], self.tables)


# ---------------------------------------------------------------- Pillow primitives


def blend(
    degenerate: torch.Tensor, image: torch.Tensor, factor: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Pillow's Image.blend on uint8 values: float32 d + f·(i − d), clipped, truncated (into
    `out` when given). `degenerate` may be any dtype holding integers (float32 saves a copy)."""
    d = degenerate.to(torch.float32)
    mixed = image.to(torch.float32).sub_(d).mul_(factor).add_(d).clamp_(0.0, 255.0)
    return mixed.to(torch.uint8) if out is None else out.copy_(mixed)


def luma(images: torch.Tensor) -> torch.Tensor:
    """Pillow's RGB → L (ITU-R 601-2 in 16-bit fixed point) as integer-valued float32 [n, 1, H, W].

    Every partial sum is an integer below 2**24, so float32 holds it exactly."""
    rgb = images.to(torch.float32)
    weighted = rgb[:, 0:1] * 19595.0
    weighted.add_(rgb[:, 1:2], alpha=38470.0).add_(rgb[:, 2:3], alpha=7471.0).add_(0x8000)
    return weighted.mul_(1.0 / 65536.0).floor_()


def smooth(images: torch.Tensor) -> torch.Tensor:
    """Pillow's ImageFilter.SMOOTH ([[1,1,1],[1,5,1],[1,1,1]] / 13, rounded, border copied) as
    integer-valued float32.

    Pillow sums in float32; the exact sum is m/13 for an integer m, never within float32 error
    of a rounding boundary, so any float32 evaluation of round(m/13) gives Pillow's values."""
    out = images.to(torch.float32)
    if images.shape[-1] < 3 or images.shape[-2] < 3:
        return out
    rows = out[..., :-2] + out[..., 1:-1] + out[..., 2:]
    box = rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]
    m = box.add_(out[..., 1:-1, 1:-1], alpha=4)
    out[..., 1:-1, 1:-1] = m.mul_(1.0 / 13.0).add_(0.5).floor_()
    return out


# Pillow's transform cubic (Keys, a = −1) through samples v1..v4 at offset d past v2 is
# v2 + d·(p2 + d·(p3 + d·p4)); these rows give (p2, p3, p4) from (v1, v2, v3, v4).
_CUBIC_COEFFICIENTS = torch.tensor([[-1.0, 0.0, 1.0, 0.0], [2.0, -2.0, 1.0, -1.0], [-1.0, 1.0, -1.0, 1.0]])


def cubic(taps: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Pillow's cubic through uint8 taps [4, ...] at offsets d (broadcastable to taps[0]), in
    Pillow's order, clipped and truncated to the uint8 Pillow stores.

    The p's are small integers, exact in float32 whatever the summation order. Pillow
    evaluates the polynomial in float64, this in float32 (both backends alike): the truncation
    can differ where the value lies within ~1e-4 of an integer, about one pixel in 10^4."""
    values = taps.reshape(4, -1).to(torch.float32)
    p2, p3, p4 = torch.mm(_CUBIC_COEFFICIENTS.to(taps.device), values).view(3, *taps.shape[1:]).unbind(0)
    value = p4.mul_(d).add_(p3).mul_(d).add_(p2).mul_(d).add_(values[1].view(taps.shape[1:]))
    return value.clamp_(0.0, 255.0).to(torch.uint8)


def row_windows(
    source: torch.Tensor, starts: torch.Tensor, length: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """[len(starts), length]: the `length` consecutive values of contiguous `source` from each
    flat offset in `starts`. One index_select over overlapping windows copies whole runs,
    far cheaper than gathering value by value when rows are shifted by per-row amounts."""
    flat = source.reshape(-1)
    windows = flat.as_strided((flat.numel() - length + 1, length), (1, 1))
    return windows.index_select(0, starts) if out is None else torch.index_select(windows, 0, starts, out=out)


# ---------------------------------------------------------------- lookup-table kinds
# Kinds without statistics get one fixed table per op-table row, built once (RowTables); kinds
# with statistics build [n, 3, 256] tables from each image.


def _levels(rows: int, device: torch.device) -> torch.Tensor:
    return torch.arange(256, device=device).expand(rows, 256)


def _fixed_solarize(params: torch.Tensor) -> torch.Tensor:
    v = _levels(len(params), params.device)
    return torch.where(v < params[:, COL["iparam"]].to(torch.int64).view(-1, 1), v, 255 - v)


def _fixed_brightness(params: torch.Tensor) -> torch.Tensor:
    v = _levels(len(params), params.device)
    return blend(torch.zeros_like(v), v, params[:, COL["factor"]].to(torch.float32).view(-1, 1))


FIXED_LUT_KINDS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "brightness": _fixed_brightness,
    "solarize": _fixed_solarize,
}


def _image_levels(group: Group) -> torch.Tensor:
    return torch.arange(256, device=group.images.device).expand(len(group.images), 3, 256)


def _lut_contrast(group: Group) -> torch.Tensor:
    # Pillow: int(mean of the luma image + 0.5), i.e. round half up of sum / count.
    images = group.images
    total = luma(images).flatten(1).sum(dim=1)
    count = images.shape[-1] * images.shape[-2]
    mean = torch.div(2 * total + count, 2 * count, rounding_mode="floor")
    v = _image_levels(group)
    return blend(mean.view(-1, 1, 1).expand_as(v), v, group.factor().view(-1, 1, 1))


def _lut_autocontrast(group: Group) -> torch.Tensor:
    flat = group.images.flatten(2)
    lo = flat.amin(dim=2, keepdim=True).to(torch.float64)
    hi = flat.amax(dim=2, keepdim=True).to(torch.float64)
    v = _image_levels(group)
    # A true division: `255.0 / tensor` multiplies by a reciprocal and rounds differently.
    scale = torch.full_like(lo, 255.0) / (hi - lo).clamp(min=1.0)
    offset = -lo * scale
    stretched = (v * scale + offset).trunc_().clamp_(0, 255).to(torch.int64)
    return torch.where(hi > lo, stretched, v).to(torch.uint8)


def channel_histograms(images: torch.Tensor) -> torch.Tensor:
    """int64 [n, 3, 256]: the histogram of each image channel."""
    n = len(images)
    flat = images.flatten(2).to(torch.int64)
    bins = flat + torch.arange(n * 3, device=images.device).view(n, 3, 1) * 256
    return torch.bincount(bins.flatten(), minlength=n * 3 * 256).view(n, 3, 256)


def equalize_tables(images: torch.Tensor) -> torch.Tensor:
    """uint8 [n, 3, 256]: Pillow's equalize table of each channel of uint8 [n, 3, H, W] images."""
    hist = channel_histograms(images)
    v = torch.arange(256, device=images.device).expand_as(hist)
    last_bin = torch.where(hist > 0, v, -1).amax(dim=2, keepdim=True)
    step = (hist.sum(dim=2, keepdim=True) - hist.gather(2, last_bin)) // 255
    below = hist.cumsum(dim=2) - hist
    safe_step = step.clamp(min=1)
    mapped = torch.div(safe_step // 2 + below, safe_step, rounding_mode="floor").clamp_(max=255)
    return torch.where(step > 0, mapped, v).to(torch.uint8)


def _lut_equalize(group: Group) -> torch.Tensor:
    return equalize_tables(group.images)


def _lut_fixed(group: Group) -> torch.Tensor:
    return group.tables.fixed_luts.index_select(0, group.rows).unsqueeze(1).expand(-1, 3, -1)


LUT_KINDS: dict[str, Callable[[Group], torch.Tensor]] = {
    "autocontrast": _lut_autocontrast,
    "contrast": _lut_contrast,
    "equalize": _lut_equalize,
    **{kind: _lut_fixed for kind in FIXED_LUT_KINDS},
}

# Pointwise kinds that are a single uint8 operation skip the table and its gather.
DIRECT_KINDS: dict[str, Callable[[Group, torch.Tensor], None]] = {
    "invert": lambda group, out: torch.bitwise_not(group.images, out=out),  # 255 − v on uint8
    "posterize": lambda group, out: torch.bitwise_and(group.images, group.iparam().view(-1, 1, 1, 1), out=out),
}


# ---------------------------------------------------------------- families


def _pointwise_family(group: Group, parts: dict[str, slice], out: torch.Tensor) -> None:
    tables = [(kind, part) for kind, part in parts.items() if kind in LUT_KINDS]
    if tables:  # table kinds come first in the family: one run of images
        luts = torch.cat([LUT_KINDS[kind](group.part(part)) for kind, part in tables])
        run = slice(0, tables[-1][1].stop)
        torch.gather(luts, 2, group.images[run].flatten(2).to(torch.int64), out=out[run].flatten(2))
    for kind, part in parts.items():
        if kind in DIRECT_KINDS:
            DIRECT_KINDS[kind](group.part(part), out[part])


DEGENERATE_KINDS: dict[str, Callable[[Group], torch.Tensor]] = {
    "color": lambda group: luma(group.images).expand_as(group.images),
    "sharpness": lambda group: smooth(group.images),
}


def _blend_family(group: Group, parts: dict[str, slice], out: torch.Tensor) -> None:
    degenerate = torch.cat([DEGENERATE_KINDS[kind](group.part(part)) for kind, part in parts.items()])
    blend(degenerate, group.images, group.factor().view(-1, 1, 1, 1), out=out)


def _nearest_family(group: Group, parts: dict[str, slice], out: torch.Tensor) -> None:
    images = group.images
    n, channels = images.shape[:2]
    fill = group.fill().view(n, 1, 1).expand(n, channels, 1)
    source = torch.cat([images.flatten(2), fill], dim=2)
    slots = group.tables.nearest_slot.index_select(0, group.rows)
    index = group.tables.nearest_index.index_select(0, slots).unsqueeze(1).expand(n, channels, -1)
    torch.gather(source, 2, index, out=out.flatten(2))


def _cubic_lines(images: torch.Tensor, start: torch.Tensor, offset: torch.Tensor, pad: int) -> torch.Tensor:
    """Pillow's cubic along the last axis of uint8 [m, c, L, M], each line l of image i sampled
    at start[i, l] + x + offset[i, l] for x = 0..M−1, taps clamped at the line ends."""
    m, channels, lines, length = images.shape
    # replicated edges turn the clamped taps into plain runs of a padded line
    padded = torch.cat([images[..., :1].expand(-1, -1, -1, pad), images, images[..., -1:].expand(-1, -1, -1, pad)], -1)
    line_index = torch.arange(m * channels, device=images.device).view(m, channels, 1) * lines
    line_index = line_index + torch.arange(lines, device=images.device).view(1, 1, lines)
    first = (line_index * (length + 2 * pad) + pad - 1 + start.unsqueeze(1)).flatten()
    taps = images.new_empty((4, len(first), length))
    for t in range(4):
        row_windows(padded, first + t, length, out=taps[t])
    return cubic(taps.view(4, *images.shape), offset.view(m, 1, lines, 1))


def _cubic_family(group: Group, parts: dict[str, slice], out: torch.Tensor) -> None:
    """Shears move pixels along one axis: shear_x along rows, shear_y along columns (worked on
    transposed). Along that axis each line is its input line resampled at a constant
    fractional offset, so the four taps are four runs of the padded line (row_windows)."""
    maps, images = group.tables, group.images
    height, width = images.shape[-2:]
    slots = maps.cubic_slot.index_select(0, group.rows)
    start = maps.cubic_start.index_select(0, slots)
    offset = maps.cubic_offset.index_select(0, slots)
    split = parts["shear_y"].start if "shear_y" in parts else len(images)
    rows, columns = images[:split], images[split:]  # shear_x images, then shear_y images
    if height == width:  # square: rows and transposed columns go through in one pass
        done = _cubic_lines(torch.cat([rows, columns.transpose(-1, -2)]), start, offset, maps.cubic_pad)
        value = torch.cat([done[:split], done[split:].transpose(-1, -2)])
    else:
        parts_done = []
        if len(rows):
            parts_done.append(_cubic_lines(rows, start[:split, :height], offset[:split, :height], maps.cubic_pad))
        if len(columns):
            lines = _cubic_lines(
                columns.transpose(-1, -2).contiguous(), start[split:, :width], offset[split:, :width], maps.cubic_pad
            )
            parts_done.append(lines.transpose(-1, -2))
        value = torch.cat(parts_done)
    outside = maps.cubic_outside.index_select(0, slots).view(len(images), 1, height, width)
    fill = maps.fill.index_select(0, group.rows).view(-1, 1, 1, 1)
    torch.mul(value, 1 - outside, out=out).add_(outside * fill)


@dataclass(frozen=True)
class Family:
    kinds: tuple[str, ...]
    apply: Callable[[Group, dict[str, slice], torch.Tensor], None]  # (images, kind → part, output)


FAMILIES: tuple[Family, ...] = (
    Family((*LUT_KINDS, *DIRECT_KINDS), _pointwise_family),
    Family(tuple(DEGENERATE_KINDS), _blend_family),
    Family(NEAREST_KINDS, _nearest_family),
    Family(CUBIC_KINDS, _cubic_family),
)

assert sorted(kind for family in FAMILIES for kind in family.kinds) == sorted(KINDS)

# Position of each kind in family order: sorting a batch by it makes every family, and every
# kind inside a family, one contiguous run of images.
_FAMILY_ORDER = [kind for family in FAMILIES for kind in family.kinds]
_KIND_RANK = torch.tensor([_FAMILY_ORDER.index(kind) for kind in KINDS])


# ---------------------------------------------------------------- sampling maps


def pixel_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(height, device=device, dtype=dtype).view(1, height, 1)
    xs = torch.arange(width, device=device, dtype=dtype).view(1, 1, width)
    return ys, xs


def source_points(
    table: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """The source point (x, y) of each output point through the rows' affine columns, in `dtype`."""
    a = [table[:, COL[f"a{i}"]].to(dtype).view(-1, 1, 1) for i in range(6)]
    return a[0] * xs + a[1] * ys + a[2], a[3] * xs + a[4] * ys + a[5]


def _nearest_index(table: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pillow's fixed-point nearest affine: source = (A·(x, y, 1)) >> 16 per output pixel."""
    ys, xs = pixel_grid(height, width, table.device, torch.int64)
    sx, sy = source_points(table, xs, ys, torch.int64)
    sx, sy = sx >> 16, sy >> 16
    inside = (sx >= 0) & (sx < width) & (sy >= 0) & (sy < height)
    index = sy.clamp(0, height - 1) * width + sx.clamp(0, width - 1)
    return torch.where(inside, index, height * width).flatten(1)


def _cubic_maps(table: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Line tables of Pillow's bicubic affine transform for shears (rows of `table`).

    A shear moves pixels along x (shear_x: lines are rows) or y (shear_y: lines are columns).
    Along the other axis every output pixel centre lands on an input pixel centre, where
    Pillow's cubic returns that sample exactly, so one 4-tap pass along the line is Pillow's
    result. Pillow maps each pixel in float64; along a line the source moves by exactly one
    pixel per pixel, so the offset is taken at the line's first pixel (for every size up to
    259 it equals the per-pixel one in float32).
    Returns start [S, max(H, W)] (source of pixel 0 is start + offset), offset (float32),
    outside [S, H·W] (uint8, 1 where Pillow fills: the source falls outside the image, tested
    per pixel as Pillow does) and the padding that keeps every tap inside the padded line.
    """
    ys, xs = pixel_grid(height, width, table.device, torch.float64)
    src_x, src_y = source_points(table, xs + 0.5, ys + 0.5, torch.float64)
    inside = (src_x >= 0) & (src_x < width) & (src_y >= 0) & (src_y < height)
    along_x = (table[:, COL["a1"]] != 0).view(-1, 1)
    first_x = src_x[:, :, 0] - 0.5  # shear_x: x of row y's first pixel   [S, H]
    first_y = src_y[:, 0, :] - 0.5  # shear_y: y of column x's first pixel [S, W]
    lines = max(height, width)
    first = torch.where(along_x, F.pad(first_x, (0, lines - height)), F.pad(first_y, (0, lines - width)))
    start = first.floor()
    pad = int(start.abs().max().item()) + 3 if len(table) else 3
    outside = (~inside).flatten(1).to(torch.uint8)
    return start.to(torch.int64), (first - start).to(torch.float32), outside, pad


def _fixed_luts(table: torch.Tensor) -> torch.Tensor:
    luts = _levels(len(table), table.device).clone()
    kinds = table[:, COL["kind"]].to(torch.int64)
    for kind, build in FIXED_LUT_KINDS.items():
        rows = (kinds == KINDS.index(kind)).nonzero().flatten()
        luts[rows] = build(table[rows]).to(luts.dtype)
    return luts.to(torch.uint8)


def _slots(table: torch.Tensor, kinds: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows of `kinds` and, per row of the table, its position among them (0 elsewhere)."""
    codes = torch.tensor([KINDS.index(kind) for kind in kinds], device=table.device)
    rows = torch.isin(table[:, COL["kind"]].to(torch.int64), codes).nonzero().flatten()
    slot = torch.zeros(len(table), dtype=torch.int64, device=table.device)
    slot[rows] = torch.arange(len(rows), device=table.device)
    return rows, slot


_row_tables: dict[tuple[Space, int, int, torch.device], RowTables] = {}


def row_tables(space: Space, height: int, width: int, device: torch.device) -> RowTables:
    key = (space, height, width, torch.device(device))
    if key not in _row_tables:
        table = op_table(space, height, width, device)
        nearest_rows, nearest_slot = _slots(table, NEAREST_KINDS)
        cubic_rows, cubic_slot = _slots(table, CUBIC_KINDS)
        start, offset, outside, pad = _cubic_maps(table[cubic_rows], height, width)
        _row_tables[key] = RowTables(
            kind=table[:, COL["kind"]].to(torch.int64),
            rank=_KIND_RANK.to(device).index_select(0, table[:, COL["kind"]].to(torch.int64)),
            factor=table[:, COL["factor"]].to(torch.float32),
            fill=table[:, COL["fill"]].to(torch.uint8),
            iparam=table[:, COL["iparam"]].to(torch.uint8),
            fixed_luts=_fixed_luts(table),
            nearest_slot=nearest_slot,
            nearest_index=_nearest_index(table[nearest_rows], height, width),
            cubic_slot=cubic_slot,
            cubic_start=start,
            cubic_offset=offset,
            cubic_outside=outside,
            cubic_pad=pad,
        )
    return _row_tables[key]


# ---------------------------------------------------------------- stages


def _apply_stage(images: torch.Tensor, rows: torch.Tensor, tables: RowTables) -> tuple[torch.Tensor, torch.Tensor]:
    """One op per image. Returns the outputs sorted by family and the permutation used
    (output i is input image perm[i]); one host synchronisation per call."""
    rank = tables.rank.index_select(0, rows)
    perm = torch.argsort(rank, stable=True)
    counts = torch.bincount(rank, minlength=len(KINDS)).tolist()
    images, rows = images.index_select(0, perm), rows.index_select(0, perm)
    out, start = torch.empty_like(images), 0
    for family in FAMILIES:
        parts, size = {}, 0
        for kind in family.kinds:
            count = counts[_FAMILY_ORDER.index(kind)]
            if count:
                parts[kind] = slice(size, size + count)
                size += count
        if size:
            run = slice(start, start + size)
            family.apply(Group(images[run], rows[run], tables), parts, out[run])
            start += size
    return out, perm


def apply_rows(images: torch.Tensor, rows: torch.Tensor, space: Space) -> torch.Tensor:
    """Apply op-table rows [N, S] stage by stage (stage s uses rows[:, s]) to uint8 [N, 3, H, W]."""
    if len(images) == 0:
        return images.clone()
    tables = row_tables(space, images.shape[-2], images.shape[-1], images.device)
    out = images.contiguous()
    order = torch.arange(len(images), device=images.device)  # out[i] is image order[i]
    for stage in range(rows.shape[1]):
        out, perm = _apply_stage(out, rows[:, stage].index_select(0, order), tables)
        order = order.index_select(0, perm)
    back = torch.empty_like(order)
    back[order] = torch.arange(len(order), device=order.device)
    return out.index_select(0, back)
