"""The datasets of the search-quality benchmark, written as MNIST-family IDX folders so that the
real `awsaug` commands read them: plain real data (digits, a Fashion-MNIST subset) and
known-answer tasks built from the same real images so that named ops change what the label
means. The search never sees these names; the benchmark only reads where those ops ended.

* `fashion-polarity` (photometric): every Fashion-MNIST item is shown either as it is or
  inverted, and the label says which (class + 10 for the inverted). Invert and Solarize_mag0
  (the same operation) turn an image into one of the other label exactly.
* `digits-tilt` (geometric): every digit is shown either upright or turned by 30° (either way),
  and the label says which (digit + 10 for the turned). Rotate_mag30 turns an upright digit into
  one of the other label exactly, and a turned one to upright or 60°; Rotate_mag20 carries every
  upright digit, and half the turned ones, across the 15° midway between the labels.

In the trivialaugment space (no Invert; Rotate in 4.5° bins up to 135°, Solarize thresholds in
31 bins) the same roles fall to Solarize_mag0 (threshold 0 inverts every pixel: Invert; the
higher thresholds leave the black background black, so they make neither label), Rotate_mag31.5
and Rotate_mag27 (the bins either side of 30°) and Rotate_mag18 (the first bin past the 15°
midway).
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
SUBSET_SEED = 0


@dataclass(frozen=True)
class Task:
    name: str
    harmful: dict[str, tuple[str, ...]]  # per search space, ops that change what the label means, by construction
    needs_fashion: bool
    write: Callable[[Path], str]  # writes the data under a folder, returns the --data spec
    about: str
    model: str = "tiny"  # pretrain, search and final training
    final_epochs: int | None = None  # final training's (None: the preset's)
    pretrain_epochs: int | None = None  # the shared weights' (None: the preset's)

    def train_args(self) -> list[str]:
        """`awsaug train`'s options for this task's final training (the test set scored once, at the
        end: the final-epoch accuracy is the same as when every epoch is scored)."""
        epochs = ["--epochs", str(self.final_epochs)] if self.final_epochs else []
        return ["--model", self.model, *epochs, "--test-every", str(self.final_epochs or 10_000)]


# ---------------------------------------------------------------- IDX files


def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file (the MNIST format), gzipped."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes(), mtime=0))


def write_idx_folder(folder: Path, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return str(folder)


# ---------------------------------------------------------------- real sources


def stratified_subset(labels: np.ndarray, size: int, seed: int = SUBSET_SEED) -> np.ndarray:
    """`size` indices with every class in proportion (sorted)."""
    from awsaug_cli.data.split import stratified_split

    if size >= len(labels):
        return np.arange(len(labels))
    _, chosen = stratified_split(torch.from_numpy(labels.astype(np.int64)), size, seed)
    return chosen.numpy()


def fashion_subset(
    train_size: int, test_size: int, seed: int = SUBSET_SEED
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fixed stratified subsets of Fashion-MNIST's training and test parts (28×28 grey), drawn by `seed`."""
    from awsaug_cli.data.idx import read_idx

    if not FASHION.is_dir():
        raise FileNotFoundError(f"{FASHION}: install Debian's dataset-fashion-mnist")
    parts = []
    for prefix, size in (("train", train_size), ("t10k", test_size)):
        images = read_idx(FASHION / f"{prefix}-images-idx3-ubyte.gz", 3)
        labels = read_idx(FASHION / f"{prefix}-labels-idx1-ubyte.gz", 1)
        chosen = stratified_subset(labels, size, seed)
        parts.append((images[chosen], labels[chosen]))
    return parts[0], parts[1]


# ---------------------------------------------------------------- the tasks


