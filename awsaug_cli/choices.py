"""The fixed choices of string options, as data light enough for the CLI to import at start-up:
Typer lists them in `--help` and refuses any other value; the modules that act on them check the
library's callers against the same tables."""

from __future__ import annotations

from enum import Enum

LOADERS = ("auto", "memory", "dali")  # data/sources.py
PRETRAIN_MODES = ("ddp", "independent")  # commands/pretrain.py: under torchrun, one model or one per rank
EXPORT_FORMATS = ("awsaug", "albumentations", "kornia", "dali", "fastaa")  # formats/exporters.py's writers


def choice_enum(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str-valued Enum of `values` (members named as their values), for a Typer option."""
    return Enum(name, {value: value for value in values}, type=str)


def plain(value: object) -> object:
    """An option's value as the library takes it: an Enum choice becomes its string."""
    return value.value if isinstance(value, Enum) else value
