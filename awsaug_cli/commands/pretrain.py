"""Stage 1 (`awsaug pretrain`): train the augmentation-wise shared weights under the start of
the search space (θ̄: TrivialAugment, or uniform AWS-36), checkpointing every epoch so that a
run killed at any moment resumes exactly.

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

from awsaug_cli.atomic import atomic_write_text
from awsaug_cli.checkpoint import load_checkpoint, restore, save_checkpoint
from awsaug_cli.choices import PRETRAIN_MODES as MODES
from awsaug_cli.commands.stage import Training, open_training, resuming
from awsaug_cli.data.batches import steps_per_epoch
from awsaug_cli.devices import barrier, distributed, join_distributed, resolve_device
from awsaug_cli.errors import OptionError
from awsaug_cli.models import build_model, model_spec
from awsaug_cli.reporters import Reporter, SilentReporter
from awsaug_cli.run_lock import locked_run
from awsaug_cli.run_records import PretrainRecord, recorded_pretrain
from awsaug_cli.runs import append_jsonl, check_same, check_saved, read_jsonl, rewind_jsonl, write_stage
from awsaug_cli.search.spaces import DEFAULT_SEARCH_SPACE, search_space
from awsaug_cli.seeds import pretrain_model, stream
from awsaug_cli.training_loop import make_optimizer, run_epoch, score

# what a resumed run must share with the run it continues
RESUME_KEYS = (
    "model",
    "loader",
    "pairs_in_pipeline",
    "image_size",
    "data_fingerprint",
    "preset",
    "epochs",
    "batch_size",
    "optim",
    "bn_momentum",
    "augment",
    "space",
    "seed",
    "mode",
    "world_size",
)
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
    space: str | None = (
        None  # trivialaugment or aws36: the search space whose start the shared weights are trained under
    )

    def resolved(self, recorded: PretrainRecord | None) -> PretrainOptions:
        """Every option not given: the recorded run's value when resuming one, else the default."""
        given = {
            "data": "digits",
            "image_size": 32,
            "seed": 0,
            "mode": "ddp",
            "loader": "auto",
            "space": DEFAULT_SEARCH_SPACE,
        }
        if self.resume and recorded:
            given.update(
                data=recorded.data,
                model=recorded.model,
                preset=recorded.preset,
                epochs=recorded.epochs,
                batch_size=recorded.batch_size,
                image_size=recorded.image_size[-1],
                seed=recorded.seed,
                mode=recorded.mode,
                loader=recorded.loader,
                space=recorded.space,
            )
            if self.data in (None, recorded.data):  # the recorded split size belongs to the recorded data
                given["val_size"] = recorded.data_sizes["val"]
        return dataclasses.replace(
            self, **{name: value for name, value in given.items() if getattr(self, name) is None}
        )


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
    if options.space is not None:
        search_space(options.space)  # an unknown name fails before anything is read
    device = resolve_device(options.device)
    join_distributed(device)
    with locked_run(options.run_dir, distributed()[0], reporter):
        return _pretrain(options.resolved(recorded_pretrain(options.run_dir)), reporter, device)


def _pretrain(options: PretrainOptions, reporter: Reporter, device: torch.device) -> PretrainResult:
    """The pretrain, with the run directory locked."""
    rank, world = distributed()
    if rank != 0 and options.mode == "ddp":
        reporter = SilentReporter()  # one voice for one model
    training = open_training(
        options,
        device,
        reporter,
        default_epochs=lambda preset: preset.epochs,
        val_size=options.val_size,
        processes=world if options.mode == "ddp" else 1,
    )
    settings = _settings(options, training, world, device)
    model_stream = pretrain_model(options.mode == "independent", rank)  # independent models differ in all randomness
    model, optimizer = _fresh_model(options, training, model_stream, device)
    checkpoint_file = checkpoint_path(options.run_dir, options.mode, rank)
    metrics_file = (
        options.run_dir / "pretrain" / ("metrics.jsonl" if options.mode == "ddp" else f"metrics-rank{rank}.jsonl")
    )
    start_epoch = _start(options, settings, model, optimizer, checkpoint_file, metrics_file, rank, reporter)
    reporter.info(_describe(training, device, world, options.mode))
    trained = DistributedDataParallel(model) if world > 1 and options.mode == "ddp" else model
    epochs, batch_size, source, optim = training.epochs, training.batch_size, training.source, training.preset.optim
    steps = steps_per_epoch(source.sizes["train"], batch_size)
    sharded = options.mode == "ddp"
    done = read_jsonl(metrics_file)
    val_acc = done[-1]["val_acc"] if start_epoch and done else float("nan")
    if start_epoch >= epochs:
        reporter.info(f"{options.run_dir}: all {epochs} epochs already trained")
    start = search_space(options.space).start()
    for epoch in range(start_epoch, epochs):
        batches = source.train_batches(
            start,
            batch_size=batch_size,
            order_generator=stream(options.seed, "pretrain_order", model_stream, epoch),
            augment_generator=stream(options.seed, "pretrain_augment", model_stream, epoch, device=device),
            sharded=sharded,
        )
        stats = run_epoch(
            trained,
            optimizer,
            batches,
            steps,
            optim,
            first_step=epoch * steps,
            total_steps=epochs * steps,
            reporter=reporter,
            label=f"pretrain epoch {epoch + 1}/{epochs}",
            sharded=sharded,
        )
        val_acc = score(model, source.eval_batches("val", sharded=sharded), sharded=sharded)
        if rank == 0 or options.mode == "independent":
            _record_epoch(epoch, stats, val_acc, optimizer, model, settings, checkpoint_file, metrics_file)
        reporter.info(
            f"epoch {epoch + 1}/{epochs}: loss {stats.train_loss:.3f}, train {stats.train_acc:.1f} %, "
            f"val {val_acc:.2f} %, {stats.images / stats.seconds:,.0f} img/s"
        )
    barrier()  # every rank returns once the checkpoint is written; none tears down while another works
    return PretrainResult(checkpoint_file, metrics_file, epochs, val_acc)


