"""The training transform and op-pair application: the public entry points of the engine.

`apply_pairs` applies op2(op1(image)) per image; `TrainTransform` draws each image's crop, flip,
op pair, signs and Cutout hole, and runs the whole transform on a backend (docs/OPS.md). All
randomness comes from explicit `torch.Generator`s, so a batch is reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from awsaug_cli.kernels import backends
from awsaug_cli.kernels.op_params import row_index
from awsaug_cli.kernels.transform_spec import TransformDraw, TransformSettings, normalisation
from awsaug_cli.policy import Policy
from awsaug_cli.space import AWS36, Space

BACKENDS = backends.NAMES


def check_images(images: torch.Tensor, *, floating: bool = False) -> None:
    """ValueError unless `images` is a uint8 (or, with `floating`, a floating-point) [N, 3, H, W] tensor."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if floating and not images.dtype.is_floating_point:
        raise ValueError(f"images must be floating-point (values in [0, 1]), got {images.dtype}")
    if not floating and images.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (values 0..255), got {images.dtype}")
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape [N, 3, H, W], got {list(images.shape)}")
    if images.shape[2] < 1 or images.shape[3] < 1:
        raise ValueError(f"images must have a positive height and width, got {list(images.shape)}")


def _check_index_pairs(name: str, values: torch.Tensor, n: int) -> None:
    if not isinstance(values, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(values).__name__}")
    if values.dtype.is_floating_point or values.dtype.is_complex or values.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {values.dtype}")
    if values.dim() != 2 or values.shape[1] != 2:
        raise ValueError(f"{name} must have shape [N, 2], got {list(values.shape)}")
    if values.shape[0] != n:
        raise ValueError(f"{name} has {values.shape[0]} rows but images has {n}; batch sizes must match")


def check_pairs(pairs: torch.Tensor, n: int, space: Space = AWS36) -> None:
    _check_index_pairs("pairs", pairs, n)
    if n and (pairs.min() < 0 or pairs.max() >= len(space)):
        bad = int(pairs[(pairs < 0) | (pairs >= len(space))][0])
        raise ValueError(f"pairs contain op index {bad}, outside [0, {len(space) - 1}] of space {space.key!r}")


def check_signs(signs: torch.Tensor, n: int) -> None:
    _check_index_pairs("signs", signs, n)
    if n and not ((signs == 1) | (signs == -1)).all():
        raise ValueError("signs must be +1 or -1")


