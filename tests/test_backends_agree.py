"""The backends agree with each other, and a pair is its two ops one after the other."""

from __future__ import annotations

import pytest
import torch

from awsaug_cli.augment import TrainTransform, apply_pairs
from awsaug_cli.kernels.backends import load
from awsaug_cli.kernels.op_params import row_index
from awsaug_cli.policy import Policy
from awsaug_cli.space import AWS36

from .conftest import dali_runs_here, photo_batch

needs_dali = pytest.mark.skipif(not dali_runs_here(), reason="nvidia-dali not installed")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def random_pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    pairs = torch.randint(0, len(AWS36), (n, 2), generator=generator)
    signs = torch.randint(0, 2, (n, 2), generator=generator) * 2 - 1
    return pairs, signs


@pytest.mark.parametrize(
    "backend", ["torch", pytest.param("triton", marks=pytest.mark.triton), pytest.param("dali", marks=needs_dali)]
)
def test_a_pair_is_its_ops_in_sequence(photos, backend):
    images = photo_batch(photos, 32, 32, per_photo=1)[:8].to(DEVICE if backend == "triton" else "cpu")
    for seed in range(4):
        pairs, signs = (t.to(images.device) for t in random_pairs(len(images), seed))
        both = apply_pairs(images, pairs, signs, backend=backend)
        run = load(backend, images.device).apply_rows
        rows = row_index(pairs, signs)
        first_only = run(images, rows[:, :1], AWS36)
        assert torch.equal(both, run(first_only, rows[:, 1:], AWS36))
        assert not torch.equal(both, first_only)  # the second op changed something


@pytest.mark.triton
def test_triton_equals_torch_on_pairs(photos):
    images = photo_batch(photos, 23, 37, per_photo=1)[:8]
    for seed in range(3):
        pairs, signs = random_pairs(len(images), seed)
        expected = apply_pairs(images, pairs, signs, backend="torch")
        got = apply_pairs(images.to(DEVICE), pairs.to(DEVICE), signs.to(DEVICE), backend="triton").cpu()
        assert torch.equal(got, expected)


@needs_dali
def test_dali_agrees_with_torch_on_pairs_and_the_training_transform(photos):
    # both follow Pillow's arithmetic; only the shears' float32 cubic may differ by 1, rarely
    images = photo_batch(photos, 23, 37, per_photo=2)
    pairs, signs = random_pairs(len(images), 5)
    diff = (
        apply_pairs(images, pairs, signs, backend="dali").int()
        - apply_pairs(images, pairs, signs, backend="torch").int()
    ).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3
    kwargs = dict(mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26))
    torch_out, torch_pairs = TrainTransform(Policy.uniform(), backend="torch", **kwargs)(
        images, torch.Generator().manual_seed(3)
    )
    dali_out, dali_pairs = TrainTransform(Policy.uniform(), backend="dali", **kwargs)(
        images, torch.Generator().manual_seed(3)
    )
    assert torch.equal(torch_pairs, dali_pairs)
    one_level = 1 / (255 * 0.24) + 1e-5  # one uint8 step after normalisation
    assert (dali_out - torch_out).abs().max() <= one_level


@pytest.mark.triton
@pytest.mark.parametrize("out_dtype", [torch.float32, torch.bfloat16])
def test_triton_equals_torch_on_the_training_transform(photos, out_dtype):
    images = photo_batch(photos, 32, 32, per_photo=1)[:8]
    kwargs = dict(mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26), out_dtype=out_dtype)
    policy = Policy.uniform()
    torch_out, torch_pairs = TrainTransform(policy, backend="torch", **kwargs)(images, torch.Generator().manual_seed(3))
    # a CPU generator on either device: the same draws, so the outputs compare image by image
    triton_out, triton_pairs = TrainTransform(policy, backend="triton", **kwargs)(
        images.to(DEVICE), torch.Generator().manual_seed(3)
    )
    triton_out, triton_pairs = triton_out.cpu(), triton_pairs.cpu()
    assert torch.equal(torch_pairs, triton_pairs)
    assert triton_out.dtype == out_dtype
    if out_dtype == torch.float32 and DEVICE == "cpu":
        assert torch.equal(triton_out, torch_out)
    elif out_dtype == torch.float32:  # the GPU may contract the normalisation into a fused multiply-add
        assert (triton_out - torch_out).abs().max() <= 1e-5
    else:  # float32 values rounded to bfloat16: at most one bfloat16 step apart
        step = torch_out.float().abs().clamp(min=2**-126) * 2**-7
        assert ((triton_out.float() - torch_out.float()).abs() <= step).all()


@pytest.mark.gpu
def test_gpu_transform_matches_torch(photos):
    from awsaug_cli.kernels import torch_pipeline, triton_pairs

    images = photo_batch(photos, 32, 32).cuda()
    transform = TrainTransform(Policy.uniform(), (0.5,) * 3, (0.25,) * 3, backend="triton")
    draw, _ = transform.draw(images, torch.Generator(device="cuda").manual_seed(0))
    expected = torch_pipeline.train_transform(images, draw, transform.settings)
    got = triton_pairs.train_transform(images, draw, transform.settings)
    assert (got - expected).abs().max() <= 1e-5
