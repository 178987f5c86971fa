"""Checkpoints: weights, buffers and momentum survive a save and load; bad files fail clearly."""

from __future__ import annotations

import os

import pytest
import torch

from awsaug_cli.atomic import WriteError
from awsaug_cli.checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint
from awsaug_cli.models import build_model
from awsaug_cli.training_loop import OptimSettings, make_optimizer

SETTINGS = OptimSettings(lr=0.1, warmup_start_lr=0.1, warmup_epochs=0, min_lr=0.1, schedule="constant")


def step(model, optimizer, seed):
    generator = torch.Generator().manual_seed(seed)
    loss = model(torch.randn(8, 3, 16, 16, generator=generator)).square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_a_restored_run_continues_exactly(tmp_path):
    model = build_model("tiny", 5, seed=0)
    optimizer = make_optimizer(model, SETTINGS)
    step(model, optimizer, 0)
    save_checkpoint(tmp_path / "c.safetensors", model, optimizer, {"epoch": 1, "note": "x"})
    step(model, optimizer, 1)

    again = build_model("tiny", 5, seed=9)
    again_optimizer = make_optimizer(again, SETTINGS)
    checkpoint = load_checkpoint(tmp_path / "c.safetensors")
    assert checkpoint.metadata == {"epoch": 1, "note": "x"}
    restore(checkpoint, again, again_optimizer)
    step(again, again_optimizer, 1)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name


def test_bad_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "junk.safetensors")
    model = build_model("tiny", 5)
    save_checkpoint(tmp_path / "tiny.safetensors", model, None, {})
    data = (tmp_path / "tiny.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "cut.safetensors")
    with pytest.raises(CheckpointError, match="does not fit"):
        restore(load_checkpoint(tmp_path / "tiny.safetensors"), build_model("resnet18", 5), None)


def test_a_failed_write_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, build_model("tiny", 5, seed=0), None, {"epoch": 1})
    before = path.read_bytes()

    def broken_replace(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(WriteError, match=r"cannot write \(disk full\)"):
        save_checkpoint(path, build_model("tiny", 5, seed=1), None, {"epoch": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]
