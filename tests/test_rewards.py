"""The fine-tune's rewards (rewards.py): the calibrated loss ignores the model's confidence and
keeps what its ranking of the classes is worth."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from awsaug_cli.search.rewards import REWARDS, ValidationScore, calibrated_cross_entropy


def logits_and_labels(seed: int = 0, n: int = 500, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=generator)
    logits = torch.randn(n, classes, generator=generator)
    logits[torch.arange(n), labels] += 2.0  # right most of the time
    return logits, labels


def test_the_calibrated_loss_does_not_depend_on_the_confidence():
    logits, labels = logits_and_labels()
    base = calibrated_cross_entropy(logits, labels)
    for scale in (0.2, 1.0, 7.0):  # the same ranking, any confidence
        assert calibrated_cross_entropy(scale * logits, labels) == pytest.approx(base, abs=1e-6)
    assert base <= float(F.cross_entropy(logits, labels)) + 1e-12
    assert float(F.cross_entropy(7.0 * logits, labels)) > base + 0.5  # the plain loss punishes overconfidence


def test_the_calibrated_loss_still_sees_a_worse_ranking():
    logits, labels = logits_and_labels()
    worse = logits.clone()
    flipped = torch.arange(0, len(labels), 4)  # a quarter of the images: the true class made the least likely
    worse[flipped, labels[flipped]] = worse[flipped].min(dim=1).values - 1
    assert calibrated_cross_entropy(worse, labels) > calibrated_cross_entropy(logits, labels) + 0.1


def test_rewards_take_the_best_two_epochs():
    scores = [ValidationScore(90.0, 0.5, 0.4), ValidationScore(95.0, 0.3, 0.35), ValidationScore(93.0, 0.4, 0.2)]
    assert REWARDS["accuracy"][0](scores) == pytest.approx(94.0)
    assert REWARDS["loss"][0](scores) == pytest.approx(-35.0)
    assert REWARDS["calibrated-loss"][0](scores) == pytest.approx(-27.5)
