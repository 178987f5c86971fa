"""Checkpoints: model weights, BatchNorm buffers and SGD momentum in one safetensors file with
JSON metadata, written atomically (a crash leaves the previous file whole). The same file
mechanics (write_tensors / read_tensors) hold the search's agent state."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from awsaug_cli.atomic import atomic_write_bytes
from awsaug_cli.errors import UserError

FORMAT_NAME = "awsaug.checkpoint"
FORMAT_VERSION = 1


class CheckpointError(UserError):
    """A checkpoint that is missing, corrupt, or does not fit the model it is loaded into."""


@dataclass(frozen=True)
class Checkpoint:
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, Any]


def write_tensors(
    path: str | os.PathLike, tensors: dict[str, torch.Tensor], kind: str, metadata: dict[str, Any]
) -> None:
    """Tensors and JSON metadata as one safetensors file of format `kind`, written atomically."""
    header = {"format": kind, "version": str(FORMAT_VERSION), "metadata": json.dumps(metadata, sort_keys=True)}
    atomic_write_bytes(path, save_tensors(tensors, metadata=header))


def read_tensors(path: str | os.PathLike, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of a file written by write_tensors as `kind`; CheckpointError otherwise."""
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"{file}: no such file")
    try:
        with safe_open(str(file), framework="pt") as handle:
            header = handle.metadata() or {}
        tensors = load_tensors(file.read_bytes())
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{file}: corrupt or not a safetensors file ({error})") from None
    if header.get("format") != kind:
        raise CheckpointError(f"{file}: not an {kind} file")
    if header.get("version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{file}: {kind} version {header.get('version')}, this awsaug reads {FORMAT_VERSION}")
    try:
        return tensors, json.loads(header.get("metadata", "{}"))
    except (json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{file}: unreadable metadata") from None


def save_checkpoint(
    path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None, metadata: dict[str, Any]
) -> None:
    tensors = {f"model.{name}": value.detach().cpu().contiguous() for name, value in model.state_dict().items()}
    if optimizer is not None:
        names = {id(parameter): name for name, parameter in model.named_parameters()}
        for group in optimizer.param_groups:
            for parameter in group["params"]:
                buffer = optimizer.state.get(parameter, {}).get("momentum_buffer")
                if buffer is not None:
                    tensors[f"momentum.{names[id(parameter)]}"] = buffer.detach().cpu().contiguous()
    write_tensors(path, tensors, FORMAT_NAME, metadata)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    return Checkpoint(*read_tensors(path, FORMAT_NAME))


def restore(
    checkpoint: Checkpoint, model: nn.Module, optimizer: torch.optim.Optimizer | None, *, source: str = "checkpoint"
) -> None:
    """Load weights, buffers and (when `optimizer` is given) the SGD momentum into place."""
    weights = {name[len("model.") :]: value for name, value in checkpoint.tensors.items() if name.startswith("model.")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{source}: does not fit this model ({first})") from None
    if optimizer is None:
        return
    for name, parameter in model.named_parameters():
        buffer = checkpoint.tensors.get(f"momentum.{name}")
        if buffer is not None:
            optimizer.state[parameter]["momentum_buffer"] = buffer.to(parameter.device, parameter.dtype).clone()
