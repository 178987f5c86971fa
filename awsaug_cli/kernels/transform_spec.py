"""What one batch of the training transform needs besides the images: the per-image random
choices and the fixed settings. Backends receive these and must produce the same output."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from awsaug_cli.space import Space


@dataclass(frozen=True)
class TransformDraw:
    """Per-image random choices of one batch, on the images' device.

    rows   int64 [N, 2]  op-table rows of op1 and op2 (op and sign, see op_params.row_index)
    crop   int64 [N, 2]  (dy, dx) of the crop window in the zero-padded image, in [0, 2·padding]
    flip   bool  [N]     mirror horizontally after the crop
    cutout int64 [N, 2]  (cy, cx) centre of the Cutout hole
    """

    rows: torch.Tensor
    crop: torch.Tensor
    flip: torch.Tensor
    cutout: torch.Tensor

    def part(self, images: slice) -> TransformDraw:
        return TransformDraw(self.rows[images], self.crop[images], self.flip[images], self.cutout[images])


@dataclass(frozen=True)
class TransformSettings:
    """Fixed settings: output = v · scale[c] + shift[c] for uint8 v (0 inside the Cutout hole),
    i.e. (v / 255 − mean) / std with scale = 1 / (255 · std) and shift = −mean / std."""

    space: Space
    padding: int
    cutout: int
    scale: torch.Tensor  # float32 [3]
    shift: torch.Tensor  # float32 [3]
    out_dtype: torch.dtype


def normalisation(mean, std) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), float32 [3]: v · scale + shift = (v / 255 − mean) / std for uint8 v. The
    training transform and evaluation both normalise with these, so they agree exactly."""
    std_t = torch.as_tensor(std, dtype=torch.float32)
    return 1.0 / (255.0 * std_t), -torch.as_tensor(mean, dtype=torch.float32) / std_t


def cutout_bounds(centre: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First and one-past-last index of a hole of `size` centred at `centre` (clipping is the
    caller's bounds check): [c − size // 2, c − size // 2 + size)."""
    start = centre - size // 2
    return start, start + size
