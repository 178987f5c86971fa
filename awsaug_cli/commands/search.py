"""Stage 2 (`awsaug search`): the policy search over fine-tunes from the run's shared weights.

Reads the pretrain of the run directory (settings from run.json, ω_share from
pretrain/shared.safetensors) and writes under search/: state.safetensors (the agent — awsaug's
critic, or with --faithful the paper's θ, Adam state, baselines and best θ — and the loop index,
saved atomically after every loop), history.jsonl (a record per trajectory and one per loop)
and, at the end, policy.json (the search's answer) and final_policy.json (the policy after the
last loop: the same for awsaug's default, the last θ for the paper's, whose answer is its best
θ). A search killed at any moment resumes with --resume from the last finished loop; every
loop's randomness derives from (seed, loop, trajectory), so on CPU the resumed θ history equals
the uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from awsaug_cli.atomic import atomic_write_text
from awsaug_cli.checkpoint import Checkpoint, load_checkpoint
from awsaug_cli.commands.pretrain import SAVED_KEYS, checkpoint_path
from awsaug_cli.commands.stage import resuming
from awsaug_cli.data.batches import steps_per_epoch
from awsaug_cli.data.sources import Augmentation, DataSource, check_loader, open_source
from awsaug_cli.devices import barrier, distributed, join_distributed, resolve_device
from awsaug_cli.errors import OptionError
from awsaug_cli.memory_need import check_fits, check_training_fits, fits, training_bytes
from awsaug_cli.models import build_model
from awsaug_cli.policy import Policy
from awsaug_cli.policy_names import resolve_policy
from awsaug_cli.presets import Preset, get_preset
from awsaug_cli.reporters import Reporter, SilentReporter
from awsaug_cli.run_lock import locked_run
from awsaug_cli.run_records import SCORE_REPEATS, PretrainRecord, SearchRecord
from awsaug_cli.runs import (
    RunError,
    append_jsonl,
    check_same,
    check_saved,
    missing_record,
    read_jsonl,
    read_run,
    rewind_jsonl,
    write_stage,
)
from awsaug_cli.search.critic_agent import CriticSettings
from awsaug_cli.search.equivalent_ops import SAMPLE, equivalent_groups, op_actions, unchanged_ops
from awsaug_cli.search.finetune import FineTune
from awsaug_cli.search.loop import (
    DEFAULT_ALGORITHM,
    FAITHFUL_ALGORITHMS,
    SearchAgent,
    SearchResult,
    check_sharing,
    make_agent,
    search,
)
from awsaug_cli.search.paper_agent import PaperSettings
from awsaug_cli.search.proxy_scores import Scores, fine_tune_rewards, ranked
from awsaug_cli.search.rewards import REWARDS
from awsaug_cli.search.run_state import load_state, read_scores, save_state, search_paths
from awsaug_cli.search.spaces import SearchSpace, search_space
from awsaug_cli.search.verdict import Verdict, group_sentence, judge, kl_from_start, strongest_evidence

RESUME_KEYS = (
    "loops",
    "trajectories",
    "finetune_epochs",
    "finetune_lr",
    "seed",
    "common_noise",
    "agent",
    "reward",
    "space",
    "pretrain_fingerprint",
)
# the fine-tune's reward per algorithm (finetune.REWARDS): the paper's accuracy for its algorithms
REWARD_OF = {DEFAULT_ALGORITHM: "calibrated-loss", **dict.fromkeys(FAITHFUL_ALGORITHMS, "accuracy")}
# the fine-tunes' constant learning rate per algorithm, × the pretrain schedule's last (min_lr): the
# paper's min_lr for its algorithms; ten times it for awsaug's, where a fine-tune at min_lr barely
# moves the weights and the proxy ranked policies against final training (BENCHMARKS.md "Proxy fidelity")
FINETUNE_LR_SCALE = {DEFAULT_ALGORITHM: 10.0, **dict.fromkeys(FAITHFUL_ALGORITHMS, 1.0)}
# Fine-tunes shorter than this many optimiser steps rank policies unlike final training, and ones
# about as long as RANKING_STEPS ranked them much as it did (BENCHMARKS.md "A second task where
# augmentation helps": 400 Fashion-MNIST images, Kendall τ 0.36 at 18 steps, 0.50 at 90, 0.79 at
# 240, 0.50 at 600 — `none` ranked as in training from 240 on; the tasks where the default's 3
# epochs sufficed had 51 and 111 steps). Not RANKING_STEPS everywhere: from 240-step fine-tunes
# the digits-tilt search let its label-changing rotations back (BENCHMARKS.md "A floor of 240 steps").
SHORT_FINE_TUNE_STEPS = 50
RANKING_STEPS = 240
# whether the algorithm's default fine-tunes are lengthened where the preset's would be short
# (default_finetune_epochs): awsaug's are; the paper's algorithms keep the paper's settings
LENGTHENS_SHORT_FINE_TUNES = {DEFAULT_ALGORITHM: True, **dict.fromkeys(FAITHFUL_ALGORITHMS, False)}


def ranking_epochs(epoch_steps: int) -> int:
    """The fewest epochs of `epoch_steps` optimiser steps that make a fine-tune RANKING_STEPS long."""
    return -(-RANKING_STEPS // epoch_steps)


def default_finetune_epochs(preset_epochs: int, epoch_steps: int, algorithm: str) -> int:
    """The preset's fine-tune epochs, unless awsaug's search would then fine-tune fewer than
    SHORT_FINE_TUNE_STEPS steps: then about RANKING_STEPS. On a few hundred images the preset's
    3 epochs are a handful of steps, easiest without augmentation, and searches from them found
    worse answers than from RANKING_STEPS-step fine-tunes (BENCHMARKS.md)."""
    if not LENGTHENS_SHORT_FINE_TUNES[algorithm] or preset_epochs * epoch_steps >= SHORT_FINE_TUNE_STEPS:
        return preset_epochs
    return ranking_epochs(epoch_steps)


def lengthened_note(preset_epochs: int, evaluator: FineTune) -> str | None:
    """A line saying so where default_finetune_epochs lengthened the preset's fine-tunes, and
    how to keep them short."""
    epochs = evaluator.epochs
    if epochs == preset_epochs:
        return None
    return (
        f"fine-tunes lengthened from the preset's {preset_epochs} epochs ({preset_epochs * evaluator.epoch_steps} "
        f"optimiser steps on this data) to {epochs} ({evaluator.steps} steps): shorter ones ranked policies unlike "
        f'final training on little data (README "Which policy should I use?"); --finetune-epochs {preset_epochs} keeps '
        f"the preset's, {epochs / preset_epochs:.3g}× cheaper"
    )


@dataclass(frozen=True)
class SearchOptions:
    run_dir: Path = Path("runs/default")
    loops: int | None = None  # None: the pretrain preset's
    trajectories: int | None = None
    finetune_epochs: int | None = None
    finetune_lr: float | None = None  # None: FINETUNE_LR_SCALE × the preset's min_lr
    resume: bool = False
    device: str = "auto"
    seed: int | None = None  # None: the pretrain's seed
    independent_noise: bool = False
    faithful: bool = False  # the paper's algorithm (paper_agent.py) instead of awsaug's default (critic_agent.py)
    algorithm: str | None = None  # faithful only: ppo (default) or reinforce
    parametrization: str | None = None  # faithful only: sigmoid (default) or softmax
    temperature: float | None = None  # default algorithm only: reward points per nat (critic_agent.py)
    tilt: float | None = None  # default algorithm only: how far twins lean apart (critic_agent.py)
    loader: str = "auto"  # auto: the pretrain's; memory or dali must be the pretrain's
    score_repeats: int | None = None  # the closing comparison's fine-tunes per policy (0: none); None: 3
    batched: bool | None = None  # a loop's fine-tunes as one stacked model; None: on CUDA where they fit

    def agent_given(self) -> bool:
        """Whether any option choosing the agent was given (else --resume keeps the recorded one)."""
        paper_given = self.algorithm is not None or self.parametrization is not None
        return self.faithful or paper_given or bool(self._critic_given())

    def _critic_given(self) -> dict[str, float]:
        """The settings of awsaug's default search given on the command line."""
        given = {"temperature": self.temperature, "tilt": self.tilt}
        return {name: value for name, value in given.items() if value is not None}

    def agent_settings(self) -> dict[str, Any]:
        """The agent's record for run.json: its algorithm and every setting."""
        if self.faithful:
            given = list(self._critic_given())
            if given:
                raise OptionError(f"--{given[0]} belongs to awsaug's default search; the paper's (--faithful) has none")
            settings = PaperSettings(
                algorithm=self.algorithm or "ppo", parametrization=self.parametrization or "sigmoid"
            )
            return dataclasses.asdict(settings)
        if self.algorithm is not None or self.parametrization is not None:
            raise OptionError("--algorithm and --parametrization choose among the paper's variants: add --faithful")
        contrast = CriticSettings(**self._critic_given())
        return {"algorithm": DEFAULT_ALGORITHM, **dataclasses.asdict(contrast)}