def with_polarity(images: np.ndarray, labels: np.ndarray, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Half of the images (fixed by `seed`) inverted, their label moved up by `classes`."""
    inverted = np.random.default_rng(seed).random(len(images)) < 0.5
    shown = np.where(inverted[:, None, None], 255 - images, images)
    return shown.astype(np.uint8), (labels + classes * inverted).astype(np.uint8)


TILT_DEGREES = 30


def with_tilt(images: np.ndarray, labels: np.ndarray, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Half of the images (fixed by `seed`) turned by ±30° the way the Rotate ops turn them
    (Pillow, nearest, black fill; the sign at random: the training flip mirrors it anyway),
    their label moved up by `classes`."""
    from PIL import Image

    generator = np.random.default_rng(seed)
    tilted = generator.random(len(images)) < 0.5
    signs = np.where(generator.random(len(images)) < 0.5, -1, 1)
    shown = images.copy()
    for index in np.flatnonzero(tilted):
        turned = Image.fromarray(images[index]).rotate(
            TILT_DEGREES * int(signs[index]), resample=Image.NEAREST, fillcolor=0
        )
        shown[index] = np.asarray(turned)
    return shown, (labels + classes * tilted).astype(np.uint8)


def digits_images() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The built-in digits exactly as `--data digits` reads them (32×32 grey), train and test."""
    from awsaug_cli.data.builtin import read_digits

    digits = read_digits(32)
    return (
        (digits.train_images[:, 0].numpy(), digits.train_labels.numpy()),
        (digits.test_images[:, 0].numpy(), digits.test_labels.numpy()),
    )


def digits_subset(train_size: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`train_size` of the built-in digits' training images (stratified, fixed), tested on every
    other digit: the built-in test part and the training images left out."""
    (train_images, train_labels), (test_images, test_labels) = digits_images()
    chosen = stratified_subset(train_labels, train_size)
    rest = np.setdiff1d(np.arange(len(train_labels)), chosen)
    return (
        (train_images[chosen], train_labels[chosen]),
        (np.concatenate([test_images, train_images[rest]]), np.concatenate([test_labels, train_labels[rest]])),
    )


def write_digits_subset(folder: Path, train_size: int) -> str:
    return write_idx_folder(folder / f"digits-{train_size}", *digits_subset(train_size))


def write_fashion_subset(folder: Path, train_size: int, seed: int = SUBSET_SEED) -> str:
    name = f"fashion-{train_size}" if seed == SUBSET_SEED else f"fashion-{train_size}-subset{seed}"
    return write_idx_folder(folder / name, *fashion_subset(train_size, FASHION_TEST_ALL, seed))


FASHION_TRAIN, FASHION_TEST = 3000, 1000
FASHION_TEST_ALL = (
    10_000  # the plain task's A/B is scored on the whole test part: 1,000 images alone spread seeds by ±1 point
)


def write_fashion(folder: Path) -> str:
    train, test = fashion_subset(FASHION_TRAIN, FASHION_TEST_ALL)
    return write_idx_folder(folder / "fashion", train, test)


def write_fashion_polarity(folder: Path) -> str:
    (train_images, train_labels), (test_images, test_labels) = fashion_subset(FASHION_TRAIN, FASHION_TEST)
    return write_idx_folder(
        folder / "fashion-polarity",
        with_polarity(train_images, train_labels, 10, seed=1),
        with_polarity(test_images, test_labels, 10, seed=2),
    )


def write_digits_tilt(folder: Path) -> str:
    (train_images, train_labels), (test_images, test_labels) = digits_images()
    return write_idx_folder(
        folder / "digits-tilt",
        with_tilt(train_images, train_labels, 10, seed=1),
        with_tilt(test_images, test_labels, 10, seed=2),
    )


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("digits", {}, False, lambda folder: "digits", "the built-in digits (no answer known)"),
        Task(
            "fashion",
            {},
            True,
            write_fashion,
            f"Fashion-MNIST, stratified {FASHION_TRAIN} train / all {FASHION_TEST_ALL} test",
        ),
        Task(
            "fashion-polarity",
            {"aws36": ("Invert", "Solarize_mag0"), "trivialaugment": ("Solarize_mag0",)},
            True,
            write_fashion_polarity,
            "photometric: label = class + 10 if shown inverted",
        ),
        Task(
            "digits-tilt",
            {
                "aws36": ("Rotate_mag30", "Rotate_mag20"),
                "trivialaugment": ("Rotate_mag31.5", "Rotate_mag27", "Rotate_mag18"),
            },
            False,
            write_digits_tilt,
            "geometric: label = digit + 10 if shown turned by 30°",
        ),
        # where augmentation helps (benchmarks/search_quality.py helps-grid): few images, long training
        Task(
            "digits-150",
            {},
            False,
            lambda folder: write_digits_subset(folder, 150),
            "150 digits (stratified), tested on the other 1,647; small CNN, 600 epochs",
            model="small",
            final_epochs=600,
            pretrain_epochs=400,
        ),
        Task(
            "fashion-500",
            {},
            True,
            lambda folder: write_fashion_subset(folder, 500),
            "500 Fashion-MNIST images (stratified), all 10,000 test; tiny CNN, 600 epochs",
            final_epochs=600,
            pretrain_epochs=400,
        ),
        Task(  # the same setting on other images: a gain on one subset must show on another
            "fashion-500b",
            {},
            True,
            lambda folder: write_fashion_subset(folder, 500, seed=1),
            "another 500 Fashion-MNIST images (subset seed 1), all 10,000 test; tiny CNN, 600 epochs",
            final_epochs=600,
            pretrain_epochs=400,
        ),
    )
}
