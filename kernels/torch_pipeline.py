"""The training transform with the torch backend: crop/flip gather, the op pairs, Cutout and
normalisation, each batched over the whole batch with per-image parameters."""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from .reference import apply_rows
from .transform_spec import TransformDraw, TransformSettings, cutout_bounds

__all__ = ["apply_rows", "crop_flip", "cutout_normalise", "train_transform"]


@lru_cache(maxsize=16)
def _window_index(height: int, width: int, padding: int, device: torch.device) -> torch.Tensor:
    """[2, H·W]: flat index into the padded image of the window at offset (0, 0), unflipped and
    flipped; a crop at (dy, dx) adds dy·(W + 2·padding) + dx."""
    padded_width = width + 2 * padding
    ys = torch.arange(height, device=device).view(height, 1)
    xs = torch.arange(width, device=device).view(1, width)
    return torch.stack([ys * padded_width + xs, ys * padded_width + (width - 1 - xs)]).flatten(1)


def crop_flip(images: torch.Tensor, crop: torch.Tensor, flip: torch.Tensor, padding: int) -> torch.Tensor:
    """Zero-pad by `padding`, take the H×W window at crop offsets (dy, dx), mirror where `flip`."""
    n, channels, height, width = images.shape
    padded = F.pad(images, (padding,) * 4) if padding else images
    window = _window_index(height, width, padding, images.device).index_select(0, flip.to(torch.int64))
    index = window + (crop[:, 0:1] * (width + 2 * padding) + crop[:, 1:2])
    return padded.flatten(2).gather(2, index.unsqueeze(1).expand(n, channels, -1)).view_as(images)


def cutout_normalise(images: torch.Tensor, centre: torch.Tensor, settings: TransformSettings) -> torch.Tensor:
    """Zero the Cutout hole (in uint8, so it normalises like a black pixel), then v·scale + shift."""
    n, channels, height, width = images.shape
    if settings.cutout > 0:
        top, bottom = cutout_bounds(centre[:, 0:1], settings.cutout)
        left, right = cutout_bounds(centre[:, 1:2], settings.cutout)
        ys = torch.arange(height, device=images.device).view(1, height)
        xs = torch.arange(width, device=images.device).view(1, width)
        in_rows = (ys >= top) & (ys < bottom)
        in_cols = (xs >= left) & (xs < right)
        keep = ~(in_rows.unsqueeze(2) & in_cols.unsqueeze(1))
        images = images * keep.unsqueeze(1)
    scale = settings.scale.to(images.device).view(1, channels, 1, 1)
    shift = settings.shift.to(images.device).view(1, channels, 1, 1)
    return images.to(torch.float32).mul_(scale).add_(shift).to(settings.out_dtype)


def train_transform(images: torch.Tensor, draw: TransformDraw, settings: TransformSettings) -> torch.Tensor:
    cropped = crop_flip(images, draw.crop, draw.flip, settings.padding)
    return cutout_normalise(apply_rows(cropped, draw.rows, settings.space), draw.cutout, settings)
