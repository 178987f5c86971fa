"""Final training (`awsaug train --policy`): a fresh model on search-train + validation with a
policy's pairs plus crop, flip and Cutout, scored on the test set.

The headline is the final-epoch test accuracy; the best over epochs is reported too, labelled
as such (the authors reported that one). `none` trains the crop/flip/Cutout baseline and
`uniform` uniform AWS-36 (the paper's shared policy θ̄; the default space's start is
`trivialaugment`), so a policy can be compared like for like. Each seed's result is appended
to <run-dir>/train/results.jsonl, marked with the invocation that trained it and when.
A comparison run again with the same settings (after a kill, say) takes the trainings an
earlier one finished from that file instead of adding a second row for each.
"""

from __future__ import annotations

import hashlib
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from awsaug_cli.atomic import refuse_link
from awsaug_cli.commands.stage import Training, open_training
from awsaug_cli.data.batches import steps_per_epoch
from awsaug_cli.devices import resolve_device
from awsaug_cli.errors import OptionError
from awsaug_cli.models import build_model, model_spec
from awsaug_cli.policy import Policy
from awsaug_cli.policy_names import resolve_policy
from awsaug_cli.reporters import Reporter, SilentReporter
from awsaug_cli.run_lock import locked
from awsaug_cli.runs import append_jsonl, read_jsonl
from awsaug_cli.seeds import stream
from awsaug_cli.training_loop import make_optimizer, run_epoch, score


@dataclass(frozen=True)
class TrainOptions:
    policy: str  # a policy file or a built-in name (policy_names.py)
    run_dir: Path = Path("runs/default")
    data: str = "digits"
    model: str | None = None
    preset: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    image_size: int = 32
    seeds: int = 1
    device: str = "auto"
    seed: int = 0
    loader: str = "auto"  # memory, dali, or auto (dali for image folders on CUDA)
    skip_bad_files: bool = False
    pairs_in_pipeline: bool = False
    enlarge_batch: int = 1  # Enlarge Batch: each image this many times per step, with different pairs
    test_every: int = 1  # score the test set every this many epochs, and after the last
    reuse_finished: bool = False  # take a training results.jsonl already holds with these settings (comparisons)
    invocation: str | None = None  # the id a comparison's rows share; a new one when None


@dataclass(frozen=True)
class TrainOutcome:
    results: list[dict[str, Any]]
    file: Path

    @property
    def final_accuracies(self) -> list[float]:
        return [result["final_test_acc"] for result in self.results]

    def summary(self) -> str:
        finals = self.final_accuracies
        spread = f" ± {statistics.stdev(finals):.2f}" if len(finals) > 1 else ""
        best = statistics.mean(result["best_test_acc"] for result in self.results)
        return (
            f"final-epoch test accuracy {statistics.mean(finals):.2f}{spread} % over {len(finals)} seed(s) "
            f"(best over epochs, for reference: {best:.2f} %)"
        )


def check_enlarge_batch(options: TrainOptions, policy: Policy | None) -> None:
    copies = options.enlarge_batch
    if copies < 1:
        raise OptionError(f"--enlarge-batch must be at least 1, got {copies}")
    if copies > 1 and options.pairs_in_pipeline:
        raise OptionError(
            "--enlarge-batch repeats images in the engine: it cannot be combined with --pairs-in-pipeline"
        )
    possible = policy.drawable_pairs() if policy is not None else copies
    if copies > possible:
        raise OptionError(f"--enlarge-batch {copies}: the policy can draw only {possible} different pairs per image")


# what makes an earlier row the same training: the policy's content as well as its name (a file
# such as search/policy.json changes when the search runs again)
SAME_TRAINING = (
    "policy",
    "policy_fingerprint",
    "data_fingerprint",
    "loader",
    "model",
    "preset",
    "epochs",
    "batch_size",
    "enlarge_batch",
    "test_every",
    "seed",
)


def policy_fingerprint(policy: Policy | None) -> str:
    """What a policy is, whatever its file is called."""
    if policy is None:
        return "none"
    digest = hashlib.sha256(repr((policy.space.key, policy.space.ops, policy.parametrization)).encode())
    for logits in (policy.first_logits, policy.second_logits):
        digest.update(logits.numpy().tobytes())
    return digest.hexdigest()[:16]


