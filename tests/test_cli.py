"""The command line: help, start-up weight, unbuilt commands, bench."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from awsaug_cli.cli import app

COMMANDS = ("pretrain", "search", "export-policy", "train", "score", "preview", "report", "bench")


def test_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


def test_start_up_does_not_import_torch():
    # `awsaug --help` must answer at once: the heavy imports live inside the commands.
    code = (
        "import sys, awsaug_cli.cli; print(sorted(m for m in ('torch', 'triton', 'nvidia.dali') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_bench_closes_its_live_view(monkeypatch):
    # an unclosed rich Live leaves the terminal's cursor hidden after the command
    from awsaug_cli.rich_output import RichReporter

    closed = []
    monkeypatch.setattr(RichReporter, "close", lambda self: closed.append(self))
    result = CliRunner().invoke(app, ["bench", "--case", "8x8:2", "--rounds", "1", "--only", "torch"])
    assert result.exit_code == 0, result.output
    assert len(closed) == 1


def test_bench_measures_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app, ["bench", "--case", "16x20:4", "--rounds", "1", "--only", "torch (cpu)", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())
    methods = {record["method"] for record in records}
    assert methods == {"pillow", "awsaug torch (cpu)"}
    assert all(
        record["images_per_second"] > 0 and record["height"] == 16 and record["width"] == 20 for record in records
    )
    assert "× Pillow loop" in result.output


@pytest.mark.parametrize("case", ["32", "axb:4", "32x32:0"])
def test_bench_rejects_bad_cases(case):
    result = CliRunner().invoke(app, ["bench", "--case", case])
    assert result.exit_code == 2
    assert "--case" in result.output


def _bad_inputs(tmp_path):
    from .fake_datasets import idx_bytes, write_cifar, write_folder, write_idx

    cases = {}
    cases["missing path"] = (["--data", str(tmp_path / "nope")], "no such file or directory")
    (tmp_path / "stuff").mkdir()
    (tmp_path / "stuff" / "a.txt").write_text("x")
    cases["unrecognised format"] = (["--data", str(tmp_path / "stuff")], "not a dataset awsaug can read")
    write_folder(tmp_path / "single", classes=("only",))
    cases["single-class folder"] = (["--data", str(tmp_path / "single")], "at least 2 class folders")
    write_folder(tmp_path / "hollow")
    for image in (tmp_path / "hollow" / "cat").iterdir():
        image.unlink()
    cases["empty class folder"] = (["--data", str(tmp_path / "hollow")], "class folder without images")
    write_folder(tmp_path / "corrupt")
    (tmp_path / "corrupt" / "dog" / "bad.jpg").write_bytes(b"\xff\xd8 broken")
    cases["corrupt image"] = (["--data", str(tmp_path / "corrupt")], "bad.jpg: not a readable image")
    arrays = write_idx(tmp_path / "idx", gz=False)
    (tmp_path / "idx" / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(arrays["t10k-images-idx3-ubyte"])[:-7])
    cases["truncated IDX"] = (["--data", str(tmp_path / "idx")], "t10k-images-idx3-ubyte: truncated")
    write_cifar(tmp_path / "cifar")
    batch = tmp_path / "cifar" / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(batch.read_bytes()[:300])
    cases["truncated CIFAR"] = (["--data", str(tmp_path / "cifar")], "test_batch")
    cases["unknown model"] = (["--model", "vgg"], "unknown model 'vgg'")
    cases["unknown preset"] = (["--preset", "huge"], "unknown preset 'huge'")
    cases["bad device"] = (["--device", "tpu"], "--device 'tpu'")
    # values Typer refuses while parsing: one line as well
    cases["unknown loader"] = (["--loader", "disk"], "'disk' is not one of 'auto', 'memory', 'dali'")
    cases["unknown mode"] = (["--mode", "solo"], "'solo' is not one of 'ddp', 'independent'")
    cases["epochs not a number"] = (["--epochs", "many"], "'--epochs'")
    cases["unknown option"] = (["--colour", "red"], "No such option: --colour")
    return cases


def test_pretrain_bad_input_is_one_line_and_exit_2(tmp_path):
    for name, (args, message) in _bad_inputs(tmp_path).items():
        run_dir = [] if "--run-dir" in args else ["--run-dir", str(tmp_path / "runs" / name.replace(" ", "-"))]
        result = CliRunner().invoke(app, ["pretrain", "--epochs", "1", *run_dir, *args])
        assert result.exit_code == 2, (name, result.output)
        assert message in result.output, (name, result.output)
        assert len(result.output.strip().splitlines()) == 1, (name, result.output)


def test_pretrain_resume_against_another_run_or_a_corrupt_checkpoint(tmp_path):
    run_dir = str(tmp_path / "run")
    assert CliRunner().invoke(app, ["pretrain", "--epochs", "1", "--run-dir", run_dir]).exit_code == 0
    other_model = CliRunner().invoke(
        app, ["pretrain", "--epochs", "1", "--run-dir", run_dir, "--resume", "--model", "resnet18"]
    )
    assert other_model.exit_code == 2 and "model = 'tiny', now 'resnet18'" in other_model.output
    checkpoint = tmp_path / "run" / "pretrain" / "shared.safetensors"
    checkpoint.write_bytes(b"garbage" * 10)
    corrupt = CliRunner().invoke(app, ["pretrain", "--epochs", "1", "--run-dir", run_dir, "--resume"])
    assert corrupt.exit_code == 2 and "corrupt" in corrupt.output
    assert len(corrupt.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [
        ["pretrain"],
        ["search"],
        ["train", "--policy", "none"],
        ["score", "none"],
        ["preview", "uniform"],
        ["bench"],
        ["export-policy", "out.json"],
    ],
)
@pytest.mark.parametrize("seed", ["99999999999999999999999", "-1"])
def test_a_seed_no_random_stream_can_take_is_refused_before_any_work(tmp_path, command, seed):
    result = CliRunner().invoke(
        app,
        [
            *command,
            "--seed",
            seed,
            "--run-dir" if command[0] != "bench" else "--rounds",
            str(tmp_path / "run") if command[0] != "bench" else "1",
        ],
    )
    assert result.exit_code == 2 and "--seed" in result.output
    assert not (tmp_path / "run").exists()


def test_bench_on_cuda_without_cuda_is_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = CliRunner().invoke(app, ["bench", "--device", "cuda", "--rounds", "1"])
    assert result.exit_code == 2 and "no CUDA device" in result.output


@pytest.mark.parametrize(
    ("command", "option", "table"),
    [
        ("export-policy", "--format", "EXPORT_FORMATS"),
        ("pretrain", "--mode", "PRETRAIN_MODES"),
        ("train", "--loader", "LOADERS"),
    ],
)
def test_the_clis_choices_are_the_librarys_tables(command, option, table):
    from awsaug_cli import choices
    from awsaug_cli.formats import EXPORTERS

    assert tuple(EXPORTERS) == choices.EXPORT_FORMATS
    args = [command, "out.json"] if command == "export-policy" else [command]
    refused = CliRunner().invoke(app, [*args, option, "nothing-of-that-name"])
    listed = ", ".join(f"'{name}'" for name in getattr(choices, table))
    assert refused.exit_code == 2 and f"is not one of {listed}." in refused.output


def test_an_unknown_command_is_one_line_and_exit_2():
    result = CliRunner().invoke(app, ["frobnicate"])
    assert result.exit_code == 2 and result.output.strip() == "awsaug: error: No such command 'frobnicate'."
