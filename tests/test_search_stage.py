"""`awsaug search`: files, exact resume after SIGKILL, common random numbers, two processes,
refusals."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from awsaug_cli.checkpoint import FORMAT_NAME, load_checkpoint, read_tensors, write_tensors
from awsaug_cli.cli import app
from awsaug_cli.commands.pretrain import PretrainOptions, pretrain
from awsaug_cli.commands.search import SearchOptions, run_search
from awsaug_cli.data.sources import Augmentation, open_source
from awsaug_cli.models import build_model
from awsaug_cli.policy import Policy
from awsaug_cli.presets import get_preset
from awsaug_cli.runs import RunError
from awsaug_cli.search.finetune import FineTune
from awsaug_cli.search.loop import SearchError, Trial, search
from awsaug_cli.search.spaces import SEARCH_SPACES
from awsaug_cli.seeds import seeded_generator

from .fake_datasets import write_folder

REPO = Path(__file__).resolve().parents[1]
SMALL = ("--loops", "3", "--trajectories", "2", "--finetune-epochs", "1", "--score-repeats", "0")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("pretrained")
    pretrain(PretrainOptions(run_dir=run_dir, epochs=2, space="aws36"))
    return run_dir


@pytest.fixture(scope="module")
def pretrained_trivialaugment(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("pretrained-ta")
    pretrain(PretrainOptions(run_dir=run_dir, epochs=2, space="trivialaugment"))
    return run_dir


SPACES = {"aws36": "pretrained", "trivialaugment": "pretrained_trivialaugment"}  # space → its pretrain fixture


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "awsaug_cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "faithful, algorithm, agent_fields",
    [
        (False, "contrast", {"effects", "effect_errors", "reward_noise"}),
        (True, "ppo", {"kl", "agent_lr", "best_reward", "best_loop"}),
    ],
)
def test_search_writes_state_history_and_policies(pretrained, tmp_path, faithful, algorithm, agent_fields):
    run_dir = copy_run(pretrained, tmp_path / "run")
    outcome = run_search(
        SearchOptions(run_dir=run_dir, loops=2, trajectories=2, finetune_epochs=1, faithful=faithful, score_repeats=0)
    )
    records = [json.loads(line) for line in (run_dir / "search" / "history.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["loop"]) for r in records] == [
        ("trajectory", 0),
        ("trajectory", 0),
        ("loop", 0),
        ("trajectory", 1),
        ("trajectory", 1),
        ("loop", 1),
    ]
    trajectory, summary = records[0], records[2]
    assert (
        len(trajectory["epoch_acc"])
        == len(trajectory["epoch_val_loss"])
        == len(trajectory["epoch_val_calibrated_loss"])
        == 1
    )
    assert trajectory["epoch_val_calibrated_loss"][0] <= trajectory["epoch_val_loss"][0]
    reward = (
        trajectory["epoch_acc"][0] if faithful else -100 * trajectory["epoch_val_calibrated_loss"][0]
    )  # rewards.REWARDS
    assert trajectory["reward"] == pytest.approx(reward, abs=1e-12)
    assert len(trajectory["op_rates"]) == 36 and sum(trajectory["op_rates"]) == pytest.approx(2.0)
    assert {"entropy", "top_pairs", "gauge", "mean_reward"} | agent_fields <= set(summary)
    assert set(summary["gauge"]) == {"Invert", "Solarize_mag0"}
    answer = Policy.load(outcome.policy)
    assert answer.provenance["loops_run"] == 2 and outcome.loops == 2
    assert answer.provenance["algorithm"] == algorithm and answer.provenance["found"] == outcome.verdict.found
    assert ("best_loop" in answer.provenance) == faithful
    recorded = json.loads((run_dir / "run.json").read_text())["search"]
    assert recorded["common_noise"] is True and recorded["agent"]["algorithm"] == algorithm
    assert recorded["reward"] == ("accuracy" if faithful else "calibrated-loss")
    min_lr = get_preset("tiny", torch.device("cpu")).optim.min_lr  # the paper's fine-tunes run at it, awsaug's at 10 ×
    assert recorded["finetune_lr"] == pytest.approx(min_lr if faithful else 10 * min_lr)
    # measured on the (grey) digits: the ops that act identically, judged as one by the default
    assert recorded["equivalent_ops"] == [["Color_mag0.3", "Color_mag0.6", "Color_mag0.9"], ["Invert", "Solarize_mag0"]]
    assert outcome.verdict.equivalent == recorded["equivalent_ops"]
    exported = CliRunner().invoke(app, ["export-policy", str(tmp_path / "out.json"), "--run-dir", str(run_dir)])
    assert (
        exported.exit_code == 0
        and "What the search" in exported.output
        and "nothing distinguishable" in exported.output
    )
    assert "Invert = Solarize_mag0" in " ".join(exported.output.split())
    assert Policy.load(tmp_path / "out.json").provenance == answer.provenance
    for finished in (True, False):  # mid-search, the report draws the state's policy
        if not finished:
            (run_dir / "search" / "policy.json").unlink()
            (run_dir / "search" / "final_policy.json").unlink()
        drawn = CliRunner().invoke(
            app, ["report", "--run-dir", str(run_dir), "--out", str(tmp_path / f"r{finished}.png")]
        )
        assert drawn.exit_code == 0, drawn.output
        assert (tmp_path / f"r{finished}.png").stat().st_size > 10_000


def run_source(run_dir: Path):
    """The data of the run's pretrain, split as it was (memory loader, CPU)."""
    record = json.loads((run_dir / "run.json").read_text())["pretrain"]
    return open_source(
        record["data"],
        loader="memory",
        image_size=32,
        val_size=record["data_sizes"]["val"],
        val_fraction=get_preset(record["preset"], torch.device("cpu")).val_fraction,
        split_seed=record["split_seed"],
        device=torch.device("cpu"),
        augmentation=Augmentation(crop_padding=4, cutout=16),
    )