def draw_signs(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """±1 per image and application, [n, 2], uniform."""
    draw_device = generator.device if generator is not None else torch.device("cpu")
    return (torch.randint(0, 2, (n, 2), generator=generator, device=draw_device) * 2 - 1).to(device)


def apply_pairs(
    images: torch.Tensor,
    pairs: torch.Tensor,
    signs: torch.Tensor | None = None,
    *,
    backend: str = "auto",
    generator: torch.Generator | None = None,
    space: Space = AWS36,
) -> torch.Tensor:
    """op2(op1(image)) per image, with Pillow's semantics (docs/OPS.md).

    images uint8 [N, 3, H, W] on any device; pairs long [N, 2] op indices of `space`; signs ±1
    [N, 2] (drawn from `generator` when None). Returns uint8 [N, 3, H, W] on the images' device.
    Float images in [0, 1] go through the kornia backend (backend "kornia" or "auto") and come
    back float, with gradients (awsaug_cli/kernels/kornia_ops.py says which ops pass them).
    """
    floating = isinstance(images, torch.Tensor) and images.dtype.is_floating_point
    if floating and backend not in ("auto", backends.FLOAT_BACKEND):
        raise ValueError(f"float images go through the {backends.FLOAT_BACKEND!r} backend; {backend!r} takes uint8")
    check_images(images, floating=floating)
    check_pairs(pairs, len(images), space)
    if signs is None:
        signs = draw_signs(len(images), generator, images.device)
    check_signs(signs, len(images))
    rows = row_index(pairs.to(images.device, torch.int64), signs.to(images.device, torch.int64))
    if floating:
        from awsaug_cli.kernels.kornia_ops import apply_rows_float

        backends.check_runs_on(backends.FLOAT_BACKEND, images.device)
        return apply_rows_float(images, rows, space)
    chosen = backends.load(backend, images.device)
    return chosen.apply_rows(images.contiguous(), rows, space)


class TrainTransform:
    """The training transform of docs/OPS.md on uint8 batches: pad-crop, flip, op1, op2, Cutout,
    normalise. Each image draws its own crop, flip, pair, signs and hole. With `policy=None`
    (the crop/flip/Cutout baseline) no op pair is applied, the pairs returned are [N, 0], and
    the torch backend runs it (there is nothing per image to fuse).

    Call with a uint8 [N, 3, H, W] batch and a generator; returns (normalised batch of
    `out_dtype`, pairs LongTensor [N, 2]). Crop, flip, sign and Cutout randomness come from
    `generator`; the pairs from `pair_generator` when given (so several policies can share the
    rest of the randomness), else from `generator` after the rest.

    With `copies` M > 1 (Enlarge Batch), each image appears M times in a row of the output
    ([N·M, …]), each copy with its own crop, flip, signs and hole and the M copies with M
    different pairs drawn without replacement (Policy.sample_distinct), all in one batched call.
    """

    def __init__(
        self,
        policy: Policy | None,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        crop_padding: int = 4,
        flip: bool = True,
        cutout: int = 16,
        backend: str = "auto",
        out_dtype: torch.dtype = torch.float32,
        copies: int = 1,
    ) -> None:
        if len(mean) != 3 or len(std) != 3:
            raise ValueError(f"mean and std need one value per RGB channel, got {len(mean)} and {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"std must be positive, got {list(std)}")
        if crop_padding < 0 or cutout < 0:
            raise ValueError(f"crop_padding and cutout must be >= 0, got {crop_padding} and {cutout}")
        if not out_dtype.is_floating_point:
            raise ValueError(f"out_dtype must be a floating dtype, got {out_dtype}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if copies < 1:
            raise ValueError(f"copies must be at least 1, got {copies}")
        self.policy = policy
        self.copies = copies
        self.flip = flip
        self.backend = backend
        scale, shift = normalisation(mean, std)
        self.settings = TransformSettings(
            space=policy.space if policy is not None else AWS36,
            padding=crop_padding,
            cutout=cutout,
            scale=scale,
            shift=shift,
            out_dtype=out_dtype,
        )

    def draw(
        self,
        images: torch.Tensor,
        generator: torch.Generator | None = None,
        pair_generator: torch.Generator | None = None,
    ) -> tuple[TransformDraw, torch.Tensor]:
        """The per-image random choices for `images` (and the pairs), on the images' device;
        with copies, `images` holds each image's copies in a row."""
        signs, crop, flip, centre = self._noise(images, generator)
        if self.policy is None:
            pairs, signs = torch.zeros(len(images), 0, dtype=torch.int64, device=images.device), signs[:, :0]
        else:
            pairs = self._pairs(
                self.policy, len(images), pair_generator if pair_generator is not None else generator, images.device
            )
        target = images.device
        draw = TransformDraw(row_index(pairs, signs.to(target)), crop.to(target), flip.to(target), centre.to(target))
        return draw, pairs

    def _noise(self, images: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
        """Signs, crop offsets, flips and Cutout centres, drawn in this order from `generator`."""
        n, _, height, width = images.shape
        device = generator.device if generator is not None else torch.device("cpu")

        def integers(high: int, shape: tuple[int, ...]) -> torch.Tensor:
            return torch.randint(0, high, shape, generator=generator, device=device)

        signs = integers(2, (n, 2)) * 2 - 1
        crop = integers(2 * self.settings.padding + 1, (n, 2))
        flip = integers(2, (n,)).bool() & self.flip
        centre = torch.stack([integers(height, (n,)), integers(width, (n,))], dim=1)
        return signs, crop, flip, centre

    def _pairs(self, policy: Policy, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        if self.copies > 1:
            return policy.sample_distinct(n // self.copies, self.copies, generator, device=device)
        return policy.sample(n, generator, device=device)

    def alike(
        self,
        images: torch.Tensor,
        policies: Sequence[Policy],
        generator: torch.Generator,
        pair_generators: Sequence[torch.Generator],
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """This transform under each of `policies` (of this transform's space) on the same
        `images`, with one draw of crop, flip, signs and hole from `generator` (common random
        numbers) and each policy's pairs from its own generator, in one engine call: the W
        transformed batches stacked [W, N, …] and their pairs. Equal to calling, per policy, the
        transform with that policy and `generator` in the same state (the search's trajectories
        fine-tuned together, search/finetune.py)."""
        check_images(images)
        if self.policy is None or self.copies > 1:
            raise ValueError(
                "alike transforms policies' pairs of single copies; this transform has no policy or copies"
            )
        if len(policies) != len(pair_generators):
            raise ValueError(f"{len(policies)} policies but {len(pair_generators)} pair generators")
        if any(policy.space.key != self.settings.space.key for policy in policies):
            raise ValueError(f"every policy must be of this transform's space {self.settings.space.key!r}")
        n, target = len(images), images.device
        signs, crop, flip, centre = (values.to(target) for values in self._noise(images, generator))
        pairs = [self._pairs(policy, n, pairs_from, target) for policy, pairs_from in zip(policies, pair_generators)]
        w = len(policies)
        draw = TransformDraw(
            torch.cat([row_index(chosen, signs) for chosen in pairs]),
            crop.repeat(w, 1),
            flip.repeat(w),
            centre.repeat(w, 1),
        )
        chosen = backends.load(self.backend, target)
        out = chosen.train_transform(images.repeat(w, 1, 1, 1).contiguous(), draw, self.settings)
        return out.view(w, *images.shape), pairs

    def __call__(
        self,
        images: torch.Tensor,
        generator: torch.Generator | None = None,
        *,
        pair_generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_images(images)
        chosen = backends.load(self.backend if self.policy is not None else "torch", images.device)
        if self.copies > 1:
            images = images.repeat_interleave(self.copies, dim=0)
        draw, pairs = self.draw(images, generator, pair_generator)
        return chosen.train_transform(images.contiguous(), draw, self.settings), pairs
