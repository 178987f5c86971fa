"""Which device a command runs on, joining torch.distributed when launched by torchrun, and
where this process stands in it (rank, world size)."""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist

from awsaug_cli.errors import UserError


class DeviceError(UserError):
    pass


def resolve_device(spec: str) -> torch.device:
    """auto → cuda if available else cpu; under torchrun a bare `cuda` is this rank's GPU."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise DeviceError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {spec}: CUDA is not available on this machine")
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    elif device.type != "cpu":
        raise DeviceError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:N")
    return device


def join_distributed(device: torch.device) -> None:
    """Initialise the process group when torchrun started several processes (gloo on CPU), and
    destroy it at exit: a group left to the interpreter's teardown can abort a process whose
    peer closes its connections first."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(_leave_distributed)


def _leave_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def distributed() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def barrier() -> None:
    """Wait for every rank (no-op outside torch.distributed)."""
    if distributed()[1] > 1:
        dist.barrier()