def fine_tune(run_dir: Path, common_noise: bool) -> FineTune:
    record = json.loads((run_dir / "run.json").read_text())["pretrain"]
    preset = get_preset(record["preset"], torch.device("cpu"))
    source = run_source(run_dir)
    model = build_model(record["model"], 10, bn_momentum=preset.bn_momentum)
    shared = load_checkpoint(run_dir / "pretrain" / "shared.safetensors")
    return FineTune(
        source,
        model,
        shared,
        preset.optim,
        epochs=2,
        batch_size=record["batch_size"],
        seed=0,
        common_noise=common_noise,
    )


def test_common_noise_gives_equal_rewards_for_equal_pairs(pretrained):
    policy = Policy.uniform()
    for common, equal in ((True, True), (False, False)):
        evaluate = fine_tune(pretrained, common)
        first = evaluate(policy, 0, 0, seeded_generator(5, 0))
        second = evaluate(policy, 0, 1, seeded_generator(5, 0))  # another trajectory, the same pairs
        assert torch.equal(first.usage, second.usage)
        assert (first.reward == second.reward) == equal


def loop_rewards(run: Path) -> list[list[float]]:
    """Each loop record's rewards in the run's search history."""
    lines = (run / "search" / "history.jsonl").read_text().splitlines()
    return [json.loads(line)["rewards"] for line in lines if '"kind": "loop"' in line]


def closing_scores(run: Path) -> list[dict]:
    return json.loads((run / "search" / "scores.json").read_text())


