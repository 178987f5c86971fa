"""Batched trajectories (search/stacked.py): a loop's fine-tunes run as one stacked model give
every trajectory what it gets alone. In float64 the two paths agree to rounding — the arithmetic
is the same, so any slip in the stacking (a shared BatchNorm statistic, a gradient clipped over
all copies, a copy stepping on another's batch) shows. In float32 the stacked (grouped)
convolutions round differently and a fine-tune carries that on, so runs of the command line
are compared within the spread BENCHMARKS.md states."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from awsaug_cli import memory_need
from awsaug_cli.checkpoint import Checkpoint, load_checkpoint, restore
from awsaug_cli.commands.pretrain import PretrainOptions, pretrain
from awsaug_cli.commands.search import batched_fine_tunes
from awsaug_cli.errors import OptionError
from awsaug_cli.models.cnn import TinyCNN
from awsaug_cli.policy import Policy
from awsaug_cli.presets import get_preset
from awsaug_cli.run_records import PretrainRecord
from awsaug_cli.search.finetune import FineTune
from awsaug_cli.search.loop import search
from awsaug_cli.search.spaces import SEARCH_SPACES
from awsaug_cli.search.stacked import StackedCopies
from awsaug_cli.seeds import stream
from awsaug_cli.training_loop import make_optimizer, run_epoch

from .test_search_stage import run_source

REPO = Path(__file__).resolve().parents[1]
PRESET = get_preset("tiny", torch.device("cpu"))
FLOAT32_SPREAD = 0.01  # centi-nats at the fine-tune rate 0.002: 3e-4 measured (BENCHMARKS.md)


class DoubleCNN(TinyCNN):
    """The tiny CNN in float64 (its inputs cast on the way in), with the same parameter names."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.double())


def double_model() -> DoubleCNN:
    model = DoubleCNN(10).double()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = PRESET.bn_momentum
    return model


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A short pretrain in each space."""
    made = {}
    for space in SEARCH_SPACES:
        made[space] = tmp_path_factory.mktemp(f"pretrained-{space}")
        pretrain(PretrainOptions(run_dir=made[space], epochs=2, space=space))
    return made


def double_fine_tunes(run_dir: Path, *, batched: bool, common_noise: bool = True, reward: str = "calibrated-loss"):
    record = json.loads((run_dir / "run.json").read_text())["pretrain"]
    source = run_source(run_dir)
    return FineTune(
        source,
        double_model(),
        load_checkpoint(run_dir / "pretrain" / "shared.safetensors"),
        PRESET.optim,
        epochs=1,
        batch_size=record["batch_size"],
        seed=0,
        common_noise=common_noise,
        reward=reward,
        learning_rate=0.02,
        batched=batched,
    )


def test_a_stacked_step_is_each_copys_own_step():
    """Weights, BatchNorm statistics and momentum after a few steps of each copy on its own
    batches equal run_epoch's steps of that copy alone (float64), with clipping that bites."""
    torch.manual_seed(0)
    settings = replace(PRESET.optim, schedule="constant", lr=0.05, grad_clip=0.5)
    model = double_model()
    optimizer = make_optimizer(model, settings)
    warm = [(torch.randn(8, 3, 16, 16), torch.randint(0, 10, (8,)), None)]
    run_epoch(model, optimizer, warm, 1, settings, first_step=0, total_steps=1)  # momentum to restore
    tensors = {f"model.{name}": value.clone() for name, value in model.state_dict().items()}
    tensors |= {f"momentum.{n}": optimizer.state[p]["momentum_buffer"].clone() for n, p in model.named_parameters()}
    shared = Checkpoint(tensors, {})
    copies, steps = 3, 4
    inputs = torch.randn(steps, copies, 8, 3, 16, 16)
    targets = torch.randint(0, 10, (steps, copies, 8))
    stacked = StackedCopies(double_model(), shared, copies, settings)
    for step in range(steps):
        stacked.train_step(inputs[step], targets[step], settings.lr)
    for copy in range(copies):
        alone = double_model()
        alone_optimizer = make_optimizer(alone, settings)
        restore(shared, alone, alone_optimizer)
        batches = [(inputs[step, copy], targets[step, copy], None) for step in range(steps)]
        run_epoch(alone, alone_optimizer, batches, steps, settings, first_step=0, total_steps=steps)
        for name, parameter in alone.named_parameters():
            assert torch.allclose(parameter, stacked.parameters[name][copy], rtol=0, atol=1e-12), name
            momentum = alone_optimizer.state[parameter]["momentum_buffer"]
            assert torch.allclose(momentum, stacked.optimizer.state[stacked.parameters[name]]["momentum_buffer"][copy])
        for name, buffer in alone.named_buffers():
            assert torch.allclose(buffer.double(), stacked.buffers[name][copy].double(), rtol=0, atol=1e-12), name
    first = [p[0] for p in stacked.parameters.values()]
    assert any(not torch.equal(a, p[1]) for a, p in zip(first, stacked.parameters.values()))  # copies moved apart


