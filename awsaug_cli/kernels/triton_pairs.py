"""Fused Triton kernel: the whole per-image augmentation of a batch in one launch.

One program per image walks the stages: stage 0 reads the source image (through the crop and
flip of the training transform when asked), each stage applies the op its image drew with that
image's parameters from the op table (docs/OPS.md semantics, Pillow's arithmetic), and the last
stage stores uint8 or, for the training transform, Cutout-masked normalised floats. Per-image
statistics (contrast's mean luma, autocontrast's channel ranges, equalize's histograms) are
computed inside the program before the stage that needs them; a stage's output that the next
stage reads goes through a per-image scratch buffer (L1/L2-resident for small images).

Under TRITON_INTERPRET=1 the same kernel runs on CPU tensors (slowly): that is how it is tested
without a GPU. On a GPU, floating-point contraction is disabled so that blends, bicubic and
normalisation round exactly as the torch backend and Pillow do.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from awsaug_cli.space import KINDS, Space

from .backends import triton_interpreter
from .op_params import COL, COLUMNS, op_table
from .transform_spec import TransformDraw, TransformSettings

# Kind codes and table columns as compile-time constants.
AUTOCONTRAST = tl.constexpr(KINDS.index("autocontrast"))
BRIGHTNESS = tl.constexpr(KINDS.index("brightness"))
COLOR = tl.constexpr(KINDS.index("color"))
CONTRAST = tl.constexpr(KINDS.index("contrast"))
EQUALIZE = tl.constexpr(KINDS.index("equalize"))
INVERT = tl.constexpr(KINDS.index("invert"))
POSTERIZE = tl.constexpr(KINDS.index("posterize"))
ROTATE = tl.constexpr(KINDS.index("rotate"))
SHARPNESS = tl.constexpr(KINDS.index("sharpness"))
SHEAR_X = tl.constexpr(KINDS.index("shear_x"))
SHEAR_Y = tl.constexpr(KINDS.index("shear_y"))
SOLARIZE = tl.constexpr(KINDS.index("solarize"))
TRANSLATE_X = tl.constexpr(KINDS.index("translate_x"))
TRANSLATE_Y = tl.constexpr(KINDS.index("translate_y"))
TV_SHEAR_X = tl.constexpr(KINDS.index("tv_shear_x"))
TV_SHEAR_Y = tl.constexpr(KINDS.index("tv_shear_y"))
TV_TRANSLATE_X = tl.constexpr(KINDS.index("tv_translate_x"))
TV_TRANSLATE_Y = tl.constexpr(KINDS.index("tv_translate_y"))

NCOL = tl.constexpr(len(COLUMNS))
C_KIND = tl.constexpr(COL["kind"])
C_FACTOR = tl.constexpr(COL["factor"])
C_IPARAM = tl.constexpr(COL["iparam"])
C_FILL = tl.constexpr(COL["fill"])
C_A0 = tl.constexpr(COL["a0"])

# Where a stage writes: the scratch buffer, the uint8 output, or normalised floats.
TO_BUFFER = tl.constexpr(0)
TO_UINT8 = tl.constexpr(1)
TO_NORMALISED = tl.constexpr(2)

MAX_BLOCK = 1024


@triton.jit
def _read(src_ptr, buf_ptr, n, c, ys, xs, ok, dy, dx, flip, H: tl.constexpr, W: tl.constexpr,
          PADDING: tl.constexpr, FROM_SOURCE: tl.constexpr, CROP: tl.constexpr):
    """Pixel values (int32) of channel c at (ys, xs) of the stage's input image; 0 where not ok.

    Stage 0 reads the source, through the pad-crop and flip when CROP; later stages the buffer."""
    if FROM_SOURCE:
        if CROP:
            sx = tl.where(flip, W - 1 - xs, xs) + dx - PADDING
            sy = ys + dy - PADDING
            inside = ok & (sx >= 0) & (sx < W) & (sy >= 0) & (sy < H)
            value = tl.load(src_ptr + ((n * 3 + c) * H + sy) * W + sx, mask=inside, other=0)
        else:
            value = tl.load(src_ptr + ((n * 3 + c) * H + ys) * W + xs, mask=ok, other=0)
    else:
        value = tl.load(buf_ptr + ((n * 3 + c) * H + ys) * W + xs, mask=ok, other=0)
    return value.to(tl.int32)


@triton.jit
def _read_rgb(src_ptr, buf_ptr, n, ys, xs, ok, dy, dx, flip, H: tl.constexpr, W: tl.constexpr,
              PADDING: tl.constexpr, FROM_SOURCE: tl.constexpr, CROP: tl.constexpr):
    r = _read(src_ptr, buf_ptr, n, 0, ys, xs, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
    g = _read(src_ptr, buf_ptr, n, 1, ys, xs, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
    b = _read(src_ptr, buf_ptr, n, 2, ys, xs, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
    return r, g, b


@triton.jit
def _tile(start, lane, W: tl.constexpr, HW: tl.constexpr):
    """Flat pixel indices of one tile, which of them exist, and their rows and columns."""
    p = start + lane
    return p, p < HW, p // W, p % W


@triton.jit
def _blend(degenerate, value, factor):
    """Pillow's Image.blend: float32 d + f·(v − d), clipped to [0, 255], truncated."""
    mixed = degenerate + factor * (value.to(tl.float32) - degenerate)
    return tl.minimum(tl.maximum(mixed, 0.0), 255.0).to(tl.int32)