@dataclass(frozen=True)
class SearchOutcome:
    policy: Path  # the answer
    final_policy: Path
    history: Path
    loops: int
    verdict: Verdict


def run_search(options: SearchOptions, reporter: Reporter | None = None) -> SearchOutcome:
    reporter = reporter or SilentReporter()
    agent_settings = options.agent_settings()  # a bad combination of options fails before anything is read
    device = resolve_device(options.device)
    join_distributed(device)
    rank, world = distributed()
    if rank:
        reporter = SilentReporter()
    check_pretrained(options.run_dir, "search from")
    with locked_run(options.run_dir, rank, reporter):
        return _search(options, reporter, agent_settings, device, rank, world)


def _search(
    options: SearchOptions,
    reporter: Reporter,
    agent_settings: dict[str, Any],
    device: torch.device,
    rank: int,
    world: int,
) -> SearchOutcome:
    """The search, with the run directory locked (run.json is read again under the lock)."""
    run = read_run(options.run_dir)
    pretrain = PretrainRecord.from_record(run["pretrain"])
    shared_file, shared = shared_weights(options.run_dir, pretrain)
    preset = get_preset(pretrain.preset, device)
    source, pairs_in_pipeline = pretrain_data(options.run_dir, options.loader, pretrain, preset, device, reporter)
    space = search_space(pretrain.space)
    paths = search_paths(options.run_dir)
    recorded = _recorded_search(run, preset)
    resuming_recorded = bool(options.resume and recorded)  # also one killed before its first loop finished
    if resuming_recorded:  # what --resume was not told: the recorded search's
        options, agent_settings = _recorded_options(options, recorded)
    agent_settings, algorithm = with_space_defaults(agent_settings, space), agent_settings["algorithm"]
    equivalent, unchanged = _ops_on_data(source, space, recorded if resuming_recorded else None)
    settings = SearchRecord(
        loops=options.loops or preset.search_loops,
        trajectories=options.trajectories or preset.search_trajectories,
        finetune_epochs=options.finetune_epochs or finetune_epochs_for(preset, source, pretrain, algorithm),
        finetune_lr=options.finetune_lr or FINETUNE_LR_SCALE[algorithm] * preset.optim.min_lr,
        seed=pretrain.seed if options.seed is None else options.seed,
        common_noise=not options.independent_noise,
        agent=agent_settings,
        space=space.name,  # the pretrain's
        equivalent_ops=equivalent,
        unchanged_ops=unchanged,
        reward=recorded.reward if resuming_recorded else REWARD_OF[algorithm],
        score_repeats=SCORE_REPEATS if options.score_repeats is None else options.score_repeats,
        pretrain_fingerprint=pretrain.data_fingerprint + ":" + pretrain.model,
        pairs_in_pipeline=pairs_in_pipeline,
        world_size=world,
        device=device.type,
    )
    check_sharing(settings.trajectories, world)  # before run.json records a search that cannot run
    agent = _agent(settings, space, reporter)
    _start(options, settings, agent, recorded, paths, rank, reporter)
    batched = batched_fine_tunes(options.batched, pretrain, _copies_at_once(settings, space, world), device)
    evaluator = _fine_tunes(source, pretrain, preset, shared, settings, device, batched, reporter)
    plan = _plan_line(settings, evaluator.steps, shared_file, device, batched)
    report_plan(reporter, plan, evaluator, None if options.finetune_epochs else preset.finetune_epochs)
    result = search(
        evaluator,
        loops=settings.loops,
        trajectories=settings.trajectories,
        seed=settings.seed,
        agent=agent,
        on_loop=_loop_recorder(paths, settings, rank, reporter, REWARDS[settings.reward][1], agent.loop),
    )
    verdict = _conclude(result, evaluator, space, settings, pretrain, paths, agent.loop, rank, reporter)
    barrier()  # every rank returns once the policies are written
    return SearchOutcome(paths["answer"], paths["final"], paths["history"], agent.loop, verdict)