@pytest.mark.parametrize(
    "space, mode", [("aws36", ()), ("trivialaugment", ()), ("trivialaugment", ("--batched-trajectories",))]
)
def test_sigkill_during_a_loop_then_resume_reproduces_the_theta_history(request, space, mode, tmp_path):
    pretrained = request.getfixturevalue(SPACES[space])
    small = (*SMALL, *mode)
    whole = copy_run(pretrained, tmp_path / "whole")
    assert cli("search", "--run-dir", str(whole), *small).returncode == 0
    killed = copy_run(pretrained, tmp_path / "killed")
    history = killed / "search" / "history.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "awsaug_cli", "search", "--run-dir", str(killed), *small],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (history.exists() and '"kind": "loop"' in history.read_text()):
        time.sleep(0.05)
    time.sleep(0.3)  # into the second loop
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert history.read_text().count('"kind": "loop"') < 3
    resumed = cli("search", "--run-dir", str(killed), *small, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert ("trajectories batched" in resumed.stderr) == bool(mode)  # a CPU's default: one after another
    a, b = (
        load_file(str(whole / "search" / "state.safetensors")),
        load_file(str(killed / "search" / "state.safetensors")),
    )
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert loop_rewards(whole) == loop_rewards(killed) and len(loop_rewards(killed)) == 3


def test_resume_restores_a_loops_history_lost_between_the_state_write_and_the_historys(pretrained, tmp_path):
    run_dir = copy_run(pretrained, tmp_path / "run")
    assert cli("search", "--run-dir", str(run_dir), *SMALL).returncode == 0
    history = run_dir / "search" / "history.jsonl"
    complete = history.read_text()
    last_loop = max(json.loads(line)["loop"] for line in complete.splitlines())
    history.write_text("".join(line + "\n" for line in complete.splitlines() if json.loads(line)["loop"] != last_loop))
    resumed = cli("search", "--run-dir", str(run_dir), *SMALL, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert history.read_text() == complete


@pytest.mark.parametrize("space", SPACES)
def test_two_processes_give_the_theta_of_one_running_the_trajectories_in_turn(request, space, tmp_path):
    pretrained = request.getfixturevalue(SPACES[space])
    single, double = copy_run(pretrained, tmp_path / "single"), copy_run(pretrained, tmp_path / "double")
    threads = {"OMP_NUM_THREADS": "1"}
    compared = (*SMALL[:-1], "1")  # with the closing comparison, one fine-tune per policy
    assert cli("search", "--run-dir", str(single), *compared, env=threads).returncode == 0
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "awsaug_cli",
            "search",
            "--run-dir",
            str(double),
            *compared,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, **threads},
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    a, b = (
        load_file(str(single / "search" / "state.safetensors")),
        load_file(str(double / "search" / "state.safetensors")),
    )
    assert set(a) == set(b) and all(torch.equal(a[name], b[name]) for name in a)
    recorded = json.loads((double / "run.json").read_text())["search"]
    assert recorded["world_size"] == 2 and recorded["space"] == space
    assert closing_scores(single) == closing_scores(double)  # the comparison's fine-tunes shared out over the ranks


def test_the_search_ends_by_comparing_its_answer_with_the_policies_that_need_no_search(pretrained, tmp_path):
    run_dir = copy_run(pretrained, tmp_path / "run")
    done = cli("search", "--run-dir", str(run_dir), *SMALL[:-1], "2")
    assert done.returncode == 0, done.stderr
    kept = json.loads((run_dir / "search" / "scores.json").read_text())
    assert [r["policy"] for r in kept] == ["searched", "none", "uniform", "randaugment", "trivialaugment"]
    best = min(kept, key=lambda r: r["rank"])["policy"]
    verdict = done.stdout[done.stdout.index("What the search found") :]
    said = "scored best" if best == "searched" else f"No searched policy beat {best} here"
    assert said in " ".join(verdict.split())
    assert (
        Policy.load(run_dir / "search" / "policy.json")
        .provenance["compared_on_proxy"]
        .startswith(said.split(" here")[0])
    )
    # `awsaug score` with the same names reproduces the search's numbers
    out = tmp_path / "scores.json"
    scored = cli(
        "score",
        str(run_dir / "search" / "policy.json"),
        "none",
        "uniform",
        "randaugment",
        "trivialaugment",
        "--run-dir",
        str(run_dir),
        "--repeats",
        "2",
        "--json",
        str(out),
    )
    assert scored.returncode == 0, scored.stderr
    assert [r["rewards"] for r in json.loads(out.read_text())] == [r["rewards"] for r in kept]
    # a finished search resumed keeps its comparison; export-policy states it
    before = (run_dir / "search" / "scores.json").stat().st_mtime_ns
    assert cli("search", "--run-dir", str(run_dir), "--resume").returncode == 0
    assert (run_dir / "search" / "scores.json").stat().st_mtime_ns == before
    exported = cli("export-policy", str(tmp_path / "policy.json"), "--run-dir", str(run_dir))
    assert said in " ".join(exported.stdout.split())


def test_trajectories_must_divide_among_the_processes(pretrained, tmp_path):
    run_dir = copy_run(pretrained, tmp_path / "run")
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "awsaug_cli",
            "search",
            "--run-dir",
            str(run_dir),
            "--trajectories",
            "3",
            "--loops",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert finished.returncode != 0
    assert "3 trajectories cannot be shared by 2 processes" in finished.stderr
    assert not (run_dir / "search").exists()


def test_search_refusals(pretrained, tmp_path):
    with pytest.raises(RunError, match="no pretrain run to search from"):
        run_search(SearchOptions(run_dir=tmp_path / "empty"))
    unfinished = copy_run(pretrained, tmp_path / "unfinished")
    record = json.loads((unfinished / "run.json").read_text())
    record["pretrain"]["epochs"] = 5
    (unfinished / "run.json").write_text(json.dumps(record))
    with pytest.raises(RunError, match="epochs \\(run.json 5, shared.safetensors 2\\)"):  # an edited run.json
        run_search(SearchOptions(run_dir=unfinished, loops=1))
    shared = unfinished / "pretrain" / "shared.safetensors"
    tensors, metadata = read_tensors(shared, FORMAT_NAME)
    metadata["settings"]["epochs"] = 5  # as a pretrain of 5 epochs stopped after 2 would have left it
    write_tensors(shared, tensors, FORMAT_NAME, metadata)
    with pytest.raises(RunError, match="finished 2 of 5 epochs"):
        run_search(SearchOptions(run_dir=unfinished, loops=1))
    other_model = copy_run(pretrained, tmp_path / "other")
    record = json.loads((other_model / "run.json").read_text())
    record["pretrain"]["model"] = "resnet18"
    (other_model / "run.json").write_text(json.dumps(record))
    with pytest.raises(RunError, match="model \\(run.json 'resnet18', shared.safetensors 'tiny'\\)"):
        run_search(SearchOptions(run_dir=other_model, loops=1))
    result = CliRunner().invoke(app, ["search", "--run-dir", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "awsaug pretrain" in result.output
    for args, message in (
        (["--algorithm", "reinforce"], "add --faithful"),
        (["--faithful", "--temperature", "5"], "has none"),
        (["--temperature", "-1"], "temperature must be a positive finite number"),
        (["--temperature", "inf"], "temperature must be a positive finite number"),
        (["--faithful", "--tilt", "1"], "--tilt belongs to awsaug's default search"),
        (["--tilt", "0"], "tilt must be a positive finite number"),
    ):
        result = CliRunner().invoke(app, ["search", "--run-dir", str(pretrained), "--loops", "1", *args])
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (pretrained / "search").exists()


def test_changed_data_is_refused(tmp_path):
    write_folder(tmp_path / "pets", per_class=10)
    run_dir = tmp_path / "run"
    pretrain(PretrainOptions(run_dir=run_dir, data=str(tmp_path / "pets"), epochs=1, batch_size=8, val_size=6))
    victim = sorted((tmp_path / "pets" / "cat").glob("*.png"))[0]
    victim.write_bytes((tmp_path / "pets" / "dog" / "dog_0.png").read_bytes())
    with pytest.raises(RunError, match="changed since the pretrain"):
        run_search(SearchOptions(run_dir=run_dir, loops=1))


def test_a_non_finite_reward_stops_before_the_update():
    seen = []

    def diverged(policy, loop, trajectory, generator):
        return Trial(math.nan if trajectory == 1 else 90.0, torch.zeros(36, 36, dtype=torch.int64))

    with pytest.raises(SearchError, match="trajectory 1 gave a non-finite reward"):
        search(
            diverged,
            loops=2,
            trajectories=2,
            space=SEARCH_SPACES["aws36"],
            on_loop=lambda agent, records: seen.append(agent.loop),
        )
    assert seen == []