@triton.jit
def _luma(r, g, b):
    """Pillow's RGB → L: (19595 R + 38470 G + 7471 B + 2^15) >> 16."""
    return (r * 19595 + g * 38470 + b * 7471 + 32768) >> 16


@triton.jit
def _stretch(value, lo, hi):
    """Pillow's autocontrast map of one channel with range [lo, hi], in float64 as Python does."""
    span = tl.maximum(hi - lo, 1).to(tl.float64)
    scale = 255.0 / span
    offset = -lo.to(tl.float64) * scale
    mapped = tl.minimum(tl.maximum(value.to(tl.float64) * scale + offset, 0.0), 255.0).to(tl.int32)
    return tl.where(hi > lo, mapped, value)


@triton.jit
def _cubic(v1, v2, v3, v4, d):
    """Pillow's transform cubic (Keys, a = −1) at float32 offset d past v2, in the order of the
    torch backend (torch_ops.cubic): float32, where Pillow uses float64 (rarely ±1)."""
    p2 = (v3 - v1).to(tl.float32)
    p3 = ((v1 - v2) * 2 + v3 - v4).to(tl.float32)
    p4 = (v2 - v1 - v3 + v4).to(tl.float32)
    value = ((p4 * d + p3) * d + p2) * d + v2.to(tl.float32)
    return tl.minimum(tl.maximum(value, 0.0), 255.0).to(tl.int32)


