"""The model registry: name → builder, with the initialisation and BatchNorm momentum of
docs/ALGORITHM.md applied to every model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from awsaug_cli.errors import UserError
from awsaug_cli.models.cnn import TinyCNN
from awsaug_cli.models.resnet import ResNet18
from awsaug_cli.models.wideresnet import WideResNet


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[int], nn.Module]  # number of classes → model
    description: str


MODELS: dict[str, ModelSpec] = {
    "tiny": ModelSpec(TinyCNN, "4 conv layers, 0.06 M parameters: seconds per epoch on a CPU"),
    "small": ModelSpec(lambda classes: TinyCNN(classes, width=32), "the tiny CNN twice as wide, 0.24 M parameters"),
    "resnet18": ModelSpec(ResNet18, "CIFAR ResNet-18, 11 M parameters"),
    "wrn-40-2": ModelSpec(lambda classes: WideResNet(40, 2, classes), "WideResNet-40-2, 2.2 M parameters"),
    "wrn-28-10": ModelSpec(
        lambda classes: WideResNet(28, 10, classes), "WideResNet-28-10, 36 M parameters (the paper's)"
    ),
}


class UnknownModelError(UserError):
    pass


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def initialise(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """Kaiming-normal (fan_out) convolutions, BatchNorm γ = 1 and β = 0, linear layers
    N(0, 1/fan_in) with zero bias (the authors' initialisation); draws from `generator`."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=1.0 / module.weight.shape[1], generator=generator)
            nn.init.zeros_(module.bias)


def build_model(
    name: str, num_classes: int, *, bn_momentum: float = 0.1, seed: int = 0, device: torch.device | str = "cpu"
) -> nn.Module:
    """A freshly initialised model (weights drawn from `seed`) on `device` (channels_last on
    CUDA, where convolutions run fastest so); `bn_momentum` in PyTorch's convention (weight
    of the new batch)."""
    model = model_spec(name).build(num_classes)
    initialise(model, torch.Generator().manual_seed(seed))
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = bn_momentum
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if model_device(model).type == "cuda" else model


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters (or buffers) live; CPU for a model without any."""
    tensor = next(model.parameters(), None)
    tensor = tensor if tensor is not None else next(model.buffers(), None)
    return tensor.device if tensor is not None else torch.device("cpu")
