"""The AWS-36 ops as DALI operators: per-image op pairs inside a DALI pipeline (spec/OPS.md).

Two parts, as in DALI's own `auto_aug`: a table of op kinds (kind → a builder that, given one
op-table row's parameters and the image size, returns a graph function image → image) and a
selection core that routes each sample to its row with conditionals (`select_rows`, a binary
split over the 2·len(space) rows, so a sample passes log2(72) ≈ 7 conditions per op).

The arithmetic follows the torch reference (reference.py), which follows Pillow's C code: float32
blends truncated to uint8, integer luma, Pillow's histogram equalisation, 16.16 fixed-point
nearest sampling matrices, and Pillow's transform cubic (a = −1) along the shear lines. DALI has
no gather by value, so the two table lookups that depend on the image are done with one-hot
tensors: equalize's histogram is the one-hot summed over pixels and its per-image table is applied
as one-hot · table summed over the 256 levels (uint8, 256 bytes per value: fine for the images
that draw it). Shears read their four cubic taps with four nearest warps (edge-clamped, as
Pillow clamps taps) and weight them with per-line constants of the image size.

`apply_rows` runs a CPU pipeline (numpy in, numpy out, `device_id=None`) built once per image
size, space and number of stages; the training pipeline (awsaug_cli.data.dali_pipeline) calls
`apply_row_stages` inside its own graph.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from awsaug_cli.space import KINDS, Space

from . import reference
from .op_params import COL, op_table
from .transform_spec import TransformDraw, TransformSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nvidia.dali.fn as fn
    import nvidia.dali.math as dmath
    from nvidia.dali import pipeline_def, types
    from nvidia.dali.data_node import DataNode

GraphOp = Callable[[DataNode], DataNode]  # uint8 HWC image → uint8 HWC image, inside a graph
LEVELS = np.arange(256)
MAX_BATCH = 64  # apply_rows feeds its pipeline in batches of at most this many images


@dataclass(frozen=True)
class RowSpec:
    """One op-table row (an op and a sign) for one image size, as plain numbers."""

    kind: str
    factor: float  # float32 enhancement factor
    fill: int
    row: int
    tables: reference.RowTables
    params: np.ndarray  # the op_params row (float64)
    height: int
    width: int


def _constant(array: np.ndarray) -> DataNode:
    """A constant tensor; made inside the graph function (a conditional trace must own it)."""
    return types.Constant(np.ascontiguousarray(array))


def _to_uint8(values: DataNode) -> DataNode:
    """Clip to [0, 255] and truncate, as Pillow stores a float result (DALI's cast rounds)."""
    return fn.cast(dmath.floor(dmath.clamp(values, 0.0, 255.0)), dtype=types.UINT8)


def _blend(degenerate: DataNode, image: DataNode, factor: float) -> DataNode:
    """Pillow's Image.blend: float32 d + (i − d)·f, clipped, truncated (reference.blend)."""
    d = fn.cast(degenerate, dtype=types.FLOAT)
    return _to_uint8((fn.cast(image, dtype=types.FLOAT) - d) * np.float32(factor) + d)


def _luma(image: DataNode) -> DataNode:
    """Pillow's RGB → L as integer-valued float32 [H, W, 1] (exact: every sum is below 2**24)."""
    rgb = fn.cast(image, dtype=types.FLOAT)
    weighted = rgb[:, :, 0:1] * 19595.0 + rgb[:, :, 1:2] * 38470.0 + rgb[:, :, 2:3] * 7471.0 + 32768.0
    return dmath.floor(weighted * (1.0 / 65536.0))


def _lookup(spec: RowSpec) -> GraphOp:
    table = spec.tables.fixed_luts[spec.row].numpy()
    return lambda image: fn.lookup_table(image, keys=LEVELS.tolist(), values=table.tolist(), dtype=types.UINT8)


def _invert(spec: RowSpec) -> GraphOp:
    return lambda image: types.Constant(255, dtype=types.UINT8) - image


def _posterize(spec: RowSpec) -> GraphOp:
    mask = int(spec.params[COL["iparam"]])
    return lambda image: image & types.Constant(mask, dtype=types.UINT8)


def _color(spec: RowSpec) -> GraphOp:
    return lambda image: _blend(_luma(image), image, spec.factor)


def _contrast(spec: RowSpec) -> GraphOp:
    count = spec.height * spec.width

    def apply(image: DataNode) -> DataNode:
        luma = fn.cast(_luma(image), dtype=types.INT32)
        total = fn.cast(fn.reductions.sum(luma, dtype=types.INT64), dtype=types.FLOAT64)
        mean = dmath.floor((total * 2.0 + count) / (2.0 * count))  # round half up, as Pillow
        return _blend(mean, image, spec.factor)

    return apply


def _sharpness(spec: RowSpec) -> GraphOp:
    if spec.height < 3 or spec.width < 3:  # Pillow's smoothing leaves such images as they are
        return lambda image: image
    kernel = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32)
    inner = np.zeros((spec.height, spec.width, 1), np.float32)
    inner[1:-1, 1:-1] = 1.0

    def apply(image: DataNode) -> DataNode:
        smoothed = dmath.floor(fn.filter(image, _constant(kernel), dtype=types.FLOAT) * (1.0 / 13.0) + 0.5)
        degenerate = smoothed * _constant(inner) + fn.cast(image, dtype=types.FLOAT) * _constant(1.0 - inner)
        return _blend(degenerate, image, spec.factor)

    return apply


