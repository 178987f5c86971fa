"""Small conversions every reader shares."""

from __future__ import annotations

import numpy as np
import torch


def to_nchw(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W] (grey) or [N, H, W, C] (C = 1, 3 or 4) → RGB uint8 [N, 3, H, W]."""
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] == 4:
        images = images[..., :3]
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
