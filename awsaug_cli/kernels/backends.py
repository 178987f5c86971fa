"""The augmentation backends, one registry: name → how to run op pairs and the training transform.

Backends are imported when first used: the Triton module compiles kernels and must see the
TRITON_INTERPRET setting it was imported under, and the CLI's start-up must stay light.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from awsaug_cli.errors import UserError


class BackendUnavailableError(UserError, RuntimeError):
    """The requested backend cannot run here (missing package, no CUDA device, wrong device)."""


@dataclass(frozen=True)
class Backend:
    name: str
    apply_rows: Callable  # (images uint8 [N,3,H,W], rows int64 [N, S], space) -> uint8
    train_transform: Callable  # (images, TransformDraw, TransformSettings) -> float tensor


# name → the module implementing it (apply_rows, train_transform)
_MODULES: dict[str, str] = {
    "torch": "awsaug_cli.kernels.torch_pipeline",
    "triton": "awsaug_cli.kernels.triton_pairs",
    "dali": "awsaug_cli.kernels.dali_ops",
    "kornia": "awsaug_cli.kernels.kornia_ops",
}
FLOAT_BACKEND = "kornia"  # the backend that takes float images in [0, 1] (and passes gradients)
NAMES: tuple[str, ...] = ("auto", *_MODULES)


def triton_interpreter() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def triton_importable() -> bool:
    return importlib.util.find_spec("triton") is not None


def dali_importable() -> bool:
    return importlib.util.find_spec("nvidia") is not None and importlib.util.find_spec("nvidia.dali") is not None


def resolve(name: str, device: torch.device) -> str:
    """The concrete backend for `name` on `device` ("auto": triton on CUDA, torch otherwise)."""
    if name not in NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)}")
    if name == "auto":
        return "triton" if device.type == "cuda" and triton_importable() else "torch"
    return name


def kornia_importable() -> bool:
    return importlib.util.find_spec("kornia") is not None


def check_runs_on(name: str, device: torch.device) -> None:
    if name == "kornia" and not kornia_importable():
        raise BackendUnavailableError("the 'kornia' backend needs kornia (pip install kornia)")
    if name == "dali" and not dali_importable():
        raise BackendUnavailableError("the 'dali' backend needs NVIDIA DALI (pip install nvidia-dali-cuda130)")
    if name == "triton":
        if not triton_importable():
            raise BackendUnavailableError("the 'triton' backend needs the triton package (pip install triton)")
        if device.type != "cuda" and not (device.type == "cpu" and triton_interpreter()):
            raise BackendUnavailableError(
                "the 'triton' backend runs on CUDA tensors (or on CPU under TRITON_INTERPRET=1); got "
                f"{device.type} tensors"
            )


def available(device: torch.device) -> list[str]:
    """Backends that can run on `device` in this process."""
    names = []
    for name in _MODULES:
        try:
            check_runs_on(name, device)
        except BackendUnavailableError:
            continue
        names.append(name)
    return names


def load(name: str, device: torch.device) -> Backend:
    concrete = resolve(name, device)
    check_runs_on(concrete, device)
    module = importlib.import_module(_MODULES[concrete])
    return Backend(concrete, module.apply_rows, module.train_transform)
