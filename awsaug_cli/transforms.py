"""One image in, one image out: a policy's exact augmentation inside ordinary per-image pipelines.

Most classifiers are trained from a `Dataset` whose `__getitem__` augments one image at a time in
DataLoader workers (torchvision's `Compose`, timm's factories, Hugging Face `with_transform`).
`PolicyTransform` draws a pair of ops and their signs from the policy's *full* distribution on
every call — not the top-k pairs an export keeps — and applies them with awsaug's semantics:
Pillow's own calls on PIL images (docs/OPS.md), the torch backend on tensors, which equals Pillow
for the same draw (the shears' float32 cubic may differ by one level on about one value in 10⁴).

Seeding: in the main process the calls draw from `generator` (torch's global generator when
None). In a DataLoader worker every worker draws from its own stream, seeded from the worker's
seed (`torch.utils.data.get_worker_info().seed`, which the DataLoader derives from its
`generator` or torch's seed at each epoch) mixed with `generator`'s seed: two workers never
repeat each other's sequence, and a DataLoader with a fixed `generator` gives the same epoch again.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from PIL import Image

from awsaug_cli.augment import apply_pairs, draw_signs
from awsaug_cli.kernels.pillow_reference import apply_op
from awsaug_cli.policy import Policy
from awsaug_cli.policy_names import resolve_policy
from awsaug_cli.search.spaces import search_space_of
from awsaug_cli.search.verdict import kl_from_start

SHOWN_PAIRS = 3  # the most probable pairs __repr__ names


def worker_seed(worker: int, seed: int) -> int:
    """A 63-bit seed mixing a DataLoader worker's seed with the transform's (SeedSequence keeps
    nearby inputs — worker 0 and 1, seed 0 and 1 — apart)."""
    return int(np.random.SeedSequence([worker, seed]).generate_state(1, np.uint64)[0] >> np.uint64(1))


class PolicyTransform:
    """Augment one PIL image (RGB; returns PIL) or one [3, H, W] tensor (uint8, or floating in
    [0, 1]; returns the same dtype on the same device) with a pair drawn from `policy`.

    `policy`: a Policy, or what `awsaug train --policy` takes (a policy file, `uniform`,
    `randaugment[:N:M]`, `trivialaugment`). Float tensors are rounded to 8-bit levels before
    the ops, as a PIL image would be, and scaled back."""

    def __init__(self, policy: Policy | str | os.PathLike, generator: torch.Generator | None = None) -> None:
        if isinstance(policy, (str, os.PathLike)):
            resolved = resolve_policy(os.fspath(policy))
            if resolved is None:
                raise ValueError(f"policy {os.fspath(policy)!r} applies no ops; leave the transform out instead")
            policy = resolved
        if not isinstance(policy, Policy):
            raise TypeError(f"policy must be a Policy, a policy file or a built-in name, got {type(policy).__name__}")
        self.policy = policy
        self.generator = generator
        self._worker_streams: dict[int, torch.Generator] = {}

    def stream(self) -> torch.Generator | None:
        """The generator this call draws from: in a DataLoader worker, the worker's own stream."""
        info = torch.utils.data.get_worker_info()
        if info is None:
            return self.generator
        if info.seed not in self._worker_streams:  # a new worker or a new epoch's workers
            own = self.generator.initial_seed() if self.generator is not None else 0
            self._worker_streams = {info.seed: torch.Generator().manual_seed(worker_seed(info.seed, own))}
        return self._worker_streams[info.seed]

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One image's (pair [2], signs [2]): op indices of the policy's space and ±1."""
        generator = self.stream()
        pair = self.policy.sample(1, generator, device="cpu")
        return pair[0], draw_signs(1, generator, torch.device("cpu"))[0]

    def __call__(self, image: Any) -> Any:
        if isinstance(image, Image.Image):
            return self.apply_to_pil(image, *self.draw())
        if isinstance(image, torch.Tensor):
            return self.apply_to_tensor(image, *self.draw())
        raise TypeError(f"PolicyTransform takes a PIL image or a [3, H, W] torch.Tensor, got {type(image).__name__}")

    def apply_to_pil(self, image: Image.Image, pair: torch.Tensor, signs: torch.Tensor) -> Image.Image:
        """op2(op1(image)) with Pillow, for a given draw."""
        if image.mode != "RGB":
            raise ValueError(
                f"PolicyTransform takes RGB PIL images, got mode {image.mode!r} (convert with image.convert('RGB'))"
            )
        for index, sign in zip(pair.tolist(), signs.tolist()):
            image = apply_op(image, self.policy.space[index], sign)
        return image

    def apply_to_tensor(self, image: torch.Tensor, pair: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
        """op2(op1(image)) with the torch backend, for a given draw."""
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"PolicyTransform takes one image as a [3, H, W] tensor, got shape {list(image.shape)}")
        if image.dtype.is_floating_point:
            levels = (image.detach() * 255).round().clamp(0, 255).to(torch.uint8)
            return self.apply_to_tensor(levels, pair, signs).to(image.dtype) / 255
        if image.dtype != torch.uint8:
            raise ValueError(
                f"PolicyTransform takes uint8 tensors (0..255) or floating ones in [0, 1], got {image.dtype}"
            )
        return apply_pairs(image[None], pair[None], signs[None], backend="torch", space=self.policy.space)[0]

    def __repr__(self) -> str:
        searched = search_space_of(self.policy.space)
        start = "uniform" if searched is None or searched.paired else searched.start_name
        pairs = ", ".join(f"{p['op1']}+{p['op2']} {100 * p['prob']:.1f} %" for p in self.policy.top_pairs(SHOWN_PAIRS))
        return (
            f"PolicyTransform(space={self.policy.space.key!r}, KL from {start} "
            f"{max(kl_from_start(self.policy), 0.0):.3f} nats, top pairs: {pairs})"
        )
