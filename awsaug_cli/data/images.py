"""Small conversions every reader shares."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

# grey modes with more than 8 bits, scaled to 8 bits by 257 (65535 → 255): Pillow's convert("RGB")
# clips them at 255 instead, and a 16-bit PNG came out ~97 % white. "I" is read as 16-bit, the
# range PNG and TIFF give it.
WIDE_GREY = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
UNSCALED = frozenset({"F"})  # floating-point pixels: no range to scale from


def rgb_image(image: Image.Image) -> Image.Image:
    """`image` as 8-bit RGB, deeper grey scaled rather than clipped (folder_files refuses UNSCALED)."""
    if image.mode in WIDE_GREY:
        values = np.asarray(image, dtype=np.float64) / 257
        image = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W] (grey) or [N, H, W, C] (C = 1, 3 or 4) → RGB uint8 [N, 3, H, W]."""
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] == 4:
        images = images[..., :3]
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
