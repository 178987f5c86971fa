"""The training transform with the torch backend: crop/flip gather, the op pairs, Cutout and
normalisation, each batched over the whole batch with per-image parameters."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from awsaug_cli.space import Space

from . import torch_ops
from .transform_spec import TransformDraw, TransformSettings, cutout_bounds

# On CPU a batch is processed in chunks of about this many uint8 values, so that the float and
# index temporaries stay cache-sized and are reused from the heap instead of being mapped and
# page-faulted afresh.
CHUNK_VALUES = 1 << 20


def _chunks(images: torch.Tensor) -> list[slice]:
    if images.device.type != "cpu" or len(images) == 0:
        return [slice(None)]
    size = max(1, CHUNK_VALUES // images[0].numel())
    return [slice(start, start + size) for start in range(0, len(images), size)]


def _joined(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def crop_flip(images: torch.Tensor, crop: torch.Tensor, flip: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pad by `padding`, take the H×W window at crop offsets (dy, dx), mirror where `flip`.

    Every output row is a contiguous run of a padded row, so the crop is one row copy per row
    (torch_ops.row_windows), not a gather per value."""
    n, channels, height, width = images.shape
    padded = F.pad(images, (padding,) * 4) if padding else images
    padded_height, padded_width = height + 2 * padding, width + 2 * padding
    planes = torch.arange(n * channels, device=images.device).view(n, channels, 1) * padded_height
    lines = planes + torch.arange(height, device=images.device).view(1, 1, height) + crop[:, 0].view(n, 1, 1)
    starts = lines * padded_width + crop[:, 1].view(n, 1, 1)
    out = torch_ops.row_windows(padded, starts.flatten(), width).view(n, channels, height, width)
    # every image and its mirror image, then each image's pick
    both = torch.cat([out, out.flip(-1)])
    return both.index_select(0, torch.arange(n, device=images.device) + n * flip.to(torch.int64))


def _ruler(width: int, cutout: int, device: torch.device) -> torch.Tensor:
    """ones(W), zeros(cutout), ones(W + cutout): the W values from offset W − left are a
    mask row with the hole at [left, left + cutout), clipped at the borders; offset 0: no hole."""
    ruler = torch.ones(2 * width + 2 * cutout, dtype=torch.uint8, device=device)
    ruler[width : width + cutout] = 0
    return ruler


def cutout_normalise(images: torch.Tensor, centre: torch.Tensor, settings: TransformSettings) -> torch.Tensor:
    """Zero the Cutout hole (in uint8, so it normalises like a black pixel), then v·scale + shift."""
    n, channels, height, width = images.shape
    if settings.cutout > 0:
        top, bottom = cutout_bounds(centre[:, 0:1], settings.cutout)
        left, _ = cutout_bounds(centre[:, 1:2], settings.cutout)
        ys = torch.arange(height, device=images.device).view(1, height)
        starts = torch.where((ys >= top) & (ys < bottom), width - left, 0)
        keep = torch_ops.row_windows(_ruler(width, settings.cutout, images.device), starts.flatten(), width)
        images = images * keep.view(n, 1, height, width)
    scale = settings.scale.to(images.device).view(1, channels, 1, 1)
    shift = settings.shift.to(images.device).view(1, channels, 1, 1)
    return images.to(torch.float32).mul_(scale).add_(shift).to(settings.out_dtype)


def apply_rows(images: torch.Tensor, rows: torch.Tensor, space: Space) -> torch.Tensor:
    """The torch backend's op application (torch_ops.apply_rows), chunked on CPU."""
    return _joined([torch_ops.apply_rows(images[part], rows[part], space) for part in _chunks(images)])


def _transform(images: torch.Tensor, draw: TransformDraw, settings: TransformSettings) -> torch.Tensor:
    # The uint8 intermediates need no autograd bookkeeping (7 % of the time at 32x32); the
    # returned batch is made outside inference mode, an ordinary tensor.
    with torch.inference_mode():
        augmented = torch_ops.apply_rows(
            crop_flip(images, draw.crop, draw.flip, settings.padding), draw.rows, settings.space
        )
    return cutout_normalise(augmented, draw.cutout, settings)


def train_transform(images: torch.Tensor, draw: TransformDraw, settings: TransformSettings) -> torch.Tensor:
    return _joined([_transform(images[part], draw.part(part), settings) for part in _chunks(images)])
