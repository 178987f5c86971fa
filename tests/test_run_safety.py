"""Run directories that cannot be corrupted or stranded (issue: locks, stranded runs, stable
probabilities, file modes): real processes, real SIGKILLs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from awsaug_cli import policy as policy_module
from awsaug_cli.atomic import atomic_write_text
from awsaug_cli.cli import app
from awsaug_cli.policy import Policy, PolicyFormatError
from awsaug_cli.run_lock import LOCK_NAME, locked
from awsaug_cli.runs import RUN_FORMAT, RunError

REPO = Path(__file__).resolve().parents[1]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "awsaug_cli", *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "awsaug_cli", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def wait_for(condition, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not condition():
        if time.time() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def recorded(run_dir: Path, stage: str) -> bool:
    try:
        return stage in json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return False


def test_a_second_process_on_a_locked_run_directory_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    first = start("pretrain", "--run-dir", str(run_dir), "--epochs", "5", "--batch-size", "4")  # long enough to overlap
    try:
        wait_for(lambda: recorded(run_dir, "pretrain"))
        second = cli("pretrain", "--run-dir", str(run_dir), "--epochs", "1")
        assert second.returncode == 2
        assert f"is in use by pid {first.pid} on" in second.stderr and "pretrain" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        assert first.poll() is None  # the holder goes on, untouched
        with pytest.raises(RunError, match=f"in use by pid {first.pid}"):
            with locked(run_dir):
                pass
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert json.loads((run_dir / LOCK_NAME).read_text())["pid"] == first.pid  # what the dead holder left
    with locked(run_dir) as note:
        assert note is not None and f"left by pid {first.pid}" in note and "no longer running" in note
    assert (run_dir / LOCK_NAME).read_text() == ""  # released cleanly


def test_a_pretrain_and_a_search_killed_before_their_first_checkpoint_start_again(tmp_path):
    stranded = tmp_path / "stranded"
    process = start("pretrain", "--run-dir", str(stranded), "--epochs", "1", "--batch-size", "2")
    wait_for(lambda: recorded(stranded, "pretrain"))
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (stranded / "pretrain" / "shared.safetensors").exists()
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(stranded), str(copy)], check=True)
    resumed = cli("pretrain", "--run-dir", str(stranded), "--epochs", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "starting the pretrain" in flat(resumed.stderr) and "no longer running" in flat(resumed.stderr)
    rerun = cli("pretrain", "--run-dir", str(copy), "--epochs", "2")
    assert rerun.returncode == 0, rerun.stderr
    for run_dir in (stranded, copy):
        assert json.loads((run_dir / "run.json").read_text())["pretrain"]["epochs"] == 2
        assert len((run_dir / "pretrain" / "metrics.jsonl").read_text().splitlines()) == 2

    search = (
        "search",
        "--run-dir",
        str(stranded),
        "--loops",
        "2",
        "--trajectories",
        "2",
        "--finetune-epochs",
        "3",
        "--score-repeats",
        "0",
    )
    process = start(*search)
    wait_for(lambda: recorded(stranded, "search"))
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (stranded / "search" / "state.safetensors").exists()
    again = cli("search", "--run-dir", str(stranded), "--resume")  # nothing but --resume: the recorded settings
    assert again.returncode == 0, again.stderr
    assert "starting the search" in flat(again.stderr)
    assert (stranded / "search" / "policy.json").exists()
    settings = json.loads((stranded / "run.json").read_text())["search"]
    assert (settings["loops"], settings["trajectories"], settings["finetune_epochs"], settings["score_repeats"]) == (
        2,
        2,
        3,
        0,
    )
    history = (stranded / "search" / "history.jsonl").read_text()
    assert history.count('"kind": "loop"') == 2 and '"trajectory": 1' in history and '"trajectory": 2' not in history


def test_extreme_logits_give_a_valid_distribution_and_exports_stay_readable(tmp_path):
    first = torch.full((36,), -800.0)
    first[3] = -790.0
    policy = Policy(first, torch.full((36, 36), -800.0))
    p1, p2 = policy.probs()
    assert torch.isfinite(p1).all() and float(p1.sum()) == pytest.approx(1.0) and int(p1.argmax()) == 3
    torch.testing.assert_close(p2, torch.full((36, 36), 1 / 36, dtype=torch.float64))
    policy.save(tmp_path / "extreme.json")
    for format in ("awsaug", "albumentations"):
        out = tmp_path / f"out-{format}.json"
        result = CliRunner().invoke(
            app, ["export-policy", str(out), "--from", str(tmp_path / "extreme.json"), "--format", format]
        )
        assert result.exit_code == 0, result.output
        assert "NaN" not in out.read_text() and "0 pairs" not in result.output
    assert Policy.load(tmp_path / "out-awsaug.json").probs()[0].argmax() == 3


def test_a_parametrization_that_breaks_the_distribution_is_refused(monkeypatch):
    monkeypatch.setitem(policy_module.PARAMETRIZATIONS, "sigmoid", lambda logits: logits * float("nan"))
    with pytest.raises(PolicyFormatError, match="not finite"):
        Policy.uniform()


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_written_files_get_the_umasks_mode(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "out.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == mode


def test_a_damaged_line_inside_a_log_is_named_and_a_cut_last_line_is_skipped(tmp_path):
    from awsaug_cli.runs import read_jsonl

    log = tmp_path / "history.jsonl"
    log.write_text('{"loop": 0}\n{"loop": 1}\n{"loo')
    assert read_jsonl(log) == [{"loop": 0}, {"loop": 1}]  # a crash cut the last line short
    log.write_text('{"loop": 0}\ngarbage\n{"loop": 1}\n')
    with pytest.raises(RunError, match="history.jsonl, line 2: not a JSON record"):
        read_jsonl(log)


def test_resume_takes_the_recorded_settings_and_refuses_a_given_one_that_differs(tmp_path):
    run_dir = str(tmp_path / "run")
    assert (
        cli(
            "pretrain", "--run-dir", run_dir, "--epochs", "1", "--seed", "3", "--batch-size", "32", "--space", "aws36"
        ).returncode
        == 0
    )
    again = cli("pretrain", "--run-dir", run_dir, "--resume")  # no flags repeated
    assert again.returncode == 0, again.stderr
    assert "all 1 epochs already trained" in flat(again.stderr)
    refused = cli("pretrain", "--run-dir", run_dir, "--resume", "--epochs", "5")
    assert refused.returncode == 2 and "made with epochs = 1, now 5" in flat(refused.stderr)
    refused = cli("pretrain", "--run-dir", run_dir, "--resume", "--seed", "0")
    assert refused.returncode == 2 and "seed = 3, now 0" in flat(refused.stderr)

    small = ("--loops", "1", "--trajectories", "2", "--finetune-epochs", "1", "--score-repeats", "0")
    assert cli("search", "--run-dir", run_dir, *small, "--faithful").returncode == 0
    resumed = cli("search", "--run-dir", run_dir, "--resume")  # the recorded loops, seed and agent
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((Path(run_dir) / "run.json").read_text())["search"]["agent"]["algorithm"] == "ppo"
    refused = cli("search", "--run-dir", run_dir, "--resume", "--temperature", "5")
    assert refused.returncode == 2 and "made with agent" in flat(refused.stderr)


def test_a_checkpoint_refuses_a_run_json_that_was_edited_or_lost(tmp_path):
    run_dir = tmp_path / "run"
    assert cli("pretrain", "--run-dir", str(run_dir), "--epochs", "1", "--batch-size", "32").returncode == 0
    small = ("--loops", "1", "--trajectories", "2", "--finetune-epochs", "1", "--score-repeats", "0")
    assert cli("search", "--run-dir", str(run_dir), *small).returncode == 0
    original = (run_dir / "run.json").read_text()
    record = json.loads(original)
    record["pretrain"].update(seed=5, split_seed=5)  # another split, same flags repeated: silently wrong before
    record["search"]["seed"] = 7
    (run_dir / "run.json").write_text(json.dumps(record))
    for command in (("pretrain", "--resume", "--seed", "5"), ("search", "--resume")):
        refused = cli(command[0], "--run-dir", str(run_dir), *command[1:])
        assert refused.returncode == 2, refused.stderr
        assert "shared.safetensors was not made with the settings run.json records" in flat(refused.stderr)
        assert "seed (run.json 5, shared.safetensors 0); split_seed (run.json 5, shared.safetensors 0)" in flat(
            refused.stderr
        )
    record["pretrain"].update(seed=0, split_seed=0)  # only the search's record edited
    (run_dir / "run.json").write_text(json.dumps(record))
    refused = cli("search", "--run-dir", str(run_dir), "--resume")
    assert refused.returncode == 2 and "seed (run.json 7, state.safetensors 0)" in flat(refused.stderr)

    (run_dir / "run.json").unlink()
    for command in (("pretrain", "--resume"), ("search",)):
        refused = cli(command[0], "--run-dir", str(run_dir), *command[1:])
        assert refused.returncode == 2
        assert "shared.safetensors exists but" in flat(refused.stderr) and "run.json is missing" in flat(refused.stderr)
    (run_dir / "run.json").write_text(original)  # restored: the run goes on
    assert cli("search", "--run-dir", str(run_dir), "--resume").returncode == 0


def test_ctrl_c_says_how_to_resume_and_the_resume_completes(tmp_path):
    run_dir = tmp_path / "run dir"
    process = start("pretrain", "--run-dir", str(run_dir), "--epochs", "6", "--batch-size", "4")
    metrics = run_dir / "pretrain" / "metrics.jsonl"
    wait_for(lambda: metrics.exists() and metrics.read_text().count("\n") >= 1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert f"interrupted; continue with `awsaug pretrain --run-dir '{run_dir}' --resume`" in flat(stderr)
    assert "Traceback" not in stderr
    assert len(metrics.read_text().splitlines()) < 6  # stopped part-way
    resumed = cli("pretrain", "--run-dir", str(run_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()] == [1, 2, 3, 4, 5, 6]


def torchrun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "awsaug_cli",
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_under_torchrun_rank_zero_holds_the_lock_and_every_rank_stops_when_it_is_taken(tmp_path):
    run_dir = tmp_path / "run"
    command = ("pretrain", "--run-dir", str(run_dir), "--epochs", "1", "--batch-size", "32")
    with locked(run_dir):
        blocked = torchrun(*command)
    assert blocked.returncode != 0
    assert blocked.stderr.count(f"is in use by pid {os.getpid()}") == 2  # both ranks, one line each
    assert not (run_dir / "run.json").exists()
    finished = torchrun(*command)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert json.loads((run_dir / "run.json").read_text())["pretrain"]["world_size"] == 2
    assert (run_dir / LOCK_NAME).read_text() == ""  # released by rank 0


def test_sigterm_stops_like_ctrl_c_releases_the_lock_and_the_resume_completes(tmp_path):
    run_dir = tmp_path / "run"
    assert cli("pretrain", "--run-dir", str(run_dir), "--epochs", "1").returncode == 0
    search = (
        "search",
        "--run-dir",
        str(run_dir),
        "--loops",
        "3",
        "--trajectories",
        "2",
        "--finetune-epochs",
        "1",
        "--score-repeats",
        "0",
    )
    process = start(*search)
    history = run_dir / "search" / "history.jsonl"
    wait_for(lambda: history.exists() and '"kind": "loop"' in history.read_text())
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143
    assert f"terminated; continue with `awsaug search --run-dir {run_dir} --resume`" in flat(stderr)
    assert "Traceback" not in stderr
    resumed = cli("search", "--run-dir", str(run_dir), "--resume")  # the lock was released: no holder named
    assert resumed.returncode == 0, resumed.stderr
    assert "took over" not in flat(resumed.stderr) and history.read_text().count('"kind": "loop"') == 3


def test_a_comparison_killed_and_run_again_continues_without_duplicate_rows(tmp_path):
    run_dir = tmp_path / "run"
    compare = (
        "train",
        "--compare",
        "none,uniform",
        "--run-dir",
        str(run_dir),
        "--epochs",
        "2",
        "--seeds",
        "2",
        "--batch-size",
        "64",
    )
    results = run_dir / "train" / "results.jsonl"
    process = start(*compare)
    wait_for(lambda: results.exists() and results.read_text().count("\n") >= 1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = [json.loads(line) for line in results.read_text().splitlines()]
    assert 1 <= len(killed) < 4
    again = cli(*compare)
    assert again.returncode == 0, again.stderr
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted((row["policy"], row["seed"]) for row in rows) == [
        ("none", 0),
        ("none", 1),
        ("uniform", 0),
        ("uniform", 1),
    ]
    assert rows[: len(killed)] == killed  # taken, not trained again
    assert f"trained before by invocation {killed[0]['invocation']}" in flat(again.stderr)
    assert {row["invocation"] for row in rows[len(killed) :]} != {killed[0]["invocation"]}
    assert all(row["started"] for row in rows)
    other_epochs = cli(
        *compare[:-6], "--epochs", "1", "--seeds", "1", "--batch-size", "64"
    )  # other settings: trained anew
    assert other_epochs.returncode == 0, other_epochs.stderr
    assert len(results.read_text().splitlines()) == 6


@pytest.mark.parametrize(
    "planted", [LOCK_NAME, "search/history.jsonl", "train/results.jsonl", "pretrain/metrics.jsonl"]
)
def test_a_symlink_planted_in_a_run_directory_is_never_written_through(tmp_path, planted):
    run_dir = tmp_path / "run"
    if planted.startswith("search"):
        assert cli("pretrain", "--run-dir", str(run_dir), "--epochs", "1").returncode == 0
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    link = run_dir / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside)
    command = {
        "search": ("search", "--loops", "1", "--trajectories", "2", "--finetune-epochs", "1", "--score-repeats", "0"),
        "train": ("train", "--policy", "none", "--epochs", "1"),
        "pretrain": ("pretrain", "--epochs", "1"),
    }
    result = cli(*command[planted.split("/")[0] if "/" in planted else "train"], "--run-dir", str(run_dir))
    assert outside.read_text() == "precious\n"
    if planted == LOCK_NAME or planted == "train/results.jsonl":  # appended to: refused, naming the link
        assert result.returncode == 2 and "is a symbolic link" in flat(result.stderr) and planted in flat(result.stderr)
        assert "epoch" not in result.stdout + result.stderr  # before any work
    else:  # made afresh by the command: the link is replaced by the run's own file
        assert result.returncode == 0, result.stderr
        assert not link.is_symlink() and link.read_text().count("\n") >= 1


@pytest.mark.parametrize(
    "edit, named",
    [
        (lambda r: r["pretrain"].update(epochs="abc"), "'pretrain.epochs' has the wrong type ('abc')"),
        (lambda r: r.update(pretrain=[1, 2]), "'pretrain' should be an object, found list"),
        (lambda r: r["pretrain"].update(image_size=[32, "x"]), "'pretrain.image_size' has the wrong type"),
        (lambda r: r["pretrain"].update(seed=True), "'pretrain.seed' has the wrong type (True)"),
    ],
)
def test_a_run_record_with_a_field_of_the_wrong_type_is_named_in_one_line(tmp_path, edit, named):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = {"format": RUN_FORMAT, "version": 1, "pretrain": {"epochs": 1, "image_size": [32, 32], "seed": 0}}
    edit(record)
    (run_dir / "run.json").write_text(json.dumps(record))
    for command in (("search", "--loops", "1"), ("pretrain", "--resume"), ("score", "none")):
        result = cli(*command, "--run-dir", str(run_dir))
        assert result.returncode == 2, result.stderr
        assert named in flat(result.stderr) and "Traceback" not in result.stderr
