"""Ordinary mistakes get one line and exit code 2, before any work is spent on them; a bug keeps
its traceback (issue: run directories, items 7, 8 and 10)."""

from __future__ import annotations

import errno

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from awsaug_cli import memory_need
from awsaug_cli.cli import app
from awsaug_cli.data import load_dataset
from awsaug_cli.data.dataset import DataError
from awsaug_cli.data.split import split_validation
from awsaug_cli.errors import UserError
from awsaug_cli.formats import import_policy
from awsaug_cli.policy import Policy, PolicyFormatError

from .fake_datasets import idx_bytes, write_cifar, write_idx

RUN = CliRunner()


def refused(*args: str) -> str:
    """The one line a refused command prints (asserting exit code 2 and no traceback)."""
    result = RUN.invoke(app, list(args))
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("awsaug: error: "), result.output
    return lines[0]


# ------------------------------------------------------------------ 7: memory bound up front


@pytest.mark.parametrize("command", [("pretrain",), ("train", "--policy", "uniform")])
def test_an_image_size_the_machine_cannot_hold_is_refused_before_decoding(tmp_path, monkeypatch, command):
    def never(*args, **kwargs):
        raise AssertionError("the data was decoded")

    monkeypatch.setattr("awsaug_cli.data.sources.load_dataset", never)
    line = refused(*command, "--run-dir", str(tmp_path / "run"), "--image-size", "100000", "--epochs", "1")
    assert "training at 100000×100000 with batch" in line and "GiB of memory" in line and "--image-size" in line


def test_preview_refuses_an_image_size_it_cannot_decode(tmp_path):
    line = refused("preview", "uniform", "--image-size", "100000", "--out", str(tmp_path / "p.png"))
    assert "digits: 1,797 images of 100000×100000 would take about" in line


def test_the_training_step_estimate_is_checked_against_the_free_memory(tmp_path, monkeypatch):
    total, largest = memory_need.activation_elements("tiny", 32)
    assert memory_need.activation_elements("tiny", 64)[0] == pytest.approx(4 * total, rel=0.01)  # by area
    step = memory_need.training_bytes("tiny", 64, 32)
    assert step >= 64 * 2 * total * 4 and memory_need.training_bytes("tiny", 128, 32) > step
    monkeypatch.setattr(memory_need, "available_bytes", lambda device: step - 1)
    line = refused("pretrain", "--run-dir", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "64")
    assert "training at 32×32 with batch 64 would take about" in line
    monkeypatch.setattr(memory_need, "available_bytes", lambda device: step + 2**20)
    assert (
        RUN.invoke(
            app, ["pretrain", "--run-dir", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "64"]
        ).exit_code
        == 0
    )


def test_the_estimate_covers_a_real_training_step():
    """The tiny model's measured activations: the autograd graph of one batch holds no more
    than the estimate says (saved tensors counted by a hook)."""
    from awsaug_cli.models import build_model

    model = build_model("tiny", 10)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.numel() * t.element_size()) or t, lambda t: t
    ):
        model(torch.zeros(16, 3, 48, 48)).sum().backward()
    total, _ = memory_need.activation_elements("tiny", 48)
    assert sum(saved) <= 16 * 2 * total * 4


# ------------------------------------------------------------------ 8: no tracebacks


def test_a_run_dir_that_is_a_file_under_a_file_or_not_writable_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for command in (("pretrain",), ("train", "--policy", "none")):
        assert "is a file, not a directory" in refused(*command, "--run-dir", str(blocker), "--epochs", "1")
        assert "cannot create it" in refused(*command, "--run-dir", str(blocker / "sub"), "--epochs", "1")
    unwritable = tmp_path / "unwritable"
    (unwritable / ".awsaug.lock").mkdir(parents=True)  # the lock cannot be opened for writing: as a read-only folder
    assert "cannot write there" in refused("pretrain", "--run-dir", str(unwritable), "--epochs", "1")


