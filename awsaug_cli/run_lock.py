"""One process at a time per run directory: an exclusive lock held for the whole command.

Two commands writing one run directory interleave their records and overwrite each other's
results, so every command that writes a run directory (pretrain, search, train) holds
`<run-dir>/.awsaug.lock` with `flock` before it writes anything else. The kernel releases the
lock when the holder dies, however it dies; the file keeps the holder's description (pid, host,
command, since) until a clean exit empties it, so a lock left by a dead process is recognised,
said, and taken over. Under torchrun rank 0 holds it for every rank.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from awsaug_cli.atomic import open_appending
from awsaug_cli.reporters import Reporter
from awsaug_cli.runs import RunError

LOCK_NAME = ".awsaug.lock"


def _holder() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(["awsaug", *sys.argv[1:]]),
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _describe(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on {holder['host']} since {holder['since']} (`{holder['command']}`)"
    except (ValueError, KeyError, TypeError, RecursionError):
        return "another process"


def _prepare(root: Path) -> Path:
    """The lock file's path, with its folder made (RunError where a file is in the way)."""
    if root.exists() and not root.is_dir():
        raise RunError(f"--run-dir {root}: is a file, not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"--run-dir {root}: cannot create it ({error.strerror or error})") from None
    return root / LOCK_NAME


@contextmanager
def locked(root: Path, reporter: Reporter | None = None) -> Iterator[str | None]:
    """Hold the run directory's lock in this process. Yields a note (also told to `reporter`)
    when the lock was left by a process that died; RunError naming the holder when another live
    process has it."""
    path = _prepare(root)
    try:
        handle = open_appending(path, readable=True)
    except OSError as error:
        raise RunError(f"--run-dir {root}: cannot write there ({error.strerror or error})") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise RunError(
                f"{root} is in use by {_describe(handle.read())}; wait for it to finish or pick another --run-dir"
            ) from None
        handle.seek(0)
        left = handle.read().strip()
        note = f"took over the lock of {root} left by {_describe(left)}, which is no longer running" if left else None
        if note and reporter is not None:
            reporter.info(note)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(_holder()))
            handle.flush()
        except OSError as error:  # a full disk: nothing of the run was written yet
            raise RunError(f"--run-dir {root}: cannot write its lock ({error.strerror or error})") from None
        try:
            yield note
        finally:
            handle.seek(0)
            handle.truncate()  # empty: released cleanly
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def locked_run(root: Path, rank: int, reporter: Reporter | None = None) -> Iterator[str | None]:
    """`locked` on rank 0, shared with the other ranks of a torchrun job: every rank raises the
    same RunError when rank 0 could not take the lock."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        with locked(root, reporter) as note:
            yield note
        return
    held, failure, note = ExitStack(), None, None
    if rank == 0:
        try:
            note = held.enter_context(locked(root, reporter))
        except RunError as error:
            failure = str(error)
    shared = [failure]
    dist.broadcast_object_list(shared, src=0)
    if shared[0] is not None:
        raise RunError(shared[0])
    with held:
        yield note
