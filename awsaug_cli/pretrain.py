"""Stage 1 (`awsaug pretrain`): train the augmentation-wise shared weights under the uniform
policy θ̄, checkpointing every epoch so that a run killed at any moment resumes exactly.

Writes, under the run directory: run.json (the resolved settings), pretrain/shared.safetensors
(weights, BatchNorm buffers and SGD momentum, with metadata naming model, data fingerprint,
preset and epoch) and pretrain/metrics.jsonl (one record per epoch).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from awsaug_cli.checkpoint import load_checkpoint, restore, save_checkpoint
from awsaug_cli.data.sources import Augmentation, check_training_memory, open_source, resolve_loader, skipped_message
from awsaug_cli.devices import join_distributed, resolve_device
from awsaug_cli.errors import OptionError
from awsaug_cli.models import build_model
from awsaug_cli.policy import Policy
from awsaug_cli.presets import get_preset
from awsaug_cli.reporting import Reporter, SilentReporter
from awsaug_cli.run_lock import locked_run
from awsaug_cli.runs import (
    RunError,
    append_jsonl,
    check_same,
    check_saved,
    missing_record,
    read_jsonl,
    read_run,
    rewind_jsonl,
    write_stage,
)
from awsaug_cli.train import (
    barrier,
    check_schedule,
    distributed,
    make_optimizer,
    run_epoch,
    score,
    seeded_generator,
    steps_per_epoch,
)

MODES = ("ddp", "independent")
# what a resumed run must share with the run it continues
RESUME_KEYS = ("model", "loader", "pairs_in_pipeline", "image_size", "data_fingerprint", "preset", "epochs", "batch_size", "optim", "bn_momentum", "augment", "seed", "mode", "world_size")
# what the checkpoint keeps of run.json's record, to tell an edited or foreign run.json
SAVED_KEYS = (*RESUME_KEYS, "split_seed", "data_sizes", "classes", "mean", "std")


@dataclass(frozen=True)
class PretrainOptions:
    """None means "not given": with --resume the recorded run's value, otherwise the default
    after the comment."""

    run_dir: Path = Path("runs/default")
    data: str | None = None  # digits
    model: str | None = None  # the preset's
    preset: str | None = None  # tiny without a GPU, paper with one
    epochs: int | None = None  # the preset's
    batch_size: int | None = None  # the preset's
    val_size: int | None = None  # the preset's fraction of the training part
    image_size: int | None = None  # 32
    resume: bool = False
    device: str = "auto"
    seed: int | None = None  # 0
    mode: str | None = None  # ddp (under torchrun: one model, gradients averaged) or independent (one per rank)
    loader: str | None = None  # auto: memory, or dali for image folders on CUDA
    skip_bad_files: bool = False  # image folders: leave out files that are not usable images
    pairs_in_pipeline: bool = False  # DALI loader on CPU: the DALI ops apply the pairs in the pipeline

    def resolved(self, recorded: dict | None) -> PretrainOptions:
        """Every option not given: the recorded run's value when resuming one, else the default."""
        given = {"data": "digits", "image_size": 32, "seed": 0, "mode": "ddp", "loader": "auto"}
        if self.resume and recorded:
            given.update(data=recorded["data"], model=recorded["model"], preset=recorded["preset"],
                         epochs=recorded["epochs"], batch_size=recorded["batch_size"],
                         image_size=recorded["image_size"][-1], seed=recorded["seed"], mode=recorded["mode"],
                         loader=recorded["loader"])
            if self.data in (None, recorded["data"]):  # the recorded split size belongs to the recorded data
                given["val_size"] = recorded["data_sizes"]["val"]
        return dataclasses.replace(self, **{name: value for name, value in given.items() if getattr(self, name) is None})


@dataclass(frozen=True)
class PretrainResult:
    checkpoint: Path
    metrics: Path
    epochs: int
    val_acc: float


def checkpoint_path(run_dir: Path, mode: str, rank: int) -> Path:
    name = f"shared-rank{rank}.safetensors" if mode == "independent" else "shared.safetensors"
    return run_dir / "pretrain" / name


