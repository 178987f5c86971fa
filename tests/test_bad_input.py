"""Bad input to the engine: a ValueError (or a precise error type) that names the problem."""

from __future__ import annotations

import pytest
import torch

from awsaug_cli.augment import TrainTransform, apply_pairs
from awsaug_cli.kernels import backends
from awsaug_cli.policy import Policy

IMAGES = torch.zeros(4, 3, 16, 16, dtype=torch.uint8)
PAIRS = torch.zeros(4, 2, dtype=torch.int64)


@pytest.mark.parametrize(
    "images,pairs,signs,message",
    [
        (IMAGES.float(), PAIRS, None, "uint8"),
        (IMAGES[:, :2], PAIRS, None, r"\[N, 3, H, W\]"),
        (IMAGES[0], PAIRS, None, r"\[N, 3, H, W\]"),
        ([[0]], PAIRS, None, "torch.Tensor"),
        (IMAGES, torch.full((4, 2), 36), None, "op index 36"),
        (IMAGES, torch.full((4, 2), -1), None, "op index -1"),
        (IMAGES, PAIRS.float(), None, "integer"),
        (IMAGES, PAIRS[:3], None, "3 rows but images has 4"),
        (IMAGES, torch.zeros(4, 3, dtype=torch.int64), None, r"\[N, 2\]"),
        (IMAGES, PAIRS, torch.zeros(4, 2, dtype=torch.int64), r"\+1 or -1"),
        (IMAGES, PAIRS, torch.ones(5, 2, dtype=torch.int64), "5 rows"),
    ],
)
def test_apply_pairs_rejects_bad_input(images, pairs, signs, message):
    with pytest.raises(ValueError, match=message):
        apply_pairs(images, pairs, signs, backend="torch")


def test_unknown_and_unavailable_backends(monkeypatch):
    with pytest.raises(ValueError, match="unknown backend 'numba'"):
        apply_pairs(IMAGES, PAIRS, backend="numba")
    monkeypatch.setattr(backends, "dali_importable", lambda: False)
    with pytest.raises(backends.BackendUnavailableError, match="needs NVIDIA DALI"):
        apply_pairs(IMAGES, PAIRS, backend="dali")
    with pytest.raises(ValueError, match="unknown backend"):
        TrainTransform(Policy.uniform(), (0.5,) * 3, (0.2,) * 3, backend="numba")


def test_triton_needs_cuda_or_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(backends.BackendUnavailableError, match="CUDA"):
        backends.check_runs_on("triton", torch.device("cpu"))
    assert backends.resolve("auto", torch.device("cpu")) == "torch"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(mean=(0.5, 0.5), std=(0.2,) * 3), "one value per RGB channel"),
        (dict(mean=(0.5,) * 3, std=(0.2, 0.0, 0.2)), "std must be positive"),
        (dict(mean=(0.5,) * 3, std=(0.2,) * 3, cutout=-1), ">= 0"),
        (dict(mean=(0.5,) * 3, std=(0.2,) * 3, out_dtype=torch.int32), "floating"),
    ],
)
def test_train_transform_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainTransform(Policy.uniform(), **kwargs)


def test_train_transform_rejects_bad_images():
    transform = TrainTransform(Policy.uniform(), (0.5,) * 3, (0.2,) * 3)
    with pytest.raises(ValueError, match="uint8"):
        transform(IMAGES.float(), torch.Generator())
