"""Refuse work the machine cannot hold before allocating it. The decoded dataset and every
activation grow with the square of --image-size: a run that asks for too much should get one
line saying how much it needs, not a raw allocator error or an OOM kill minutes later.

The figures are estimates from the sizes involved (images × pixels × bytes, and the model's
activations measured on one small image and scaled by area); a run is refused only when the
estimate exceeds what the device has free, so an estimate errs on the generous side."""

from __future__ import annotations

import os

import torch
from torch import nn

from awsaug_cli.errors import OptionError

GIB = 2**30
PROBE_SIDE = 32  # activations are measured at this side (or less) and scaled by area
AUGMENT_COPIES = 6  # float32 copies of a batch the augmentation and normalisation hold at once
EVAL_BATCH = 512  # memory_eval_batches' batch: no gradients, but a wide batch


def available_bytes(device: torch.device) -> int | None:
    """Free memory on `device` now (host: MemAvailable); None where it cannot be told."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def fits(need: int, device: torch.device) -> bool:
    """Whether `need` bytes fit in what `device` has free (True where that cannot be told)."""
    available = available_bytes(device)
    return available is None or need <= available


def check_fits(need: int, device: torch.device, what: str, remedy: str) -> None:
    """OptionError when `need` bytes exceed what `device` has free."""
    available = available_bytes(device)
    if available is not None and need > available:
        place = "GPU memory" if device.type == "cuda" else "memory"
        raise OptionError(
            f"{what} would take about {need / GIB:,.1f} GiB of {place}; {available / GIB:,.1f} GiB is free. {remedy}"
        )


def check_decode_fits(images: int, side: int, bytes_per_pixel: int, what: str) -> None:
    """A dataset of `images` decoded at side × side on the host, `bytes_per_pixel` at its peak."""
    check_fits(
        images * side * side * bytes_per_pixel,
        torch.device("cpu"),
        f"{what}: {images:,} images of {side}×{side}",
        "Choose a smaller --image-size.",
    )


def activation_elements(model_name: str, side: int) -> tuple[int, int]:
    """(sum, largest) of the elements one image's forward pass through the registry's
    `model_name` produces at side × side: every leaf module's output, measured on one small
    image on the meta device (shapes only: no weights, no arithmetic, no random draws) and
    scaled by area."""
    from awsaug_cli.models import model_spec

    probe = min(side, PROBE_SIDE)
    sizes: list[int] = []

    def measure(_module: nn.Module, _inputs: object, output: object) -> None:
        if torch.is_tensor(output):
            sizes.append(output.numel())

    with torch.device("meta"):
        model = model_spec(model_name).build(10).eval()
        for module in model.modules():
            if not list(module.children()):
                module.register_forward_hook(measure)
        with torch.no_grad():
            model(torch.zeros(1, 3, probe, probe))
    scale = (side / probe) ** 2
    return int((sum(sizes) + 3 * probe * probe) * scale), int(max(sizes, default=0) * scale)


def training_bytes(model_name: str, batch_size: int, side: int) -> int:
    """The larger of a training step (activations kept for the backward pass and their
    gradients, plus the augmented batch) and an evaluation batch (a layer's input and output)."""
    total, largest = activation_elements(model_name, side)
    step = batch_size * (2 * total + AUGMENT_COPIES * 3 * side * side) * 4
    return max(step, EVAL_BATCH * 2 * largest * 4)


def check_training_fits(model_name: str, batch_size: int, side: int, device: torch.device) -> None:
    """Training `model_name` at side × side on `device`, checked before the data is decoded:
    a run that cannot train never allocates."""
    check_fits(
        training_bytes(model_name, batch_size, side),
        device,
        f"training at {side}×{side} with batch {batch_size}",
        "Choose a smaller --image-size or --batch-size.",
    )