def new_invocation() -> str:
    """An id for one command's rows in results.jsonl: the rows of a killed run stay told apart."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def finished_trainings(results_file: Path) -> dict[tuple, dict[str, Any]]:
    """The rows of results.jsonl by SAME_TRAINING (rows written before those fields existed match nothing)."""
    rows = [row for row in read_jsonl(results_file) if isinstance(row, dict) and "invocation" in row]
    return {tuple(row.get(key) for key in SAME_TRAINING): row for row in rows}


def final_train(options: TrainOptions, reporter: Reporter | None = None) -> TrainOutcome:
    reporter = reporter or SilentReporter()
    if options.seeds < 1:
        raise OptionError(f"--seeds must be at least 1, got {options.seeds}")
    if options.test_every < 1:
        raise OptionError(f"--test-every must be at least 1, got {options.test_every}")
    check_enlarge_batch(options, resolve_policy(options.policy))  # a bad name or file fails before any work
    with locked(options.run_dir, reporter):
        return _train(options, reporter)


def _train(options: TrainOptions, reporter: Reporter) -> TrainOutcome:
    """The final trainings, with the run directory locked."""
    device = resolve_device(options.device)
    training = open_training(
        options,
        device,
        reporter,
        default_epochs=lambda preset: preset.final_epochs,
        val_size=None,
        merge_val=True,
        copies=options.enlarge_batch,
    )
    source = training.source
    policy = resolve_policy(options.policy, source.image_size)
    results_file = options.run_dir / "train" / "results.jsonl"
    results_file.parent.mkdir(parents=True, exist_ok=True)
    refuse_link(results_file)  # before the trainings, not after them
    reporter.info(
        f"{source.describe()}; training on {source.sizes['train']} (train + val); model {training.model} "
        f"({model_spec(training.model).description}); policy {options.policy}"
        + (f", each image × {options.enlarge_batch} per step (Enlarge Batch)" if options.enlarge_batch > 1 else "")
        + f"; {training.epochs} epochs × {options.seeds} seed(s); {device}"
    )
    invocation = options.invocation or new_invocation()
    earlier = finished_trainings(results_file) if options.reuse_finished else {}
    planned = _planned(options, training, policy)
    results = []
    for seed in range(options.seed, options.seed + options.seeds):
        done = earlier.get(tuple({**planned, "seed": seed}[key] for key in SAME_TRAINING))
        if done is not None:
            reporter.info(
                f"seed {seed}: trained before by invocation {done['invocation']} ({done['started']}), "
                f"final-epoch test accuracy {done['final_test_acc']:.2f} %; not repeated"
            )
            results.append(done)
            continue
        result = {
            **planned,
            "seed": seed,
            "invocation": invocation,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **train_seed(seed, training, policy, options, device, reporter),
        }
        append_jsonl(results_file, result)
        results.append(result)
        reporter.info(
            f"seed {seed}: final-epoch test accuracy {result['final_test_acc']:.2f} % (best over epochs "
            f"{result['best_test_acc']:.2f} % at epoch {result['best_epoch']})"
        )
    return TrainOutcome(results, results_file)


def _planned(options: TrainOptions, training: Training, policy: Policy | None) -> dict[str, Any]:
    """What makes two trainings the same (SAME_TRAINING, with the seed): recorded with each result."""
    source = training.source
    return {
        "policy": options.policy,
        "policy_fingerprint": policy_fingerprint(policy),
        "data": options.data,
        "loader": source.kind,
        "data_fingerprint": source.fingerprint(),
        "model": training.model,
        "preset": training.preset.name,
        "epochs": training.epochs,
        "batch_size": training.batch_size,
        "enlarge_batch": options.enlarge_batch,
        "test_every": options.test_every,
    }


def train_seed(
    seed: int,
    training: Training,
    policy: Policy | None,
    options: TrainOptions,
    device: torch.device,
    reporter: Reporter,
) -> dict[str, Any]:
    """One seed's fresh model trained under `policy`: its test accuracy where scored and its
    last epoch's training loss and accuracy."""
    preset, source, epochs = training.preset, training.source, training.epochs
    steps = steps_per_epoch(source.sizes["train"], training.batch_size)
    model = build_model(
        training.model,
        len(source.classes),
        bn_momentum=preset.bn_momentum,
        seed=stream(seed, "final_init").initial_seed(),
        device=device,
    )
    optimizer = make_optimizer(model, preset.final_optim)
    curve, scored = [], []
    for epoch in range(epochs):
        batches = source.train_batches(
            policy,
            batch_size=training.batch_size,
            order_generator=stream(seed, "final_order", epoch),
            augment_generator=stream(seed, "final_augment", epoch, device=device),
            copies=options.enlarge_batch,
        )
        stats = run_epoch(
            model,
            optimizer,
            batches,
            steps,
            preset.final_optim,
            first_step=epoch * steps,
            total_steps=epochs * steps,
            reporter=reporter,
            label=f"seed {seed} epoch {epoch + 1}/{epochs}",
        )
        if (epoch + 1) % options.test_every == 0 or epoch + 1 == epochs:
            curve.append(score(model, source.eval_batches("test")))
            scored.append(epoch + 1)
        reporter.progress(f"seed {seed}", epoch + 1, epochs)
    return {
        "final_test_acc": curve[-1],
        "best_test_acc": max(curve),
        "best_epoch": scored[curve.index(max(curve))],
        "test_acc_per_epoch": curve,
        "test_epochs": scored,
        "final_train_loss": stats.train_loss,
        "final_train_acc": stats.train_acc,
    }
