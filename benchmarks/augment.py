"""Throughput of the full training transform, every available method in one run, as a
Markdown table (for BENCHMARKS.md) and optionally JSON.

    python benchmarks/augment.py                      # 32x32 batch 256 and 224x224 batch 64
    python benchmarks/augment.py --case 32x32:256 --rounds 11 --json results.json

Same measurement as `awsaug bench`; this script adds the machine description and, on CUDA,
each GPU method's share of the memory-bandwidth floor (bytes moved / measured copy bandwidth).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import torch

from awsaug_cli import bench


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", action="append", type=parse_case, help="HEIGHTxWIDTH:BATCH (repeatable)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--only", action="append", help="only methods whose name contains this (repeatable)")
    parser.add_argument("--json", help="also write the measurements here")
    args = parser.parse_args(argv)

    cases = tuple(args.case) if args.case else bench.DEFAULT_CASES
    results = bench.run(cases, rounds=args.rounds, threads=args.threads, only=tuple(args.only) if args.only else None,
                        device=args.device)
    ratios = bench.speedups(results)
    bandwidth = bench.copy_bandwidth() if torch.cuda.is_available() else None

    print(f"Machine: {machine()}; {args.threads} thread(s) for torch and DALI; {args.rounds} interleaved rounds, medians.")
    if bandwidth:
        print(f"Measured device copy bandwidth: {bandwidth / 1e9:.0f} GB/s (read + write).")
    print()
    print("| case | method | images/s | ms/batch | × Pillow loop | % of memory floor |")
    print("|---|---|---:|---:|---:|---:|")
    for m in results:
        floor = "—"
        if bandwidth and "cuda" in m.method:
            floor = f"{100 * bench.floor_seconds(m.case, bandwidth) / m.median_seconds:.2f} %"
        print(f"| {m.case.label} | {m.method} | {m.images_per_second:,.0f} | {m.median_seconds * 1e3:.2f} "
              f"| {ratios[(m.method, m.case)]:.1f}× | {floor} |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": machine(), "results": bench.as_json(results)}, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
