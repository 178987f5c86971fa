"""`awsaug score`: the search's proxy applied to given policies — common random numbers, paired
errors, the JSON list, refusals."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from awsaug_cli.commands.pretrain import PretrainOptions, pretrain
from awsaug_cli.commands.score import ScoreOptions, score_policies
from awsaug_cli.commands.search import (
    RANKING_STEPS,
    SHORT_FINE_TUNE_STEPS,
    SearchOptions,
    default_finetune_epochs,
    run_search,
    short_fine_tune_note,
)
from awsaug_cli.errors import OptionError, UserError
from awsaug_cli.reporters import SilentReporter
from awsaug_cli.runs import RunError
from awsaug_cli.search.proxy_scores import Scores, compare_line, paired_errors, ranked

from .fake_datasets import write_idx

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("pretrained")
    pretrain(PretrainOptions(run_dir=run_dir, epochs=2))
    return run_dir


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "awsaug_cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_paired_errors_cancel_what_a_repeat_gives_every_policy():
    # each repeat shifts both policies alike by 10: only their constant gap is left, with no spread
    rewards = [[1.0, 11.0, 21.0], [2.0, 12.0, 22.0]]
    assert paired_errors(rewards) == pytest.approx([0.0, 0.0])
    # a lone policy keeps its plain standard error
    assert paired_errors([[1.0, 11.0, 21.0]]) == pytest.approx([10 / 3**0.5])
    scores = ranked(["a", "b"], rewards)
    assert [s.rank for s in scores] == [2, 1] and scores[1].reward == pytest.approx(12.0)


@pytest.mark.parametrize(
    ("searched", "tied"),
    [([-9.5, -10.5, -9.4], True), ([-8.0, -8.3, -7.9], False)],  # none: -10.0, -10.2, -9.6 in each repeat
)
def test_the_closing_comparison_calls_a_lead_inside_two_errors_a_tie(searched, tied):
    scores = Scores(ranked(["searched", "none"], [searched, [-10.0, -10.2, -9.6]]), "centi-nats", "loss", 3, 3)
    line = compare_line(scores, "searched")
    assert line.startswith("The searched policy scored best") and "above none" in line
    assert ("cannot tell them apart" in line) is tied
    assert ("the lead is optimistic" in line) is not tied  # a clear lead, scored on the images it was tuned on


def test_each_policy_sees_the_same_noise_whatever_it_is_scored_with(pretrained):
    options = dict(run_dir=pretrained, repeats=2, finetune_epochs=1)
    first = score_policies(ScoreOptions(policies=("none", "uniform"), **options))
    second = score_policies(ScoreOptions(policies=("none", "trivialaugment"), **options))
    assert first.scores[0].rewards == second.scores[0].rewards  # `none` at index 0: same batches, crops, holes
    assert first.scores[0].rewards[0] != first.scores[0].rewards[1]  # the repeats differ in all of it
    assert first.scores[1].rewards != second.scores[1].rewards  # different policies, different rewards
    again = score_policies(ScoreOptions(policies=("none", "uniform"), **options))
    assert again.scores == first.scores  # same seed, same result on CPU
    assert first.unit == "centi-nats" and first.reward == "calibrated-loss" and first.finetune_epochs == 1


def test_the_cli_prints_the_table_and_writes_the_json_list(pretrained, tmp_path):
    out = tmp_path / "scores.json"
    done = cli(
        "score",
        "none",
        "uniform",
        "randaugment:1:5",
        "--run-dir",
        str(pretrained),
        "--repeats",
        "2",
        "--finetune-epochs",
        "1",
        "--json",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "rank" in done.stdout and "randaugment:1:5" in done.stdout
    records = json.loads(out.read_text())
    assert [r["policy"] for r in records] == ["none", "uniform", "randaugment:1:5"]
    assert all({"policy", "reward", "error"} <= set(r) for r in records)
    assert sorted(r["rank"] for r in records) == [1, 2, 3]
    by_rank = sorted(records, key=lambda r: r["rank"])
    assert [r["reward"] for r in by_rank] == sorted((r["reward"] for r in records), reverse=True)
    assert all(r["error"] >= 0 and len(r["rewards"]) == 2 for r in records)
    printed = " ".join((done.stdout + done.stderr).split())  # rich wraps long lines
    steps = int(re.search(r"1 fine-tune epochs \((\d+) steps", printed)[1])
    assert steps < SHORT_FINE_TUNE_STEPS  # an epoch of the built-in digits is a few batches: the user is told
    assert f"--finetune-epochs {math.ceil(RANKING_STEPS / steps)} " in printed


@pytest.mark.parametrize(
    ("epochs", "steps_per_epoch", "suggested"),
    [(3, 6, 40), (1, 1, 240), (3, 16, 15), (3, 17, None), (10, 30, None)],
)
def test_a_fine_tune_of_few_steps_comes_with_advice_to_lengthen_it(epochs, steps_per_epoch, suggested):
    note = short_fine_tune_note(
        SimpleNamespace(epochs=epochs, epoch_steps=steps_per_epoch, steps=epochs * steps_per_epoch)
    )
    if suggested is None:
        assert note is None
    else:
        assert f"--finetune-epochs {suggested} " in note
        assert suggested * steps_per_epoch >= RANKING_STEPS > (suggested - 1) * steps_per_epoch


@pytest.mark.parametrize(
    ("algorithm", "preset_epochs", "epoch_steps", "expected"),
    [
        ("contrast", 3, 6, 40),  # 400 images at batch 64: 18 steps, lengthened to 240
        ("contrast", 3, 1, 240),
        ("contrast", 3, 16, 15),  # 48 steps: just short
        ("contrast", 3, 17, 3),  # the built-in digits: 51 steps, the preset's
        ("contrast", 10, 30, 10),
        ("ppo", 3, 6, 3),  # the paper's algorithm keeps the paper's settings
        ("reinforce", 3, 1, 3),
    ],
)
def test_the_default_search_lengthens_only_short_fine_tunes(algorithm, preset_epochs, epoch_steps, expected):
    assert default_finetune_epochs(preset_epochs, epoch_steps, algorithm) == expected
    if expected != preset_epochs:
        assert (expected - 1) * epoch_steps < RANKING_STEPS <= expected * epoch_steps


class Lines(SilentReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def pretrained_on_few_images(root: Path, space: str) -> Path:
    """Shared weights from 24 training images at batch 8: an epoch is 3 optimiser steps."""
    write_idx(root / "idx", gz=True, train=30, test=10)
    run_dir = root / space
    options = PretrainOptions(run_dir=run_dir, data=str(root / "idx"), epochs=1, batch_size=8, image_size=16)
    pretrain(dataclasses.replace(options, space=space))
    return run_dir


def test_score_and_search_on_few_images_fine_tune_about_240_steps_unless_told(tmp_path):
    lengthened = math.ceil(RANKING_STEPS / 3)
    run_dir = pretrained_on_few_images(tmp_path, "trivialaugment")
    lines = Lines()
    scores = score_policies(ScoreOptions(policies=("none",), run_dir=run_dir, repeats=1), lines)
    assert scores.finetune_epochs == lengthened
    assert any("lengthened from the preset's 3 epochs (9 optimiser steps" in line for line in lines.lines)
    told = score_policies(ScoreOptions(policies=("none",), run_dir=run_dir, repeats=1, finetune_epochs=3))
    assert told.finetune_epochs == 3
    faithful_run = pretrained_on_few_images(tmp_path, "aws36")
    for searched, faithful, expected in ((run_dir, False, lengthened), (faithful_run, True, 3)):
        run_search(SearchOptions(run_dir=searched, loops=1, trajectories=2, score_repeats=0, faithful=faithful))
        assert json.loads((searched / "run.json").read_text())["search"]["finetune_epochs"] == expected


@pytest.mark.parametrize(
    "args, message",
    [
        (("no-such-policy.json",), "no-such-policy.json"),
        (("none", "none"), "none named more than once"),
        (("none", "--reward", "speed"), "--reward 'speed'"),
        (("randaugment:9:9",), "RandAugment's N"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(pretrained, args, message):
    done = cli("score", *args, "--run-dir", str(pretrained), "--repeats", "1", "--finetune-epochs", "1")
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_run_directory_without_a_pretrain_is_refused(tmp_path):
    with pytest.raises(RunError, match="no pretrain run to score policies with"):
        score_policies(ScoreOptions(policies=("none",), run_dir=tmp_path))
    done = cli("score", "none", "--run-dir", str(tmp_path))
    assert done.returncode == 2 and "awsaug pretrain --run-dir" in done.stderr


def test_the_json_path_is_checked_before_any_fine_tune(pretrained, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    done = cli("score", "none", "--run-dir", str(pretrained), "--json", str(blocked / "scores.json"))
    assert done.returncode == 2 and "scoring" not in done.stderr


def test_no_policy_or_a_bad_repeat_count_is_refused(pretrained):
    with pytest.raises(OptionError, match="at least one policy"):
        score_policies(ScoreOptions(policies=(), run_dir=pretrained))
    with pytest.raises(UserError, match="--repeats"):
        score_policies(ScoreOptions(policies=("none",), run_dir=pretrained, repeats=0))


@pytest.mark.parametrize("width", [60, 80])
def test_the_tables_keep_every_policys_name_in_a_narrow_log(width):
    """Piped to a log (80 columns) the policy column once shrank to nothing: rows without names."""
    import io

    from rich.console import Console

    from awsaug_cli.commands.compare import PolicyResult
    from awsaug_cli.rich_output import POLICY_WIDTH, comparison_table, score_table
    from awsaug_cli.search.proxy_scores import PolicyScore, Scores

    names = ["none", "/tmp/runs/fashion/search/policy.json"]
    finals = [86.08, 86.13, 85.98, 85.71, 86.4]
    tables = [
        comparison_table([PolicyResult(name, finals, finals, [finals] * 5, [60]) for name in names]),
        score_table(
            Scores(
                [PolicyScore(name, [-48.91, -48.52, -49.23], -48.89, 0.34, rank) for rank, name in enumerate(names, 1)],
                "centi-nats",
                "calibrated-loss",
                3,
                3,
            )
        ),
    ]
    for table in tables:
        console = Console(width=width, file=io.StringIO(), record=True)
        console.print(table)
        text = console.export_text()
        assert "none" in text and names[1][:POLICY_WIDTH] in text  # folded over lines, but there