def pretrain(options: PretrainOptions, reporter: Reporter | None = None) -> PretrainResult:
    reporter = reporter or SilentReporter()
    if options.mode not in (None, *MODES):
        raise OptionError(f"--mode {options.mode!r}: choose one of {', '.join(MODES)}")
    device = resolve_device(options.device)
    join_distributed(device)
    with locked_run(options.run_dir, distributed()[0], reporter):
        return _pretrain(options.resolved(read_run(options.run_dir).get("pretrain")), reporter, device)


def _pretrain(options: PretrainOptions, reporter: Reporter, device: torch.device) -> PretrainResult:
    """The pretrain, with the run directory locked."""
    rank, world = distributed()
    if rank != 0 and options.mode == "ddp":
        reporter = SilentReporter()  # one voice for one model
    preset = get_preset(options.preset, device)
    epochs = options.epochs if options.epochs is not None else preset.epochs
    batch_size = options.batch_size if options.batch_size is not None else preset.batch_size
    check_schedule(epochs, batch_size)
    if options.mode == "ddp" and batch_size % world:
        raise OptionError(f"batch size {batch_size} is not a multiple of the {world} processes")

    model_name = options.model or preset.model
    check_training_memory(options.data, options.image_size, model_name, batch_size // world if options.mode == "ddp" else batch_size,
                          device)
    loader = resolve_loader(options.loader, options.data, device, options.image_size)
    source = open_source(
        options.data, loader=loader, image_size=options.image_size, val_size=options.val_size,
        val_fraction=preset.val_fraction, split_seed=options.seed, device=device,
        augmentation=Augmentation(preset.crop_padding, preset.cutout), skip_bad_files=options.skip_bad_files,
        pairs_in_pipeline=options.pairs_in_pipeline,
    )
    if source.skipped:
        reporter.info(skipped_message(source.skipped))
    settings = {
        "preset": preset.name,
        "model": model_name,
        "epochs": epochs,
        "batch_size": batch_size,
        "optim": dataclasses.asdict(preset.optim),
        "bn_momentum": preset.bn_momentum,
        "augment": {"crop_padding": preset.crop_padding, "cutout": preset.cutout, "flip": True, "policy": "uniform"},
        "seed": options.seed,
        "split_seed": options.seed,
        "mode": options.mode,
        "world_size": world,
        "data": options.data,
        "loader": source.kind,
        "skip_bad_files": options.skip_bad_files,
        "pairs_in_pipeline": options.pairs_in_pipeline,
        "data_name": source.name,
        "data_fingerprint": source.fingerprint(),
        "data_sizes": source.sizes,
        "image_size": list(source.image_size),
        "classes": list(source.classes),
        "mean": list(source.mean),
        "std": list(source.std),
        "device": device.type,
    }

    stream = rank if options.mode == "independent" else 0  # independent models differ in all randomness
    model = build_model(settings["model"], len(source.classes), bn_momentum=preset.bn_momentum,
                        seed=seeded_generator(options.seed, stream, -1).initial_seed(), device=device)
    optimizer = make_optimizer(model, preset.optim)
    checkpoint_file = checkpoint_path(options.run_dir, options.mode, rank)
    metrics_file = options.run_dir / "pretrain" / ("metrics.jsonl" if options.mode == "ddp" else f"metrics-rank{rank}.jsonl")
    start_epoch = _start(options, settings, model, optimizer, checkpoint_file, metrics_file, rank, reporter)
    reporter.info(f"{source.describe()}; model {settings['model']}; preset {preset.name}; {device}"
                  + (f"; {world} processes ({options.mode})" if world > 1 else ""))

    trained = DistributedDataParallel(model) if world > 1 and options.mode == "ddp" else model
    steps = steps_per_epoch(source.sizes["train"], batch_size)
    sharded = options.mode == "ddp"
    done = read_jsonl(metrics_file)
    val_acc = done[-1]["val_acc"] if start_epoch and done else float("nan")
    if start_epoch >= epochs:
        reporter.info(f"{options.run_dir}: all {epochs} epochs already trained")
    for epoch in range(start_epoch, epochs):
        batches = source.train_batches(
            Policy.uniform(), batch_size=batch_size, order_generator=seeded_generator(options.seed, stream, epoch, 0),
            augment_generator=seeded_generator(options.seed, stream, epoch, 1, device=device), sharded=sharded,
        )
        stats = run_epoch(trained, optimizer, batches, steps, preset.optim, first_step=epoch * steps, total_steps=epochs * steps,
                          reporter=reporter, label=f"pretrain epoch {epoch + 1}/{epochs}", sharded=sharded)
        val_acc = score(model, source.eval_batches("val", sharded=sharded), sharded=sharded)
        if rank == 0 or options.mode == "independent":
            _record_epoch(epoch, stats, val_acc, optimizer, model, settings, checkpoint_file, metrics_file)
        reporter.info(
            f"epoch {epoch + 1}/{epochs}: loss {stats.train_loss:.3f}, train {stats.train_acc:.1f} %, "
            f"val {val_acc:.2f} %, {stats.images / stats.seconds:,.0f} img/s"
        )
    barrier()  # every rank returns once the checkpoint is written; none tears down while another works
    return PretrainResult(checkpoint_file, metrics_file, epochs, val_acc)


