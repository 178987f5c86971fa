"""The kornia backend: gradients, and PolicyAugment inside kornia's containers (its exactness
against Pillow is tested beside the other backends', in test_ops_against_pillow.py)."""

from __future__ import annotations

import kornia.augmentation as K
import pytest
import torch

from awsaug_cli.augment import apply_pairs
from awsaug_cli.kernels.kornia_ops import apply_rows, apply_rows_float
from awsaug_cli.kernels.op_params import row_index
from awsaug_cli.kornia import PolicyAugment
from awsaug_cli.policy import Policy
from awsaug_cli.space import AWS36

from .conftest import photo_batch
from .test_ops_against_pillow import CASES, single

NO_GRADIENT_KINDS = ("posterize", "equalize")  # straight-through and stopped: kornia_ops.py's docstring


DIFFERENTIABLE = [(i, s) for i, s in CASES if AWS36[i].kind not in NO_GRADIENT_KINDS]


@pytest.mark.parametrize(
    "index,sign", DIFFERENTIABLE, ids=[f"{AWS36[i].name}{'+' if s > 0 else '-'}" for i, s in DIFFERENTIABLE]
)
def test_gradcheck(index, sign):
    generator = torch.Generator().manual_seed(index)
    images = (0.05 + 0.45 * torch.rand(2, 3, 6, 7, generator=generator, dtype=torch.float64)).requires_grad_()
    rows = single(images, index, sign)
    assert torch.autograd.gradcheck(lambda x: apply_rows_float(x, rows, AWS36), (images,), eps=1e-6, atol=1e-5)


def test_posterize_passes_the_gradient_straight_through_and_equalize_stops_it():
    images = torch.rand(2, 3, 8, 8, requires_grad=True)
    for name, expected in (("Posterize_mag4", 1.0), ("Equalize", 0.0)):
        images.grad = None
        apply_rows_float(images, single(images, AWS36.index(name), 1), AWS36).sum().backward()
        assert torch.equal(images.grad, torch.full_like(images, expected))


def test_apply_pairs_takes_float_images_through_the_kornia_backend():
    images = torch.randint(0, 256, (6, 3, 12, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    pairs = torch.tensor([[0, 15], [3, 22], [18, 31], [11, 27], [10, 12], [35, 7]])
    signs = torch.tensor([[1, 1], [-1, 1], [1, -1], [1, 1], [-1, -1], [1, -1]])
    floats = apply_pairs(images.float() / 255, pairs, signs, backend="kornia")
    assert floats.dtype == torch.float32
    assert torch.equal(
        apply_pairs(images, pairs, signs, backend="kornia"), apply_rows(images, row_index(pairs, signs), AWS36)
    )
    with pytest.raises(ValueError, match="float images go through the 'kornia' backend"):
        apply_pairs(images.float() / 255, pairs, signs, backend="torch")


def sequential(policy: Policy, seed: int = 0) -> K.AugmentationSequential:
    return K.AugmentationSequential(
        K.RandomCrop((32, 32), padding=4), K.RandomHorizontalFlip(), PolicyAugment(policy, seed=seed)
    )


def test_policy_augment_draws_a_pair_per_image_inside_augmentation_sequential():
    images = torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    augment = sequential(Policy.uniform())
    out = augment(images)
    assert out.shape == images.shape
    pairs = augment[2]._params["pairs"]
    assert len({tuple(pair) for pair in pairs.tolist()}) >= 24  # of 32 images, 1,296 pairs: nearly all differ
    shared = PolicyAugment(Policy.uniform(), same_on_batch=True, seed=0)
    shared(images)
    assert len({tuple(pair) for pair in shared._params["pairs"].tolist()}) == 1


def test_policy_augment_back_propagates_to_a_learnable_input():
    learnable = torch.nn.Parameter(torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(2)))
    loss = sequential(Policy.uniform())(learnable).square().mean()
    loss.backward()
    assert learnable.grad is not None and torch.isfinite(learnable.grad).all() and learnable.grad.abs().sum() > 0


def test_policy_augment_replays_its_parameters_and_follows_its_seed():
    images = torch.rand(8, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    augment = PolicyAugment(Policy.uniform(), seed=5)
    first = augment(images)
    assert torch.equal(augment(images, params=augment._params), first)
    assert torch.equal(PolicyAugment(Policy.uniform(), seed=5)(images), first)
    assert not torch.equal(PolicyAugment(Policy.uniform(), seed=6)(images), first)
    skipped = PolicyAugment(Policy.uniform(), p=0.0, seed=5)(images)
    assert torch.equal(skipped, images)


@pytest.mark.gpu
def test_the_kornia_backend_gives_on_cuda_what_it_gives_on_cpu(photos):
    images = photo_batch(photos, 32, 32)
    generator = torch.Generator().manual_seed(4)
    rows = row_index(
        Policy.uniform().sample(len(images), generator),
        torch.randint(0, 2, (len(images), 2), generator=generator) * 2 - 1,
    )
    on_cpu = apply_rows(images, rows, AWS36)
    on_cuda = apply_rows(images.cuda(), rows.cuda(), AWS36).cpu()
    diff = (on_cpu.to(torch.int16) - on_cuda.to(torch.int16)).abs()
    assert (diff <= 1).float().mean() >= 0.999  # float arithmetic in another order; geometry identical
