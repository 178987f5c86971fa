"""The training engine: schedule, optimizer groups, an epoch that learns, evaluation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from awsaug_cli.augment import TrainTransform
from awsaug_cli.data.batches import memory_batches, memory_eval_batches
from awsaug_cli.models import build_model
from awsaug_cli.policy import Policy
from awsaug_cli.seeds import seeded_generator
from awsaug_cli.space import AWS36
from awsaug_cli.training_loop import OptimSettings, learning_rate, make_optimizer, run_epoch, score

SETTINGS = OptimSettings(
    lr=0.2, warmup_start_lr=0.05, warmup_epochs=1, min_lr=0.001, weight_decay=1e-4, label_smoothing=0.05, grad_clip=3.0
)


def test_learning_rate_warms_up_then_follows_a_cosine_to_min_lr():
    steps, total = 10, 100
    assert learning_rate(SETTINGS, 0, steps, total) == pytest.approx(0.05)
    assert learning_rate(SETTINGS, 5, steps, total) == pytest.approx(0.125)
    assert learning_rate(SETTINGS, 10, steps, total) == pytest.approx(0.2)
    assert learning_rate(SETTINGS, 55, steps, total) == pytest.approx((0.2 + 0.001) / 2)
    assert learning_rate(SETTINGS, 100, steps, total) == pytest.approx(0.001)
    constant = OptimSettings(lr=0.001, warmup_start_lr=0.0, warmup_epochs=0, min_lr=0.001, schedule="constant")
    assert {learning_rate(constant, s, steps, total) for s in range(total)} == {0.001}


def test_weight_decay_only_on_weights_of_convolutions_and_linear_layers():
    model = build_model("tiny", 10)
    decay, no_decay = make_optimizer(model, SETTINGS).param_groups
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    optimizer = make_optimizer(model, SETTINGS)
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.9


def identity_transform() -> TrainTransform:
    first = torch.full((36,), -60.0)
    first[AWS36.index("Posterize_mag7")] = 60.0
    second = torch.full((36, 36), -60.0)
    second[:, AWS36.index("Posterize_mag7")] = 60.0
    return TrainTransform(Policy(first, second), (0.5,) * 3, (0.25,) * 3, crop_padding=0, cutout=0, flip=False)


def stripes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: bright top half; class 1: bright bottom half (even pixel values)."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=generator)
    images = torch.randint(0, 60, (n, 3, 16, 16), generator=generator, dtype=torch.uint8) * 2
    images[labels == 0, :, :8] += 120
    images[labels == 1, :, 8:] += 120
    return images, labels


def test_an_epoch_learns_an_easy_problem():
    images, labels = stripes(256, 0)
    model = build_model("tiny", 2, seed=0)
    optimizer = make_optimizer(model, SETTINGS)
    losses = []
    for epoch in range(3):
        batches = memory_batches(
            images,
            labels,
            identity_transform(),
            batch_size=32,
            order_generator=seeded_generator(0, epoch, 0),
            augment_generator=seeded_generator(0, epoch, 1),
        )
        stats = run_epoch(model, optimizer, batches, 8, SETTINGS, first_step=epoch * 8, total_steps=24)
        losses.append(stats.train_loss)
        assert stats.images == 256
    assert losses[-1] < losses[0]
    test_images, test_labels = stripes(128, 1)
    assert score(model, memory_eval_batches(test_images, test_labels, (0.5,) * 3, (0.25,) * 3)) > 95


class Oracle(nn.Module):
    """Predicts the class written in the first pixel (after normalisation is undone)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value = (x[:, 0, 0, 0] * 0.25 + 0.5) * 255
        return nn.functional.one_hot(value.round().long().clamp(0, 9), 10).float()


def test_evaluate_counts_correct_predictions():
    images = torch.zeros(50, 3, 4, 4, dtype=torch.uint8)
    labels = torch.arange(50) % 10
    images[:, 0, 0, 0] = labels.to(torch.uint8)
    wrong = labels.clone()
    wrong[:10] = (wrong[:10] + 1) % 10
    assert score(Oracle(), memory_eval_batches(images, labels, (0.5,) * 3, (0.25,) * 3, batch_size=7)) == pytest.approx(
        100.0
    )
    assert score(Oracle(), memory_eval_batches(images, wrong, (0.5,) * 3, (0.25,) * 3)) == pytest.approx(80.0)