def _autocontrast(spec: RowSpec) -> GraphOp:
    def apply(image: DataNode) -> DataNode:
        lo = fn.cast(fn.reductions.min(image, axes=[0, 1]), dtype=types.FLOAT64)
        hi = fn.cast(fn.reductions.max(image, axes=[0, 1]), dtype=types.FLOAT64)
        scale = 255.0 / dmath.max(hi - lo, 1.0)
        stretched = dmath.clamp(_trunc_nonnegative(fn.cast(image, dtype=types.FLOAT64) * scale - lo * scale), 0.0, 255.0)
        # a flat channel (hi = lo) stretches to 0 everywhere; Pillow leaves it as it is
        unchanged = fn.cast(hi == lo, dtype=types.FLOAT64) * fn.cast(image, dtype=types.FLOAT64)
        return fn.cast(stretched + unchanged, dtype=types.UINT8)

    return apply


def _trunc_nonnegative(values: DataNode) -> DataNode:
    """Truncation toward zero; the values are ≥ −1e-12 (v ≥ lo), so floor after clamping at 0."""
    return dmath.floor(dmath.max(values, 0.0))


def _equalize(spec: RowSpec) -> GraphOp:
    count = spec.height * spec.width
    below_mask = (LEVELS[:, None] < LEVELS[None, :]).astype(np.float32)  # [k, i]: k < i
    levels = np.broadcast_to(LEVELS.astype(np.float32), (3, 256))

    def apply(image: DataNode) -> DataNode:
        one_hot = fn.one_hot(image, num_classes=256, dtype=types.UINT8)  # [H, W, 3, 256]
        hist = fn.cast(fn.reductions.sum(one_hot, axes=[0, 1]), dtype=types.FLOAT)  # [3, 256]
        top = fn.reductions.max(image, axes=[0, 1])  # [3]: the last non-empty bin
        last = fn.cast(fn.reductions.sum(fn.cast(image == top, dtype=types.INT32), axes=[0, 1]), dtype=types.FLOAT)
        step = dmath.floor((count - last) / 255.0)  # [3]
        below = fn.reductions.sum(fn.expand_dims(hist, axes=[2]) * _constant(below_mask), axes=[1])  # Σ_{k<i} h[k]
        safe = fn.expand_dims(dmath.max(step, 1.0), axes=[1])
        mapped = dmath.min(dmath.floor((dmath.floor(safe / 2.0) + below) / safe), 255.0)
        active = fn.cast(fn.expand_dims(step, axes=[1]) > 0.0, dtype=types.FLOAT)
        table = fn.cast(mapped * active + _constant(levels) * (1.0 - active), dtype=types.UINT8)  # [3, 256]
        return fn.reductions.sum(one_hot * table, axes=[3], dtype=types.UINT8)

    return apply


def _nearest(spec: RowSpec) -> GraphOp:
    """Rotate and translate: Pillow's 16.16 fixed-point map as a float matrix over pixel centres
    (DALI samples at M·(x + ½, y + ½); Pillow's offsets already fold the centres in)."""
    a = [spec.params[COL[f"a{i}"]] / 65536.0 for i in range(6)]
    matrix = [a[0], a[1], a[2] - 0.5 * (a[0] + a[1]), a[3], a[4], a[5] - 0.5 * (a[3] + a[4])]
    return lambda image: fn.warp_affine(image, matrix=matrix, fill_value=spec.fill, interp_type=types.INTERP_NN)


def _shear(spec: RowSpec) -> GraphOp:
    """Pillow's transform cubic along each line: tap k of output x on line l is the (edge-clamped)
    input at x + k − 1 + floor(s·(l + ½)), weighted by the line's fractional offset."""
    shear = spec.params[COL["a1"]] or spec.params[COL["a3"]]
    along_x = spec.kind == "shear_x"
    lines = spec.height if along_x else spec.width
    line_centres = np.arange(lines) + 0.5
    first = shear * line_centres
    offset = (first - np.floor(first)).astype(np.float32)
    offset = offset.reshape((lines, 1, 1) if along_x else (1, lines, 1))
    outside = spec.tables.cubic_outside[spec.tables.cubic_slot[spec.row]].numpy()
    outside = outside.reshape(spec.height, spec.width, 1).astype(np.float32)

    def tap_matrix(k: int) -> list[float]:
        if along_x:
            return [1.0, shear, k - 1.5, 0.0, 1.0, 0.0]
        return [1.0, 0.0, 0.0, shear, 1.0, k - 1.5]

    def apply(image: DataNode) -> DataNode:
        v1, v2, v3, v4 = (
            fn.cast(fn.warp_affine(image, matrix=tap_matrix(k), interp_type=types.INTERP_NN), dtype=types.FLOAT)
            for k in range(4)
        )
        p2, p3, p4 = v3 - v1, (v1 - v2) * 2.0 + v3 - v4, v2 - v1 - v3 + v4
        offset_node, outside_node = _constant(offset), _constant(outside)
        value = dmath.floor(dmath.clamp(((p4 * offset_node + p3) * offset_node + p2) * offset_node + v2, 0.0, 255.0))
        return fn.cast(value * (1.0 - outside_node) + outside_node * float(spec.fill), dtype=types.UINT8)

    return apply