def _describe(training: Training, device: torch.device, world: int, mode: str) -> str:
    return (
        f"{training.source.describe()}; model {training.model} ({model_spec(training.model).description}); "
        f"preset {training.preset.name}; {device}" + (f"; {world} processes ({mode})" if world > 1 else "")
    )


def _fresh_model(
    options: PretrainOptions, training: Training, model_stream: int, device: torch.device
) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The model's initial weights (from the seed's init stream) and its SGD optimiser."""
    model = build_model(
        training.model,
        len(training.source.classes),
        bn_momentum=training.preset.bn_momentum,
        seed=stream(options.seed, "pretrain_init", model_stream).initial_seed(),
        device=device,
    )
    return model, make_optimizer(model, training.preset.optim)


def _settings(options: PretrainOptions, training: Training, world: int, device: torch.device) -> PretrainRecord:
    """The pretrain's record in run.json: everything needed to resume it or to search from it."""
    preset, source = training.preset, training.source
    return PretrainRecord(
        preset=preset.name,
        model=training.model,
        epochs=training.epochs,
        batch_size=training.batch_size,
        optim=dataclasses.asdict(preset.optim),
        bn_momentum=preset.bn_momentum,
        augment={"crop_padding": preset.crop_padding, "cutout": preset.cutout, "flip": True, "policy": "uniform"},
        space=options.space,  # the pairs are drawn from this search space's start
        seed=options.seed,
        split_seed=options.seed,
        mode=options.mode,
        world_size=world,
        data=options.data,
        loader=source.kind,
        skip_bad_files=options.skip_bad_files,
        pairs_in_pipeline=options.pairs_in_pipeline,
        data_name=source.name,
        data_fingerprint=source.fingerprint(),
        data_sizes=source.sizes,
        image_size=list(source.image_size),
        classes=list(source.classes),
        mean=list(source.mean),
        std=list(source.std),
        device=device.type,
    )


def _start(
    options: PretrainOptions,
    settings: PretrainRecord,
    model,
    optimizer,
    checkpoint_file: Path,
    metrics_file: Path,
    rank: int,
    reporter: Reporter,
) -> int:
    """The first epoch to run: 0 for a new run (recorded in run.json; also where a recorded run
    left no checkpoint), or the epoch after the last one checkpointed when resuming (after
    checking the run matches). Every rank checks before any writes."""
    recorded = recorded_pretrain(options.run_dir)  # runs recorded before spaces were named: aws36
    resumed = resuming(
        options.run_dir,
        "pretrain",
        checkpoint_file,
        resume=options.resume,
        recorded=recorded.record() if recorded else None,
        unit="epoch",
        reporter=reporter,
    )
    writer = rank == 0 or options.mode == "independent"
    epoch = 0
    if resumed:
        checkpoint = load_checkpoint(checkpoint_file)
        check_saved(recorded.record(), checkpoint.metadata.get("settings", {}), SAVED_KEYS, checkpoint_file)
        check_same(recorded.record(), settings.record(), RESUME_KEYS, f"the pretrain run in {options.run_dir}")
        restore(checkpoint, model, optimizer, source=str(checkpoint_file))
        epoch = int(checkpoint.metadata.get("epoch", 0))
    barrier()
    if resumed and writer:
        rewind_jsonl(metrics_file, "epoch", epoch, [checkpoint.metadata["metrics"]] if epoch else [])
    elif writer:
        if rank == 0:
            write_stage(options.run_dir, "pretrain", settings.record())
        checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(metrics_file, "")  # replaces a link planted there, never its target
    barrier()
    return epoch


def _record_epoch(
    epoch: int,
    stats,
    val_acc: float,
    optimizer,
    model,
    settings: PretrainRecord,
    checkpoint_file: Path,
    metrics_file: Path,
) -> None:
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
        "stage": "pretrain",
        "epoch": epoch + 1,
        "model": settings.model,
        "preset": settings.preset,
        "data_fingerprint": settings.data_fingerprint,
        "num_classes": len(settings.classes),
        "metrics": record,
        "settings": {key: settings.record()[key] for key in SAVED_KEYS},
    }
    # the checkpoint first (it carries the record too): metrics never claim an epoch it lacks
    save_checkpoint(checkpoint_file, model, optimizer, metadata)
    append_jsonl(metrics_file, record)
