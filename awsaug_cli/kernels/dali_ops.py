"""The AWS-36 ops as DALI operators: per-image op pairs inside a DALI pipeline (docs/OPS.md).

Two parts, as in DALI's own `auto_aug`: a table of op kinds (KIND_OPS: kind → a graph function
(image, the row's parameters) → image) and a selection core (`select`) that routes each sample
to its kind with conditionals, a binary split over the 14 kinds. Magnitude and sign are per-sample
parameters looked up from a constant table by the sample's op-table row (`param_table`), so the
graph holds one branch per kind, not one per (op, sign): it builds in about a second and runs
few operators per batch.

The arithmetic follows the torch backend (torch_ops.py), which follows Pillow's C code: float32
blends truncated to uint8, integer luma, Pillow's histogram equalisation, 16.16 fixed-point
nearest sampling matrices, and Pillow's transform cubic (a = −1) along the shear lines. Shears
read their four cubic taps with four nearest warps (edge-clamped, as Pillow clamps taps) and
weight them by each line's fractional offset. Equalize is the exception: its per-image table
runs in torch inside the pipeline (`fn.python_function`), because DALI has no per-sample table
lookup on CPU and the one-hot formulation cost two orders of magnitude more.

`apply_rows` (the "dali" backend of apply_pairs) runs a CPU pipeline, numpy in and out, built
once per image size and number of stages; the folder loader (awsaug_cli.data.dali_loader) calls
`apply_rows_in_graph` inside its own pipeline.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch

from awsaug_cli.space import KINDS, Space

from . import torch_ops, torch_pipeline
from .op_params import COL, op_table
from .transform_spec import TransformDraw, TransformSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nvidia.dali.fn as fn
    import nvidia.dali.math as dmath
    from nvidia.dali import pipeline_def, types
    from nvidia.dali.data_node import DataNode

MAX_BATCH = 64  # apply_rows feeds its pipeline in batches of at most this many images
PIPELINE_THREADS = min(4, os.cpu_count() or 1)  # CPU threads of a DALI pipeline (here and in the folder loader)


# Per-row parameters as the DALI graph reads them (one row per op and sign, as op_params):
# the kind's code, the float32 factor, the integer parameter, the fill, a 2×3 sampling matrix
# over pixel centres (nearest kinds: Pillow's fixed-point map; shears: the map of cubic tap 0)
# and the shear.
COLUMNS: tuple[str, ...] = ("kind", "row", "factor", "iparam", "fill", "m0", "m1", "m2", "m3", "m4", "m5", "shear")
COL_OF = {name: i for i, name in enumerate(COLUMNS)}
MATRIX = slice(COL_OF["m0"], COL_OF["m5"] + 1)

KindOp = Callable[[DataNode, DataNode], DataNode]  # (uint8 HWC image, the row's parameters) → image


@lru_cache(maxsize=64)
def param_table(space: Space, height: int, width: int) -> np.ndarray:
    """float64 [2·len(space), len(COLUMNS)]: what each row's kind reads."""
    rows = op_table(space, height, width).numpy()
    table = np.zeros((len(rows), len(COLUMNS)))
    for column in ("kind", "factor", "iparam", "fill"):
        table[:, COL_OF[column]] = rows[:, COL[column]]
    table[:, COL_OF["row"]] = np.arange(len(rows))
    a = rows[:, [COL[f"a{i}"] for i in range(6)]]
    kinds = [KINDS[int(code)] for code in rows[:, COL["kind"]]]
    for row, kind in enumerate(kinds):
        if kind in torch_ops.NEAREST_KINDS:
            # Pillow's 16.16 map folds the output pixel centre into the offsets; DALI samples at
            # M·(x + ½, y + ½), so the centre comes back out
            m = a[row] / 65536.0
            table[row, MATRIX] = [m[0], m[1], m[2] - 0.5 * (m[0] + m[1]), m[3], m[4], m[5] - 0.5 * (m[3] + m[4])]
        elif kind in torch_ops.CUBIC_KINDS:
            shear = a[row, 1] if kind == "shear_x" else a[row, 3]
            table[row, COL_OF["shear"]] = shear
            table[row, MATRIX] = (
                [1.0, shear, -1.5, 0.0, 1.0, 0.0] if kind == "shear_x" else [1.0, 0.0, 0.0, shear, 1.0, -1.5]
            )
    return table


