"""Augmentation throughput of the full training transform, every available method in one run.

Methods: awsaug's backends (torch on CPU and CUDA, Triton on CUDA); the per-image Pillow loop that
the authors' published code runs in DataLoader workers (the baseline every ratio is against);
kornia's AutoAugment (per-batch op choice, for reference); DALI's auto_aug (CPU pipeline, GPU
where available). Rounds are interleaved across methods so that a slow spell of the machine hits
all of them alike; in each round a method runs once untimed, then once timed; each figure is
the median over rounds.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from awsaug_cli.reporters import Reporter, SilentReporter

# CIFAR-10 statistics, as in the authors' configuration.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
PADDING = 4
CUTOUT = 16
BASELINE = "pillow"


@dataclass(frozen=True)
class Case:
    height: int
    width: int
    batch: int

    @property
    def label(self) -> str:
        return f"{self.height}x{self.width}, batch {self.batch}"


DEFAULT_CASES = (Case(32, 32, 256), Case(224, 224, 64))


@dataclass
class Measurement:
    method: str
    case: Case
    seconds: list[float] = field(default_factory=list)

    @property
    def median_seconds(self) -> float:
        return float(np.median(self.seconds))

    @property
    def images_per_second(self) -> float:
        return self.case.batch / self.median_seconds


def sample_images(case: Case, seed: int = 0) -> torch.Tensor:
    """Deterministic photo-like uint8 [N, 3, H, W] images: smooth colour fields plus grain."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(case.batch, 3, max(case.height // 8, 2), max(case.width // 8, 2), generator=generator)
    smooth = F.interpolate(coarse, size=(case.height, case.width), mode="bilinear", align_corners=False)
    grain = torch.rand(case.batch, 3, case.height, case.width, generator=generator) * 0.15
    return ((smooth * 0.85 + grain) * 255).clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------- methods
# Each method prepares a callable that transforms one batch (the images it was prepared with)
# and returns when the result is ready.

Runner = Callable[[], object]


@dataclass(frozen=True)
class Method:
    """A way to run the training transform; `prepare(case, images, seed)` returns a callable
    that transforms one batch and returns when the result is ready."""

    name: str
    device: str
    prepare: Callable[[Case, torch.Tensor, int], Runner]


def _awsaug(backend: str, device: str, policy: str = "uniform") -> Callable[[Case, torch.Tensor, int], Runner]:
    """awsaug's TrainTransform with the policy `policy` names (policy_names.py): the AWS-36
    uniform policy, or torchvision's RandAugment / TrivialAugment (a magnitude per image)."""

    def prepare(case: Case, images: torch.Tensor, seed: int) -> Runner:
        from awsaug_cli.augment import TrainTransform
        from awsaug_cli.policy_names import resolve_policy

        chosen = resolve_policy(policy, (case.height, case.width))
        transform = TrainTransform(chosen, MEAN, STD, crop_padding=PADDING, cutout=CUTOUT, backend=backend)
        batch = images.to(device)
        generator = torch.Generator(device=device).manual_seed(seed)

        def run() -> object:
            out, _ = transform(batch, generator)
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        return run

    return prepare


def authors_crop_flip(img, height: int, width: int):
    """torchvision's RandomCrop(padding=4) and RandomHorizontalFlip on a PIL image, as the
    authors' pipeline calls them (torchvision is not installed: written out)."""
    from PIL import Image, ImageOps

    img = ImageOps.expand(img, border=PADDING, fill=0)
    top = int(torch.randint(0, 2 * PADDING + 1, size=(1,)).item())
    left = int(torch.randint(0, 2 * PADDING + 1, size=(1,)).item())
    img = img.crop((left, top, left + width, top + height))
    return img.transpose(Image.FLIP_LEFT_RIGHT) if torch.rand(1) < 0.5 else img


def authors_pair(img, first_prob: torch.Tensor, second_prob: torch.Tensor):
    """The agent's two torch.multinomial draws and the pair applied with Pillow, random signs."""
    from awsaug_cli.kernels.pillow_reference import apply_op
    from awsaug_cli.space import AWS36

    op1 = torch.multinomial(first_prob, 1, True).item()
    op2 = torch.multinomial(second_prob[op1], 1, True).item()
    for op in (op1, op2):
        img = apply_op(img, AWS36[op], random.choice([-1, 1]))
    return img


