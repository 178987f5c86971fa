"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class WriteError(ValueError):
    """An output that cannot be written (a missing folder, no permission, a folder in the way,
    a full disk): the user's to fix, so the CLI reports it in one line."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, flush it to disk, then rename it over
    `path`; WriteError, with the old file intact, if that cannot be done."""
    target = Path(path)
    if not target.parent.is_dir():
        raise WriteError(f"{target}: the folder {target.parent} does not exist")
    try:
        _replace(target, data)
    except OSError as error:
        raise WriteError(f"{target}: cannot write ({error.strerror or error})") from None


def _file_mode() -> int:
    """What a plain open() would give a new file under the current umask (0644 under 022):
    mkstemp's 0600 would hide results from teammates."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _replace(target: Path, data: bytes) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(descriptor, _file_mode())
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))