def _constant(array: np.ndarray) -> DataNode:
    """A constant tensor; made inside the graph function (a conditional trace must own it)."""
    return types.Constant(np.ascontiguousarray(array))


def _factor(params: DataNode) -> DataNode:
    return fn.cast(params[COL_OF["factor"]], dtype=types.FLOAT)


def _to_uint8(values: DataNode) -> DataNode:
    """Clip to [0, 255] and truncate, as Pillow stores a float result. DALI's cast saturates
    and rounds half away from zero, so casting v − ½ truncates v ≥ 0 and sends v < 0 to 0 (the
    subtraction is exact in float32 below 2**23): one pass where floor and clamp take two."""
    return fn.cast(values - 0.5, dtype=types.UINT8)


def _blend(degenerate: DataNode, image: DataNode, factor: DataNode) -> DataNode:
    """Pillow's Image.blend: float32 d + (i − d)·f, clipped, truncated (torch_ops.blend)."""
    d = fn.cast(degenerate, dtype=types.FLOAT)
    return _to_uint8((fn.cast(image, dtype=types.FLOAT) - d) * factor + d)


def _luma(image: DataNode) -> DataNode:
    """Pillow's RGB → L (ITU-R 601-2 in 16-bit fixed point) as uint8 [H, W, 1]; the float32
    sums are integers below 2**24, exact."""
    rgb = fn.cast(image, dtype=types.FLOAT)
    weighted = rgb[:, :, 0:1] * 19595.0 + rgb[:, :, 1:2] * 38470.0 + rgb[:, :, 2:3] * 7471.0 + 32768.0
    return _to_uint8(weighted * (1.0 / 65536.0))


def _lookup(kind: str) -> Callable[[Space, int, int], KindOp]:
    """Kinds that are a fixed table per row (brightness, solarize): one lookup, the row's table
    chosen per sample among the kind's rows."""

    def build(space: Space, height: int, width: int) -> KindOp:
        table = param_table(space, height, width)
        rows = np.flatnonzero(table[:, COL_OF["kind"]] == KINDS.index(kind))
        positions = np.zeros(len(table), np.int32)
        positions[rows] = np.arange(len(rows))
        luts = torch_ops.row_tables(space, height, width, torch.device("cpu")).fixed_luts[rows].tolist()
        lookups = [
            lambda image, params, lut=lut: fn.lookup_table(image, keys=list(range(256)), values=lut, dtype=types.UINT8)
            for lut in luts
        ]

        def apply(image: DataNode, params: DataNode) -> DataNode:
            position = _constant(positions)[fn.cast(params[COL_OF["row"]], dtype=types.INT32)]
            return select(image, params, position, lookups)

        return apply

    return build


def _invert(space: Space, height: int, width: int) -> KindOp:
    return lambda image, params: types.Constant(255, dtype=types.UINT8) - image


def _posterize(space: Space, height: int, width: int) -> KindOp:
    return lambda image, params: image & fn.cast(params[COL_OF["iparam"]], dtype=types.UINT8)


def _color(space: Space, height: int, width: int) -> KindOp:
    return lambda image, params: _blend(_luma(image), image, _factor(params))


def _contrast(space: Space, height: int, width: int) -> KindOp:
    count = height * width

    def apply(image: DataNode, params: DataNode) -> DataNode:
        total = fn.cast(fn.reductions.sum(_luma(image), dtype=types.UINT64), dtype=types.FLOAT64)
        mean = dmath.floor((total * 2.0 + count) / (2.0 * count))  # round half up, as Pillow
        return _blend(mean, image, _factor(params))

    return apply


def _sharpness(space: Space, height: int, width: int) -> KindOp:
    if height < 3 or width < 3:  # Pillow's smoothing leaves such images as they are
        return lambda image, params: image
    # the filter's uint8 output rounds its float sum: round(m / 13) for the integer m, never a tie
    kernel = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13.0
    inner = np.zeros((height, width, 1), np.uint8)
    inner[1:-1, 1:-1] = 1

    def apply(image: DataNode, params: DataNode) -> DataNode:
        smoothed = fn.filter(image, _constant(kernel), dtype=types.UINT8)
        degenerate = smoothed * _constant(inner) + image * _constant(1 - inner)  # the border stays
        return _blend(degenerate, image, _factor(params))

    return apply


