"""The run directory: where each stage keeps its record (run.json), checkpoints and metrics.

run.json holds the resolved settings of every stage run in the directory; a stage that resumes
or builds on an earlier one compares what it would do now with what was recorded, and refuses
a mismatch (another model, other data) instead of silently mixing results."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from awsaug_cli import __version__
from awsaug_cli.atomic import atomic_write_text, open_appending
from awsaug_cli.errors import UserError, shown

RUN_FORMAT = "awsaug.run"


class RunError(UserError):
    """A run directory that cannot be used as asked (nothing to resume, another model, …)."""


def run_file(root: Path) -> Path:
    return root / "run.json"


OWNED = ("run.json", ".awsaug.lock", "pretrain", "search", "train")  # what a run directory keeps: files and folders


def owned_by_run(path: Path, root: Path) -> bool:
    """Whether `path` (links resolved) is a file the run directory `root` keeps, or lies in one of
    its folders: an output written there would replace the run's own results."""
    target, base = path.resolve(), root.resolve()
    return any(target == base / name or base / name in target.parents for name in OWNED)


def read_run(root: Path) -> dict[str, Any]:
    """The run record, {} for a directory without one."""
    path = run_file(root)
    if not path.exists():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:  # ValueError: not JSON, not UTF-8, a number too long
        raise RunError(f"{path}: unreadable run record ({type(error).__name__}: {str(error)[:200]})") from None
    if not isinstance(record, dict) or record.get("format") != RUN_FORMAT:
        raise RunError(f"{path}: not an awsaug run record")
    for stage, fields in RECORD_FIELDS.items():
        _check_section(record.get(stage), stage, fields, path)
    return record


@dataclass(frozen=True)
class ListOf:
    """A record field that is a list of `item`s."""

    item: Any


Number = (int, float)
# What each stage's record holds (fields later versions added may be absent): its type, or
# ListOf the items' type. A field of another type is named, not met later as a traceback.
RECORD_FIELDS: dict[str, dict[str, Any]] = {
    "pretrain": {
        "augment": dict,
        "batch_size": int,
        "bn_momentum": Number,
        "classes": ListOf(str),
        "data": str,
        "data_fingerprint": str,
        "data_name": str,
        "data_sizes": dict,
        "device": str,
        "epochs": int,
        "image_size": ListOf(int),
        "loader": str,
        "mean": ListOf(Number),
        "mode": str,
        "model": str,
        "optim": dict,
        "pairs_in_pipeline": bool,
        "preset": str,
        "seed": int,
        "skip_bad_files": bool,
        "space": str,
        "split_seed": int,
        "std": ListOf(Number),
        "world_size": int,
    },
    "search": {
        "agent": dict,
        "common_noise": bool,
        "device": str,
        "equivalent_ops": ListOf(list),
        "unchanged_ops": ListOf(str),
        "finetune_epochs": int,
        "finetune_lr": Number,
        "loops": int,
        "pairs_in_pipeline": bool,
        "pretrain_fingerprint": str,
        "reward": str,
        "score_repeats": int,
        "seed": int,
        "space": str,
        "trajectories": int,
        "world_size": int,
    },
}


def _check_section(section: Any, stage: str, fields: dict[str, Any], path: Path) -> None:
    """RunError naming the first field of run.json's `stage` record whose type is wrong."""
    if section is None:
        return
    if not isinstance(section, dict):
        raise RunError(
            f"{path}: '{stage}' should be an object, found {type(section).__name__}; the run record was "
            "damaged or edited"
        )
    for name, expected in fields.items():
        if name not in section:
            continue
        value = section[name]
        if isinstance(expected, ListOf):
            wrong = not _is(value, list) or not all(_is(item, expected.item) for item in value)
        else:
            wrong = not _is(value, expected)
        if wrong:
            raise RunError(
                f"{path}: '{stage}.{name}' has the wrong type ({shown(value)}); the run record was damaged or edited"
            )


def _is(value: Any, kind: Any) -> bool:
    """isinstance, except that JSON's true/false are not numbers."""
    return isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)


def write_stage(root: Path, stage: str, settings: dict[str, Any]) -> None:
    """Record `stage`'s resolved settings in run.json (atomically; other stages kept)."""
    record = read_run(root) or {"format": RUN_FORMAT, "version": 1}
    record[stage] = {
        **settings,
        "awsaug_version": __version__,
        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_file(root), json.dumps(record, indent=1, sort_keys=True) + "\n")


def check_same(recorded: dict[str, Any], current: dict[str, Any], keys: tuple[str, ...], what: str) -> None:
    """RunError naming the first of `keys` whose value differs between the recorded settings
    and `current` (compared as JSON stores them: tuples as lists)."""
    for key in keys:
        now = json.loads(json.dumps(current.get(key)))
        if recorded.get(key) != now:
            raise RunError(f"{what} was made with {key} = {recorded.get(key)!r}, now {now!r}")


def check_saved(recorded: dict[str, Any], saved: dict[str, Any], keys: tuple[str, ...], file: Path) -> None:
    """RunError naming every one of `keys` on which run.json's record and the settings `file`
    saved for itself disagree: run.json was edited, or belongs to another run. (Keys the file
    did not save — written by an older awsaug — are not compared.)"""
    differ = [
        f"{key} (run.json {recorded.get(key)!r}, {file.name} {saved[key]!r})"
        for key in keys
        if key in saved and recorded.get(key) != saved[key]
    ]
    if differ:
        raise RunError(
            f"{file} was not made with the settings run.json records: {'; '.join(differ)}. Restore "
            f"run.json, or start again in another --run-dir"
        )


def missing_record(root: Path, stage: str, file: Path) -> RunError:
    """The error for a stage's file found without its run.json record: never "nothing to resume"."""
    return RunError(
        f"{file} exists but {run_file(root)} is missing or records no {stage}; restore run.json, or start "
        f"again in another --run-dir"
    )


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and make it durable before returning."""
    with open_appending(path) as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete records of a JSON-lines file. A last line cut short by a crash is skipped;
    a damaged line anywhere else is a RunError naming it (the run's records stay whole or the
    command stops)."""
    if not path.exists():
        return []
    records = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()  # a bad byte damages its line only
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except (ValueError, RecursionError):  # not JSON, or a number too long to read
            if number == len(lines):
                continue
            raise RunError(f"{path}, line {number}: not a JSON record; repair or remove that line") from None
    return records


def rewind_jsonl(path: Path, key: str, last: int, saved: list[dict[str, Any]]) -> None:
    """Cut a resumed run's log back to its checkpoint, whose step `key` is `last`: later records
    belong to work the resumed run redoes. The checkpoint carries its own step's records
    (`saved`), and they replace whatever the log holds of that step: a crash between the
    checkpoint's write and the log's may have left none of them, or only some."""
    kept = [record for record in read_jsonl(path) if record.get(key, 0) < last]
    atomic_write_text(path, "".join(json.dumps(record, sort_keys=True) + "\n" for record in kept + saved))
