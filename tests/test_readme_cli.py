"""README is the user's manual: every command and every option that `--help` lists appears in it,
so a section lost in an edit, or an option added without a word, fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from awsaug_cli.cli import app
from awsaug_cli.models import MODELS

README = Path(__file__).resolve().parents[1] / "README.md"


def commands() -> dict:
    return typer.main.get_command(app).commands


def test_the_cli_has_the_commands_this_test_expects():
    assert {"pretrain", "search", "export-policy", "train", "score", "preview", "report", "bench"} <= set(commands())


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_and_its_options_appear_in_readme(name):
    text = README.read_text()
    assert f"awsaug {name}" in text, f"README never shows `awsaug {name}`"
    command = commands()[name]
    options = {
        option
        for parameter in command.params
        for option in parameter.opts
        if option.startswith("--") and option != "--help"
    }
    missing = sorted(option for option in options if not re.search(re.escape(option) + r"(?![\w-])", text))
    assert not missing, f"awsaug {name}: README does not mention {', '.join(missing)}"


def test_the_model_option_lists_every_registered_model():
    help_text = next(p.help for p in commands()["pretrain"].params if "--model" in p.opts)
    assert all(name in help_text for name in MODELS), help_text