@pytest.mark.parametrize("reward, common_noise", [("calibrated-loss", True), ("accuracy", False)])
def test_batched_fine_tunes_give_each_trajectory_its_own_result(runs, reward, common_noise):
    run_dir = runs["trivialaugment"]
    start = SEARCH_SPACES["trivialaugment"].start()
    policies = [start, Policy.uniform(start.space, "softmax"), start, start]
    trajectories = list(range(len(policies)))

    def results(batched: bool):
        evaluator = double_fine_tunes(run_dir, batched=batched, common_noise=common_noise, reward=reward)
        generators = [stream(0, "search_pairs", 0, t) for t in trajectories]
        return evaluator.many(policies, 0, trajectories, generators)

    alone, together = results(False), results(True)
    for a, b in zip(alone, together):
        assert torch.equal(a.usage, b.usage)
        assert abs(a.reward - b.reward) < 1e-6
        assert a.details["epoch_acc"] == b.details["epoch_acc"]
    assert len({t.reward for t in alone}) > 1  # the trajectories differ: each got its own pairs
    if common_noise:  # trajectories 0 and 2: the same policy, different pairs, the same noise
        assert not torch.equal(alone[0].usage, alone[2].usage)


@pytest.mark.parametrize("common_noise", [True, False])
def test_a_batched_loop_transforms_its_copies_in_one_call(runs, monkeypatch, common_noise):
    """Under common random numbers the engine transforms a step's W copies in one call
    (TrainTransform.alike); with independent noise each copy's batch is its own."""
    from awsaug_cli.augment import TrainTransform

    calls = {"alike": 0, "alone": 0}
    alike, alone = TrainTransform.alike, TrainTransform.__call__

    def counted(name, method):
        def call(*args, **kwargs):
            calls[name] += 1
            return method(*args, **kwargs)

        return call

    monkeypatch.setattr(TrainTransform, "alike", counted("alike", alike))
    monkeypatch.setattr(TrainTransform, "__call__", counted("alone", alone))
    start = SEARCH_SPACES["trivialaugment"].start()
    evaluator = double_fine_tunes(runs["trivialaugment"], batched=True, common_noise=common_noise)
    evaluator.many([start] * 3, 0, [0, 1, 2], [stream(0, "search_pairs", 0, t) for t in range(3)])
    steps = evaluator.source.sizes["train"] // evaluator.batch_size
    assert calls == ({"alike": steps, "alone": 0} if common_noise else {"alike": 0, "alone": 3 * steps})


@pytest.mark.parametrize("space, algorithm", [("trivialaugment", "contrast"), ("aws36", "ppo")])
def test_a_batched_search_equals_the_sequential_one(runs, space, algorithm):
    def run(batched: bool):
        return search(
            double_fine_tunes(runs[space], batched=batched),
            loops=2,
            trajectories=2,
            seed=0,
            space=SEARCH_SPACES[space],
            algorithm=algorithm,
        )

    alone, together = run(False), run(True)
    for a, b in zip(alone.history, together.history):
        if a["kind"] == "trajectory":
            assert a["op_rates"] == b["op_rates"]
            assert abs(a["reward"] - b["reward"]) < 1e-6
    assert torch.allclose(alone.answer.joint(), together.answer.joint(), rtol=0, atol=1e-9)


def cli(*args: str, env: dict | None = None, torchrun: bool = False) -> subprocess.CompletedProcess:
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"] if torchrun else []
    return subprocess.run(
        [sys.executable, *launcher, "-m", "awsaug_cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
    )


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "search" / "history.jsonl").read_text().splitlines()]


def test_two_processes_batched_give_the_single_process_batched_search(runs, tmp_path):
    """Each rank stacks its share (2 copies) where one process stacks all 4: the same streams
    and pairs, float32 rounding apart (grouped convolutions of 2 copies round unlike 4's)."""
    small = ("--loops", "2", "--trajectories", "4", "--finetune-epochs", "1", "--score-repeats", "0")
    small += ("--finetune-lr", "0.002")  # the paper's rate: rounding grows little (at 0.02 it grew to 0.3)
    single, double = tmp_path / "single", tmp_path / "double"
    shutil.copytree(runs["trivialaugment"], single)
    shutil.copytree(runs["trivialaugment"], double)
    one = cli("search", "--run-dir", str(single), *small, "--batched-trajectories")
    assert one.returncode == 0, one.stderr
    assert "4 trajectories × 1 fine-tune epochs" in one.stderr and "trajectories batched" in one.stderr
    two = cli("search", "--run-dir", str(double), *small, "--batched-trajectories", torchrun=True)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = history(single), history(double)
    first_loop = [(x, y) for x, y in zip(a, b) if x["kind"] == "trajectory" and x["loop"] == 0]
    assert len(first_loop) == 4
    for x, y in first_loop:
        assert x["op_rates"] == y["op_rates"]  # the same pairs drawn: the same policy, the same streams
        assert abs(x["reward"] - y["reward"]) < FLOAT32_SPREAD
    assert json.loads((double / "run.json").read_text())["search"]["world_size"] == 2


def test_when_the_search_batches(runs, monkeypatch):
    """By default on CUDA from data in memory where the copies fit; as asked otherwise, and a
    batching that would not fit is refused with the way out."""
    record = PretrainRecord.from_record(json.loads((runs["trivialaugment"] / "run.json").read_text())["pretrain"])
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not batched_fine_tunes(None, record, 4, cpu)  # slower on a CPU
    assert batched_fine_tunes(True, record, 4, cpu) and not batched_fine_tunes(False, record, 4, cuda)
    monkeypatch.setattr(memory_need, "available_bytes", lambda device: 2**40)
    assert batched_fine_tunes(None, record, 4, cuda)
    assert not batched_fine_tunes(None, replace(record, loader="dali"), 4, cuda)
    assert not batched_fine_tunes(None, record, 1, cuda)
    monkeypatch.setattr(memory_need, "available_bytes", lambda device: 2**10)
    assert not batched_fine_tunes(None, record, 4, cuda)
    with pytest.raises(OptionError, match="--sequential-trajectories"):
        batched_fine_tunes(True, record, 4, cpu)
