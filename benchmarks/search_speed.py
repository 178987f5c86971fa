"""A search loop's fine-tunes one after another against batched (one stacked model), in one
process, alternating, on this machine:

    python benchmarks/search_speed.py                          # tiny preset on the built-in digits, WRN-40-2 steps
    python benchmarks/search_speed.py --rounds 5 --json speed.json

* tiny: one loop of the tiny preset's search (4 trajectories × 3 fine-tune epochs from the
  same shared weights, the built-in digits at 32×32, batch 64, TrivialAugment's space) —
  `FineTune.many` exactly as `awsaug search` runs it, with `batched` off and on.
* wrn-40-2: the model step alone (4 trajectories' forward, backward and SGD step on a batch of
  64 at 32×32), separate models against the stacked one: a whole WRN-40-2 loop on a CPU takes
  minutes per round.

Figures are medians over `--rounds`; on CUDA also the peak GPU memory of each path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from awsaug_cli.checkpoint import Checkpoint
from awsaug_cli.data.sources import Augmentation, open_source
from awsaug_cli.models import build_model
from awsaug_cli.presets import get_preset
from awsaug_cli.search.finetune import FineTune
from awsaug_cli.search.spaces import SEARCH_SPACES
from awsaug_cli.search.stacked import StackedCopies
from awsaug_cli.seeds import stream
from awsaug_cli.training_loop import make_optimizer, run_epoch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from augment import machine  # noqa: E402

TRAJECTORIES = 4


def initial_checkpoint(model: torch.nn.Module) -> Checkpoint:
    """Shared weights for timing: a fresh model's (the time does not depend on how trained they are)."""
    return Checkpoint({f"model.{name}": value.clone() for name, value in model.state_dict().items()}, {})


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, run, batched: bool) -> tuple[float, float | None]:
    """(seconds, peak GPU memory in GiB or None) of run(batched)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    synchronise(device)
    start = time.perf_counter()
    run(batched)
    synchronise(device)
    seconds = time.perf_counter() - start
    return seconds, torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def tiny_loop(device: torch.device):
    """run(batched) → one search loop of the tiny preset."""
    preset = get_preset("tiny", device)
    source = open_source(
        "digits",
        loader="memory",
        image_size=32,
        val_size=None,
        val_fraction=preset.val_fraction,
        split_seed=0,
        device=device,
        augmentation=Augmentation(preset.crop_padding, preset.cutout),
    )
    model = build_model("tiny", len(source.classes), bn_momentum=preset.bn_momentum, device=device)
    shared = initial_checkpoint(model)
    policies = [SEARCH_SPACES["trivialaugment"].start()] * TRAJECTORIES
    trajectories = list(range(TRAJECTORIES))

    def run(batched: bool) -> None:
        evaluator = FineTune(
            source,
            model,
            shared,
            preset.optim,
            epochs=preset.finetune_epochs,
            batch_size=preset.batch_size,
            seed=0,
            reward="calibrated-loss",
            learning_rate=10 * preset.optim.min_lr,
            batched=batched,
        )
        evaluator.many(policies, 0, trajectories, [stream(0, "search_pairs", 0, t) for t in trajectories])

    return run


def wrn_steps(device: torch.device, steps: int = 2):
    """run(batched) → `steps` training steps of 4 WRN-40-2 trajectories."""
    settings = get_preset("tiny", device).optim
    model = build_model("wrn-40-2", 10, device=device)
    shared = initial_checkpoint(model)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(steps, TRAJECTORIES, 64, 3, 32, 32, generator=generator).to(device)
    targets = torch.randint(0, 10, (steps, TRAJECTORIES, 64), generator=generator).to(device)

    def run(batched: bool) -> None:
        if batched:
            stacked = StackedCopies(model, shared, TRAJECTORIES, settings)
            for step in range(steps):
                stacked.train_step(inputs[step], targets[step], settings.lr)
            return
        for copy in range(TRAJECTORIES):
            optimizer = make_optimizer(model, settings)
            batches = [(inputs[step, copy], targets[step, copy], None) for step in range(steps)]
            run_epoch(model, optimizer, batches, steps, settings, first_step=0, total_steps=steps, sharded=False)

    return run


CASES = {
    "tiny": (tiny_loop, "one search loop (4 trajectories × 3 fine-tune epochs)"),
    "wrn-40-2": (wrn_steps, "2 training steps of 4 trajectories"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"machine: {machine()}; device {device}, {torch.get_num_threads()} threads")
    results = {}
    for case in args.cases:
        make, what = CASES[case]
        run = make(device)
        run(False)  # warm-up: allocations, kernel choice
        run(True)
        times: dict[str, list[float]] = {"sequential": [], "batched": []}
        memory: dict[str, float | None] = {}
        for _ in range(args.rounds):
            for name, batched in (("sequential", False), ("batched", True)):
                seconds, peak = timed(device, run, batched)
                times[name].append(seconds)
                memory[name] = peak
        medians = {name: statistics.median(values) for name, values in times.items()}
        ratio = medians["batched"] / medians["sequential"]
        results[case] = {"what": what, "seconds": times, "median": medians, "ratio": ratio, "peak_gib": memory}
        line = (
            f"{case}: {what}: sequential {medians['sequential']:.2f} s, "
            f"batched {medians['batched']:.2f} s, ratio {ratio:.2f}x"
        )
        if device.type == "cuda":
            line += f" (peak GPU memory {memory['sequential']:.2f} / {memory['batched']:.2f} GiB)"
        print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "device": str(device), "results": results}, indent=1))


if __name__ == "__main__":
    main()
