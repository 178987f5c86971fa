"""Where a run's batches come from: `--loader memory` (every part decoded once and kept on the
device as uint8; batches are index gathers) or `--loader dali` (image folders read by a DALI
pipeline each epoch). Both give the training loop the same things: the parts' sizes, the normalisation
statistics, an epoch of augmented training batches and clean evaluation batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from awsaug_cli.augment import TrainTransform
from awsaug_cli.choices import LOADERS
from awsaug_cli.data.batches import Batch, memory_batches, memory_batches_alike, memory_eval_batches, steps_per_epoch
from awsaug_cli.data.dataset import DataError, Dataset
from awsaug_cli.data.folder import decode_image
from awsaug_cli.data.folder_files import NAMED, FileList, FolderFiles, scan
from awsaug_cli.data.images import to_nchw
from awsaug_cli.data.prepared import TrainingData, prepare
from awsaug_cli.data.readers import BUILTIN, is_image_folder, load_dataset
from awsaug_cli.data.split import split_validation
from awsaug_cli.devices import distributed
from awsaug_cli.errors import OptionError
from awsaug_cli.kernels.backends import dali_importable
from awsaug_cli.memory_need import check_training_fits
from awsaug_cli.policy import Policy

if TYPE_CHECKING:
    from awsaug_cli.data.dali_loader import PipelineSettings

T = TypeVar("T")
NATIVE_SIDE = 32  # the largest side of the formats read at their own size (CIFAR 32, MNIST-family IDX 28)
AUTO_DALI_SIZE = 64  # --loader auto picks DALI for image folders from this --image-size on (with CUDA)


class DataSource(Protocol):
    kind: str  # "memory" or "dali"
    name: str
    classes: tuple[str, ...]
    image_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    sizes: dict[str, int]  # images per part: train, val, test
    skipped: tuple[Path, ...]  # unusable files left out of an image folder (--skip-bad-files)

    def fingerprint(self) -> str: ...

    def describe(self) -> str: ...

    def sample_images(self, count: int) -> torch.Tensor:
        """The first `count` training images, uint8 [N, 3, H, W] at the training size, unaugmented."""
        ...

    def train_batches(
        self,
        policy: Policy | None,
        *,
        batch_size: int,
        order_generator: torch.Generator,
        augment_generator: torch.Generator,
        pair_generator: torch.Generator | None = None,
        sharded: bool = True,
        copies: int = 1,
    ) -> Iterator[Batch]:
        """An epoch of augmented batches; with `copies` (Enlarge Batch) every image of a batch
        appears that many times, with different pairs."""
        ...

    def eval_batches(self, part: str, *, sharded: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...


@dataclass(frozen=True)
class Augmentation:
    """The preset's fixed augmentation around the policy's pairs."""

    crop_padding: int
    cutout: int


def skipped_message(skipped: tuple[Path, ...]) -> str:
    """What the user is told about the files --skip-bad-files left out."""
    named = ", ".join(str(file) for file in skipped[:NAMED])
    return f"skipped {len(skipped)} file(s) that are not usable images: {named}" + (
        " …" if len(skipped) > NAMED else ""
    )


def _describe(source: DataSource, crop: str) -> str:
    counts = ", ".join(f"{source.sizes[part]} {part}" for part in ("train", "val", "test"))
    size = "x".join(map(str, source.image_size))
    return f"{source.name}: {len(source.classes)} classes, {counts}, {size} ({source.kind} loader: {crop})"


class MemorySource:
    kind = "memory"

    def __init__(self, dataset: Dataset, data: TrainingData, augmentation: Augmentation) -> None:
        self.dataset, self.data, self.augmentation = dataset, data, augmentation
        self.name, self.classes = dataset.name, dataset.classes
        self.image_size = tuple(data.train_images.shape[-2:])
        self.mean, self.std = data.mean, data.std
        self.sizes = {"train": len(data.train_labels), "val": len(data.val_labels), "test": len(data.test_labels)}
        self.skipped = dataset.skipped

    def fingerprint(self) -> str:
        return self.dataset.fingerprint()

    def describe(self) -> str:
        return _describe(self, f"pad-{self.augmentation.crop_padding} crop")

    def sample_images(self, count: int) -> torch.Tensor:
        return self.data.train_images[:count]

    def train_batches(
        self, policy, *, batch_size, order_generator, augment_generator, pair_generator=None, sharded=True, copies=1
    ):
        return memory_batches(
            self.data.train_images,
            self.data.train_labels,
            self._transform(policy, copies),
            batch_size=batch_size,
            order_generator=order_generator,
            augment_generator=augment_generator,
            pair_generator=pair_generator,
            sharded=sharded,
        )

    def train_batches_alike(
        self,
        policies: list[Policy],
        *,
        batch_size: int,
        order_generator: torch.Generator,
        augment_generator: torch.Generator,
        pair_generators: list[torch.Generator],
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]]:
        """`train_batches` for each of `policies` (one space) under common random numbers, the W
        copies of a batch transformed in one engine call (memory_batches_alike); only the data
        in memory can (a DALI pipeline reads its own batches)."""
        return memory_batches_alike(
            self.data.train_images,
            self.data.train_labels,
            self._transform(policies[0]),
            policies,
            batch_size=batch_size,
            order_generator=order_generator,
            augment_generator=augment_generator,
            pair_generators=pair_generators,
        )

    def _transform(self, policy: Policy | None, copies: int = 1) -> TrainTransform:
        return TrainTransform(
            policy,
            self.mean,
            self.std,
            crop_padding=self.augmentation.crop_padding,
            cutout=self.augmentation.cutout,
            copies=copies,
        )

    def eval_batches(self, part, *, sharded=True):
        images, labels = getattr(self.data, f"{part}_images"), getattr(self.data, f"{part}_labels")
        return memory_eval_batches(images, labels, self.mean, self.std, sharded=sharded)


class DaliSource:
    """An image folder read by DALI pipelines (imported when first used: DALI is optional)."""

    kind = "dali"

    def __init__(self, folder: FolderFiles, parts: dict[str, FileList], settings: PipelineSettings) -> None:
        self.name, self.classes, self.parts = f"{folder.root.name} (image folder)", folder.classes, parts
        self.image_size = (settings.image_size, settings.image_size)
        self.sizes = {part: len(files) for part, files in parts.items()}
        self.skipped = folder.skipped
        self._fingerprint = folder.fingerprint()
        self.settings = settings
        self.mean, self.std = settings.mean, settings.std

    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> str:
        return _describe(self, "random-resized crop")

    def sample_images(self, count: int) -> torch.Tensor:
        side = self.settings.image_size
        return to_nchw(np.stack([decode_image(file, side) for file in self.parts["train"].files[:count]]))

    def train_batches(
        self, policy, *, batch_size, order_generator, augment_generator, pair_generator=None, sharded=True, copies=1
    ):
        from awsaug_cli.data import dali_loader

        return dali_loader.train_batches(
            self.parts["train"],
            self.settings,
            policy,
            batch_size=batch_size,
            steps=steps_per_epoch(self.sizes["train"], batch_size),
            order_generator=order_generator,
            augment_generator=augment_generator,
            pair_generator=pair_generator,
            sharded=sharded,
            copies=copies,
        )

    def eval_batches(self, part, *, sharded=True):
        from awsaug_cli.data import dali_loader

        return dali_loader.eval_batches(self.parts[part], self.settings, sharded=sharded)


def check_training_memory(data: str, image_size: int, model: str, batch_size: int, device: torch.device) -> None:
    """Before anything is decoded: whether training `model` on `data` fits the device. The
    built-in data and image folders take --image-size; CIFAR and IDX keep their own small side
    (NATIVE_SIDE at most)."""
    side = image_size if data in BUILTIN or is_image_folder(data) else NATIVE_SIDE
    check_training_fits(model, batch_size, side, device)


def check_loader(loader: str) -> None:
    if loader not in LOADERS:
        raise OptionError(f"--loader {loader!r}: choose one of {', '.join(LOADERS)}")


def resolve_loader(loader: str, data: str, device: torch.device, image_size: int) -> str:
    """ "auto": DALI for an image folder on a CUDA device when DALI is installed and the images are
    ImageNet-sized (AUTO_DALI_SIZE and up: random-resized crop is their convention), memory
    otherwise (the folder decoded once; pad-crop, the CIFAR convention)."""
    check_loader(loader)
    if loader == "auto":
        dali = device.type == "cuda" and image_size >= AUTO_DALI_SIZE and dali_importable() and is_image_folder(data)
        return "dali" if dali else "memory"
    if loader == "dali":
        if data not in BUILTIN and not Path(data).expanduser().exists():
            raise DataError(f"{data}: no such file or directory")
        if not is_image_folder(data):
            raise DataError(
                f"{data}: the DALI loader reads image folders (one sub-folder per class); use --loader memory"
            )
        if not dali_importable():
            raise DataError("--loader dali needs NVIDIA DALI (pip install nvidia-dali-cuda130)")
    return loader


def open_source(
    data: str,
    *,
    loader: str,
    image_size: int,
    val_size: int | None,
    val_fraction: float,
    split_seed: int,
    device: torch.device,
    augmentation: Augmentation,
    merge_val: bool = False,
    skip_bad_files: bool = False,
    pairs_in_pipeline: bool = False,
    statistics: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> DataSource:
    """The run's data through the chosen loader (`resolve_loader` first). The validation part is
    split off the training part with `split_seed` unless the data ships one; `merge_val` trains
    on both (final training). Both loaders make the same split of an image folder.
    `pairs_in_pipeline` (DALI loader, CPU): apply the pairs with the DALI ops inside the pipeline.
    `statistics` (DALI loader): the normalisation mean and std to use — a search passes its
    pretrain's, so its fine-tunes see the pixels the shared weights saw (the DALI loader
    estimates them from a sample decoded by this machine's decoder; the memory loader computes
    them exactly from the data, so it needs none)."""
    if loader == "memory":
        if pairs_in_pipeline:
            raise OptionError("--pairs-in-pipeline applies to the DALI loader (--loader dali)")
        dataset = load_dataset(data, image_size=image_size, skip_bad_files=skip_bad_files)
        size = val_size if val_size is not None else round(val_fraction * len(dataset.train_labels))
        prepared = prepare(dataset, val_size=size, split_seed=split_seed, device=device, merge_val=merge_val)
        return MemorySource(dataset, prepared, augmentation)
    return _dali_source(
        Path(data).expanduser(),
        image_size=image_size,
        val_size=val_size,
        val_fraction=val_fraction,
        split_seed=split_seed,
        device=device,
        augmentation=augmentation,
        merge_val=merge_val,
        skip_bad_files=skip_bad_files,
        pairs_in_pipeline=pairs_in_pipeline,
        statistics=statistics,
    )


def _on_rank_zero(compute: Callable[[], T]) -> T:
    """compute() on rank 0 only, its result — or its error — handed to every rank: one scan of
    a large folder and one statistics sample per run, not one per process."""
    rank, world = distributed()
    if world == 1:
        return compute()
    box: list = [None]
    if rank == 0:
        try:
            box = [(compute(), None)]
        except Exception as error:  # every rank must leave the broadcast, then fail alike
            box = [(None, error)]
    dist.broadcast_object_list(box, src=0)
    result, error = box[0]
    if error is not None:
        raise error
    return result


def _dali_source(
    path: Path,
    *,
    image_size: int,
    val_size: int | None,
    val_fraction: float,
    split_seed: int,
    device: torch.device,
    augmentation: Augmentation,
    merge_val: bool,
    skip_bad_files: bool,
    pairs_in_pipeline: bool,
    statistics,
) -> DaliSource:
    from awsaug_cli.data import dali_loader

    settings = dali_loader.PipelineSettings(
        image_size, augmentation.cutout, (0.0,) * 3, (1.0,) * 3, device, pairs_in_pipeline=pairs_in_pipeline
    )

    def read() -> tuple[FolderFiles, dict[str, FileList], tuple]:
        folder = scan(path, skip_bad=skip_bad_files)
        parts = dict(folder.parts)
        if "val" not in parts:
            train = parts["train"]
            size = val_size if val_size is not None else round(val_fraction * len(train))
            keep, held = split_validation(train.labels, size, split_seed, str(path))
            parts["train"], parts["val"] = train.take(keep), train.take(held)
        if merge_val:
            train, val = parts["train"], parts["val"]
            parts["train"] = FileList(train.files + val.files, torch.cat([train.labels, val.labels]))
        return folder, parts, statistics or dali_loader.pixel_statistics(parts["train"], settings, split_seed)

    folder, parts, (mean, std) = _on_rank_zero(read)
    return DaliSource(folder, parts, replace(settings, mean=mean, std=std))
