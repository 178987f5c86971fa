"""The command line: help, start-up weight, unbuilt commands, bench."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from awsaug_cli.cli import app

COMMANDS = ("pretrain", "search", "export-policy", "train", "preview", "report", "bench")


def test_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


def test_start_up_does_not_import_torch():
    # `awsaug --help` must answer at once: the heavy imports live inside the commands.
    code = "import sys, awsaug_cli.cli; print(sorted(m for m in ('torch', 'triton', 'nvidia.dali') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [["pretrain"], ["search"], ["export-policy", "out.json"], ["train", "--policy", "none"], ["preview", "p.json"], ["report"]],
)
def test_unbuilt_commands_say_so_and_exit_2(args):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "not built yet" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bench_measures_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--case", "16x20:4", "--rounds", "1", "--only", "torch", "--json", str(out)])
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    methods = {record["method"] for record in records}
    assert methods == {"pillow", "awsaug torch (cpu)"}
    assert all(record["images_per_second"] > 0 and record["height"] == 16 and record["width"] == 20 for record in records)
    assert "× Pillow loop" in result.output


@pytest.mark.parametrize("case", ["32", "axb:4", "32x32:0"])
def test_bench_rejects_bad_cases(case):
    result = CliRunner().invoke(app, ["bench", "--case", case])
    assert result.exit_code == 2
    assert "--case" in result.output
