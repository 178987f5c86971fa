"""Shared fixtures. Without CUDA, the Triton kernels run under the interpreter: the mode is fixed
when a kernel is decorated, so TRITON_INTERPRET is set here, before any kernel module is imported."""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no version check over the network

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from awsaug_cli.kernels import backends  # noqa: E402

SIZES = ((32, 32), (28, 28), (23, 37))


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    skip_triton = pytest.mark.skip(reason="triton not importable")
    for item in items:
        if item.get_closest_marker("gpu") and not torch.cuda.is_available():
            item.add_marker(skip_gpu)
        if item.get_closest_marker("triton") and not triton_runs_here():
            item.add_marker(skip_triton)


def _photos() -> list[np.ndarray]:
    """Real photographs shipped with scikit-image and scikit-learn (no download)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    images = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    return images + list(load_sample_images().images)


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    return _photos()


def photo_batch(photos: list[np.ndarray], height: int, width: int, per_photo: int = 2, seed: int = 0) -> torch.Tensor:
    """uint8 [N, 3, H, W]: random crops of each photo plus the whole photo resized, plus a
    uniform-noise image and a flat image (the degenerate cases of the statistics ops)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for photo in photos:
        for _ in range(per_photo):
            y = rng.integers(0, photo.shape[0] - height)
            x = rng.integers(0, photo.shape[1] - width)
            out.append(photo[y : y + height, x : x + width])
        out.append(np.asarray(Image.fromarray(photo).resize((width, height), Image.BILINEAR)))
    out.append(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    out.append(np.full((height, width, 3), 77, np.uint8))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def triton_runs_here() -> bool:
    return "triton" in backends.available(torch.device("cpu")) or torch.cuda.is_available()


def dali_runs_here() -> bool:
    return "dali" in backends.available(torch.device("cpu"))
