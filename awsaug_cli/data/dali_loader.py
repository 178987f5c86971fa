"""Image folders too large to keep on the device, read by a DALI pipeline per epoch.

Training: `fn.readers.file` over the epoch's file order (a permutation drawn from the run's seed,
the same on every rank, sharded by rank), `fn.decoders.image` ("mixed" on a GPU, "cpu"
otherwise), random-resized crop to the model's size and a horizontal flip. Then, by default, the
pipeline hands the uint8 batch to the engine, which draws each image's pair and signs from the
policy and applies them, Cutout and normalisation in one batched call (TrainTransform without
its own crop and flip: Triton on CUDA, torch on CPU). With `pairs_in_pipeline` (CPU only) the
pair is drawn inside the pipeline and applied by the DALI ops (awsaug_cli/kernels/dali_ops.py, per-sample
selection with conditionals), then Cutout (`fn.erase`) and normalisation — measured slower on
this project's machine (BENCHMARKS.md), kept for many-core CPUs where the pipeline's threads
would otherwise idle. Evaluation: resize the shorter side to size / 0.875, centre crop,
normalise; every image exactly once across the ranks.

A pipeline is built per epoch from explicit seeds (file order, crop/flip/sign/Cutout noise, pair
draws), so an epoch is reproducible on its own: a resumed run replays exactly, and the search's
trajectories can share every draw but the pairs (common random numbers).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from awsaug_cli.augment import TrainTransform
from awsaug_cli.data.batches import Batch
from awsaug_cli.data.dataset import DataError
from awsaug_cli.data.folder_files import FileList
from awsaug_cli.data.prepared import channel_statistics
from awsaug_cli.devices import distributed
from awsaug_cli.errors import OptionError
from awsaug_cli.kernels import dali_ops
from awsaug_cli.memory_need import check_decode_fits
from awsaug_cli.policy import Policy
from awsaug_cli.space import Space

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import nvidia.dali.fn as fn
    from nvidia.dali import pipeline_def, types
    from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

EVAL_CROP_FRACTION = 0.875  # evaluation resizes the shorter side to size / 0.875, then centre-crops
STATISTICS_SAMPLE = 512  # training images whose pixels give the normalisation mean and std
SEED_MODULUS = 2**31 - 1  # DALI seeds are 32-bit


@dataclass(frozen=True)
class PipelineSettings:
    """What every pipeline of one loader shares."""

    image_size: int
    cutout: int
    mean: tuple[float, float, float]  # pixel values / 255, as the memory path
    std: tuple[float, float, float]
    device: torch.device
    threads: int = dali_ops.PIPELINE_THREADS
    # Where the op pairs run. False (the default, faster by measurement: BENCHMARKS.md): the
    # pipeline stops after crop and flip and the engine applies pairs, Cutout and normalisation
    # to the batch (Triton on CUDA, torch on CPU). True: the DALI ops inside the pipeline (CPU).
    pairs_in_pipeline: bool = False

    def __post_init__(self) -> None:
        if self.pairs_in_pipeline and self.gpu:
            raise OptionError(
                "the DALI ops run in CPU pipelines; on CUDA the Triton engine applies the pairs "
                "(leave out --pairs-in-pipeline)"
            )

    @property
    def gpu(self) -> bool:
        return self.device.type == "cuda"

    def pipeline_kwargs(self, batch_size: int, seed: int) -> dict:
        # the dynamic executor runs fn.python_function (the DALI ops' equalize) in a prefetching pipeline
        return dict(
            batch_size=batch_size,
            num_threads=self.threads,
            seed=seed % SEED_MODULUS,
            device_id=(self.device.index or 0) if self.gpu else None,
            exec_dynamic=True,
        )


def _read_and_decode(files: FileList, shard: int, shards: int, settings: PipelineSettings, *, pad: bool):
    encoded, labels = fn.readers.file(
        files=[str(file) for file in files.files],
        labels=files.labels.tolist(),
        shard_id=shard,
        num_shards=shards,
        random_shuffle=False,
        stick_to_shard=True,
        pad_last_batch=pad,
        name="reader",
    )
    return fn.decoders.image(encoded, device="mixed" if settings.gpu else "cpu", output_type=types.RGB), labels


def _normalise(images, settings: PipelineSettings):
    """(v − 255·mean) / (255·std) as float32 CHW: the engine's normalisation."""
    return fn.crop_mirror_normalize(
        images,
        mean=[255.0 * m for m in settings.mean],
        std=[255.0 * s for s in settings.std],
        dtype=types.FLOAT,
        output_layout="CHW",
    )


