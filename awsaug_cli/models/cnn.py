"""A tiny CNN that trains in seconds on a CPU: the model of the `tiny` preset."""

from __future__ import annotations

import torch
from torch import nn


def _block(inputs: int, outputs: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(inplace=True),
    )


class TinyCNN(nn.Module):
    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(3, width, 1),
            _block(width, 2 * width, 2),
            _block(2 * width, 4 * width, 2),
            _block(4 * width, 4 * width, 1),
        )
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))
