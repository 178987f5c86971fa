"""Where the Triton transform's time goes on a GPU: the per-image draw (crop, flip, pair, signs,
hole; torch ops) apart from the fused kernel, over batch sizes, against the memory floor.

    python benchmarks/triton_scaling.py            # needs CUDA; a Markdown table on stdout

The fused kernel runs one program per image, so a batch smaller than the GPU's multiprocessor
count leaves most of the device idle; this table shows how the kernel's time grows with the batch.
"""

from __future__ import annotations

import statistics
import sys

import torch

from awsaug_cli import bench
from awsaug_cli.augment import TrainTransform
from awsaug_cli.kernels import triton_pairs
from awsaug_cli.policy import Policy

CASES = [bench.Case(32, 32, batch) for batch in (64, 256, 1024, 4096)] + [
    bench.Case(224, 224, batch) for batch in (16, 64, 256, 1024)
]
REPEATS = 30


def milliseconds(run, repeats: int = REPEATS) -> float:
    """Median of `repeats` CUDA-event timings of `run`, after two untimed calls."""
    run(), run()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main() -> int:
    if not torch.cuda.is_available():
        print("needs CUDA", file=sys.stderr)
        return 2
    bandwidth = bench.copy_bandwidth()
    print(
        f"{torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).multi_processor_count} SMs; "
        f"copy bandwidth {bandwidth / 1e9:.0f} GB/s; medians of {REPEATS} CUDA-event timings"
    )
    print()
    print("| case | draw ms | kernel ms | kernel images/s | kernel % of memory floor |")
    print("|---|---:|---:|---:|---:|")
    for case in CASES:
        images = bench.sample_images(case).cuda()
        transform = TrainTransform(
            Policy.uniform(), bench.MEAN, bench.STD, crop_padding=bench.PADDING, cutout=bench.CUTOUT, backend="triton"
        )
        generator = torch.Generator(device="cuda").manual_seed(0)
        draw, _ = transform.draw(images, generator)
        draw_ms = milliseconds(lambda: transform.draw(images, generator))  # noqa: B023 (timed here, in this loop)
        kernel_ms = milliseconds(lambda: triton_pairs.train_transform(images, draw, transform.settings))  # noqa: B023
        floor = 100 * bench.floor_seconds(case, bandwidth) / (kernel_ms / 1e3)
        print(
            f"| {case.label} | {draw_ms:.3f} | {kernel_ms:.3f} | {case.batch / kernel_ms * 1e3:,.0f} | {floor:.1f} % |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
