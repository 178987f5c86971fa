"""What the commands that train in a run directory share: the preset's schedule and the data,
opened once the run is known to fit in memory; and one protocol for starting a stage afresh or
resuming it from its checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from awsaug_cli.data.sources import (
    Augmentation,
    DataSource,
    check_training_memory,
    open_source,
    resolve_loader,
    skipped_message,
)
from awsaug_cli.errors import OptionError
from awsaug_cli.presets import Preset, get_preset
from awsaug_cli.reporters import Reporter
from awsaug_cli.runs import RunError, missing_record
from awsaug_cli.training_loop import check_schedule


class TrainingOptions(Protocol):
    """The options `pretrain` and `train` both take (resolved: `data`, `image_size`, `seed` set)."""

    data: str
    model: str | None
    preset: str | None
    epochs: int | None
    batch_size: int | None
    image_size: int
    seed: int
    loader: str
    skip_bad_files: bool
    pairs_in_pipeline: bool


@dataclass(frozen=True)
class Training:
    preset: Preset
    model: str
    epochs: int
    batch_size: int
    source: DataSource


def open_training(
    options: TrainingOptions,
    device: torch.device,
    reporter: Reporter,
    *,
    default_epochs: Callable[[Preset], int],
    val_size: int | None,
    merge_val: bool = False,
    processes: int = 1,
    copies: int = 1,
) -> Training:
    """The preset, model and schedule the options ask for (the preset's where not given), then
    the data — after checking that a step of `processes` sharing each batch (each image
    `copies` times: Enlarge Batch) fits the device."""
    preset = get_preset(options.preset, device)
    epochs = options.epochs if options.epochs is not None else default_epochs(preset)
    batch_size = options.batch_size if options.batch_size is not None else preset.batch_size
    check_schedule(epochs, batch_size)
    if batch_size % processes:
        raise OptionError(f"batch size {batch_size} is not a multiple of the {processes} processes")
    model = options.model or preset.model
    check_training_memory(options.data, options.image_size, model, batch_size // processes * copies, device)
    source = open_source(
        options.data,
        loader=resolve_loader(options.loader, options.data, device, options.image_size),
        image_size=options.image_size,
        val_size=val_size,
        val_fraction=preset.val_fraction,
        split_seed=options.seed,
        device=device,
        augmentation=Augmentation(preset.crop_padding, preset.cutout),
        merge_val=merge_val,
        skip_bad_files=options.skip_bad_files,
        pairs_in_pipeline=options.pairs_in_pipeline,
    )
    if source.skipped:
        reporter.info(skipped_message(source.skipped))
    return Training(preset, model, epochs, batch_size, source)


def resuming(
    run_dir: Path, stage: str, checkpoint: Path, *, resume: bool, recorded: dict | None, unit: str, reporter: Reporter
) -> bool:
    """Whether `stage` continues from `checkpoint`: only with --resume, and only with its run.json
    record. A stage stopped before its first checkpoint (or --resume with nothing recorded) is
    started afresh, and said so: "nothing to resume" never strands a run directory."""
    if not checkpoint.exists():
        if recorded or resume:
            reporter.info(
                f"{run_dir}: no finished {stage} {unit} to resume; starting the {stage}"
                + (f" (the recorded one stopped before its first {unit} finished)" if recorded else "")
            )
        return False
    if not resume:
        raise RunError(
            f"{run_dir} already holds a {stage} run; --resume continues it, --run-dir picks another directory"
        )
    if not recorded:
        raise missing_record(run_dir, stage, checkpoint)
    return True
