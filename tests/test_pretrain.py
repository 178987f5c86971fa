"""`awsaug pretrain`: what it writes, exact resume after SIGKILL, refusals, DDP on CPU."""

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
from safetensors.torch import load_file

from awsaug_cli.checkpoint import CheckpointError, load_checkpoint
from awsaug_cli.commands.pretrain import PretrainOptions, pretrain
from awsaug_cli.runs import RunError

from .fake_datasets import write_folder

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "awsaug_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def weights(run_dir: Path, name: str = "shared.safetensors") -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "pretrain" / name))


def test_pretrain_writes_run_record_checkpoint_and_metrics(tmp_path):
    result = pretrain(PretrainOptions(run_dir=tmp_path, epochs=2))
    record = json.loads((tmp_path / "run.json").read_text())["pretrain"]
    assert record["model"] == "tiny" and record["preset"] == "tiny" and record["epochs"] == 2
    assert record["data_sizes"] == {"train": 1150, "val": 287, "test": 360}
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint.metadata["epoch"] == 2 and checkpoint.metadata["model"] == "tiny"
    assert checkpoint.metadata["data_fingerprint"] == record["data_fingerprint"]
    assert any(name.startswith("momentum.") for name in checkpoint.tensors)
    assert any(name.endswith("running_mean") for name in checkpoint.tensors)
    lines = [json.loads(line) for line in (tmp_path / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    assert all({"epoch", "train_loss", "val_acc", "seconds"} <= set(line) for line in lines)
    assert 0 <= lines[-1]["val_acc"] <= 100 and result.val_acc == lines[-1]["val_acc"]


def test_default_pretrain_reaches_ninety_percent_on_digits(tmp_path):
    # the acceptance run: no options but the run directory
    finished = run_cli("pretrain", "--run-dir", str(tmp_path))
    assert finished.returncode == 0, finished.stderr
    last = json.loads((tmp_path / "pretrain" / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["epoch"] == 60 and last["val_acc"] >= 90.0


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(tmp_path):
    args = ("pretrain", "--epochs", "3")
    assert run_cli(*args, "--run-dir", str(tmp_path / "whole")).returncode == 0
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "awsaug_cli", *args, "--run-dir", str(killed)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    metrics = killed / "pretrain" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 1):
        time.sleep(0.05)
    time.sleep(0.15)  # into the second epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert metrics.read_text().count("\n") < 3  # it really was interrupted
    resumed = run_cli(*args, "--run-dir", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    whole, again = weights(tmp_path / "whole"), weights(killed)
    assert whole.keys() == again.keys()
    assert all(torch.equal(whole[name], again[name]) for name in whole)
    assert [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()] == [1, 2, 3]


def test_resume_refusals(tmp_path):
    started = pretrain(PretrainOptions(run_dir=tmp_path / "new", epochs=1, resume=True))  # nothing to resume: starts
    assert started.epochs == 1 and started.checkpoint.exists()
    pretrain(PretrainOptions(run_dir=tmp_path, epochs=1))
    with pytest.raises(RunError, match="already holds a pretrain run"):
        pretrain(PretrainOptions(run_dir=tmp_path, epochs=1))
    with pytest.raises(RunError, match="model = 'tiny', now 'resnet18'"):
        pretrain(PretrainOptions(run_dir=tmp_path, epochs=1, model="resnet18", resume=True))
    write_folder(tmp_path / "pets")
    with pytest.raises(RunError, match="data_fingerprint"):
        pretrain(PretrainOptions(run_dir=tmp_path, epochs=1, data=str(tmp_path / "pets"), resume=True))
    checkpoint = tmp_path / "pretrain" / "shared.safetensors"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt"):
        pretrain(PretrainOptions(run_dir=tmp_path, epochs=1, resume=True))


@pytest.mark.parametrize("mode", ["ddp", "independent"])
def test_two_process_gloo_pretrain(tmp_path, mode):
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "awsaug_cli",
            "pretrain",
            "--epochs",
            "2",
            "--mode",
            mode,
            "--run-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    record = json.loads((tmp_path / "run.json").read_text())["pretrain"]
    assert record["world_size"] == 2 and record["mode"] == mode
    if mode == "ddp":
        assert len((tmp_path / "pretrain" / "metrics.jsonl").read_text().splitlines()) == 2
        assert load_checkpoint(tmp_path / "pretrain" / "shared.safetensors").metadata["epoch"] == 2
    else:
        first, second = weights(tmp_path, "shared-rank0.safetensors"), weights(tmp_path, "shared-rank1.safetensors")
        assert not torch.equal(first["model.classifier.weight"], second["model.classifier.weight"])
        # each model trains on every image and is scored alone: its own loss, not an all-reduced mix
        losses = [
            [
                json.loads(line)["train_loss"]
                for line in (tmp_path / "pretrain" / f"metrics-rank{r}.jsonl").read_text().splitlines()
            ]
            for r in (0, 1)
        ]
        assert len(losses[0]) == 2 and losses[0] != losses[1]