def test_a_deeply_nested_json_is_a_policy_error(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in refused("export-policy", str(tmp_path / "out.json"), "--from", str(deep))
    (tmp_path / "deep-object.json").write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(PolicyFormatError, match="nested too deeply"):
        import_policy(tmp_path / "deep-object.json")


def test_bench_checks_its_json_output_before_measuring(tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the benchmark ran")

    monkeypatch.setattr("awsaug_cli.bench.run", never)
    line = refused("bench", "--json", str(tmp_path / "missing" / "bench.json"))
    assert "the folder" in line and "does not exist" in line


def test_a_bare_value_error_is_a_bug_with_its_traceback_and_a_user_error_is_one_line(tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr("awsaug_cli.figures.run_report", bug)
    result = RUN.invoke(app, ["report", "--run-dir", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)

    def mistake(*args, **kwargs):
        raise UserError("the user's to fix")

    monkeypatch.setattr("awsaug_cli.figures.run_report", mistake)
    assert refused("report", "--run-dir", str(tmp_path)) == "awsaug: error: the user's to fix"


# ------------------------------------------------------------------ 10: messages


def test_a_missing_cifar_batch_is_named(tmp_path):
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="without cifar-10-batches-py/data_batch_3$"):
        load_dataset(str(tmp_path))


def test_idx_shape_and_label_errors_name_the_files(tmp_path):
    write_idx(tmp_path / "short", gz=False)
    (tmp_path / "short" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(9, dtype=np.uint8)))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte holds 10 images but .*t10k-labels-idx1-ubyte 9 labels"):
        load_dataset(str(tmp_path / "short"))
    write_idx(tmp_path / "sizes", gz=False)
    (tmp_path / "sizes" / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((10, 14, 14), dtype=np.uint8)))
    with pytest.raises(
        DataError, match="train-images-idx3-ubyte holds 28×28 images but .*t10k-images-idx3-ubyte 14×14"
    ):
        load_dataset(str(tmp_path / "sizes"))
    write_idx(tmp_path / "labels", gz=False)
    labels = np.where(np.arange(30) % 2, 3, 200).astype(np.uint8)  # two labels: "201 classes"
    (tmp_path / "labels" / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(DataError, match="labels run to 200 with no training images of 0, 1, 2, 4"):
        load_dataset(str(tmp_path / "labels"))


def test_a_validation_part_that_starves_training_is_refused(tmp_path):
    line = refused("pretrain", "--run-dir", str(tmp_path / "run"), "--val-size", "1400", "--epochs", "1")
    assert "leaves 37 of 1437 images for training; keep at least 10% (--val-size 1293 or less)" in line
    labels = torch.tensor([0] * 29 + [1])
    with pytest.raises(DataError, match="no training images of class\\(es\\) 1"):
        split_validation(labels, 20, 0, "data")
    train, val = split_validation(labels, 10, 0, "data")
    assert len(train) == 20 and len(val) == 10


def test_pictures_are_written_in_the_format_their_suffix_names(tmp_path):
    assert RUN.invoke(app, ["preview", "uniform", "--out", str(tmp_path / "grid.jpg")]).exit_code == 0
    assert (tmp_path / "grid.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG
    assert RUN.invoke(app, ["preview", "uniform", "--out", str(tmp_path / "grid.png")]).exit_code == 0
    assert (tmp_path / "grid.png").read_bytes()[:4] == b"\x89PNG"
    assert "the suffix picks the format" in refused("preview", "uniform", "--out", str(tmp_path / "grid.gif"))
    assert "the suffix picks the format" in refused(
        "report", "--run-dir", str(tmp_path), "--out", str(tmp_path / "r.gif")
    )


@pytest.mark.parametrize(
    "option, value, bound", [("--images", "100000", "between 1 and 64"), ("--columns", "100000000", "between 1 and 32")]
)
def test_preview_bounds_the_grid_before_any_work(tmp_path, option, value, bound):
    line = refused("preview", "uniform", option, value, "--out", str(tmp_path / "p.png"))
    assert option in line and bound in line
    assert not (tmp_path / "p.png").exists()


def test_export_bounds_the_slots_before_any_allocation(tmp_path):
    Policy.uniform().save(tmp_path / "uniform.json")
    line = refused(
        "export-policy",
        str(tmp_path / "k.json"),
        "--from",
        str(tmp_path / "uniform.json"),
        "--format",
        "kornia",
        "--slots",
        "100000000",
    )
    assert "--slots must be between 1 and 10,000, got 100,000,000" in line
    assert not (tmp_path / "k.json").exists()


def test_bench_json_onto_a_file_that_cannot_be_written_is_refused_before_measuring():
    line = refused("bench", "--json", "/proc/self/comm", "--rounds", "1")
    assert "/proc/self/comm: cannot write in the folder /proc/self" in line


def test_a_full_disk_when_the_lock_is_written_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    from awsaug_cli import run_lock

    real = run_lock.open_appending

    class FullDisk:  # the lock file, on a disk that fills when its holder is written
        def __init__(self, path, readable):
            self.handle = real(path, readable=readable)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exception):
            self.handle.close()

        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run_lock, "open_appending", FullDisk)
    line = refused("pretrain", "--run-dir", str(tmp_path / "run"), "--epochs", "1")
    assert "cannot write its lock (No space left on device)" in line
    assert not (tmp_path / "run" / "run.json").exists()


def test_a_full_disk_when_score_writes_its_json_is_one_line(tmp_path, monkeypatch):
    from awsaug_cli import atomic

    assert RUN.invoke(app, ["pretrain", "--run-dir", str(tmp_path / "run"), "--epochs", "1"]).exit_code == 0

    def full(target, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_replace", full)
    result = RUN.invoke(
        app,
        [
            "score",
            "none",
            "--run-dir",
            str(tmp_path / "run"),
            "--repeats",
            "1",
            "--finetune-epochs",
            "1",
            "--json",
            str(tmp_path / "scores.json"),
        ],
    )
    assert result.exit_code == 2 and (result.exception is None or isinstance(result.exception, SystemExit))
    assert "— (1 repeat)" in result.output and "nan" not in result.output  # one repeat: no error to state
    last = result.output.strip().splitlines()[-1]  # after the table it scored
    assert last.startswith("awsaug: error: ") and "scores.json: cannot write (No space left on device)" in last