def authors_finish(img, height: int, width: int) -> torch.Tensor:
    """ToTensor, their Cutout(1, 16), and torchvision's Normalize (a clone, a zero-std check,
    sub_, div_)."""
    tensor = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(height, width, 3)
    tensor = tensor.permute((2, 0, 1)).contiguous().to(dtype=torch.float32).div(255)
    mask = np.ones((height, width), np.float32)
    y, x = np.random.randint(height), np.random.randint(width)
    y1, y2 = np.clip(y - CUTOUT // 2, 0, height), np.clip(y + CUTOUT // 2, 0, height)
    x1, x2 = np.clip(x - CUTOUT // 2, 0, width), np.clip(x + CUTOUT // 2, 0, width)
    mask[y1:y2, x1:x2] = 0.0
    tensor.mul_(torch.from_numpy(mask).expand_as(tensor))
    tensor = tensor.clone()
    mean = torch.as_tensor(MEAN, dtype=tensor.dtype)
    std = torch.as_tensor(STD, dtype=tensor.dtype)
    if (std == 0).any():
        raise ValueError("std evaluated to zero")
    return tensor.sub_(mean.view(-1, 1, 1)).div_(std.view(-1, 1, 1))


def _pillow(case: Case, images: torch.Tensor, seed: int) -> Runner:
    """The authors' per-image pipeline with the calls their code makes (authors_crop_flip,
    authors_pair, authors_finish), then the DataLoader's collate. The DataLoader's worker and
    inter-process costs are left out, in the baseline's favour."""
    from PIL import Image

    from awsaug_cli.policy import Policy

    first_prob, second_prob = (p.to(torch.float32) for p in Policy.uniform().probs())
    arrays = [np.ascontiguousarray(image) for image in images.permute(0, 2, 3, 1).numpy()]
    height, width = case.height, case.width
    np.random.seed(seed)

    def one(array: np.ndarray) -> torch.Tensor:
        img = authors_crop_flip(Image.fromarray(array), height, width)
        return authors_finish(authors_pair(img, first_prob, second_prob), height, width)

    return lambda: torch.stack([one(array) for array in arrays])


def _kornia(device: str) -> Callable[[Case, torch.Tensor, int], Runner]:
    def prepare(case: Case, images: torch.Tensor, seed: int) -> Runner:
        import kornia.augmentation as K
        from kornia.augmentation.auto import AutoAugment

        area = CUTOUT * CUTOUT / (case.height * case.width)
        pipeline = K.AugmentationSequential(
            K.RandomCrop((case.height, case.width), padding=PADDING),
            K.RandomHorizontalFlip(),
            AutoAugment("cifar10"),
            K.RandomErasing(scale=(area, area), ratio=(1.0, 1.0), value=0.0, p=1.0),
            K.Normalize(mean=torch.tensor(MEAN), std=torch.tensor(STD)),
        ).to(device)
        batch = images.to(device)

        def run() -> object:
            out = pipeline(batch.to(torch.float32) / 255)
            if device == "cuda":
                torch.cuda.synchronize()
            return out

        return run

    return prepare


def _dali(device: str, threads: int) -> Callable[[Case, torch.Tensor, int], Runner]:
    def prepare(case: Case, images: torch.Tensor, seed: int) -> Runner:
        # DALI's own auto_aug uses a deprecated alias and re-enables the warning itself;
        # silence it for the pipeline definition only.
        with warnings.catch_warnings():
            warnings.showwarning = lambda *args, **kwargs: None
            return _dali_pipeline(case, images, seed)

    def _dali_pipeline(case: Case, images: torch.Tensor, seed: int) -> Runner:
        from nvidia.dali import fn, pipeline_def, types
        from nvidia.dali.auto_aug import auto_augment

        @pipeline_def(
            enable_conditionals=True,
            batch_size=case.batch,
            num_threads=threads,
            device_id=0 if device == "cuda" else None,
            seed=seed,
            prefetch_queue_depth=1,
            exec_pipelined=False,
            exec_async=False,
        )
        def pipeline():
            data = fn.external_source(name="images", layout="HWC", batch=True)
            if device == "cuda":
                data = data.gpu()
            anchor = fn.random.uniform(range=(-PADDING, PADDING + 1), shape=(2,), dtype=types.INT32)
            data = fn.slice(
                data, anchor, (case.height, case.width), axis_names="HW", out_of_bounds_policy="pad", fill_values=0
            )
            data = fn.flip(data, horizontal=fn.random.coin_flip())
            data = auto_augment.auto_augment(data, shape=(case.height, case.width))
            corner = fn.random.uniform(range=(-CUTOUT // 2, max(case.height, case.width) - CUTOUT // 2), shape=(2,))
            data = fn.erase(data, anchor=corner, shape=(CUTOUT, CUTOUT), axis_names="HW", fill_value=0)
            return fn.crop_mirror_normalize(
                data, dtype=types.FLOAT, output_layout="CHW", mean=[255 * m for m in MEAN], std=[255 * s for s in STD]
            )

        pipe = pipeline()
        pipe.build()
        batch = np.ascontiguousarray(images.permute(0, 2, 3, 1).numpy())

        def run() -> object:
            pipe.feed_input("images", batch)
            (out,) = pipe.run()
            return out.as_cpu().as_array() if device == "cpu" else out

        return run

    return prepare


def _available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def methods(threads: int = 1) -> list[Method]:
    """Every method that can run on this machine, the baseline first."""
    cuda = torch.cuda.is_available()
    engines = [("torch", "cpu")]
    if cuda:
        engines += [("torch", "cuda")] + [("triton", "cuda")] * _available("triton")
    found = [Method(BASELINE, "cpu", _pillow)]
    for backend, device in engines:
        found.append(Method(f"awsaug {backend} ({device})", device, _awsaug(backend, device)))
        found += [
            Method(f"awsaug {backend} {name} ({device})", device, _awsaug(backend, device, name))
            for name in ("randaugment", "trivialaugment")
        ]
    if _available("kornia"):
        found += [
            Method(f"awsaug kornia ({d})", d, _awsaug("kornia", d)) for d in ("cpu", "cuda") if d == "cpu" or cuda
        ]
        found += [Method(f"kornia AutoAugment ({d})", d, _kornia(d)) for d in ("cpu", "cuda") if d == "cpu" or cuda]
    if _available("nvidia.dali"):
        found.append(Method("awsaug dali (cpu)", "cpu", _awsaug("dali", "cpu")))
        found += [Method(f"DALI auto_aug ({d})", d, _dali(d, threads)) for d in ("cpu", "cuda") if d == "cpu" or cuda]
    return found


def copy_bandwidth(device: str = "cuda", megabytes: int = 512, repeats: int = 10) -> float:
    """Bytes per second of a device-to-device copy (read + write): the memory floor's yardstick."""
    source = torch.empty(megabytes * 2**20, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        target.copy_(source)
    torch.cuda.synchronize()
    return 2 * source.numel() * repeats / (time.perf_counter() - start)


def floor_seconds(case: Case, bandwidth: float, out_bytes: int = 4) -> float:
    """Time to read the uint8 batch and write the normalised one at `bandwidth` bytes/s."""
    return case.batch * 3 * case.height * case.width * (1 + out_bytes) / bandwidth


def run(
    cases: tuple[Case, ...] = DEFAULT_CASES,
    rounds: int = 7,
    threads: int = 1,
    only: tuple[str, ...] | None = None,
    device: str = "auto",
    seed: int = 0,
    reporter: Reporter | None = None,
) -> list[Measurement]:
    """Time every available method (or those whose name contains one of `only`, on `device`
    unless "auto"; the baseline always) on every case, rounds interleaved."""
    reporter = reporter or SilentReporter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        chosen = [
            method
            for method in methods(threads)
            if method.name == BASELINE
            or ((only is None or any(key in method.name for key in only)) and device in ("auto", method.device))
        ]
        results: list[Measurement] = []
        for case in cases:
            images = sample_images(case, seed)
            runners = {}
            for method in chosen:
                reporter.info(f"preparing {method.name} for {case.label}")
                runner = method.prepare(case, images, seed)
                runner()  # warm-up: compilation, caches, pipeline build
                runners[method.name] = runner
            measured = {name: Measurement(name, case) for name in runners}
            for round_index in range(rounds):
                for name, runner in runners.items():
                    # An untimed call first: right after another method's batch the caches and
                    # the allocator are cold, which slowed the Pillow loop by 25-55 % here.
                    runner()
                    start = time.perf_counter()
                    runner()
                    measured[name].seconds.append(time.perf_counter() - start)
                reporter.progress(case.label, round_index + 1, rounds)
            results.extend(measured.values())
        return results
    finally:
        torch.set_num_threads(previous_threads)


def speedups(results: list[Measurement]) -> dict[tuple[str, Case], float]:
    """images/s of each measurement divided by the baseline's on the same case."""
    baseline = {m.case: m.images_per_second for m in results if m.method == BASELINE}
    return {(m.method, m.case): m.images_per_second / baseline[m.case] for m in results if m.case in baseline}


def as_json(results: list[Measurement]) -> list[dict[str, object]]:
    ratios = speedups(results)
    return [
        {
            "method": m.method,
            "height": m.case.height,
            "width": m.case.width,
            "batch": m.case.batch,
            "images_per_second": m.images_per_second,
            "speedup_vs_pillow": ratios.get((m.method, m.case)),
            "seconds": m.seconds,
        }
        for m in results
    ]
