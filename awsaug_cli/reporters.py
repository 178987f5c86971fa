"""How library code tells the user what it is doing: one small interface, no `print`.

The CLI implements it with rich; tests and library callers that want silence use
`SilentReporter`.
"""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    def info(self, message: str) -> None:
        """A line of progress worth showing (what is being measured, what was written)."""

    def progress(self, label: str, done: int, total: int) -> None:
        """`done` of `total` units of the task `label` are finished."""

    def status(self, title: str, rows: list[tuple[str, str]]) -> None:
        """The current state of a long run as labelled values (a live panel on a terminal,
        one line otherwise); each call replaces the last."""


class SilentReporter:
    def info(self, message: str) -> None:
        pass

    def progress(self, label: str, done: int, total: int) -> None:
        pass

    def status(self, title: str, rows: list[tuple[str, str]]) -> None:
        pass
