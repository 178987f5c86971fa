"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import TextIO

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
    try:  # the way atomic_write_bytes will: a file made beside it (os.access says yes to /proc and read-only mounts)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".check"):
            pass
    except OSError as error:
        raise WriteError(f"{target}: cannot write in the folder {target.parent} ({error.strerror or error})") from None
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


def open_appending(path: str | os.PathLike, *, readable: bool = False) -> TextIO:
    """`path` opened to append (and read), never through a symbolic link: a link planted where a
    run directory keeps a log or its lock would have its target, anywhere, written to."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    if readable:
        flags = (flags & ~os.O_WRONLY) | os.O_RDWR
    try:
        descriptor = os.open(path, flags, 0o666)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _link_refused(path) from None
        raise
    return os.fdopen(descriptor, "a+" if readable else "a", encoding="utf-8")


def refuse_link(path: str | os.PathLike) -> None:
    """WriteError now for a log that open_appending would refuse after the work."""
    if Path(path).is_symlink():
        raise _link_refused(path)


def _link_refused(path: str | os.PathLike) -> WriteError:
    return WriteError(f"{path}: is a symbolic link; awsaug does not write through links in a run directory (remove it)")
