"""Presets: named sets of defaults, as data. `tiny` runs the whole pipeline on the built-in
digits on a 2-core CPU in minutes; `paper` is the authors' configuration (docs/ALGORITHM.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from awsaug_cli.errors import OptionError
from awsaug_cli.training_loop import OptimSettings


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    epochs: int
    batch_size: int
    val_fraction: float  # of the training part, stratified (CIFAR: 10,000 of 50,000)
    optim: OptimSettings
    bn_momentum: float  # PyTorch convention: weight of the current batch
    search_loops: int
    search_trajectories: int
    finetune_epochs: int
    final_epochs: int  # final training (awsaug train): a fresh model on search-train + validation
    final_optim: OptimSettings
    crop_padding: int = 4
    cutout: int = 16


# the pretrain's and the search's optimiser; final training restates only what differs
TINY_OPTIM = OptimSettings(
    lr=0.2,
    warmup_start_lr=0.02,
    warmup_epochs=1,
    min_lr=0.002,
    weight_decay=5e-4,
    label_smoothing=0.05,
    grad_clip=3.0,
)
PAPER_OPTIM = OptimSettings(
    lr=0.2,
    warmup_start_lr=0.05,
    warmup_epochs=1,
    min_lr=0.001,
    weight_decay=1e-4,
    label_smoothing=0.05,
    grad_clip=3.0,
)

PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny",
        model="tiny",
        epochs=60,
        batch_size=64,
        val_fraction=0.2,
        optim=TINY_OPTIM,
        bn_momentum=0.1,
        search_loops=50,  # two seeds agree from about 50 on (BENCHMARKS.md "Fifty loops by default")
        search_trajectories=4,
        finetune_epochs=3,
        final_epochs=60,
        final_optim=replace(TINY_OPTIM, min_lr=0.0),  # the schedule runs down to zero
    ),
    "paper": Preset(
        name="paper",
        model="wrn-28-10",
        epochs=200,
        batch_size=256,
        val_fraction=0.2,
        optim=PAPER_OPTIM,
        bn_momentum=0.5,
        search_loops=350,
        search_trajectories=8,
        finetune_epochs=10,
        final_epochs=300,
        # final training: peak 0.4 after a one-epoch warm-up, cosine to 0
        final_optim=replace(PAPER_OPTIM, lr=0.4, warmup_start_lr=0.1, min_lr=0.0),
    ),
}


def default_preset(device: torch.device) -> str:
    """`paper` when training on a GPU, `tiny` otherwise (also on a GPU machine run with --device cpu)."""
    return "paper" if device.type == "cuda" else "tiny"


def get_preset(name: str | None, device: torch.device) -> Preset:
    """The preset `name`, or the default for `device` when none is named."""
    key = name or default_preset(device)
    if key not in PRESETS:
        raise OptionError(f"unknown preset {key!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[key]
