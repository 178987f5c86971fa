"""The built-in dataset: scikit-learn's bundled handwritten digits (1,797 real 8×8 scans, no
download), enlarged to image_size × image_size (default 32, CIFAR's size, where crop padding 4
and a 16×16 Cutout behave as on CIFAR) with bilinear interpolation, grey made RGB."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from awsaug_cli.data.dataset import Dataset
from awsaug_cli.data.images import to_nchw
from awsaug_cli.data.split import stratified_split
from awsaug_cli.memory_need import check_decode_fits

DIGITS_TEST_SIZE = 360  # 20 %, held out with a fixed seed, never used for decisions
DECODE_BYTES_PER_PIXEL = 13  # at the peak: float32 enlarged, rounded and clamped (12), then uint8 (1)


def read_digits(image_size: int) -> Dataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    check_decode_fits(len(digits.images), image_size, DECODE_BYTES_PER_PIXEL, "digits")
    grey = torch.from_numpy(digits.images.astype(np.float32) * (255.0 / 16.0)).unsqueeze(1)
    enlarged = F.interpolate(grey, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = to_nchw(enlarged.round().clamp(0, 255).to(torch.uint8).squeeze(1).numpy())
    labels = torch.from_numpy(digits.target.astype(np.int64))
    train, test = stratified_split(labels, DIGITS_TEST_SIZE, seed=0)
    return Dataset(
        name="digits",
        classes=tuple(str(d) for d in range(10)),
        train_images=images[train],
        train_labels=labels[train],
        test_images=images[test],
        test_labels=labels[test],
    )
