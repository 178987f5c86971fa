"""The root of the exceptions that mean "bad input or a prerequisite missing". The CLI reports
each as one line and exit code 2; any other exception (a bare ValueError included) is a bug and
keeps its traceback. Every project error type derives from UserError; each is also a
ValueError, so library callers may catch them as one."""

from __future__ import annotations

from typing import Any


class UserError(ValueError):
    """Something the person running awsaug can fix: a path, a file, an option, a machine."""


class OptionError(UserError):
    """An option value, or a combination of options, that cannot be used."""


def shown(value: Any, limit: int = 60) -> str:
    """`value` as an error message quotes it: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