def _start(options: PretrainOptions, settings: dict, model, optimizer, checkpoint_file: Path, metrics_file: Path, rank: int,
           reporter: Reporter) -> int:
    """The first epoch to run: 0 for a new run (recorded in run.json; also where a recorded run
    left no checkpoint), or the epoch after the last one checkpointed when resuming (after
    checking the run matches). Every rank checks before any writes."""
    recorded = read_run(options.run_dir).get("pretrain")
    resuming = checkpoint_file.exists()  # a pretrain stopped before its first checkpoint is started again
    if resuming and not options.resume:
        raise RunError(f"{options.run_dir} already holds a pretrain run; --resume continues it, --run-dir picks another directory")
    writer = rank == 0 or options.mode == "independent"
    epoch = 0
    if resuming:
        if not recorded:
            raise missing_record(options.run_dir, "pretrain", checkpoint_file)
        checkpoint = load_checkpoint(checkpoint_file)
        check_saved(recorded, checkpoint.metadata.get("settings", {}), SAVED_KEYS, checkpoint_file)
        check_same(recorded, settings, RESUME_KEYS, f"the pretrain run in {options.run_dir}")
        restore(checkpoint, model, optimizer, source=str(checkpoint_file))
        epoch = int(checkpoint.metadata.get("epoch", 0))
    elif (recorded or options.resume) and writer:
        reporter.info(f"{options.run_dir}: no pretrain checkpoint to resume; starting the pretrain"
                      + (" (the recorded one stopped before its first epoch finished)" if recorded else ""))
    barrier()
    if resuming and writer:
        rewind_jsonl(metrics_file, "epoch", epoch, [checkpoint.metadata["metrics"]] if epoch else [])
    elif writer:
        if rank == 0:
            write_stage(options.run_dir, "pretrain", settings)
        checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
        metrics_file.write_text("")
    barrier()
    return epoch


def _record_epoch(epoch: int, stats, val_acc: float, optimizer, model, settings: dict, checkpoint_file: Path, metrics_file: Path) -> None:
    record = {
        "epoch": epoch + 1,
        "train_loss": stats.train_loss,
        "train_acc": stats.train_acc,
        "val_acc": val_acc,
        "lr": optimizer.param_groups[0]["lr"],
        "seconds": stats.seconds,
        "images_per_second": stats.images / stats.seconds,
    }
    metadata = {
        "stage": "pretrain", "epoch": epoch + 1, "model": settings["model"], "preset": settings["preset"],
        "data_fingerprint": settings["data_fingerprint"], "num_classes": len(settings["classes"]), "metrics": record,
        "settings": {key: settings[key] for key in SAVED_KEYS},
    }
    # the checkpoint first (it carries the record too): metrics never claim an epoch it lacks
    save_checkpoint(checkpoint_file, model, optimizer, metadata)
    append_jsonl(metrics_file, record)
