"""Throughput of the full training transform, every available method in one run, as a
Markdown table (for BENCHMARKS.md) and optionally JSON.

    python benchmarks/augment.py                      # 32x32 batch 256 and 224x224 batch 64
    python benchmarks/augment.py --case 32x32:256 --rounds 11 --json results.json
    python benchmarks/augment.py --per-image-loader   # PolicyTransform vs the authors' pipeline in DataLoader workers

Same measurement as `awsaug bench`; this script adds the machine description and, on CUDA,
each GPU method's share of the memory-bandwidth floor (bytes moved / measured copy bandwidth).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from awsaug_cli import bench
from awsaug_cli.policy import Policy
from awsaug_cli.transforms import PolicyTransform


def parse_case(text: str) -> bench.Case:
    size, batch = text.split(":")
    height, _, width = size.partition("x")
    return bench.Case(int(height), int(width or height), int(batch))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} threads available; {gpu}; torch {torch.__version__}"


class PerImage(Dataset):
    """PIL images read as the authors' pipeline reads them — crop and flip, the op pair
    (`pair_step`), ToTensor, Cutout, Normalize — so that two loaders differ in the pair step only."""

    def __init__(self, images: torch.Tensor, pair_step: Callable[[Image.Image], Image.Image]) -> None:
        self.images = [Image.fromarray(image) for image in images.permute(0, 2, 3, 1).numpy()]
        self.pair_step = pair_step

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        img = self.images[index]
        img = bench.authors_crop_flip(img, img.height, img.width)
        return bench.authors_finish(self.pair_step(img), img.height, img.width)


def per_image_loaders(
    case: bench.Case, rounds: int, images_per_round: int = 4096, workers: int = 2
) -> dict[str, list[float]]:
    """Seconds per pass of a `workers`-worker DataLoader over `images_per_round` images (batches of
    `case`'s size), the authors' pair step against PolicyTransform's, passes alternating."""
    images = bench.sample_images(bench.Case(case.height, case.width, images_per_round))
    first_prob, second_prob = (p.to(torch.float32) for p in Policy.uniform().probs())
    steps = {
        "authors' Pillow pipeline": lambda img: bench.authors_pair(img, first_prob, second_prob),
        "PolicyTransform (PIL), same pipeline": PolicyTransform(Policy.uniform()),
    }
    loaders = {
        name: DataLoader(
            PerImage(images, step),
            batch_size=case.batch,
            num_workers=workers,
            persistent_workers=True,
            generator=torch.Generator().manual_seed(0),
        )
        for name, step in steps.items()
    }
    seconds: dict[str, list[float]] = {name: [] for name in loaders}
    for round_index in range(rounds + 1):
        for name, loader in loaders.items():
            start = time.perf_counter()
            for _ in loader:
                pass
            if round_index:  # the first pass starts the workers
                seconds[name].append(time.perf_counter() - start)
    return seconds


def print_per_image_loaders(cases: tuple[bench.Case, ...], rounds: int) -> None:
    print(
        f"Machine: {machine()}; 2 DataLoader workers (one thread each), {rounds} alternating passes of 4,096 "
        "images, medians.\n"
    )
    print("| case | per-image pipeline in the workers | images/s | × the authors' |")
    print("|---|---|---:|---:|")
    for case in cases:
        seconds = per_image_loaders(case, rounds)
        rates = {name: 4096 / statistics.median(values) for name, values in seconds.items()}
        baseline = next(iter(rates.values()))
        for name, rate in rates.items():
            print(f"| {case.label} | {name} | {rate:,.0f} | {rate / baseline:.2f}× |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", type=parse_case, help="HEIGHTxWIDTH:BATCH (repeatable)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--only", action="append", help="only methods whose name contains this (repeatable)")
    parser.add_argument("--json", help="also write the measurements here")
    parser.add_argument(
        "--per-image-loader",
        action="store_true",
        help="instead: PolicyTransform against the authors' per-image pipeline, each in a 2-worker DataLoader",
    )
    args = parser.parse_args(argv)

    cases = tuple(args.case) if args.case else bench.DEFAULT_CASES
    if args.per_image_loader:
        print_per_image_loaders(cases, args.rounds)
        return 0
    results = bench.run(
        cases,
        rounds=args.rounds,
        threads=args.threads,
        only=tuple(args.only) if args.only else None,
        device=args.device,
    )
    ratios = bench.speedups(results)
    bandwidth = bench.copy_bandwidth() if torch.cuda.is_available() else None

    print(
        f"Machine: {machine()}; {args.threads} thread(s) for torch and DALI; {args.rounds} interleaved rounds, medians."
    )
    if bandwidth:
        print(f"Measured device copy bandwidth: {bandwidth / 1e9:.0f} GB/s (read + write).")
    print()
    print("| case | method | images/s | ms/batch | × Pillow loop | % of memory floor |")
    print("|---|---|---:|---:|---:|---:|")
    for m in results:
        floor = "—"
        if bandwidth and "cuda" in m.method:
            floor = f"{100 * bench.floor_seconds(m.case, bandwidth) / m.median_seconds:.2f} %"
        print(
            f"| {m.case.label} | {m.method} | {m.images_per_second:,.0f} | {m.median_seconds * 1e3:.2f} "
            f"| {ratios[(m.method, m.case)]:.1f}× | {floor} |"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine(), "results": bench.as_json(results)}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
