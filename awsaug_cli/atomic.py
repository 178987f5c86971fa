"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from awsaug_cli.errors import UserError


class WriteError(UserError):
    """An output that cannot be written (a missing folder, no permission, a folder in the way,
    a full disk): the user's to fix, so the CLI reports it in one line."""


PICTURE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg"}  # suffix → format written


def check_writable(path: str | os.PathLike) -> Path:
    """WriteError now for an output that could not be written at the end of the work."""
    target = Path(path)
    if target.is_dir():
        raise WriteError(f"{target}: is a folder; name a file")
    if not target.parent.is_dir():
        raise WriteError(f"{target}: the folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK):
        raise WriteError(f"{target}: the folder {target.parent} is not writable")
    return target


def picture_format(path: str | os.PathLike) -> str:
    """The picture format `path`'s suffix names (checked with check_writable, before drawing):
    a .jpg name gets a JPEG, never a PNG under the wrong name."""
    target = check_writable(path)
    suffix = target.suffix.lower()
    if suffix not in PICTURE_FORMATS:
        raise WriteError(f"{target}: name a {' or '.join(PICTURE_FORMATS)} file (the suffix picks the format)")
    return PICTURE_FORMATS[suffix]


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