@triton.jit
def _shear_channel(src_ptr, buf_ptr, n, c, ys, xs, base, on_x, d, ok, dy, dx, flip, H: tl.constexpr, W: tl.constexpr,
                   PADDING: tl.constexpr, FROM_SOURCE: tl.constexpr, CROP: tl.constexpr):
    """Pillow's cubic of channel c through the taps base .. base + 3 (clamped to the image)
    along rows (on_x) or columns."""
    limit = tl.where(on_x, W - 1, H - 1)
    t = tl.minimum(tl.maximum(base, 0), limit)
    v1 = _read(src_ptr, buf_ptr, n, c, tl.where(on_x, ys, t), tl.where(on_x, t, xs), ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
    t = tl.minimum(tl.maximum(base + 1, 0), limit)
    v2 = _read(src_ptr, buf_ptr, n, c, tl.where(on_x, ys, t), tl.where(on_x, t, xs), ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
    t = tl.minimum(tl.maximum(base + 2, 0), limit)
    v3 = _read(src_ptr, buf_ptr, n, c, tl.where(on_x, ys, t), tl.where(on_x, t, xs), ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
    t = tl.minimum(tl.maximum(base + 3, 0), limit)
    v4 = _read(src_ptr, buf_ptr, n, c, tl.where(on_x, ys, t), tl.where(on_x, t, xs), ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
    return _cubic(v1, v2, v3, v4, d)


@triton.jit
def _sharpen_channel(src_ptr, buf_ptr, n, c, ys, xs, factor, ok, dy, dx, flip, H: tl.constexpr, W: tl.constexpr,
                     PADDING: tl.constexpr, FROM_SOURCE: tl.constexpr, CROP: tl.constexpr):
    """Pillow's Sharpness of channel c: a blend with its SMOOTH filter (rounded m / 13, the
    one-pixel border kept)."""
    interior = (ys >= 1) & (ys < H - 1) & (xs >= 1) & (xs < W - 1)
    centre = _read(src_ptr, buf_ptr, n, c, ys, xs, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
    m = centre * 4
    for oy in tl.static_range(3):
        for ox in tl.static_range(3):
            m += _read(src_ptr, buf_ptr, n, c, ys + oy - 1, xs + ox - 1, ok & interior, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
    smoothed = tl.where(interior, (2 * m + 13) // 26, centre)
    return _blend(smoothed.to(tl.float32), centre, factor)


@triton.jit
def _write(buf_ptr, out_ptr, scale_ptr, shift_ptr, n, c, p, ok, value, ys, xs, hy, hx,
           HW: tl.constexpr, CUTOUT: tl.constexpr, WRITE: tl.constexpr):
    offset = (n * 3 + c) * HW + p
    if WRITE == TO_BUFFER:
        tl.store(buf_ptr + offset, value.to(tl.uint8), mask=ok)
    elif WRITE == TO_UINT8:
        tl.store(out_ptr + offset, value.to(tl.uint8), mask=ok)
    else:
        if CUTOUT > 0:
            top = hy - CUTOUT // 2
            left = hx - CUTOUT // 2
            hole = (ys >= top) & (ys < top + CUTOUT) & (xs >= left) & (xs < left + CUTOUT)
            value = tl.where(hole, 0, value)
        normalised = value.to(tl.float32) * tl.load(scale_ptr + c) + tl.load(shift_ptr + c)
        tl.store(out_ptr + offset, normalised.to(out_ptr.dtype.element_ty), mask=ok)


@triton.jit
def _range_statistics(src_ptr, buf_ptr, n, dy, dx, flip, lane, H: tl.constexpr, W: tl.constexpr, PADDING: tl.constexpr,
                      BLOCK: tl.constexpr, FROM_SOURCE: tl.constexpr, CROP: tl.constexpr):
    """Contrast's grey — Pillow's int(mean luma + 0.5), i.e. round half up of total / count — and
    autocontrast's per-channel ranges lo..hi, in one pass over the stage's input."""
    HW: tl.constexpr = H * W
    total = tl.full([], 0, tl.int32)
    lo0 = tl.full([], 255, tl.int32)
    lo1 = tl.full([], 255, tl.int32)
    lo2 = tl.full([], 255, tl.int32)
    hi0 = tl.full([], 0, tl.int32)
    hi1 = tl.full([], 0, tl.int32)
    hi2 = tl.full([], 0, tl.int32)
    for start in range(0, HW, BLOCK):
        p, ok, ys, xs = _tile(start, lane, W, HW)
        r, g, b = _read_rgb(src_ptr, buf_ptr, n, ys, xs, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
        total += tl.sum(tl.where(ok, _luma(r, g, b), 0), 0)
        lo0 = tl.minimum(lo0, tl.min(tl.where(ok, r, 255), 0))
        lo1 = tl.minimum(lo1, tl.min(tl.where(ok, g, 255), 0))
        lo2 = tl.minimum(lo2, tl.min(tl.where(ok, b, 255), 0))
        hi0 = tl.maximum(hi0, tl.max(tl.where(ok, r, 0), 0))
        hi1 = tl.maximum(hi1, tl.max(tl.where(ok, g, 0), 0))
        hi2 = tl.maximum(hi2, tl.max(tl.where(ok, b, 0), 0))
    return (2 * total + HW) // (2 * HW), lo0, lo1, lo2, hi0, hi1, hi2


@triton.jit
def _equalize_tables(src_ptr, buf_ptr, lut_ptr, n, dy, dx, flip, lane, H: tl.constexpr, W: tl.constexpr,
                     PADDING: tl.constexpr, BLOCK: tl.constexpr, FROM_SOURCE: tl.constexpr, CROP: tl.constexpr):
    """Pillow's equalize table of each channel of the stage's input, stored at lut_ptr."""
    HW: tl.constexpr = H * W
    bins = tl.arange(0, 256)
    for c in tl.static_range(3):
        hist = tl.zeros([256], tl.int32)
        for start in range(0, HW, BLOCK):
            p, ok, ys, xs = _tile(start, lane, W, HW)
            v = _read(src_ptr, buf_ptr, n, c, ys, xs, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
            hist += tl.histogram(v, 256)
            # masked lanes read 0: take them back out of bin 0
            hist -= tl.where(bins == 0, BLOCK - tl.sum(ok.to(tl.int32), 0), 0)
        last = tl.max(tl.where(hist > 0, bins, -1), 0)
        step = (HW - tl.sum(tl.where(bins == last, hist, 0), 0)) // 255
        safe = tl.maximum(step, 1)
        mapped = tl.minimum((safe // 2 + tl.cumsum(hist, 0) - hist) // safe, 255)
        tl.store(lut_ptr + (n * 3 + c) * 256 + bins, tl.where(step > 0, mapped, bins))


@triton.jit
def _nearest_rgb(src_ptr, buf_ptr, n, ys, xs, ok, a0, a1, a2, a3, a4, a5, fill, dy, dx, flip, H: tl.constexpr,
                 W: tl.constexpr, PADDING: tl.constexpr, FROM_SOURCE: tl.constexpr, CROP: tl.constexpr):
    """Rotate, translate and torchvision's shears and translates: Pillow's 16.16 fixed-point
    nearest affine, `fill` outside."""
    sx = (a0.to(tl.int64) * xs + a1.to(tl.int64) * ys + a2.to(tl.int64)) >> 16
    sy = (a3.to(tl.int64) * xs + a4.to(tl.int64) * ys + a5.to(tl.int64)) >> 16
    inside = (sx >= 0) & (sx < W) & (sy >= 0) & (sy < H)
    sx = sx.to(tl.int32)
    sy = sy.to(tl.int32)
    r = tl.where(inside, _read(src_ptr, buf_ptr, n, 0, sy, sx, ok & inside, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP), fill)
    g = tl.where(inside, _read(src_ptr, buf_ptr, n, 1, sy, sx, ok & inside, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP), fill)
    b = tl.where(inside, _read(src_ptr, buf_ptr, n, 2, sy, sx, ok & inside, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP), fill)
    return r, g, b


@triton.jit
def _shear_rgb(kind, src_ptr, buf_ptr, n, ys, xs, ok, a0, a1, a2, a3, a4, a5, fill, dy, dx, flip, H: tl.constexpr,
               W: tl.constexpr, PADDING: tl.constexpr, FROM_SOURCE: tl.constexpr, CROP: tl.constexpr):
    """Pillow's bicubic affine; shears move pixels along one axis only. The fill test is per
    pixel; the fractional offset is the line's, taken at its first pixel (as in
    torch_ops._cubic_maps)."""
    xc = xs.to(tl.float64) + 0.5
    yc = ys.to(tl.float64) + 0.5
    xin = a0 * xc + a1 * yc + a2
    yin = a3 * xc + a4 * yc + a5
    inside = (xin >= 0.0) & (xin < W) & (yin >= 0.0) & (yin < H)
    along = tl.where(kind == SHEAR_X, a0 * 0.5 + a1 * yc + a2, a3 * xc + a4 * 0.5 + a5) - 0.5
    first = tl.floor(along)
    d = (along - first).to(tl.float32)
    base = first.to(tl.int32) + tl.where(kind == SHEAR_X, xs, ys) - 1
    on_x = kind == SHEAR_X
    r = tl.where(inside, _shear_channel(src_ptr, buf_ptr, n, 0, ys, xs, base, on_x, d, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP), fill)
    g = tl.where(inside, _shear_channel(src_ptr, buf_ptr, n, 1, ys, xs, base, on_x, d, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP), fill)
    b = tl.where(inside, _shear_channel(src_ptr, buf_ptr, n, 2, ys, xs, base, on_x, d, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP), fill)
    return r, g, b


@triton.jit
def _pointwise_rgb(kind, r, g, b, factor, iparam, mean, lo0, lo1, lo2, hi0, hi1, hi2, lut_ptr, n, ok):
    """The kinds that map each pixel on its own (with the image's statistics)."""
    if kind == INVERT:
        r = 255 - r
        g = 255 - g
        b = 255 - b
    elif kind == POSTERIZE:
        r = r & iparam
        g = g & iparam
        b = b & iparam
    elif kind == SOLARIZE:
        r = tl.where(r < iparam, r, 255 - r)
        g = tl.where(g < iparam, g, 255 - g)
        b = tl.where(b < iparam, b, 255 - b)
    elif kind == BRIGHTNESS:
        r = _blend(0.0, r, factor)
        g = _blend(0.0, g, factor)
        b = _blend(0.0, b, factor)
    elif kind == CONTRAST:
        grey = mean.to(tl.float32)
        r = _blend(grey, r, factor)
        g = _blend(grey, g, factor)
        b = _blend(grey, b, factor)
    elif kind == COLOR:
        grey = _luma(r, g, b).to(tl.float32)
        r = _blend(grey, r, factor)
        g = _blend(grey, g, factor)
        b = _blend(grey, b, factor)
    elif kind == AUTOCONTRAST:
        r = _stretch(r, lo0, hi0)
        g = _stretch(g, lo1, hi1)
        b = _stretch(b, lo2, hi2)
    elif kind == EQUALIZE:
        r = tl.load(lut_ptr + (n * 3 + 0) * 256 + r, mask=ok, other=0)
        g = tl.load(lut_ptr + (n * 3 + 1) * 256 + g, mask=ok, other=0)
        b = tl.load(lut_ptr + (n * 3 + 2) * 256 + b, mask=ok, other=0)
    return r, g, b


@triton.jit
def _stage(src_ptr, buf_ptr, out_ptr, lut_ptr, table_ptr, scale_ptr, shift_ptr, row, n, dy, dx, flip, hy, hx,
           H: tl.constexpr, W: tl.constexpr, PADDING: tl.constexpr, CUTOUT: tl.constexpr, BLOCK: tl.constexpr,
           FROM_SOURCE: tl.constexpr, CROP: tl.constexpr, WRITE: tl.constexpr):
    """One op on one image: the statistics it needs, then tile by tile the op and the write."""
    HW: tl.constexpr = H * W
    params = table_ptr + row * NCOL
    kind = tl.load(params + C_KIND).to(tl.int32)
    factor = tl.load(params + C_FACTOR).to(tl.float32)
    iparam = tl.load(params + C_IPARAM).to(tl.int32)
    fill = tl.load(params + C_FILL).to(tl.int32)
    lane = tl.arange(0, BLOCK)

    # ---- per-image statistics of this stage's input
    mean = tl.full([], 0, tl.int32)
    lo0 = tl.full([], 0, tl.int32)
    lo1 = tl.full([], 0, tl.int32)
    lo2 = tl.full([], 0, tl.int32)
    hi0 = tl.full([], 0, tl.int32)
    hi1 = tl.full([], 0, tl.int32)
    hi2 = tl.full([], 0, tl.int32)
    if (kind == CONTRAST) | (kind == AUTOCONTRAST):
        mean, lo0, lo1, lo2, hi0, hi1, hi2 = _range_statistics(src_ptr, buf_ptr, n, dy, dx, flip, lane, H, W, PADDING,
                                                                BLOCK, FROM_SOURCE, CROP)
    if kind == EQUALIZE:
        _equalize_tables(src_ptr, buf_ptr, lut_ptr, n, dy, dx, flip, lane, H, W, PADDING, BLOCK, FROM_SOURCE, CROP)
        tl.debug_barrier()

    # ---- the op itself, tile by tile
    a0 = tl.load(params + C_A0)
    a1 = tl.load(params + C_A0 + 1)
    a2 = tl.load(params + C_A0 + 2)
    a3 = tl.load(params + C_A0 + 3)
    a4 = tl.load(params + C_A0 + 4)
    a5 = tl.load(params + C_A0 + 5)
    for start in range(0, HW, BLOCK):
        p, ok, ys, xs = _tile(start, lane, W, HW)
        r = tl.zeros([BLOCK], tl.int32)
        g = tl.zeros([BLOCK], tl.int32)
        b = tl.zeros([BLOCK], tl.int32)
        if ((kind == ROTATE) | (kind == TRANSLATE_X) | (kind == TRANSLATE_Y) | (kind == TV_SHEAR_X) | (kind == TV_SHEAR_Y)
                | (kind == TV_TRANSLATE_X) | (kind == TV_TRANSLATE_Y)):
            r, g, b = _nearest_rgb(src_ptr, buf_ptr, n, ys, xs, ok, a0, a1, a2, a3, a4, a5, fill, dy, dx, flip, H, W,
                                   PADDING, FROM_SOURCE, CROP)
        elif (kind == SHEAR_X) | (kind == SHEAR_Y):
            r, g, b = _shear_rgb(kind, src_ptr, buf_ptr, n, ys, xs, ok, a0, a1, a2, a3, a4, a5, fill, dy, dx, flip, H, W,
                                 PADDING, FROM_SOURCE, CROP)
        elif kind == SHARPNESS:
            r = _sharpen_channel(src_ptr, buf_ptr, n, 0, ys, xs, factor, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
            g = _sharpen_channel(src_ptr, buf_ptr, n, 1, ys, xs, factor, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
            b = _sharpen_channel(src_ptr, buf_ptr, n, 2, ys, xs, factor, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
        else:
            r, g, b = _read_rgb(src_ptr, buf_ptr, n, ys, xs, ok, dy, dx, flip, H, W, PADDING, FROM_SOURCE, CROP)
            r, g, b = _pointwise_rgb(kind, r, g, b, factor, iparam, mean, lo0, lo1, lo2, hi0, hi1, hi2, lut_ptr, n, ok)
        _write(buf_ptr, out_ptr, scale_ptr, shift_ptr, n, 0, p, ok, r, ys, xs, hy, hx, HW, CUTOUT, WRITE)
        _write(buf_ptr, out_ptr, scale_ptr, shift_ptr, n, 1, p, ok, g, ys, xs, hy, hx, HW, CUTOUT, WRITE)
        _write(buf_ptr, out_ptr, scale_ptr, shift_ptr, n, 2, p, ok, b, ys, xs, hy, hx, HW, CUTOUT, WRITE)


@triton.jit
def _augment_kernel(src_ptr, out_ptr, buf_ptr, lut_ptr, table_ptr, rows_ptr, crop_ptr, flip_ptr, hole_ptr,
                    scale_ptr, shift_ptr, H: tl.constexpr, W: tl.constexpr, STAGES: tl.constexpr,
                    TRAIN: tl.constexpr, PADDING: tl.constexpr, CUTOUT: tl.constexpr, BLOCK: tl.constexpr,
                    LAST_WRITE: tl.constexpr):
    n = tl.program_id(0).to(tl.int64)
    if TRAIN:
        dy = tl.load(crop_ptr + 2 * n)
        dx = tl.load(crop_ptr + 2 * n + 1)
        flip = tl.load(flip_ptr + n) != 0
        hy = tl.load(hole_ptr + 2 * n)
        hx = tl.load(hole_ptr + 2 * n + 1)
    else:
        dy = tl.full([], 0, tl.int32)
        dx = tl.full([], 0, tl.int32)
        flip = tl.full([], 0, tl.int32) != 0
        hy = tl.full([], 0, tl.int32)
        hx = tl.full([], 0, tl.int32)
    for s in tl.static_range(STAGES):
        row = tl.load(rows_ptr + n * STAGES + s)
        if s == STAGES - 1:
            _stage(src_ptr, buf_ptr, out_ptr, lut_ptr, table_ptr, scale_ptr, shift_ptr, row, n, dy, dx, flip, hy, hx,
                   H, W, PADDING, CUTOUT, BLOCK, s == 0, TRAIN, LAST_WRITE)
        else:
            _stage(src_ptr, buf_ptr, out_ptr, lut_ptr, table_ptr, scale_ptr, shift_ptr, row, n, dy, dx, flip, hy, hx,
                   H, W, PADDING, CUTOUT, BLOCK, s == 0, TRAIN, TO_BUFFER)
        tl.debug_barrier()


def _launch(images: torch.Tensor, out: torch.Tensor, rows: torch.Tensor, space: Space, *, train: bool,
            crop: torch.Tensor, flip: torch.Tensor, hole: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor,
            padding: int, cutout: int) -> torch.Tensor:
    n, _, height, width = images.shape
    stages = rows.shape[1]
    if stages not in (1, 2):
        raise ValueError(f"the triton backend applies 1 or 2 ops per image, got {stages}")
    if n == 0:
        return out
    device = images.device
    table = op_table(space, height, width, device)
    buffer = torch.empty_like(images) if stages > 1 else images
    luts = torch.empty((n, 3, 256), dtype=torch.int32, device=device)
    block = min(MAX_BLOCK, triton.next_power_of_2(height * width))
    options = {} if triton_interpreter() else {"enable_fp_fusion": False, "num_warps": 4}
    _augment_kernel[(n,)](
        images, out, buffer, luts, table, rows.to(device, torch.int64).contiguous(),
        crop, flip, hole, scale, shift,
        H=height, W=width, STAGES=stages, TRAIN=train, PADDING=padding, CUTOUT=cutout, BLOCK=block,
        LAST_WRITE=TO_NORMALISED.value if train else TO_UINT8.value, **options,
    )
    return out


def apply_rows(images: torch.Tensor, rows: torch.Tensor, space: Space) -> torch.Tensor:
    """Op-table rows [N, S] (S = 1 or 2) applied per image to uint8 [N, 3, H, W], one launch."""
    images = images.contiguous()
    unused = torch.zeros(2, dtype=torch.int32, device=images.device)
    unused_f = torch.zeros(3, dtype=torch.float32, device=images.device)
    return _launch(images, torch.empty_like(images), rows, space, train=False, crop=unused, flip=unused,
                   hole=unused, scale=unused_f, shift=unused_f, padding=0, cutout=0)


def train_transform(images: torch.Tensor, draw: TransformDraw, settings: TransformSettings) -> torch.Tensor:
    """The whole training transform (crop, flip, pair, Cutout, normalise) in one launch."""
    images = images.contiguous()
    device = images.device
    out = torch.empty(images.shape, dtype=settings.out_dtype, device=device)
    return _launch(
        images, out, draw.rows, settings.space, train=True,
        crop=draw.crop.to(device, torch.int32).contiguous(),
        flip=draw.flip.to(device, torch.int32).contiguous(),
        hole=draw.cutout.to(device, torch.int32).contiguous(),
        scale=settings.scale.to(device, torch.float32).contiguous(),
        shift=settings.shift.to(device, torch.float32).contiguous(),
        padding=settings.padding, cutout=settings.cutout,
    )
