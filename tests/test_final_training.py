"""`awsaug train --policy`: the baseline, a policy file and repeated seeds on the built-in digits."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from awsaug_cli.cli import app
from awsaug_cli.commands.train import TrainOptions, final_train
from awsaug_cli.policy import Policy, PolicyFormatError


def test_baseline_and_policy_file_report_final_test_accuracy(tmp_path):
    Policy.uniform().save(tmp_path / "policy.json")
    for policy in ("none", str(tmp_path / "policy.json")):
        result = CliRunner().invoke(app, ["train", "--policy", policy, "--epochs", "2", "--run-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert "final-epoch test accuracy" in result.output and "best over epochs" in result.output
    records = [json.loads(line) for line in (tmp_path / "train" / "results.jsonl").read_text().splitlines()]
    assert [r["policy"] for r in records] == ["none", str(tmp_path / "policy.json")]
    for record in records:
        assert record["epochs"] == 2 and len(record["test_acc_per_epoch"]) == 2
        assert record["final_test_acc"] == record["test_acc_per_epoch"][-1]
        assert record["best_test_acc"] == max(record["test_acc_per_epoch"])


def test_seeds_repeat_and_summarise(tmp_path):
    outcome = final_train(TrainOptions(policy="uniform", run_dir=tmp_path, epochs=1, seeds=2))
    assert [r["seed"] for r in outcome.results] == [0, 1]
    assert outcome.results[0]["final_test_acc"] != outcome.results[1]["final_test_acc"]
    assert "±" in outcome.summary() and "over 2 seed(s)" in outcome.summary()


def test_a_bad_policy_file_is_refused(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(PolicyFormatError, match="format"):
        final_train(TrainOptions(policy=str(tmp_path / "bad.json"), run_dir=tmp_path, epochs=1))
    result = CliRunner().invoke(app, ["train", "--policy", str(tmp_path / "bad.json"), "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("epochs, batch_size", [(0, 32), (1, 0)])
def test_a_schedule_that_trains_nothing_is_refused(tmp_path, epochs, batch_size):
    options = TrainOptions(policy="none", run_dir=tmp_path, epochs=epochs, batch_size=batch_size)
    with pytest.raises(ValueError, match="epochs and batch size must be positive"):
        final_train(options)
    assert not (tmp_path / "train").exists()  # refused before anything is written


def test_enlarge_batch_trains_on_each_image_several_times_per_step(tmp_path):
    result = CliRunner().invoke(
        app, ["train", "--policy", "uniform", "--epochs", "1", "--enlarge-batch", "4", "--run-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "× 4 per step (Enlarge Batch)" in " ".join(result.output.split())
    record = json.loads((tmp_path / "train" / "results.jsonl").read_text())
    assert record["enlarge_batch"] == 4 and 0 <= record["final_test_acc"] <= 100


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--enlarge-batch", "2", "--pairs-in-pipeline"], "--pairs-in-pipeline"),
        (["--enlarge-batch", "0"], "--enlarge-batch"),
    ],
)
def test_an_impossible_enlarge_batch_is_refused_before_training(tmp_path, extra, message):
    result = CliRunner().invoke(app, ["train", "--policy", "uniform", "--run-dir", str(tmp_path), *extra])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "train").exists()


def test_compare_trains_each_policy_at_the_same_budget_and_tabulates_them(tmp_path):
    Policy.uniform().save(tmp_path / "searched.json")
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--compare",
            f"none,uniform,{tmp_path / 'searched.json'}",
            "--epochs",
            "1",
            "--seeds",
            "2",
            "--run-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "train" / "results.jsonl").read_text().splitlines()]
    assert [(r["policy"], r["seed"], r["epochs"]) for r in records] == [
        (policy, seed, 1) for policy in ("none", "uniform", str(tmp_path / "searched.json")) for seed in (0, 1)
    ]
    assert "mean ± std over seeds" in result.output and "final epoch" in result.output
    assert "best epoch" in result.output and "(reference)" in result.output  # labelled, in 80 columns
    assert (tmp_path / "train" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    uniform = [r["final_test_acc"] for r in records if r["policy"] == "uniform"]
    assert f"{sum(uniform) / 2:.2f} ±" in result.output


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--policy", "none", "--compare", "none,uniform"], "one of --policy"),
        ([], "one of --policy"),
        (["--compare", "uniform"], "at least two"),
        (["--compare", "none,none"], "more than once"),
        (["--compare", "none,missing.json"], "missing.json"),
    ],
)
def test_a_comparison_that_cannot_run_is_refused_before_training(tmp_path, arguments, message):
    result = CliRunner().invoke(app, ["train", *arguments, "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "train").exists()
