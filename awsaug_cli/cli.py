"""The `awsaug` command line: parse options, resolve settings, call one library function.

Heavy modules (torch, kernels, DALI) are imported inside the commands, so `awsaug --help`
answers at once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional, TypeVar

import typer
from typer.core import TyperGroup

from awsaug_cli.atomic import atomic_write_text, check_writable

try:  # typer from 0.2x on carries its own click
    from typer._click.exceptions import UsageError
except ImportError:  # earlier typer runs on click
    from click import UsageError

from awsaug_cli.choices import EXPORT_FORMATS, LOADERS, PRETRAIN_MODES, choice_enum, plain

T = TypeVar("T")


class OneLineUsageErrors(TyperGroup):
    """A value Typer refuses while parsing a command's options (not one of the choices, not a
    number, out of range) is bad input like any other: one line and exit code 2."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            fail(error.format_message())


app = typer.Typer(
    cls=OneLineUsageErrors,
    name="awsaug",
    help="AWS AutoAugment: search data-augmentation policies with augmentation-wise weight sharing, "
    "and apply them with batched GPU kernels.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Options several commands take, declared once; each command gives its own default.
RunDir = Annotated[Path, typer.Option("--run-dir", help="Run directory (configs, weights, search state, exports).")]
DeviceName = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
SEED_RANGE = {"min": 0, "max": 2**63 - 2}  # what every random stream can be folded from (seeds.py)
Seed = Annotated[
    Optional[int],
    typer.Option("--seed", **SEED_RANGE, help="Seed of every random choice; same seed, same result on CPU."),
]
Data = Annotated[Optional[str], typer.Option("--data", help="digits (built in), or a CIFAR / IDX / image-folder path.")]
Model = Annotated[
    Optional[str], typer.Option("--model", help="tiny, small, resnet18, wrn-40-2 or wrn-28-10 (default: the preset's).")
]
PresetName = Annotated[
    Optional[str],
    typer.Option("--preset", help="tiny or paper (default: paper when training on a GPU, tiny otherwise)."),
]
Epochs = Annotated[
    Optional[int],
    typer.Option("--epochs", min=1, help="Override the preset's epochs (train: its final-training epochs)."),
]
BatchSize = Annotated[Optional[int], typer.Option("--batch-size", min=1, help="Override the preset's batch size.")]
ImageSize = Annotated[
    Optional[int],
    typer.Option("--image-size", min=8, help="Side of the built-in digits and of image-folder images (default 32)."),
]
LoaderChoice = choice_enum("LoaderChoice", LOADERS)
Loader = Annotated[
    Optional[LoaderChoice],
    typer.Option(
        "--loader",
        help="memory (decode once, keep on the device; pad-crop) or dali "
        "(image folders, a DALI pipeline per epoch; random-resized crop); auto: dali for "
        "image folders on CUDA at --image-size 64 and up when DALI is installed, memory "
        "otherwise.",
    ),
]
SkipBadFiles = Annotated[
    bool,
    typer.Option(
        "--skip-bad-files",
        help="Image folders: leave out (and name) files that are not usable images instead of stopping.",
    ),
]
PairsInPipeline = Annotated[
    bool,
    typer.Option(
        "--pairs-in-pipeline",
        help="--loader dali on CPU: apply the op pairs with "
        "awsaug's DALI ops inside the pipeline instead of the engine (slower on few "
        "cores).",
    ),
]


def options_of(kind: type[T], values: dict[str, Any]) -> T:
    """The options dataclass `kind` from a command's parameters (`locals()`), named alike; Enum
    choices as their strings."""
    return kind(**{field.name: plain(values[field.name]) for field in dataclasses.fields(kind) if field.name in values})


def fail(message: str) -> NoReturn:
    """One clear line on stderr and exit code 2 (bad input, missing prerequisites)."""
    typer.echo(f"awsaug: error: {message}", err=True)
    raise typer.Exit(2)


@contextmanager
def user_errors() -> Iterator[None]:
    """Bad input raised inside becomes one line and exit code 2; anything else stays a bug."""
    from awsaug_cli.errors import UserError

    try:
        yield
    except UserError as error:
        fail(str(error))


ValSize = Annotated[
    Optional[int], typer.Option("--val-size", min=1, help="Validation images split off the training part.")
]
ModeChoice = choice_enum("ModeChoice", PRETRAIN_MODES)
Mode = Annotated[
    Optional[ModeChoice],
    typer.Option("--mode", help="Under torchrun: ddp (one model; the default) or independent (one model per rank)."),
]
Resume = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue the run in --run-dir after its last finished epoch, "
        "with its recorded settings (an option given that differs is refused).",
    ),
]
SpaceName = Annotated[
    Optional[str],
    typer.Option(
        "--space",
        help=(
            "The search space: trivialaugment (TrivialAugmentWide's ops with Identity and 31 magnitudes, one per "
            "image, from TrivialAugment; the default) or aws36 (the paper's 36 ops, two per "
            "image, from the uniform "
            "policy; needed by search --faithful). The shared weights train under its start; the "
            "search moves in it."
        ),
    ),
]