def _apply_policy(images, size: int, space: Space, joint: list[float], pair_seed: int, sign_seed: int):
    """Draw each image's pair of `space`'s ops from the policy's joint and its two signs; apply
    both ops. Returns the images and the pairs (int32 [2] per image)."""
    k = len(space)
    choice = fn.random.choice(k * k, p=joint, seed=pair_seed)
    signs = fn.cast(fn.random.coin_flip(shape=[2], seed=sign_seed), dtype=types.INT32)
    first, second = fn.cast(choice // k, dtype=types.INT32), fn.cast(choice % k, dtype=types.INT32)
    rows = fn.stack(first * 2 + signs[0], second * 2 + signs[1])
    return dali_ops.apply_rows_in_graph(images, rows, 2, space, size, size), fn.stack(first, second)


def _cutout(images, settings: PipelineSettings, seed: int):
    size = settings.image_size
    centre = fn.random.uniform(values=list(range(size)), shape=[2], seed=seed, dtype=types.INT32)
    anchor = fn.cast(centre - settings.cutout // 2, dtype=types.FLOAT)
    return fn.erase(images, anchor=anchor, shape=[float(settings.cutout)] * 2, axis_names="HW", fill_value=0)


@pipeline_def(enable_conditionals=True)
def _train_graph(
    files: FileList,
    shard: int,
    shards: int,
    settings: PipelineSettings,
    policy: Policy | None,
    joint: list[float] | None,
    noise_seed: int,
    pair_seed: int,
):
    images, labels = _read_and_decode(files, shard, shards, settings, pad=False)
    size = settings.image_size
    images = fn.random_resized_crop(images, size=[size, size], seed=noise_seed % SEED_MODULUS)
    images = fn.flip(images, horizontal=fn.random.coin_flip(seed=(noise_seed + 1) % SEED_MODULUS))
    if not settings.pairs_in_pipeline:  # the engine takes the uint8 batch from here
        return images, labels
    pairs = []
    if joint is not None:
        images, drawn = _apply_policy(
            images, size, policy.space, joint, pair_seed % SEED_MODULUS, (noise_seed + 2) % SEED_MODULUS
        )
        pairs.append(drawn)
    if settings.cutout:
        images = _cutout(images, settings, (noise_seed + 3) % SEED_MODULUS)
    return (_normalise(images, settings), labels, *pairs)


@pipeline_def
def _eval_graph(files: FileList, shard: int, shards: int, settings: PipelineSettings, normalised: bool):
    images, labels = _read_and_decode(files, shard, shards, settings, pad=True)
    size = settings.image_size
    images = fn.resize(images, resize_shorter=round(size / EVAL_CROP_FRACTION))
    images = fn.crop(images, crop=[size, size], crop_pos_x=0.5, crop_pos_y=0.5)
    return (_normalise(images, settings) if normalised else fn.transpose(images, perm=[2, 0, 1])), labels


def _iterate(pipe, names: list[str], policy: LastBatchPolicy) -> Iterator[dict[str, torch.Tensor]]:
    """The pipeline's batches as dicts of tensors. A file DALI cannot decode (the folder scan reads
    headers, not pixels) becomes a DataError naming it instead of DALI's multi-line trace."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pipe.build()
    try:  # the iterator runs the pipeline from its construction on (prefetch)
        iterator = DALIGenericIterator([pipe], names, reader_name="reader", last_batch_policy=policy, auto_reset=False)
        for (outputs,) in iterator:
            yield outputs
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines()]
        failed = next((line for line in lines if line.startswith("Failed to decode")), None)
        if failed is None:
            raise
        raise DataError(
            f"DALI could not read an image: {failed.replace('Failed to decode sample', 'sample')} "
            "(remove or replace the file)"
        ) from None


def train_batches(
    files: FileList,
    settings: PipelineSettings,
    policy: Policy | None,
    *,
    batch_size: int,
    steps: int,
    order_generator: torch.Generator,
    augment_generator: torch.Generator,
    pair_generator: torch.Generator | None = None,
    sharded: bool = True,
    copies: int = 1,
) -> Iterator[Batch]:
    """`steps` batches of one training epoch (each rank's share of `batch_size` when `sharded`).
    Seeds come from the generators: the file order from `order_generator`, crop/flip/sign/Cutout
    noise from `augment_generator`, the pair draws from `pair_generator` (else the noise's).
    With `copies` (Enlarge Batch) the engine repeats each decoded image with different pairs."""
    if copies > 1 and settings.pairs_in_pipeline:
        raise ValueError("copies are made by the engine: pairs drawn inside the pipeline cannot be repeated")
    rank, world = distributed() if sharded else (0, 1)
    order = torch.randperm(len(files), generator=order_generator)
    noise_seed = int(torch.randint(SEED_MODULUS, (1,), generator=augment_generator, device=augment_generator.device))
    in_pipeline = settings.pairs_in_pipeline and policy is not None
    joint, pair_seed = None, 0
    if in_pipeline:  # otherwise the engine draws the pairs, from the same generators as in memory
        pair_source = pair_generator if pair_generator is not None else augment_generator
        pair_seed = int(torch.randint(SEED_MODULUS, (1,), generator=pair_source, device=pair_source.device))
        probabilities = policy.joint().detach().to(torch.float64).flatten()
        joint = (probabilities / probabilities.sum()).tolist()
    # as the memory loader: a batch larger than the data is the data (every shard holds this many)
    share = max(1, min(batch_size, len(files)) // world)
    pipe = _train_graph(
        files.take(order),
        rank,
        world,
        settings,
        policy,
        joint,
        noise_seed,
        pair_seed,
        **settings.pipeline_kwargs(share, noise_seed),
    )
    iterator = _iterate(pipe, ["images", "labels", "pairs"][: 3 if in_pipeline else 2], LastBatchPolicy.DROP)
    transform = TrainTransform(
        policy, settings.mean, settings.std, crop_padding=0, flip=False, cutout=settings.cutout, copies=copies
    )
    for _, outputs in zip(range(steps), iterator):
        labels = outputs["labels"].view(-1).to(settings.device, torch.int64)
        if not settings.pairs_in_pipeline:
            images = outputs["images"].permute(0, 3, 1, 2).contiguous()
            inputs, pairs = transform(images, augment_generator, pair_generator=pair_generator)
            yield inputs, labels.repeat_interleave(copies), pairs
        else:
            pairs = outputs["pairs"].to(torch.int64) if in_pipeline else torch.zeros(len(labels), 0, dtype=torch.int64)
            yield outputs["images"], labels, pairs


def eval_batches(
    files: FileList, settings: PipelineSettings, *, batch_size: int = 256, sharded: bool = True, normalised: bool = True
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Every image of `files` once (this rank's shard when `sharded`): resized, centre-cropped,
    normalised (or uint8 NCHW when not `normalised`)."""
    rank, world = distributed() if sharded else (0, 1)
    if len(files) < world:
        raise DataError(f"{len(files)} image(s) to score cannot be shared among {world} processes")
    pipe = _eval_graph(files, rank, world, settings, normalised, **settings.pipeline_kwargs(batch_size, 0))
    for outputs in _iterate(pipe, ["images", "labels"], LastBatchPolicy.PARTIAL):
        yield outputs["images"].to(settings.device), outputs["labels"].view(-1).to(settings.device, torch.int64)


def pixel_statistics(
    files: FileList, settings: PipelineSettings, seed: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (units of 1/255) of up to STATISTICS_SAMPLE training images, as
    evaluation shows them: normalisation constants without decoding the whole folder."""
    sample = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed))[:STATISTICS_SAMPLE]
    check_decode_fits(
        len(sample), settings.image_size, 24, "the sample for the normalisation statistics"
    )  # float32 RGB, concatenated
    batches = eval_batches(files.take(sample.sort().values), settings, sharded=False, normalised=False)
    return channel_statistics(torch.cat([images.cpu() for images, _ in batches]))
