"""What a fine-tune's reward is: the validation part scored after each fine-tune epoch, and the
reward made of the best of those scores.

Rewards (REWARDS): the paper's mean of the best two epoch-end validation accuracies (percent);
−100 × the mean of the two lowest epoch-end validation losses (centi-nats of cross-entropy);
and the same for the *calibrated* loss: the cross-entropy after dividing the logits by the one
temperature that minimises it (temperature scaling). Why the calibrated one: the plain loss also
rewards a model for being less sure of itself, and a fine-tune under stronger augmentation ends
less sure — on digits the plain loss ranked `none` last where final training ranks it first
(BENCHMARKS.md "Proxy fidelity"); after recalibration what is left is how well the model ranks
the classes, which every image's confidence still informs (accuracy moves only when one flips).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from awsaug_cli.models import model_device

REWARD_EPOCHS = 2  # a reward averages this many best epoch-end scores
GOLDEN = (5**0.5 - 1) / 2


@dataclass(frozen=True)
class ValidationScore:
    accuracy: float  # top-1, percent
    loss: float  # mean cross-entropy, nats
    calibrated_loss: float  # mean cross-entropy at the temperature that minimises it, nats


def calibrated_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, iterations: int = 60) -> float:
    """Mean cross-entropy of β · logits at the β ≥ 0 that minimises it (the loss is convex in β;
    golden-section search over [0, 50]): the loss of the model's ranking of the classes, whatever
    its confidence."""
    logits = logits.double()

    def loss(beta: float) -> float:
        return float(F.cross_entropy(beta * logits, labels))

    low, high = 0.0, 50.0
    left, right = high - GOLDEN * (high - low), low + GOLDEN * (high - low)
    left_loss, right_loss = loss(left), loss(right)
    for _ in range(iterations):
        if left_loss < right_loss:
            high, right, right_loss = right, left, left_loss
            left = high - GOLDEN * (high - low)
            left_loss = loss(left)
        else:
            low, left, left_loss = left, right, right_loss
            right = low + GOLDEN * (high - low)
            right_loss = loss(right)
    return min(left_loss, right_loss, loss(1.0))


@torch.no_grad()
def validation_score(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> ValidationScore:
    """Accuracy, loss and calibrated loss of `model` over `batches` (this process's, in full)."""
    model.eval()
    return validation_scores(lambda inputs: model(inputs).unsqueeze(0), batches, model_device(model))[0]


@torch.no_grad()
def validation_scores(
    forward: Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
) -> list[ValidationScore]:
    """validation_score of each of the W models `forward` runs together (logits [W, B, classes]
    for a batch [B, …]: one model, or the stacked copies of search/stacked.py)."""
    cuda = device.type == "cuda"
    logits, labels = [], []
    loss_sums: torch.Tensor | float = 0.0
    for inputs, targets in batches:
        if cuda:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            batch_logits = forward(inputs).float()
        loss_sums = loss_sums + torch.stack(  # as training_loop.score_with_loss, per model
            [F.cross_entropy(each, targets, reduction="sum").double() for each in batch_logits]
        )
        logits.append(batch_logits)
        labels.append(targets)
    everything, truth = torch.cat(logits, dim=1), torch.cat(labels)
    losses = torch.as_tensor(loss_sums).expand(len(everything)).tolist()
    images = max(1, len(truth))
    return [
        ValidationScore(
            100.0 * float((each.argmax(dim=1) == truth).sum()) / images,
            loss / images,
            calibrated_cross_entropy(each, truth),
        )
        for each, loss in zip(everything, losses)
    ]


def _best_mean(values: list[float]) -> float:
    best = sorted(values)[-REWARD_EPOCHS:]
    return sum(best) / len(best)


# reward name → (reward from the epoch-end validation scores, its unit)
REWARDS: dict[str, tuple[Callable[[list[ValidationScore]], float], str]] = {
    "accuracy": (lambda scores: _best_mean([s.accuracy for s in scores]), "points"),
    "loss": (lambda scores: _best_mean([-100.0 * s.loss for s in scores]), "centi-nats"),
    "calibrated-loss": (lambda scores: _best_mean([-100.0 * s.calibrated_loss for s in scores]), "centi-nats"),
}