@app.command()
def pretrain(
    data: Data = None,
    model: Model = None,
    preset: PresetName = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    val_size: ValSize = None,
    image_size: ImageSize = None,
    mode: Mode = None,
    resume: Resume = False,
    loader: Loader = None,
    skip_bad_files: SkipBadFiles = False,
    pairs_in_pipeline: PairsInPipeline = False,
    space: SpaceName = None,
    run_dir: RunDir = Path("runs/default"),
    device: DeviceName = "auto",
    seed: Seed = None,
) -> None:
    """Stage 1: train the shared weights under the start of the search space (every option not
    given: the recorded run's with --resume, else its default)."""
    from awsaug_cli.commands.pretrain import PretrainOptions
    from awsaug_cli.commands.pretrain import pretrain as run

    options = options_of(PretrainOptions, locals())
    result = _run_reported(run, options, resume_with=f"awsaug pretrain --run-dir {shlex.quote(str(run_dir))} --resume")
    if mode == "independent" or os.environ.get("RANK", "0") == "0":
        typer.echo(
            f"shared weights: {result.checkpoint} ({result.epochs} epochs, validation accuracy {result.val_acc:.2f} %)"
        )
        typer.echo(f"metrics: {result.metrics}; settings: {run_dir / 'run.json'}")


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's stop, `kill`): stopped like Ctrl-C, with the terminal's exit code."""


def _terminate(signum: int, frame: object) -> NoReturn:
    raise Terminated


def _run_reported(function, *args, resume_with: str | None = None, **kwargs):
    """Run library work with a rich reporter (closed however it ends: the live view restores the
    cursor); bad input becomes one line and exit code 2; Ctrl-C and SIGTERM say how to go on
    (`resume_with`: the command that resumes the work) and exit with 130 and 143, the lock and
    every file left as a crash would leave them (what is written is written atomically)."""
    import signal

    from rich.console import Console

    from awsaug_cli.rich_output import RichReporter

    reporter = RichReporter(Console(stderr=True))
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with user_errors():
            return function(*args, reporter=reporter, **kwargs)
    except KeyboardInterrupt as stop:
        reporter.close()
        word = "terminated" if isinstance(stop, Terminated) else "interrupted"
        typer.echo(f"awsaug: {word}" + (f"; continue with `{resume_with}`" if resume_with else ""), err=True)
        raise typer.Exit(143 if isinstance(stop, Terminated) else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        reporter.close()


Loops = Annotated[Optional[int], typer.Option("--loops", min=1, help="Search loops (paper: 350).")]
Trajectories = Annotated[Optional[int], typer.Option("--trajectories", min=1, help="Trajectories per loop (paper: 8).")]
FinetuneEpochs = Annotated[
    Optional[int],
    typer.Option(
        "--finetune-epochs",
        min=1,
        help="Fine-tune epochs (default: the preset's; about 240 optimiser steps where those are under 50; paper: 10).",
    ),
]
FinetuneLr = Annotated[
    Optional[float],
    typer.Option(
        "--finetune-lr",
        min=1e-12,
        help=(
            "The fine-tunes' constant learning rate (default: 10 × the pretrain schedule's last "
            "for awsaug's search; "
            "the paper's, the schedule's last, with --faithful)."
        ),
    ),
]
IndependentNoise = Annotated[
    bool, typer.Option("--independent-noise", help="Give each trajectory its own crop/flip/Cutout/sign randomness.")
]
Faithful = Annotated[
    bool,
    typer.Option(
        "--faithful",
        help="The paper's algorithm exactly (PPO on credit by use, best θ "
        "kept) instead of awsaug's default (twins that explore on purpose, a pooled "
        "critic).",
    ),
]
Algorithm = Annotated[Optional[str], typer.Option("--algorithm", help="With --faithful: ppo (default) or reinforce.")]
Parametrization = Annotated[
    Optional[str], typer.Option("--parametrization", help="With --faithful: sigmoid (default) or softmax.")
]
Temperature = Annotated[
    Optional[float],
    typer.Option(
        "--temperature",
        help="Default search: reward points per nat of distance from the space's start; lower moves further on "
        "the same evidence (default: the space's, 1 in trivialaugment, 6 in aws36).",
    ),
]
Tilt = Annotated[
    Optional[float],
    typer.Option(
        "--tilt",
        help="Default search: how far each pair of twin trajectories leans apart, in nats (default: the space's, "
        "1 in trivialaugment, 0.5 in aws36; larger tilts gather more evidence per loop: BENCHMARKS.md).",
    ),
]
BatchedTrajectories = Annotated[
    Optional[bool],
    typer.Option(
        "--batched-trajectories/--sequential-trajectories",
        help="Fine-tune a loop's trajectories as one stacked model, or one after another (default: "
        "batched on CUDA where they fit in memory; one after another on a CPU, where batching is slower).",
        show_default=False,
    ),
]
SearchResume = Annotated[
    bool, typer.Option("--resume", help="Continue the search in --run-dir after its last finished loop.")
]
ScoreRepeats = Annotated[
    Optional[int],
    typer.Option(
        "--score-repeats",
        min=0,
        help=(
            "At the end, the searched policy is scored beside none, the space's start, RandAugment and "
            "TrivialAugment with the search's own fine-tunes, this many per policy (default 3; 0: skip), and the "
            "verdict says which scored best."
        ),
    ),
]
SearchLoader = Annotated[
    LoaderChoice,
    typer.Option(
        "--loader",
        help="auto: the pretrain's loader (memory or dali), which the search "
        "must use: its shared weights were trained on that loader's crops and "
        "normalisation.",
    ),
]
SearchSeed = Annotated[
    Optional[int], typer.Option("--seed", **SEED_RANGE, help="Seed of the search (default: the pretrain's).")
]


@app.command()
def search(
    loops: Loops = None,
    trajectories: Trajectories = None,
    finetune_epochs: FinetuneEpochs = None,
    finetune_lr: FinetuneLr = None,
    independent_noise: IndependentNoise = False,
    faithful: Faithful = False,
    algorithm: Algorithm = None,
    parametrization: Parametrization = None,
    temperature: Temperature = None,
    tilt: Tilt = None,
    resume: SearchResume = False,
    score_repeats: ScoreRepeats = None,
    batched: BatchedTrajectories = None,
    loader: SearchLoader = LoaderChoice.auto,
    run_dir: RunDir = Path("runs/default"),
    device: DeviceName = "auto",
    seed: SearchSeed = None,
) -> None:
    """Stage 2: search the policy over fine-tunes from the shared weights."""
    from rich.console import Console

    from awsaug_cli.commands.search import SearchOptions, run_search
    from awsaug_cli.rich_output import verdict_panel

    options = options_of(SearchOptions, locals())
    outcome = _run_reported(
        run_search, options, resume_with=f"awsaug search --run-dir {shlex.quote(str(run_dir))} --resume"
    )
    if os.environ.get("RANK", "0") == "0":
        Console().print(verdict_panel(outcome.verdict, f"What the search found ({outcome.loops} loops)"))
        typer.echo(f"policy: {outcome.policy}; final policy: {outcome.final_policy}; history: {outcome.history}")


Out = Annotated[Path, typer.Argument(help="Where to write the policy.")]
FormatChoice = choice_enum("FormatChoice", EXPORT_FORMATS)
Format = Annotated[
    FormatChoice,
    typer.Option(
        "--format",
        help="awsaug (canonical JSON, exact), or albumentations, kornia, dali, fastaa (top-k pairs, "
        "coverage and KL stated).",
    ),
]
TopK = Annotated[
    int, typer.Option("--top-k", help="Pairs listed, and kept by the formats that cannot hold the full distribution.")
]
Slots = Annotated[
    int,
    typer.Option(
        "--slots",
        help="kornia, dali, fastaa: the kept pairs are repeated in this many slots, in proportion to probability.",
    ),
]
FromFile = Annotated[
    Optional[Path],
    typer.Option(
        "--from",
        help="Convert this file (canonical JSON, or the authors' agent checkpoint or history) "
        "instead of the run's searched policy.",
    ),
]


@app.command("export-policy")
def export_policy(
    out: Out,
    format: Format = FormatChoice.awsaug,
    top_k: TopK = 25,
    slots: Slots = 100,
    from_file: FromFile = None,
    run_dir: RunDir = Path("runs/default"),
    device: DeviceName = "auto",
    seed: Seed = 0,
) -> None:
    """Write the searched policy of the run (with what the search found) as canonical JSON or for another library."""
    from rich.console import Console
    from rich.table import Table

    from awsaug_cli.formats import export_policy_file
    from awsaug_cli.formats.approximation import describe
    from awsaug_cli.formats.exporters import CAVEATS
    from awsaug_cli.rich_output import verdict_panel
    from awsaug_cli.search.run_state import run_verdict

    with user_errors():
        policy, kept = export_policy_file(
            out, source=from_file, run_dir=run_dir, format=plain(format), top_k=top_k, slots=slots
        )
        verdict = None if from_file is not None else run_verdict(run_dir, policy)
    console = Console()
    if verdict is not None:
        console.print(verdict_panel(verdict, f"What the search in {run_dir} found"))
    table = Table(title=f"{out}: top {min(top_k, 10)} of {len(policy.space) ** 2} pairs")
    for column in ("op1", "op2", "probability"):
        table.add_column(column)
    for pair in policy.top_pairs(min(top_k, 10)):
        table.add_row(pair["op1"], pair["op2"], f"{100 * pair['prob']:.3f} %")
    console.print(table)
    console.print(f"{plain(format)}: " + ("the exact distribution (all pairs)" if kept is None else describe(kept)))
    if plain(format) in CAVEATS:
        console.print(CAVEATS[plain(format)]())


PolicySpec = Annotated[
    Optional[str],
    typer.Option(
        "--policy",
        help="A policy file, 'uniform' (uniform AWS-36), 'none' "
        "(crop/flip/Cutout only), 'randaugment' (N 2, M 9), "
        "'randaugment:N:M' or 'trivialaugment' (torchvision's).",
    ),
]
Compare = Annotated[
    Optional[str],
    typer.Option(
        "--compare",
        help=(
            "Instead of --policy: several policies, comma-separated (e.g. "
            "none,uniform,policy.json), each trained at "
            "the same budget; one table and train/compare.png."
        ),
    ),
]
Seeds = Annotated[int, typer.Option("--seeds", min=1, help="Repeat with this many seeds and report mean ± std.")]
EnlargeBatch = Annotated[
    int,
    typer.Option(
        "--enlarge-batch",
        min=1,
        help=(
            "Enlarge Batch (the paper's AWS + EB): each image appears this many times per step, each copy with a "
            "different pair drawn without replacement from the policy; loss averaged, same learning rate."
        ),
    ),
]
TestEvery = Annotated[
    int,
    typer.Option(
        "--test-every",
        min=1,
        help=(
            "Score the test set every this many epochs and after the last (a large test set costs a pass each "
            "time); the headline is always the last epoch's."
        ),
    ),
]


@app.command()
def train(
    policy: PolicySpec = None,
    compare: Compare = None,
    data: Data = "digits",
    model: Model = None,
    preset: PresetName = None,
    epochs: Epochs = None,
    batch_size: BatchSize = None,
    image_size: ImageSize = 32,
    seeds: Seeds = 1,
    loader: Loader = LoaderChoice.auto,
    skip_bad_files: SkipBadFiles = False,
    pairs_in_pipeline: PairsInPipeline = False,
    enlarge_batch: EnlargeBatch = 1,
    test_every: TestEvery = 1,
    run_dir: RunDir = Path("runs/default"),
    device: DeviceName = "auto",
    seed: Seed = 0,
) -> None:
    """Final training of a fresh model with a policy (or several: --compare); reports final-epoch test accuracy."""
    from awsaug_cli.commands.train import TrainOptions, final_train

    if (policy is None) == (compare is None):
        fail("give one of --policy (one policy) or --compare (several)")
    options = options_of(TrainOptions, {**locals(), "policy": policy or ""})
    if compare is not None:
        _compare(options, compare)
        return
    outcome = _run_reported(final_train, options)
    typer.echo(f"policy {policy}: {outcome.summary()}")
    typer.echo(f"results appended to {outcome.file}")


def _compare(options, spec: str) -> None:
    from rich.console import Console

    from awsaug_cli.commands.compare import compare_policies, policy_list
    from awsaug_cli.rich_output import comparison_table

    with user_errors():
        policies = policy_list(spec)
    comparison = _run_reported(compare_policies, options, policies)
    Console().print(comparison_table(comparison.results))
    typer.echo(f"results appended to {comparison.file}; picture {comparison.picture}")


Policies = Annotated[
    list[str],
    typer.Argument(
        help="Policies to score: files, or none, uniform, randaugment[:N:M], trivialaugment.", show_default=False
    ),
]
Repeats = Annotated[
    int,
    typer.Option(
        "--repeats",
        min=1,
        help="Fine-tunes per policy (each repeat with its own "
        "batch order and crops, shared by the policies); 2 or more to state errors.",
    ),
]
ScoreFinetuneEpochs = Annotated[
    Optional[int],
    typer.Option(
        "--finetune-epochs", min=1, help="Fine-tune epochs (default: the run's search's, else a default search's)."
    ),
]
Reward = Annotated[
    Optional[str],
    typer.Option(
        "--reward",
        help="calibrated-loss, loss or accuracy (default: the run's search's, else the default search's).",
    ),
]
ScoreFinetuneLr = Annotated[
    Optional[float],
    typer.Option(
        "--finetune-lr",
        min=1e-12,
        help=("The fine-tunes' learning rate (default: the run's search's, else the default search's)."),
    ),
]
JsonOut = Annotated[
    Optional[Path],
    typer.Option("--json", help="Also write the scores as a JSON list of {policy, reward, error, ...}."),
]
ScoreSeed = Annotated[
    Optional[int], typer.Option("--seed", **SEED_RANGE, help="Seed of the fine-tunes (default: the pretrain's).")
]


@app.command()
def score(
    policies: Policies,
    repeats: Repeats = 3,
    finetune_epochs: ScoreFinetuneEpochs = None,
    reward: Reward = None,
    finetune_lr: ScoreFinetuneLr = None,
    json_out: JsonOut = None,
    run_dir: RunDir = Path("runs/default"),
    device: DeviceName = "auto",
    seed: ScoreSeed = None,
) -> None:
    """Score policies with the search's own proxy: fine-tunes from the run's shared weights, common random numbers."""
    from rich.console import Console

    from awsaug_cli.commands.score import ScoreOptions, score_policies
    from awsaug_cli.rich_output import score_table

    if json_out is not None:
        with user_errors():
            check_writable(json_out)  # before the fine-tunes, not after them
    options = options_of(ScoreOptions, {**locals(), "policies": tuple(policies)})
    scores = _run_reported(score_policies, options)
    Console().print(score_table(scores))
    if json_out is not None:
        with user_errors():  # the disk may have filled during the fine-tunes
            atomic_write_text(json_out, json.dumps(scores.records(), indent=1) + "\n")
        typer.echo(f"scores: {json_out}")


PolicyFile = Annotated[str, typer.Argument(help="A policy file, or uniform, randaugment[:N:M] or trivialaugment.")]
PreviewOut = Annotated[Path, typer.Option("--out", help="Grid to write: .png or .jpg.")]
Images = Annotated[int, typer.Option("--images", min=1, help="Test images shown (rows).")]
Columns = Annotated[int, typer.Option("--columns", min=1, help="Sampled pairs per image.")]


@app.command()
def preview(
    policy_file: PolicyFile,
    data: Data = "digits",
    out: PreviewOut = Path("preview.png"),
    images: Images = 6,
    columns: Columns = 5,
    image_size: ImageSize = 32,
    run_dir: RunDir = Path("runs/default"),
    device: DeviceName = "auto",
    seed: Seed = 0,
) -> None:
    """A PNG grid of real images, clean and under pairs sampled from the policy."""
    from awsaug_cli.devices import resolve_device
    from awsaug_cli.figures import preview as draw

    with user_errors():
        draw(
            policy_file,
            data,
            out,
            images=images,
            columns=columns,
            image_size=image_size,
            seed=seed,
            device=resolve_device(device),
        )
    typer.echo(f"preview: {out}")


ReportOut = Annotated[Path, typer.Option("--out", help="Figure to write: .png or .jpg.")]


@app.command()
def report(
    out: ReportOut = Path("report.png"),
    run_dir: RunDir = Path("runs/default"),
    device: DeviceName = "auto",
    seed: Seed = 0,
) -> None:
    """Figures of a search: rewards, entropy, the pair heat map, op-kind marginals."""
    from awsaug_cli.figures import run_report

    with user_errors():
        run_report(run_dir, out)
    typer.echo(f"report: {out}")


def _parse_case(text: str):
    from awsaug_cli.bench import Case

    try:
        size, batch = text.split(":")
        height, _, width = size.partition("x")
        case = Case(int(height), int(width or height), int(batch))
    except ValueError:
        fail(f"--case {text!r}: expected HEIGHTxWIDTH:BATCH or SIZE:BATCH, e.g. 32x32:256")
    if min(case.height, case.width, case.batch) < 1:
        fail(f"--case {text!r}: sizes and batch must be positive")
    return case


Case = Annotated[
    Optional[list[str]],
    typer.Option("--case", help="HEIGHTxWIDTH:BATCH to measure (repeatable; default 32x32:256 and 224x224:64)."),
]
Rounds = Annotated[int, typer.Option("--rounds", min=1, help="Interleaved timing rounds; figures are medians.")]
Threads = Annotated[int, typer.Option("--threads", min=1, help="CPU threads for torch and DALI.")]
Only = Annotated[Optional[list[str]], typer.Option("--only", help="Measure only methods whose name contains this.")]
BenchJsonOut = Annotated[Optional[Path], typer.Option("--json", help="Also write the measurements as JSON.")]
Device = Annotated[str, typer.Option("--device", help="cpu or cuda: measure only methods on it (auto: all).")]


@app.command()
def bench(
    case: Case = None,
    rounds: Rounds = 7,
    threads: Threads = 1,
    only: Only = None,
    json_out: BenchJsonOut = None,
    device: Device = "auto",
    seed: Seed = 0,
) -> None:
    """Throughput of the full training transform: awsaug's backends against the authors' Pillow
    loop, kornia and DALI."""
    from rich.console import Console

    from awsaug_cli import bench as benchmark
    from awsaug_cli.rich_output import bench_table

    cases = tuple(_parse_case(text) for text in case) if case else benchmark.DEFAULT_CASES
    if device not in ("auto", "cpu", "cuda"):
        fail(f"--device {device!r}: bench takes auto, cpu or cuda")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            fail("--device cuda: no CUDA device here (this torch build or this machine has none)")
    if json_out is not None:
        with user_errors():
            check_writable(json_out)  # before the benchmark, not after it
    results = _run_reported(
        benchmark.run,
        cases,
        rounds=rounds,
        threads=threads,
        only=tuple(only) if only else None,
        device=device,
        seed=seed,
    )
    Console().print(bench_table(results))
    if json_out is not None:
        with user_errors():  # the disk may have filled during the benchmark
            atomic_write_text(json_out, json.dumps(benchmark.as_json(results), indent=1) + "\n")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