def _autocontrast(space: Space, height: int, width: int) -> KindOp:
    def apply(image: DataNode, params: DataNode) -> DataNode:
        low, high = fn.reductions.min(image, axes=[0, 1]), fn.reductions.max(image, axes=[0, 1])
        lo, hi = fn.cast(low, dtype=types.FLOAT64), fn.cast(high, dtype=types.FLOAT64)
        scale = 255.0 / dmath.max(hi - lo, 1.0)
        # Pillow's float64 v·scale − lo·scale, truncated (v ≥ lo: at worst −1e-12, cast to 0)
        stretched = fn.cast(fn.cast(image, dtype=types.FLOAT64) * scale - lo * scale - 0.5, dtype=types.UINT8)
        # a flat channel (hi = lo) stretches to 0 everywhere; Pillow leaves it as it is
        return stretched + fn.cast(high == low, dtype=types.UINT8) * image

    return apply


def equalize_image(image: np.ndarray) -> np.ndarray:
    """Pillow's equalize of one uint8 HWC image, with the torch backend's tables."""
    planes = torch.from_numpy(image).permute(2, 0, 1)
    table = torch_ops.equalize_tables(planes.unsqueeze(0))[0]
    return (
        torch.gather(table, 1, planes.flatten(1).to(torch.int64))
        .view(planes.shape)
        .permute(1, 2, 0)
        .contiguous()
        .numpy()
    )


def _equalize(space: Space, height: int, width: int) -> KindOp:
    # DALI has no per-sample table lookup on CPU: in DALI operators the histogram and the lookup
    # take one-hot tensors of 256 values per pixel (173 ms per 224x224 image here), so the
    # per-image table runs in torch through fn.python_function (1.6 ms at 224x224)
    return lambda image, params: fn.python_function(image, function=equalize_image)


def _matrix(params: DataNode, shift: np.ndarray | None = None) -> DataNode:
    matrix = fn.cast(params[MATRIX], dtype=types.FLOAT)
    if shift is not None:
        matrix = matrix + _constant(shift)
    return fn.reshape(matrix, shape=[2, 3])


def _nearest(fill: int) -> Callable[[Space, int, int], KindOp]:
    """Rotate (fill 0), translate (fill 128), torchvision's shears and translates (fill 0): one
    nearest warp through the row's matrix."""

    def build(space: Space, height: int, width: int) -> KindOp:
        return lambda image, params: fn.warp_affine(
            image, matrix=_matrix(params), fill_value=fill, interp_type=types.INTERP_NN
        )

    return build


def _shear(axis: int) -> Callable[[Space, int, int], KindOp]:
    """Pillow's transform cubic along each line (rows for shear_x, columns for shear_y): tap k
    of output x on line l is the edge-clamped input at x + k − 1 + floor(s·(l + ½)), weighted
    by the line's fractional offset; where the source pixel centre falls outside, fill 128."""

    def build(space: Space, height: int, width: int) -> KindOp:
        size = (width, height)[axis]
        x_centres = (np.arange(width) + 0.5).reshape(1, width, 1)
        y_centres = (np.arange(height) + 0.5).reshape(height, 1, 1)
        along, across = (x_centres, y_centres) if axis == 0 else (y_centres, x_centres)
        tap_step = np.zeros(6, np.float32)
        tap_step[2 if axis == 0 else 5] = 1.0

        def apply(image: DataNode, params: DataNode) -> DataNode:
            shear = params[COL_OF["shear"]]
            first = shear * _constant(across)  # float64, as Pillow maps coordinates
            offset = fn.cast(first - dmath.floor(first), dtype=types.FLOAT)
            source = _constant(along) + first
            outside = fn.cast((source < 0.0) | (source >= float(size)), dtype=types.UINT8)
            v1, v2, v3, v4 = (
                fn.cast(
                    fn.warp_affine(image, matrix=_matrix(params, k * tap_step), interp_type=types.INTERP_NN),
                    dtype=types.FLOAT,
                )
                for k in range(4)
            )
            p2, p3, p4 = v3 - v1, (v1 - v2) * 2.0 + v3 - v4, v2 - v1 - v3 + v4
            value = _to_uint8(((p4 * offset + p3) * offset + p2) * offset + v2)
            return fn.cast(value * (1 - outside) + outside * 128, dtype=types.UINT8)

        return apply

    return build