def _agent(settings: SearchRecord, space: SearchSpace, reporter: Reporter) -> SearchAgent:
    """The recorded search's agent; the ops it judges as one (identical on this data) said once."""
    if settings.equivalent_ops:
        reporter.info("ops that act identically on this data, judged as one: " + sentences(settings.equivalent_ops))
    return make_agent(
        settings.trajectories,
        settings.seed,
        space,
        equivalent=settings.equivalent_ops,
        unchanged=settings.unchanged_ops,
        **settings.agent,
    )


def finetune_epochs_for(preset: Preset, source: DataSource, pretrain: PretrainRecord, algorithm: str) -> int:
    """default_finetune_epochs on the pretrain's data and batch size."""
    epoch_steps = steps_per_epoch(source.sizes["train"], pretrain.batch_size)
    return default_finetune_epochs(preset.finetune_epochs, epoch_steps, algorithm)


def _copies_at_once(settings: SearchRecord, space: SearchSpace, world: int) -> int:
    """The most fine-tunes batched together: a rank's share of a loop's trajectories, or the
    policies the answer is compared with at the end."""
    compared = len(comparison_names(space)) if settings.score_repeats else 1
    return max(settings.trajectories // world, compared)


def with_space_defaults(agent: dict[str, Any], space: SearchSpace) -> dict[str, Any]:
    """The agent's record with the space's temperature and tilt where awsaug's search was given
    none (recorded, so a resumed search keeps them)."""
    if agent["algorithm"] != DEFAULT_ALGORITHM:
        return agent
    defaults = {"temperature": space.temperature, "tilt": space.tilt}
    return {**agent, **{name: value for name, value in defaults.items() if agent.get(name) is None}}


def _plan_line(settings: SearchRecord, steps: int, shared_file: Path, device: torch.device, batched: bool) -> str:
    return (
        f"searching {settings.loops} loops × {settings.trajectories} trajectories × "
        f"{settings.finetune_epochs} fine-tune epochs ({steps} steps, learning rate {settings.finetune_lr:g}) from "
        f"{shared_file} on {device}, a loop's trajectories {'batched' if batched else 'one after another'}"
    )


def report_plan(reporter: Reporter, plan: str, evaluator: FineTune, preset_epochs: int | None) -> None:
    """What the fine-tunes will be, and a note on their length: lengthened_note's where the
    length was not given (`preset_epochs`, the preset's, else None), else short_fine_tune_note's."""
    reporter.info(plan)
    lengthened = lengthened_note(preset_epochs, evaluator) if preset_epochs else None
    note = lengthened or short_fine_tune_note(evaluator)
    if note:
        reporter.info(note)


def short_fine_tune_note(evaluator: FineTune) -> str | None:
    """Advice where a fine-tune is too few optimiser steps for its reward to show what a policy
    does in training (a few steps are easiest without augmentation): how many epochs make it
    RANKING_STEPS long (given where the user or the paper's settings chose the length)."""
    if evaluator.steps >= SHORT_FINE_TUNE_STEPS:
        return None
    epochs = ranking_epochs(evaluator.epoch_steps)
    return (
        f"a fine-tune here is only {evaluator.steps} optimiser steps: on 400 training images the proxy ranked "
        f"policies unlike final training until its fine-tunes were about {RANKING_STEPS} steps long (README "
        f'"Which policy should I use?"); --finetune-epochs {epochs} makes them so, at '
        f"{epochs / evaluator.epochs:.3g}× the cost"
    )


def batched_fine_tunes(asked: bool | None, pretrain: PretrainRecord, copies: int, device: torch.device) -> bool:
    """Whether fine-tunes run `copies` at a time as one stacked model (search/stacked.py): as
    asked (refused where that many training steps would not fit), else on CUDA from the memory
    loader where they fit — on a CPU the stacked model is slower than the fine-tunes in turn
    (BENCHMARKS.md "Batched trajectories"), and from image folders each copy would read through
    a DALI pipeline of its own."""
    side = pretrain.image_size[-1]
    need = training_bytes(pretrain.model, pretrain.batch_size, side) * copies
    if asked is None:
        return device.type == "cuda" and pretrain.loader == "memory" and copies > 1 and fits(need, device)
    if asked:
        check_fits(
            need,
            device,
            f"{copies} fine-tunes batched at {side}×{side} with batch {pretrain.batch_size}",
            "Use --sequential-trajectories.",
        )
    return asked


def _recorded_search(run: dict[str, Any], preset: Preset) -> SearchRecord | None:
    """run.json's search record; one from before the fine-tunes' learning rate was a setting ran at
    the preset's min_lr."""
    if not run.get("search"):
        return None
    recorded = SearchRecord.from_record(run["search"])
    return (
        recorded if recorded.finetune_lr is not None else dataclasses.replace(recorded, finetune_lr=preset.optim.min_lr)
    )


def sentences(groups: list[list[str]]) -> str:
    return "; ".join(map(group_sentence, groups))


def _fine_tunes(
    source: DataSource,
    pretrain: PretrainRecord,
    preset: Preset,
    shared: Checkpoint,
    settings: SearchRecord,
    device: torch.device,
    batched: bool,
    reporter: Reporter,
) -> FineTune:
    """The search's evaluator: fine-tunes of a model of the pretrain's from the shared weights."""
    model = build_model(pretrain.model, len(source.classes), bn_momentum=preset.bn_momentum, device=device)
    return FineTune(
        source,
        model,
        shared,
        preset.optim,
        epochs=settings.finetune_epochs,
        batch_size=pretrain.batch_size,
        seed=settings.seed,
        common_noise=settings.common_noise,
        reward=settings.reward,
        learning_rate=settings.finetune_lr,
        batched=batched,
        reporter=reporter,
    )


def _conclude(
    result: SearchResult,
    evaluator: FineTune,
    space: SearchSpace,
    settings: SearchRecord,
    pretrain: PretrainRecord,
    paths: dict[str, Path],
    loops: int,
    rank: int,
    reporter: Reporter,
) -> Verdict:
    """The closing comparison, the verdict on the answer and, on rank 0, the policies written."""
    scores = closing_comparison(
        evaluator, result.answer, space, settings, tuple(pretrain.image_size), paths, rank, reporter
    )
    unit = REWARDS[settings.reward][1]
    history = read_jsonl(paths["history"]) if rank == 0 else result.history
    verdict = judge(result.answer, history, unit, settings.equivalent_ops, scores, settings.unchanged_ops)
    if rank == 0:
        _save_policies(result, pretrain, settings, loops, verdict, paths)
    return verdict


def closing_comparison(
    evaluator: FineTune,
    answer: Policy,
    space: SearchSpace,
    settings: SearchRecord,
    image_size: tuple[int, int],
    paths: dict[str, Path],
    rank: int,
    reporter: Reporter,
) -> Scores | None:
    """The answer scored beside the policies that need no search (none, the space's start,
    RandAugment, TrivialAugment) with the search's own fine-tunes, settings.score_repeats per
    policy; kept in search/scores.json, so a finished search that is resumed does not redo them.
    None when the search was told to skip it."""
    repeats = settings.score_repeats
    if repeats < 1:
        return None
    kept = read_scores(paths["scores"])
    if kept is not None:
        return kept
    names = comparison_names(space)
    policies = [answer, *(resolve_policy(name, image_size) for name in names[1:])]
    reporter.info(
        f"comparing the searched policy with {', '.join(names[1:])} on the search's proxy: "
        f"{len(names)} policies × {repeats} fine-tunes"
    )
    rewards = fine_tune_rewards(evaluator, names, policies, repeats, settings.seed, reporter)
    scores = Scores(
        ranked(names, rewards), REWARDS[settings.reward][1], settings.reward, settings.finetune_epochs, repeats
    )
    if rank == 0:
        atomic_write_text(paths["scores"], json.dumps(scores.records(), indent=1) + "\n")
    return scores


def comparison_names(space: SearchSpace) -> list[str]:
    """The closing comparison's policies: the answer, then those that need no search."""
    return ["searched", *dict.fromkeys(("none", space.start_name, "randaugment", "trivialaugment"))]


def check_pretrained(run_dir: Path, purpose: str) -> None:
    """The run directory holds a pretrain's record (`purpose`: what the caller does with it)."""
    if not read_run(run_dir).get("pretrain"):
        if checkpoint_path(run_dir, "ddp", 0).exists():
            raise missing_record(run_dir, "pretrain", checkpoint_path(run_dir, "ddp", 0))
        raise RunError(f"{run_dir}: no pretrain run to {purpose}; run `awsaug pretrain --run-dir {run_dir}` first")


def shared_weights(run_dir: Path, pretrain: PretrainRecord) -> tuple[Path, Checkpoint]:
    """The finished pretrain's shared weights, checked against its run.json record."""
    if pretrain.mode != "ddp":
        raise RunError(f"{run_dir}: the search needs one shared model (a pretrain with --mode ddp)")
    shared_file = checkpoint_path(run_dir, "ddp", 0)
    shared = load_checkpoint(shared_file)
    meta = shared.metadata
    check_saved(
        pretrain.record(), meta.get("settings", meta), SAVED_KEYS, shared_file
    )  # older checkpoints: model, data_fingerprint
    if meta.get("epoch") != pretrain.epochs:
        raise RunError(
            f"{shared_file}: the pretrain finished {meta.get('epoch')} of {pretrain.epochs} epochs; "
            "complete it with `awsaug pretrain --resume` first"
        )
    return shared_file, shared


def pretrain_data(
    run_dir: Path, asked_loader: str, pretrain: PretrainRecord, preset: Preset, device: torch.device, reporter: Reporter
) -> tuple[DataSource, bool]:
    """The pretrain's data, read as the pretrain read it (loader, split, normalisation), and
    whether the DALI pipeline applies the pairs (the pretrain's --pairs-in-pipeline, on CPU only)."""
    loader = pretrain.loader
    check_loader(asked_loader)
    if asked_loader not in ("auto", loader):
        raise RunError(
            f"the pretrain in {run_dir} read its data with --loader {loader}; fine-tunes of "
            f"its shared weights must read the data the same way (crops, normalisation)"
        )
    check_training_fits(pretrain.model, pretrain.batch_size, pretrain.image_size[-1], device)
    asked = pretrain.pairs_in_pipeline
    in_pipeline = asked and device.type == "cpu"
    if asked and not in_pipeline:
        reporter.info(
            "the pretrain applied the pairs inside the DALI pipeline (--pairs-in-pipeline, a CPU path); on "
            f"{device.type} the engine applies them, from the same distribution"
        )
    source = open_source(
        pretrain.data,
        loader=loader,
        image_size=pretrain.image_size[-1],
        val_size=pretrain.data_sizes["val"],
        val_fraction=preset.val_fraction,
        split_seed=pretrain.split_seed,
        device=device,
        augmentation=Augmentation(preset.crop_padding, preset.cutout),
        skip_bad_files=pretrain.skip_bad_files,
        pairs_in_pipeline=in_pipeline,
        statistics=(tuple(pretrain.mean), tuple(pretrain.std)),
    )
    if source.fingerprint() != pretrain.data_fingerprint:
        raise RunError(
            f"the data at {pretrain.data} changed since the pretrain (fingerprint {source.fingerprint()}, "
            f"recorded {pretrain.data_fingerprint})"
        )
    return source, in_pipeline


def _ops_on_data(
    source: DataSource, space: SearchSpace, recorded: SearchRecord | None
) -> tuple[list[list[str]], list[str]]:
    """The ops identical on this data and those that leave it unchanged, measured on a sample
    (equivalent_ops.py); a resumed search keeps the unchanged ops its critic was fitted with
    (none for a search recorded before the critic measured from them)."""
    images = source.sample_images(SAMPLE)
    actions = op_actions(images, space.space)
    unchanged = recorded.unchanged_ops if recorded is not None else unchanged_ops(actions, images)
    return equivalent_groups(actions), unchanged


def _recorded_options(options: SearchOptions, recorded: SearchRecord) -> tuple[SearchOptions, dict[str, Any]]:
    """--resume's options: each one not given is the recorded search's (the agent too)."""
    given = {
        "loops": options.loops,
        "trajectories": options.trajectories,
        "finetune_epochs": options.finetune_epochs,
        "finetune_lr": options.finetune_lr,
        "seed": options.seed,
        "score_repeats": options.score_repeats,
    }
    options = dataclasses.replace(
        options, **{key: getattr(recorded, key) for key, value in given.items() if value is None}
    )
    return options, options.agent_settings() if options.agent_given() else recorded.agent


def _start(
    options: SearchOptions,
    settings: SearchRecord,
    agent: SearchAgent,
    recorded: SearchRecord | None,
    paths: dict[str, Path],
    rank: int,
    reporter: Reporter,
) -> None:
    """Resume the agent from its saved state (checked against run.json and the options), or
    record a new search; every rank checks before rank 0 writes."""
    resumed = resuming(
        options.run_dir,
        "search",
        paths["state"],
        resume=options.resume,
        recorded=recorded.record() if recorded else None,
        unit="loop",
        reporter=reporter,
    )
    if resumed:
        tensors, scalars, saved, last_records = load_state(paths["state"])
        check_saved(recorded.record(), saved, RESUME_KEYS, paths["state"])
        check_same(recorded.record(), settings.record(), RESUME_KEYS, f"the search in {options.run_dir}")
        agent.load_state(tensors, scalars)
    barrier()
    if rank == 0:
        if resumed:
            rewind_jsonl(paths["history"], "loop", agent.loop - 1, last_records)
        else:
            write_stage(options.run_dir, "search", settings.record())
            paths["history"].parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(paths["history"], "")  # replaces a link planted there, never its target
            paths["scores"].unlink(missing_ok=True)  # an earlier search's comparison
    barrier()


def _loop_recorder(
    paths: dict[str, Path], settings: SearchRecord, rank: int, reporter: Reporter, unit: str, first_loop: int
) -> Callable[[SearchAgent, list[dict[str, Any]]], None]:
    """What runs after every loop: the state saved, then the history appended (rank 0), and the
    live status with the time left."""
    started = time.perf_counter()

    def after_loop(agent: SearchAgent, records: list[dict[str, Any]]) -> None:
        if rank == 0:
            save_state(
                paths["state"], agent, settings.record(), records
            )  # first: history never runs ahead of the state
            for record in records:
                append_jsonl(paths["history"], record)
        elapsed = time.perf_counter() - started
        remaining = elapsed / (agent.loop - first_loop) * (settings.loops - agent.loop)
        reporter.status(
            f"search loop {agent.loop}/{settings.loops}",
            loop_rows(records[-1], agent, unit) + [("elapsed / left", f"{elapsed:.0f} s / {remaining:.0f} s")],
        )

    return after_loop


def _save_policies(
    result: SearchResult,
    pretrain: PretrainRecord,
    settings: SearchRecord,
    loops_run: int,
    verdict: Verdict,
    paths: dict[str, Path],
) -> None:
    """The answer (with what the search found) and the final policy, with their provenance."""
    provenance = {
        "dataset": pretrain.data_name,
        "model": pretrain.model,
        "preset": pretrain.preset,
        "seed": settings.seed,
        "loops_run": loops_run,
        "algorithm": settings.agent["algorithm"],
    }
    result.answer.provenance.update(provenance, **answer_provenance(result.history, verdict))
    result.final_policy.provenance.update(provenance, final=True)
    result.answer.save(paths["answer"])
    result.final_policy.save(paths["final"])


def loop_rows(summary: dict[str, Any], agent: SearchAgent, unit: str) -> list[tuple[str, str]]:
    """The live status after a loop: the reward, how far the policy moved and on what evidence."""
    rows = [("mean reward", f"{summary['mean_reward']:.2f} {unit}")]
    if "best_reward" in summary:  # the paper's agent
        rows.append(("best mean reward", f"{summary['best_reward']:.2f} {unit} (loop {summary['best_loop'] + 1})"))
    if summary.get("effect_errors"):  # awsaug's critic, once it has residual freedom
        z = {
            name: e / s if s and s > 0 else 0.0
            for e, s, name in zip(summary["effects"], summary["effect_errors"], agent.space.names)
        }
        rows.append(
            (
                "strongest evidence",
                ", ".join(f"{name} z={value:+.1f}" for name, value in strongest_evidence(z))
                + f" (evidence from |z| ≥ {summary['evidence_threshold']:.1f})",
            )
        )
    rows += [
        ("KL from the start", f"{kl_from_start(agent.policy()):.3f} nats"),
        ("top pairs", ", ".join(f"{p['op1']}+{p['op2']} {100 * p['prob']:.2f}%" for p in summary["top_pairs"][:3])),
    ]
    if summary["gauge"]:  # twin ops of the space (AWS-36's Invert and Solarize_mag0)
        rows.append(("noise gauge", ", ".join(f"{name} {100 * p:.2f}%" for name, p in summary["gauge"].items())))
    return rows


def answer_provenance(history: list[dict[str, Any]], verdict: Verdict) -> dict[str, Any]:
    """What the answer records of how it was found: the paper's best loop, and the verdict."""
    loops = [record for record in history if record.get("kind") == "loop"]
    found = {
        "found": verdict.found,
        "evident": verdict.evident,
        "kl_from_start": verdict.kl,
        "compared_on_proxy": verdict.comparison,
    }
    if loops and "best_reward" in loops[-1]:
        return {**found, "best_reward": loops[-1]["best_reward"], "best_loop": loops[-1]["best_loop"]}
    return found
