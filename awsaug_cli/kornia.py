"""A searched policy as a kornia augmentation: each image draws its own op pair, applied on float
tensors by awsaug's kornia backend, with gradients.

kornia's own AutoAugment picks one sub-policy per call for the whole batch; PolicyAugment draws
a pair (and the signs) per image from the policy's full distribution, so it is the policy the
search found, not an approximation of it. Use it as a stage of kornia's containers:

    augment = kornia.augmentation.AugmentationSequential(
        K.RandomCrop((32, 32), padding=4), K.RandomHorizontalFlip(), PolicyAugment(Policy.load("policy.json")))
    batch = augment(images)  # float [B, 3, H, W] in [0, 1]

Images only: the pairs' geometric ops (rotate, shear, translate) do not move masks, boxes or
keypoints passed through the same container (they pass unchanged, as through an intensity
augmentation).
"""

from __future__ import annotations

from typing import Any

import torch
from kornia.augmentation import IntensityAugmentationBase2D

from awsaug_cli.augment import draw_signs
from awsaug_cli.kernels.kornia_ops import apply_rows_float
from awsaug_cli.kernels.op_params import row_index
from awsaug_cli.policy import Policy


class PolicyAugment(IntensityAugmentationBase2D):
    """Apply `policy`'s op pairs per image, kornia's conventions: `p` (per image: the chance the
    pair is applied at all), `same_on_batch` (one pair and signs for the whole batch), parameters
    kept in `_params` and replayed with `module(images, params=...)`. The pairs and signs come
    from `generator` (a CPU torch.Generator), or from one seeded with `seed`, else from torch's
    global generator."""

    def __init__(
        self,
        policy: Policy,
        *,
        p: float = 1.0,
        same_on_batch: bool = False,
        keepdim: bool = False,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(p=p, same_on_batch=same_on_batch, keepdim=keepdim)
        if generator is not None and seed is not None:
            raise ValueError("give a generator or a seed, not both")
        self.policy = policy
        self.generator = torch.Generator().manual_seed(seed) if seed is not None else generator

    def generate_parameters(self, batch_shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
        """pairs and signs, long [B, 2] each: one draw per image (one for all with same_on_batch)."""
        draws = 1 if self.same_on_batch else batch_shape[0]
        pairs = self.policy.sample(draws, self.generator)
        signs = draw_signs(draws, self.generator, pairs.device)
        return {"pairs": pairs.expand(batch_shape[0], 2), "signs": signs.expand(batch_shape[0], 2)}

    def apply_transform(
        self,
        input: torch.Tensor,
        params: dict[str, torch.Tensor],
        flags: dict[str, Any],
        transform: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if input.shape[1] != 3:
            raise ValueError(f"PolicyAugment applies RGB op pairs: expected 3 channels, got {input.shape[1]}")
        rows = row_index(params["pairs"].to(input.device, torch.int64), params["signs"].to(input.device, torch.int64))
        return apply_rows_float(input.clamp(0.0, 1.0), rows, self.policy.space)