KIND_OPS: dict[str, Callable[[Space, int, int], KindOp]] = {
    "autocontrast": _autocontrast,
    "brightness": _lookup("brightness"),
    "color": _color,
    "contrast": _contrast,
    "equalize": _equalize,
    "invert": _invert,
    "posterize": _posterize,
    "rotate": _nearest(fill=0),
    "sharpness": _sharpness,
    "shear_x": _shear(axis=0),
    "shear_y": _shear(axis=1),
    "solarize": _lookup("solarize"),
    "translate_x": _nearest(fill=128),
    "translate_y": _nearest(fill=128),
    "tv_shear_x": _nearest(fill=0),  # torchvision's: nearest, black fill
    "tv_shear_y": _nearest(fill=0),
    "tv_translate_x": _nearest(fill=0),
    "tv_translate_y": _nearest(fill=0),
}

assert tuple(KIND_OPS) == KINDS  # the kind code is the position in KINDS


def select(
    image: DataNode, params: DataNode, index: DataNode, ops: list[KindOp], lo: int = 0, hi: int | None = None
) -> DataNode:
    """ops[index](image, params) per sample: a binary split of the batch with conditionals (the
    pipeline must be built with enable_conditionals=True); `params` is split along."""
    hi = len(ops) - 1 if hi is None else hi
    if lo == hi:  # arithmetic drops the layout; the branches must agree to merge
        return fn.reshape(ops[lo](image, params), layout="HWC")
    mid = (lo + hi) // 2
    if index <= mid:
        out = select(image, params, index, ops, lo, mid)
    else:
        out = select(image, params, index, ops, mid + 1, hi)
    return out


def apply_rows_in_graph(
    image: DataNode, rows: DataNode, stages: int, space: Space, height: int, width: int
) -> DataNode:
    """Inside a pipeline: stage s applies op-table row rows[s] of each sample (rows: int32
    [stages] per sample) to its uint8 HWC image of height × width."""
    table = _constant(param_table(space, height, width))
    kind_ops = [KIND_OPS[kind](space, height, width) for kind in KINDS]
    for stage in range(stages):
        params = table[rows[stage]]
        image = select(image, params, fn.cast(params[COL_OF["kind"]], dtype=types.INT32), kind_ops)
    return image


@lru_cache(maxsize=16)
def _pipeline(space: Space, height: int, width: int, stages: int):

    @pipeline_def(
        batch_size=MAX_BATCH,
        num_threads=PIPELINE_THREADS,
        device_id=None,
        enable_conditionals=True,
        prefetch_queue_depth=1,
        exec_async=False,
        exec_pipelined=False,
    )
    def graph():
        images = fn.external_source(name="images", layout="HWC")
        rows = fn.external_source(name="rows")
        return apply_rows_in_graph(images, rows, stages, space, height, width)

    pipe = graph()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pipe.build()
    return pipe


def apply_rows(images: torch.Tensor, rows: torch.Tensor, space: Space) -> torch.Tensor:
    """The DALI backend's op application: uint8 [N, 3, H, W] images, op-table rows [N, S]. The
    pipeline runs on the CPU; images on another device go there and back (use 'triton' on CUDA)."""
    if len(images) == 0 or rows.shape[1] == 0:
        return images.clone()
    height, width = images.shape[-2:]
    pipe = _pipeline(space, height, width, rows.shape[1])
    hwc = images.permute(0, 2, 3, 1).contiguous().cpu().numpy()
    rows_np = rows.to(torch.int32).cpu().numpy()
    out = []
    for start in range(0, len(images), MAX_BATCH):
        pipe.feed_input("images", list(hwc[start : start + MAX_BATCH]))
        pipe.feed_input("rows", list(rows_np[start : start + MAX_BATCH]))
        (batch,) = pipe.run()
        out.append(np.stack([np.asarray(sample) for sample in batch]))
    return torch.from_numpy(np.concatenate(out)).permute(0, 3, 1, 2).contiguous().to(images.device)


def train_transform(images: torch.Tensor, draw: TransformDraw, settings: TransformSettings) -> torch.Tensor:
    """The training transform with the op pairs in DALI; crop/flip and Cutout/normalise are the
    torch backend's (they are one gather and one multiply-add, nothing per op to select)."""
    cropped = torch_pipeline.crop_flip(images, draw.crop, draw.flip, settings.padding)
    return torch_pipeline.cutout_normalise(apply_rows(cropped, draw.rows, settings.space), draw.cutout, settings)
