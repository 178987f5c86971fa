"""The run directory's JSON-lines logs on resume: cut back to the checkpoint, never losing its step."""

import json

from awsaug_cli.runs import append_jsonl, read_jsonl, rewind_jsonl


def log(path, steps):
    for step in steps:
        append_jsonl(path, {"epoch": step, "value": step * 10})
    return path


def test_rewind_drops_records_past_the_checkpoint(tmp_path):
    path = log(tmp_path / "metrics.jsonl", [1, 2, 3])
    rewind_jsonl(path, "epoch", 2, [{"epoch": 2, "value": -1}])
    assert read_jsonl(path) == [{"epoch": 1, "value": 10}, {"epoch": 2, "value": 20}]  # the logged record stays


def test_rewind_restores_the_checkpoints_records_when_the_log_missed_them(tmp_path):
    path = log(tmp_path / "metrics.jsonl", [1])
    with open(path, "a") as handle:
        handle.write('{"epoch": 2, "val')  # a line cut short by the kill
    saved = [{"epoch": 2, "value": 20}, {"epoch": 2, "value": 21}]
    rewind_jsonl(path, "epoch", 2, saved)
    assert [json.loads(line) for line in path.read_text().splitlines()] == [{"epoch": 1, "value": 10}, *saved]
