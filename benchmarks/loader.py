"""Decode + augment throughput from an image folder of JPEG photos, in one run: awsaug's DALI
loader (CPU pipeline: file reader, decoder, random-resized crop, flip, each image's op pair from
the uniform policy, Cutout, normalise) against a torch DataLoader over Pillow with the same
number of workers doing the same steps per image (torchvision's RandomResizedCrop and flip
written out, the pair applied with Pillow, Cutout, normalise).

    python benchmarks/loader.py                          # 224 px, batch 64, 2 workers, 1024 photos
    python benchmarks/loader.py --size 32 --batch 256 --images 4096 --sides 36:64

Each method reads the folder for `--rounds` epochs, interleaved; an epoch's throughput is its
images over its whole time, start-up included (pipeline build, worker start; loaders prefetch
during it, so leaving it out would flatter them); the start-up is also reported alone. Figures
are medians over rounds.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from awsaug_cli.kernels.pillow_reference import apply_op
from awsaug_cli.policy import Policy
from awsaug_cli.space import AWS36

sys.path.insert(0, str(Path(__file__).resolve().parent))
from augment import machine  # noqa: E402

MEAN, STD, CUTOUT, CLASSES = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 16, 4


def photos() -> list[np.ndarray]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    return [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), *load_sample_images().images]


def write_folder(root: Path, count: int, sides: tuple[int, int] = (200, 420), seed: int = 0) -> list[tuple[Path, int]]:
    """`count` JPEGs (quality 90) cut from real photos, each side random in `sides` (pixels)."""
    rng = np.random.default_rng(seed)
    sources, files = photos(), []
    for index in range(count):
        photo = sources[index % len(sources)]
        height, width = (int(rng.integers(sides[0], min(sides[1] + 1, side))) for side in photo.shape[:2])
        y, x = int(rng.integers(0, photo.shape[0] - height + 1)), int(rng.integers(0, photo.shape[1] - width + 1))
        label = index % CLASSES
        file = root / f"class{label}" / f"{index:05d}.jpg"
        file.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo[y : y + height, x : x + width]).save(file, quality=90)
        files.append((file, label))
    return files


def random_resized_crop(image: Image.Image, size: int, rng: random.Random) -> Image.Image:
    """torchvision's RandomResizedCrop(scale=(0.08, 1), ratio=(3/4, 4/3)), bilinear."""
    width, height = image.size
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            top, left = rng.randint(0, height - h), rng.randint(0, width - w)
            return image.resize((size, size), Image.BILINEAR, box=(left, top, left + w, top + h))
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side))


class PillowFolder(torch.utils.data.Dataset):
    """The per-image loader a Pillow pipeline runs in DataLoader workers."""

    def __init__(self, files: list[tuple[Path, int]], size: int) -> None:
        self.files, self.size = files, size
        self.first, self.second = (p.to(torch.float32) for p in Policy.uniform().probs())
        self.mean, self.std = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        rng = random.Random(torch.initial_seed() + index)
        file, label = self.files[index]
        with Image.open(file) as opened:
            image = random_resized_crop(opened.convert("RGB"), self.size, rng)
        if rng.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        op1 = int(torch.multinomial(self.first, 1).item())
        op2 = int(torch.multinomial(self.second[op1], 1).item())
        for op in (op1, op2):
            image = apply_op(image, AWS36[op], rng.choice((-1, 1)))
        tensor = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float().div_(255)
        y, x = rng.randrange(self.size), rng.randrange(self.size)
        tensor[:, max(0, y - CUTOUT // 2) : y + CUTOUT // 2, max(0, x - CUTOUT // 2) : x + CUTOUT // 2] = 0
        return tensor.sub_(self.mean).div_(self.std), label


def pillow_epochs(files, size: int, batch: int, workers: int):
    loader = torch.utils.data.DataLoader(
        PillowFolder(files, size),
        batch_size=batch,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
    )

    def epoch():
        return iter(loader)

    return epoch


def dali_epochs(files, size: int, batch: int, workers: int, pairs_in_pipeline: bool):
    from awsaug_cli.data import dali_loader
    from awsaug_cli.data.folder_files import FileList
    from awsaug_cli.seeds import seeded_generator

    listed = FileList(tuple(file for file, _ in files), torch.tensor([label for _, label in files]))
    settings = dali_loader.PipelineSettings(
        size, CUTOUT, MEAN, STD, torch.device("cpu"), threads=workers, pairs_in_pipeline=pairs_in_pipeline
    )
    counter = iter(range(10**6))

    def epoch():
        n = next(counter)
        return dali_loader.train_batches(
            listed,
            settings,
            Policy.uniform(),
            batch_size=batch,
            steps=len(files) // batch,
            order_generator=seeded_generator(0, n, 0),
            augment_generator=seeded_generator(0, n, 1),
        )

    return epoch


def timed_epoch(epoch) -> tuple[float, float]:
    """(start-up seconds: until the first batch, images/s over the whole epoch, start-up included)."""
    start = time.perf_counter()
    batches = epoch()
    images = len(next(batches)[0])
    startup = time.perf_counter() - start
    images += sum(len(batch[0]) for batch in batches)
    return startup, images / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sides", default="200:420", help="LO:HI, the photos' side lengths in pixels")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as folder:
        sides = tuple(int(side) for side in args.sides.split(":"))
        files = write_folder(Path(folder), args.images, sides)
        methods = {
            f"Pillow DataLoader ({args.workers} workers)": pillow_epochs(files, args.size, args.batch, args.workers),
            f"awsaug DALI loader, pairs in the torch engine ({args.workers} threads + main)": dali_epochs(
                files, args.size, args.batch, args.workers, pairs_in_pipeline=False
            ),
            f"awsaug DALI loader, pairs in the torch engine ({max(1, args.workers - 1)} thread(s) + main)": dali_epochs(
                files, args.size, args.batch, max(1, args.workers - 1), pairs_in_pipeline=False
            ),
            f"awsaug DALI loader, pairs in the pipeline ({args.workers} threads)": dali_epochs(
                files, args.size, args.batch, args.workers, pairs_in_pipeline=True
            ),
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
        for _ in range(args.rounds):
            for name, epoch in methods.items():
                results[name].append(timed_epoch(epoch))

    print(f"Machine: {machine()}")
    print(
        f"{args.images} JPEG photos ({args.sides} px sides) -> {args.size}x{args.size}, batch {args.batch}, "
        f"{args.rounds} interleaved epochs, medians"
    )
    print()
    print("| method | images/s (epoch, start-up included) | × Pillow DataLoader | start-up to first batch (s) |")
    print("|---|---:|---:|---:|")
    baseline = float(np.median([rate for _, rate in next(iter(results.values()))]))
    for name, runs in results.items():
        rate = float(np.median([r for _, r in runs]))
        startup = float(np.median([s for s, _ in runs]))
        print(f"| {name} | {rate:,.0f} | {rate / baseline:.2f}× | {startup:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
