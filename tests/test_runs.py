"""The run directory's JSON-lines logs on resume: cut back to the checkpoint, never losing its step."""

import dataclasses

import pytest

from awsaug_cli.runs import RunError, append_jsonl, read_jsonl, rewind_jsonl


def log(path, records):
    for record in records:
        append_jsonl(path, record)
    return path


def step(epoch, part=0):
    return {"epoch": epoch, "part": part}


def test_rewind_drops_records_past_the_checkpoint(tmp_path):
    path = log(tmp_path / "metrics.jsonl", [step(1), step(2), step(3), step(3, 1)])
    rewind_jsonl(path, "epoch", 2, [step(2)])
    assert read_jsonl(path) == [step(1), step(2)]


def test_rewind_restores_the_checkpoints_records_when_the_log_missed_them(tmp_path):
    path = log(tmp_path / "metrics.jsonl", [step(1)])
    with open(path, "a") as handle:
        handle.write('{"epoch": 2, "pa')  # a line cut short by the kill
    rewind_jsonl(path, "epoch", 2, [step(2), step(2, 1)])
    assert read_jsonl(path) == [step(1), step(2), step(2, 1)]
    assert path.read_text().count("\n") == 3  # the torn line is gone


def test_rewind_completes_a_step_the_log_holds_only_part_of(tmp_path):
    path = log(tmp_path / "history.jsonl", [step(1), step(1, 1), step(2)])  # killed after 2's first record
    rewind_jsonl(path, "epoch", 2, [step(2), step(2, 1)])
    assert read_jsonl(path) == [step(1), step(1, 1), step(2), step(2, 1)]


def test_run_json_sections_read_as_typed_records_and_old_ones_as_those_runs_ran():
    from awsaug_cli.run_records import PretrainRecord, SearchRecord

    old_pretrain = {  # written before spaces, loaders and DDP were recorded
        "preset": "tiny",
        "model": "tiny",
        "epochs": 2,
        "batch_size": 64,
        "seed": 0,
        "split_seed": 0,
        "mode": "ddp",
        "data": "digits",
        "data_name": "digits",
        "data_fingerprint": "abc",
        "data_sizes": {"train": 10, "val": 2, "test": 3},
        "image_size": [32, 32],
        "classes": ["0", "1"],
        "mean": [0.5] * 3,
        "std": [0.2] * 3,
        "awsaug_version": "0.0.1",
        "recorded": "2026-11-01T00:00:00+00:00",
    }
    pretrain = PretrainRecord.from_record(old_pretrain)
    assert (pretrain.space, pretrain.loader, pretrain.world_size, pretrain.pairs_in_pipeline) == (
        "aws36",
        "memory",
        1,
        False,
    )
    assert PretrainRecord.from_record(pretrain.record()) == pretrain
    assert "awsaug_version" not in pretrain.record() and pretrain.record()["data_sizes"]["val"] == 2
    old_search = {"loops": 3, "trajectories": 2, "finetune_epochs": 1, "seed": 0, "common_noise": True, "agent": {}}
    search = SearchRecord.from_record(old_search)
    assert (search.finetune_lr, search.reward, search.space, search.score_repeats) == (None, "accuracy", "aws36", 3)
    with pytest.raises(RunError, match="SearchRecord lacks trajectories, finetune_epochs"):  # an edited run.json
        SearchRecord.from_record({"loops": 3, "finetune_lr": 0.1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        search.loops = 4