KIND_BUILDERS: dict[str, Callable[[RowSpec], GraphOp]] = {
    "autocontrast": _autocontrast,
    "brightness": _lookup,
    "color": _color,
    "contrast": _contrast,
    "equalize": _equalize,
    "invert": _invert,
    "posterize": _posterize,
    "rotate": _nearest,
    "sharpness": _sharpness,
    "shear_x": _shear,
    "shear_y": _shear,
    "solarize": _lookup,
    "translate_x": _nearest,
    "translate_y": _nearest,
}

assert sorted(KIND_BUILDERS) == sorted(KINDS)


def row_ops(space: Space, height: int, width: int) -> list[GraphOp]:
    """One graph function per op-table row (row 2·op + (sign > 0)) for images of this size."""
    table = op_table(space, height, width).numpy()
    tables = reference.row_tables(space, height, width, torch.device("cpu"))
    ops = []
    for row, params in enumerate(table):
        kind = KINDS[int(params[COL["kind"]])]
        spec = RowSpec(kind, float(np.float32(params[COL["factor"]])), int(params[COL["fill"]]), row, tables, params, height, width)
        ops.append(KIND_BUILDERS[kind](spec))
    return ops


def select_rows(image: DataNode, row: DataNode, ops: list[GraphOp], lo: int = 0, hi: int | None = None) -> DataNode:
    """ops[row](image) per sample: a binary split of the batch with conditionals (the pipeline
    must be built with enable_conditionals=True)."""
    hi = len(ops) - 1 if hi is None else hi
    if lo == hi:  # arithmetic drops the layout; the branches must agree to merge
        return fn.reshape(ops[lo](image), layout="HWC")
    mid = (lo + hi) // 2
    if row <= mid:
        out = select_rows(image, row, ops, lo, mid)
    else:
        out = select_rows(image, row, ops, mid + 1, hi)
    return out


def apply_row_stages(image: DataNode, rows: DataNode, ops: list[GraphOp], stages: int) -> DataNode:
    """Stage s applies the row rows[s] of each sample (rows: int32 [stages] per sample)."""
    for stage in range(stages):
        image = select_rows(image, rows[stage], ops)
    return image


@lru_cache(maxsize=16)
def _pipeline(space: Space, height: int, width: int, stages: int):
    ops = row_ops(space, height, width)

    @pipeline_def(batch_size=MAX_BATCH, num_threads=min(4, os.cpu_count() or 1), device_id=None, enable_conditionals=True,
                  prefetch_queue_depth=1, exec_async=False, exec_pipelined=False)
    def graph():
        images = fn.external_source(name="images", layout="HWC")
        rows = fn.external_source(name="rows")
        return apply_row_stages(images, rows, ops, stages)

    pipe = graph()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pipe.build()
    return pipe


def apply_rows(images: torch.Tensor, rows: torch.Tensor, space: Space) -> torch.Tensor:
    """The DALI backend's op application: uint8 [N, 3, H, W] CPU images, op-table rows [N, S]."""
    if images.device.type != "cpu":
        raise ValueError(f"the DALI op backend runs CPU pipelines; got {images.device.type} tensors")
    if len(images) == 0 or rows.shape[1] == 0:
        return images.clone()
    height, width = images.shape[-2:]
    pipe = _pipeline(space, height, width, rows.shape[1])
    hwc = images.permute(0, 2, 3, 1).contiguous().numpy()
    rows_np = rows.to(torch.int32).numpy()
    out = []
    for start in range(0, len(images), MAX_BATCH):
        pipe.feed_input("images", list(hwc[start : start + MAX_BATCH]))
        pipe.feed_input("rows", list(rows_np[start : start + MAX_BATCH]))
        (batch,) = pipe.run()
        out.append(np.stack([np.asarray(sample) for sample in batch]))
    return torch.from_numpy(np.concatenate(out)).permute(0, 3, 1, 2).contiguous()


def train_transform(images: torch.Tensor, draw: TransformDraw, settings: TransformSettings) -> torch.Tensor:
    """The training transform with the op pairs in DALI; crop/flip and Cutout/normalise are the
    torch backend's (they are one gather and one multiply-add, nothing per op to select)."""
    from . import torch_pipeline

    cropped = torch_pipeline.crop_flip(images, draw.crop, draw.flip, settings.padding)
    return torch_pipeline.cutout_normalise(apply_rows(cropped, draw.rows, settings.space), draw.cutout, settings)
