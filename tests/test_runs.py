"""The run directory's JSON-lines logs on resume: cut back to the checkpoint, never losing its step."""

from awsaug_cli.runs import append_jsonl, read_jsonl, rewind_jsonl


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
