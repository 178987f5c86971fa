"""The DALI folder loader on CPU: labels, epoch size, shapes, determinism, sharding, the ops in
the pipeline, and pretrain/search/train end to end through it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from awsaug_cli.cli import app
from awsaug_cli.commands.pretrain import PretrainOptions, pretrain
from awsaug_cli.data.dataset import DataError
from awsaug_cli.data.folder_files import FileList, scan
from awsaug_cli.data.sources import Augmentation, open_source, resolve_loader
from awsaug_cli.policy import Policy
from awsaug_cli.runs import RunError
from awsaug_cli.seeds import seeded_generator
from awsaug_cli.space import AWS36

from .conftest import dali_runs_here
from .fake_datasets import write_folder

pytestmark = pytest.mark.skipif(not dali_runs_here(), reason="nvidia-dali not installed")
CPU = torch.device("cpu")
SIZE = 16


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """3 classes × 12 images: PNG and JPEG, RGB, grey and RGBA, 37×29 (odd)."""
    root = tmp_path_factory.mktemp("data") / "pets"
    write_folder(root, per_class=12, size=(37, 29))
    return root


def source(folder: Path, loader: str = "dali", **kwargs):
    options = dict(
        loader=loader,
        image_size=SIZE,
        val_size=None,
        val_fraction=0.2,
        split_seed=0,
        device=CPU,
        augmentation=Augmentation(crop_padding=4, cutout=6),
    )
    return open_source(str(folder), **{**options, **kwargs})


def epoch(data, policy: Policy | None, seed: int = 0, batch_size: int = 8, pair_seed: int | None = None):
    generators = dict(order_generator=seeded_generator(seed, 0), augment_generator=seeded_generator(seed, 1))
    if pair_seed is not None:
        generators["pair_generator"] = seeded_generator(pair_seed, 2)
    return list(data.train_batches(policy, batch_size=batch_size, **generators))


def test_parts_match_the_memory_loader_and_labels_follow_the_files(folder):
    dali, memory = source(folder), source(folder, loader="memory")
    assert dali.sizes == memory.sizes == {"train": 23, "val": 6, "test": 7}
    assert dali.classes == memory.classes == ("cat", "dog", "fox")
    assert torch.equal(dali.parts["test"].labels, memory.data.test_labels)
    images, labels = zip(*dali.eval_batches("test"))
    assert torch.equal(torch.cat(labels), dali.parts["test"].labels)  # every image once, in file order
    assert torch.cat(images).shape == (7, 3, SIZE, SIZE) and torch.cat(images).dtype == torch.float32
    # estimated from centre crops of a sample; the memory loader's are exact over squashed images.
    # The fixture is noise: its std depends on each loader's resampling filter, its mean does not.
    assert dali.mean == pytest.approx(memory.mean, abs=0.02) and dali.std == pytest.approx(memory.std, rel=0.3)


IN_PIPELINE = pytest.mark.parametrize("in_pipeline", [False, True], ids=["pairs-in-engine", "pairs-in-pipeline"])


@IN_PIPELINE
def test_a_training_epoch_is_exact_in_size_and_shape(folder, in_pipeline):
    data = source(folder, pairs_in_pipeline=in_pipeline)
    for policy in (None, Policy.uniform()):
        batches = epoch(data, policy)
        assert len(batches) == 23 // 8  # full batches only, as the memory loader
        for inputs, labels, pairs in batches:
            assert inputs.shape == (8, 3, SIZE, SIZE) and inputs.dtype == torch.float32
            assert labels.dtype == torch.int64 and set(labels.tolist()) <= {0, 1, 2}
            assert pairs.shape == ((8, 2) if policy else (8, 0))
            assert pairs.dtype == torch.int64 and (pairs.numel() == 0 or int(pairs.max()) < len(AWS36))


@IN_PIPELINE
def test_same_seeds_same_batches_and_common_noise_differs_only_in_pairs(folder, in_pipeline):
    data = source(folder, pairs_in_pipeline=in_pipeline)
    first, again = epoch(data, Policy.uniform(), pair_seed=1), epoch(data, Policy.uniform(), pair_seed=1)
    assert all(torch.equal(a, b) for x, y in zip(first, again) for a, b in zip(x, y))
    other_pairs = epoch(data, Policy.uniform(), pair_seed=2)
    assert [torch.equal(x[1], y[1]) for x, y in zip(first, other_pairs)] == [True] * len(first)  # same order
    assert not all(torch.equal(x[2], y[2]) for x, y in zip(first, other_pairs))
    other_seed = epoch(data, Policy.uniform(), seed=5, pair_seed=1)
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(first, other_seed))


@IN_PIPELINE
def test_a_policy_with_one_pair_applies_exactly_that_pair(folder, in_pipeline):
    data = source(folder, pairs_in_pipeline=in_pipeline)
    k = len(AWS36)
    first, second = torch.full((k,), -60.0), torch.full((k, k), -60.0)
    first[AWS36.index("Invert")], second[:, AWS36.index("Invert")] = 60.0, 60.0
    inverted_twice = Policy(first, second)  # Invert then Invert: the identity
    # pairs from their own generator: the crop, flip and Cutout draws are then the same
    clean = epoch(data, None, pair_seed=1)
    twice = epoch(data, inverted_twice, pair_seed=1)
    assert all(bool((pairs == AWS36.index("Invert")).all()) for _, _, pairs in twice)
    assert all(torch.allclose(a[0], b[0], atol=1e-5) for a, b in zip(clean, twice))
    first[AWS36.index("Invert")], first[AWS36.index("Posterize_mag7")] = -60.0, 60.0
    second[:, AWS36.index("Invert")], second[:, AWS36.index("Posterize_mag7")] = -60.0, 60.0
    assert not all(torch.allclose(a[0], b[0]) for a, b in zip(twice, epoch(data, Policy(first, second), pair_seed=1)))


def test_sharding_across_two_ranks_reads_each_file_once(folder, monkeypatch):
    from awsaug_cli.data import dali_loader

    data = source(folder)
    files = data.parts["train"]
    indexed = FileList(files.files, torch.arange(len(files)))  # labels that name the file
    seen = []
    for rank in (0, 1):
        monkeypatch.setattr(dali_loader, "distributed", lambda rank=rank: (rank, 2))
        seen.append(torch.cat([labels for _, labels in dali_loader.eval_batches(indexed, data.settings, batch_size=4)]))
        batches = list(
            dali_loader.train_batches(
                indexed,
                data.settings,
                None,
                batch_size=8,
                steps=2,
                order_generator=seeded_generator(0, 0),
                augment_generator=seeded_generator(0, 1),
            )
        )
        assert len(batches) == 2 and all(len(labels) == 4 for _, labels, _ in batches)
        seen.append(torch.cat([labels for _, labels, _ in batches]))
    evaluated, trained = seen[0::2], seen[1::2]
    assert sorted(torch.cat(evaluated).tolist()) == list(range(len(files)))  # every file exactly once
    assert not set(trained[0].tolist()) & set(trained[1].tolist())  # disjoint shards of one permutation


def test_grey_images_arrive_as_rgb(folder):
    from awsaug_cli.data import dali_loader

    data = source(folder)
    grey = [f for f in data.parts["train"].files if Image.open(f).mode == "L"]
    images = torch.cat(
        [
            i
            for i, _ in dali_loader.eval_batches(
                FileList(tuple(grey), torch.zeros(len(grey), dtype=torch.int64)), data.settings, normalised=False
            )
        ]
    )
    assert len(images) == len(grey) > 0 and images.dtype == torch.uint8
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 1], images[:, 2])


class StopAfterFirstEpoch:
    """A reporter that interrupts the run once epoch 1 is checkpointed (as a kill would)."""

    def info(self, message: str) -> None:
        if message.startswith("epoch 1/"):
            raise KeyboardInterrupt

    def progress(self, label: str, done: int, total: int) -> None:
        pass

    def status(self, title: str, rows) -> None:
        pass


def test_pretrain_with_the_dali_loader_runs_and_resumes_exactly(folder, tmp_path):
    options = dict(data=str(folder), loader="dali", image_size=SIZE, epochs=2, batch_size=8)
    whole = pretrain(PretrainOptions(run_dir=tmp_path / "whole", **options))
    record = json.loads((tmp_path / "whole" / "run.json").read_text())["pretrain"]
    assert record["loader"] == "dali" and record["data_sizes"] == {"train": 23, "val": 6, "test": 7}
    with pytest.raises(KeyboardInterrupt):
        pretrain(PretrainOptions(run_dir=tmp_path / "cut", **options), reporter=StopAfterFirstEpoch())
    resumed = pretrain(PretrainOptions(run_dir=tmp_path / "cut", resume=True, **options))
    a, b = load_file(str(whole.checkpoint)), load_file(str(resumed.checkpoint))
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)
    assert resumed.val_acc == whole.val_acc
    with pytest.raises(RunError, match="image_size"):  # the file fingerprint cannot see a new crop size
        pretrain(PretrainOptions(run_dir=tmp_path / "cut", resume=True, **{**options, "image_size": SIZE + 8}))


def test_search_and_train_read_the_folder_through_dali(folder, tmp_path):
    runner = CliRunner()
    run = ["--run-dir", str(tmp_path)]
    done = runner.invoke(
        app,
        [
            "pretrain",
            "--data",
            str(folder),
            "--loader",
            "dali",
            "--pairs-in-pipeline",
            "--image-size",
            str(SIZE),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            *run,
        ],
    )
    assert done.exit_code == 0, done.output
    refused = runner.invoke(app, ["search", "--loader", "memory", "--loops", "1", *run])
    assert refused.exit_code == 2 and "read its data with --loader dali" in refused.output
    refused = runner.invoke(app, ["search", "--loader", "disk", "--loops", "1", *run])
    assert refused.exit_code == 2 and "'disk' is not one of 'auto', 'memory', 'dali'" in refused.output
    done = runner.invoke(
        app,
        [
            "search",
            "--loader",
            "dali",
            "--loops",
            "1",
            "--trajectories",
            "2",
            "--finetune-epochs",
            "1",
            "--score-repeats",
            "0",
            *run,
        ],
    )
    assert done.exit_code == 0, done.output
    history = [json.loads(line) for line in (tmp_path / "search" / "history.jsonl").read_text().splitlines()]
    trajectory = history[0]
    assert trajectory["kind"] == "trajectory" and 0 <= trajectory["epoch_acc"][0] <= 100
    assert trajectory["reward"] == pytest.approx(
        -100 * trajectory["epoch_val_calibrated_loss"][0]
    )  # the default's reward
    done = runner.invoke(
        app,
        [
            "train",
            "--policy",
            str(tmp_path / "search" / "policy.json"),
            "--data",
            str(folder),
            "--loader",
            "dali",
            "--image-size",
            str(SIZE),
            "--epochs",
            "1",
            "--batch-size",
            "8",
            *run,
        ],
    )
    assert done.exit_code == 0, done.output
    result = json.loads((tmp_path / "train" / "results.jsonl").read_text().splitlines()[-1])
    assert result["loader"] == "dali" and 0 <= result["final_test_acc"] <= 100


def test_loader_choice_and_refusals(folder, tmp_path, monkeypatch):
    cuda = torch.device("cuda")
    assert resolve_loader("auto", str(folder), CPU, 224) == "memory"
    assert resolve_loader("auto", str(folder), cuda, 224) == "dali"
    assert resolve_loader("auto", str(folder), cuda, 32) == "memory"  # CIFAR-sized: pad-crop in memory
    assert resolve_loader("auto", "digits", cuda, 224) == "memory"
    with pytest.raises(DataError, match="DALI loader reads image folders"):
        resolve_loader("dali", "digits", CPU, 32)
    with pytest.raises(DataError, match="no such file or directory"):
        resolve_loader("dali", str(tmp_path / "nowhere"), CPU, 32)
    with pytest.raises(ValueError, match="--loader 'disk'"):
        resolve_loader("disk", str(folder), CPU, 32)
    with pytest.raises(ValueError, match="--pairs-in-pipeline applies to the DALI loader"):
        source(folder, loader="memory", pairs_in_pipeline=True)
    from awsaug_cli.data import dali_loader, sources

    with pytest.raises(ValueError, match="DALI ops run in CPU pipelines"):
        dali_loader.PipelineSettings(SIZE, 0, (0.5,) * 3, (0.2,) * 3, torch.device("cuda"), pairs_in_pipeline=True)
    monkeypatch.setattr(sources, "dali_importable", lambda: False)  # a machine without DALI
    assert resolve_loader("auto", str(folder), cuda, 224) == "memory"
    with pytest.raises(DataError, match="needs NVIDIA DALI"):
        resolve_loader("dali", str(folder), CPU, 32)
    result = CliRunner().invoke(app, ["pretrain", "--loader", "dali", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "DALI loader reads image folders" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_batch_larger_than_the_data_is_the_data(folder):
    batches = epoch(source(folder), Policy.uniform(), batch_size=64)  # 23 training images
    assert [len(labels) for _, labels, _ in batches] == [23]


def test_a_jpeg_cut_short_is_named_by_the_scan_and_by_dali(folder, tmp_path):
    from awsaug_cli.data import dali_loader

    root = bad_folder(tmp_path / "data", "none")
    whole = root / "cat" / "whole.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(whole, quality=90)
    data = whole.read_bytes()
    cut = root / "cat" / "cut.jpg"
    cut.write_bytes(data[: 2 * len(data) // 3])  # headers whole: Pillow's verify() passes it
    Image.open(cut).verify()
    with pytest.raises(DataError, match="cut.jpg: truncated JPEG"):
        scan(root)
    # a file the scan cannot judge from its header fails in DALI with one line naming it
    data = source(folder)
    files = FileList((cut,), torch.zeros(1, dtype=torch.int64))
    with pytest.raises(DataError, match=r"DALI could not read an image: .*cut.jpg"):
        list(dali_loader.eval_batches(files, data.settings))


def bad_folder(root: Path, case: str) -> Path:
    write_folder(root, per_class=4)
    if case == "bad files":
        (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
        (root / "cat" / "labels.csv").write_text("a,b\n")
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "fox" / "anim.gif")
    elif case == "none":
        pass
    elif case == "empty class":
        for image in (root / "fox").iterdir():
            image.unlink()
    else:
        for name in ("dog", "fox"):
            for image in (root / name).iterdir():
                image.unlink()
            (root / name).rmdir()
    return root


@pytest.mark.parametrize(
    "case,message",
    [
        (
            "bad files",
            r"3 file\(s\) that are not usable images: .*labels.csv: not a readable image.*broken.jpg.*"
            r"anim.gif: GIF images are not supported.*--skip-bad-files",
        ),
        ("empty class", r"fox: class folder without images"),
        ("one class", r"at least 2 class folders, found only 'cat'"),
    ],
)
def test_bad_folders_are_one_line_and_exit_2(tmp_path, case, message):
    root = bad_folder(tmp_path / "data", case)
    result = CliRunner().invoke(
        app, ["pretrain", "--data", str(root), "--loader", "dali", "--epochs", "1", "--run-dir", str(tmp_path / "run")]
    )
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    import re

    assert re.search(message, result.output), result.output
    assert not (tmp_path / "run" / "run.json").exists()  # nothing recorded for a run that cannot start


def test_skip_bad_files_leaves_them_out_and_names_them(tmp_path):
    root = bad_folder(tmp_path / "data", "bad files")
    files = scan(root, skip_bad=True)
    assert sorted(p.name for p in files.skipped) == ["anim.gif", "broken.jpg", "labels.csv"]
    assert sum(len(part) for part in files.parts.values()) == 12
    result = CliRunner().invoke(
        app,
        [
            "pretrain",
            "--data",
            str(root),
            "--loader",
            "dali",
            "--skip-bad-files",
            "--image-size",
            str(SIZE),
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--run-dir",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    unwrapped = "".join(result.output.split())  # rich wraps long lines
    assert "skipped3file(s)" in unwrapped and "broken.jpg" in unwrapped


@pytest.mark.gpu
def test_the_gpu_loader_decodes_on_the_device_and_hands_the_batch_to_triton(folder):
    data = source(folder, device=torch.device("cuda"))
    for inputs, labels, pairs in epoch(data, Policy.uniform()):
        assert inputs.device.type == "cuda" and inputs.shape == (8, 3, SIZE, SIZE)
        assert labels.device.type == "cuda" and pairs.shape == (8, 2)
    images, labels = zip(*data.eval_batches("test"))
    assert torch.equal(torch.cat(labels).cpu(), data.parts["test"].labels)
    assert all(batch.device.type == "cuda" for batch in images)


def torchrun_pretrain(data: Path, run_dir: Path):
    import subprocess
    import sys

    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "awsaug_cli",
            "pretrain",
            "--data",
            str(data),
            "--loader",
            "dali",
            "--image-size",
            str(SIZE),
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--run-dir",
            str(run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )


def test_two_process_pretrain_shards_the_folder(folder, tmp_path):
    # rank 0 scans the folder and estimates the statistics; rank 1 receives them
    finished = torchrun_pretrain(folder, tmp_path)
    assert finished.returncode == 0, finished.stderr[-2000:]
    record = json.loads((tmp_path / "run.json").read_text())["pretrain"]
    assert record["world_size"] == 2 and record["loader"] == "dali"
    lines = [json.loads(line) for line in (tmp_path / "pretrain" / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    # both ranks ran the same 2 steps of 4 images each (23 // 8 full batches of 8, split in two)
    assert all(line["images_per_second"] * line["seconds"] == pytest.approx(16) for line in lines)


def test_two_processes_both_stop_on_a_bad_folder(tmp_path):
    finished = torchrun_pretrain(bad_folder(tmp_path / "data", "bad files"), tmp_path / "run")
    assert finished.returncode != 0
    assert (
        finished.stderr.count("awsaug: error: 3 file(s) that are not usable images") == 2
    )  # both ranks, one line each
    assert not (tmp_path / "run" / "run.json").exists()
