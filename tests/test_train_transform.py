"""TrainTransform: crop, flip, Cutout, normalisation, dtype, the pair distribution, seeds, layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from awsaug_cli.augment import TrainTransform
from awsaug_cli.policy import Policy
from awsaug_cli.space import AWS36

from .conftest import photo_batch

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
IDENTITY_OP = AWS36.index("Posterize_mag7")  # keeps the 7 high bits: the identity on even values


def identity_policy() -> Policy:
    """Every image draws (Posterize_mag7, Posterize_mag7): nothing changes on even-valued images,
    so the output shows the crop, flip, Cutout and normalisation alone."""
    first = torch.full((36,), -60.0)
    first[IDENTITY_OP] = 60.0
    second = torch.full((36, 36), -60.0)
    second[:, IDENTITY_OP] = 60.0
    return Policy(first, second)


def skewed_policy(seed: int = 0) -> Policy:
    generator = torch.Generator().manual_seed(seed)
    return Policy(torch.linspace(-3, 3, 36), torch.randn(36, 36, generator=generator) * 2)


def expected_output(images: torch.Tensor, draw, padding: int, cutout: int) -> np.ndarray:
    """The transform written out image by image with numpy, from the drawn parameters."""
    out = []
    n, _, height, width = images.shape
    for i, image in enumerate(images.numpy().astype(np.float64)):
        padded = np.pad(image, ((0, 0), (padding, padding), (padding, padding)))
        dy, dx = draw.crop[i].tolist()
        window = padded[:, dy : dy + height, dx : dx + width]
        if draw.flip[i]:
            window = window[:, :, ::-1]
        window = window.copy()
        cy, cx = draw.cutout[i].tolist()
        window[
            :,
            max(cy - cutout // 2, 0) : max(cy - cutout // 2 + cutout, 0),
            max(cx - cutout // 2, 0) : max(cx - cutout // 2 + cutout, 0),
        ] = 0
        out.append((window / 255 - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None])
    return np.stack(out)


BACKENDS = ["torch", pytest.param("triton", marks=pytest.mark.triton)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_is_crop_flip_cutout_normalise_of_the_draw(photos, backend):
    images = photo_batch(photos, 23, 37, per_photo=1)[:8] & 0xFE
    transform = TrainTransform(identity_policy(), MEAN, STD, crop_padding=4, cutout=16, backend=backend)
    device = "cuda" if backend == "triton" and torch.cuda.is_available() else "cpu"  # Triton runs where it can
    out, pairs = transform(images.to(device), torch.Generator().manual_seed(7))
    draw, _ = transform.draw(images, torch.Generator().manual_seed(7))
    assert (pairs == IDENTITY_OP).all()
    assert out.shape == images.shape and out.dtype == torch.float32
    np.testing.assert_allclose(out.cpu().numpy(), expected_output(images, draw, 4, 16), atol=2e-6)


def test_draws_flip_half_the_images_and_spread_crops_and_holes_uniformly():
    images = torch.zeros(6000, 3, 20, 28, dtype=torch.uint8)
    draw, _ = TrainTransform(Policy.uniform(), MEAN, STD, crop_padding=4).draw(images, torch.Generator().manual_seed(0))
    flips = draw.flip.float()
    assert abs(flips.mean().item() - 0.5) < 4 * 0.5 / np.sqrt(len(flips))
    for axis, size in ((0, 9), (1, 9)):
        counts = torch.bincount(draw.crop[:, axis], minlength=size)
        assert len(counts) == size and stats.chisquare(counts.numpy()).pvalue > 1e-4
    for axis, size in ((0, 20), (1, 28)):
        counts = torch.bincount(draw.cutout[:, axis], minlength=size)
        assert len(counts) == size and stats.chisquare(counts.numpy()).pvalue > 1e-4
    no_flip, _ = TrainTransform(Policy.uniform(), MEAN, STD, flip=False).draw(images, torch.Generator().manual_seed(0))
    assert not no_flip.flip.any()


def test_cutout_hole_is_sixteen_square_clipped_at_borders():
    images = torch.full((64, 3, 32, 32), 200, dtype=torch.uint8)
    transform = TrainTransform(identity_policy(), MEAN, STD, crop_padding=0, cutout=16, backend="torch")
    out, _ = transform(images, torch.Generator().manual_seed(1))
    draw, _ = transform.draw(images, torch.Generator().manual_seed(1))
    hole_value = torch.tensor([-m / s for m, s in zip(MEAN, STD)]).view(1, 3, 1, 1)
    in_hole = torch.isclose(out, hole_value.expand_as(out), atol=1e-5).all(dim=1)
    for i in range(len(images)):
        cy, cx = draw.cutout[i].tolist()
        rows = min(cy + 8, 32) - max(cy - 8, 0)
        cols = min(cx + 8, 32) - max(cx - 8, 0)
        assert int(in_hole[i].sum()) == rows * cols
    assert int(in_hole.sum(dim=(1, 2)).max()) == 256


def test_pairs_returned_follow_the_policy():
    policy = skewed_policy()
    transform = TrainTransform(policy, MEAN, STD, backend="torch")
    generator = torch.Generator().manual_seed(0)
    images = torch.zeros(512, 3, 8, 8, dtype=torch.uint8)
    pairs = torch.cat([transform(images, generator)[1] for _ in range(24)])
    first, _ = policy.probs()
    counts = torch.bincount(pairs[:, 0], minlength=36).numpy()
    expected = first.numpy() * len(pairs)
    assert stats.chisquare(counts, expected).pvalue > 1e-4
    # the same statistic rejects a wrong distribution: the test has power
    assert stats.chisquare(counts, np.full(36, len(pairs) / 36)).pvalue < 1e-6


def test_policy_samples_the_joint_distribution():
    policy = skewed_policy(1)
    pairs = policy.sample(400_000, torch.Generator().manual_seed(0))
    joint = policy.joint().flatten().numpy()
    counts = torch.bincount(pairs[:, 0] * 36 + pairs[:, 1], minlength=36 * 36).numpy()
    keep = joint * len(pairs) >= 5  # chi-square needs expected counts of at least 5
    observed = np.append(counts[keep], counts[~keep].sum())
    expected = np.append(joint[keep], joint[~keep].sum()) * len(pairs)
    assert stats.chisquare(observed, expected).pvalue > 1e-4
    second_uniform = Policy(policy.first_logits, torch.zeros(36, 36)).joint().flatten().numpy()
    wrong = np.append(second_uniform[keep], second_uniform[~keep].sum()) * len(pairs)
    assert stats.chisquare(observed, wrong).pvalue < 1e-6


def test_same_seed_same_batch_other_seed_other_batch(photos):
    images = photo_batch(photos, 32, 32)
    transform = TrainTransform(skewed_policy(), MEAN, STD, backend="torch")
    a, pa = transform(images, torch.Generator().manual_seed(5))
    b, pb = transform(images, torch.Generator().manual_seed(5))
    c, pc = transform(images, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and torch.equal(pa, pb)
    assert not torch.equal(a, c) and not torch.equal(pa, pc)


def test_pair_generator_leaves_the_other_randomness_alone(photos):
    images = photo_batch(photos, 32, 32)
    draws = []
    for policy in (Policy.uniform(), skewed_policy()):
        transform = TrainTransform(policy, MEAN, STD)
        draws.append(transform.draw(images, torch.Generator().manual_seed(2), torch.Generator().manual_seed(9)))
    (first, first_pairs), (second, second_pairs) = draws
    for name in ("crop", "flip", "cutout"):
        assert torch.equal(getattr(first, name), getattr(second, name))
    assert torch.equal(first.rows % 2, second.rows % 2)  # the same signs
    assert not torch.equal(first_pairs, second_pairs)


@pytest.mark.parametrize("layout", ["channels_last", "strided"])
def test_non_contiguous_inputs_give_the_same_result(photos, layout):
    images = photo_batch(photos, 32, 32)
    if layout == "channels_last":
        other = images.to(memory_format=torch.channels_last)
    else:
        wide = torch.zeros(len(images), 3, 32, 40, dtype=torch.uint8)
        wide[..., 3:35] = images
        other = wide[..., 3:35]
    assert not other.is_contiguous()
    transform = TrainTransform(skewed_policy(), MEAN, STD, backend="torch")
    expected, _ = transform(images, torch.Generator().manual_seed(4))
    got, _ = transform(other, torch.Generator().manual_seed(4))
    assert torch.equal(got, expected)


def test_bfloat16_output_is_the_float32_output_rounded(photos):
    images = photo_batch(photos, 32, 32)
    full, _ = TrainTransform(skewed_policy(), MEAN, STD)(images, torch.Generator().manual_seed(0))
    half, _ = TrainTransform(skewed_policy(), MEAN, STD, out_dtype=torch.bfloat16)(
        images, torch.Generator().manual_seed(0)
    )
    assert half.dtype == torch.bfloat16
    assert torch.equal(half, full.to(torch.bfloat16))


def test_chunked_processing_equals_one_pass(photos, monkeypatch):
    from awsaug_cli.augment import apply_pairs
    from awsaug_cli.kernels import torch_pipeline

    images = photo_batch(photos, 32, 32)
    transform = TrainTransform(skewed_policy(), MEAN, STD, backend="torch")
    whole, _ = transform(images, torch.Generator().manual_seed(8))
    pairs = torch.randint(0, 36, (len(images), 2), generator=torch.Generator().manual_seed(1))
    signs = torch.ones_like(pairs)
    whole_pairs = apply_pairs(images, pairs, signs, backend="torch")
    monkeypatch.setattr(torch_pipeline, "CHUNK_VALUES", 3 * 32 * 32 * 5)  # chunks of 5 images
    assert len(torch_pipeline._chunks(images)) > 1
    chunked, _ = transform(images, torch.Generator().manual_seed(8))
    assert torch.equal(chunked, whole)
    assert torch.equal(apply_pairs(images, pairs, signs, backend="torch"), whole_pairs)


def test_enlarge_batch_gives_each_images_copies_different_pairs_in_one_batch(photos):
    photos = photo_batch(photos, 16, 16, per_photo=1)
    transform = TrainTransform(skewed_policy(), MEAN, STD, backend="torch", copies=4)
    generator = torch.Generator().manual_seed(0)
    out, pairs = transform(photos, generator)
    assert out.shape == (4 * len(photos), *photos.shape[1:]) and pairs.shape == (4 * len(photos), 2)
    for copies in (pairs[:, 0] * 36 + pairs[:, 1]).view(len(photos), 4):
        assert len(set(copies.tolist())) == 4  # drawn without replacement
    same = TrainTransform(identity_policy(), MEAN, STD, backend="torch", copies=3)(
        photos, torch.Generator().manual_seed(1)
    )[0]
    copies = same.view(len(photos), 3, *photos.shape[1:])
    assert not torch.equal(copies[:, 0], copies[:, 1])  # each copy its own crop, flip and hole


def test_pairs_drawn_without_replacement_follow_the_policy_for_one_copy():
    policy = skewed_policy(1)
    pairs = policy.sample_distinct(100_000, 1, torch.Generator().manual_seed(0))
    first, _ = policy.probs()
    counts = torch.bincount(pairs[:, 0], minlength=36).numpy()
    assert stats.chisquare(counts, first.numpy() * len(pairs)).pvalue > 1e-4
    assert stats.chisquare(counts, np.full(36, len(pairs) / 36)).pvalue < 1e-6
    first, second = torch.full((36,), -800.0), torch.full((36, 36), -800.0)
    first[:2], second[:, :2] = 0.0, 0.0  # σ(−800) is 0: four pairs can be drawn
    assert len(set(Policy(first, second).sample_distinct(1, 4).flatten().tolist())) == 2
    with pytest.raises(ValueError, match="copies must be between 1 and the 4 pairs"):
        Policy(first, second).sample_distinct(2, 5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_alike_is_each_policys_own_transform_in_one_call(photos, backend):
    """TrainTransform.alike (the search's batched trajectories under common random numbers):
    several policies' transforms of one batch in one engine call, each equal to that policy's
    own transform with the generator in the same state and its own pair generator."""
    images = photo_batch(photos, 16, 16, per_photo=1)[:4]
    policies = [skewed_policy(0), skewed_policy(1)]
    pair_seeds = [3, 4]
    transform = TrainTransform(Policy.uniform(), MEAN, STD, backend=backend)
    out, pairs = transform.alike(
        images, policies, torch.Generator().manual_seed(7), [torch.Generator().manual_seed(s) for s in pair_seeds]
    )
    assert out.shape == (len(policies), *images.shape)
    for copy, (policy, seed) in enumerate(zip(policies, pair_seeds)):
        alone, alone_pairs = TrainTransform(policy, MEAN, STD, backend=backend)(
            images, torch.Generator().manual_seed(7), pair_generator=torch.Generator().manual_seed(seed)
        )
        assert torch.equal(out[copy], alone)
        assert torch.equal(pairs[copy], alone_pairs)
    assert not torch.equal(pairs[0], pairs[1])


def test_alike_refuses_what_one_call_cannot_share(photos):
    from awsaug_cli.torchvision_policies import trivialaugment

    images = photo_batch(photos, 16, 16, per_photo=1)[:2]
    generator = torch.Generator().manual_seed(0)
    aws36 = TrainTransform(Policy.uniform(), MEAN, STD, backend="torch")
    with pytest.raises(ValueError, match="space 'aws36'"):
        aws36.alike(images, [Policy.uniform(), trivialaugment()], generator, [generator, generator])
    with pytest.raises(ValueError, match="2 policies but 1 pair generators"):
        aws36.alike(images, [Policy.uniform(), Policy.uniform()], generator, [generator])
    with pytest.raises(ValueError, match="no policy"):
        TrainTransform(None, MEAN, STD).alike(images, [Policy.uniform()], generator, [generator])
    with pytest.raises(ValueError, match="uint8"):
        aws36.alike(images.float(), [Policy.uniform()], generator, [generator])
