"""A search's files in a run directory: run.json's "search" section as a typed record, and under
search/ the saved state of the agent after each loop, the closing comparison's scores and the
verdict on an answer. The command writes them; the exports, figures and `export-policy` read them
from here."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from awsaug_cli.checkpoint import read_tensors, write_tensors
from awsaug_cli.policy import Policy
from awsaug_cli.runs import read_jsonl, read_run
from awsaug_cli.search.loop import SearchAgent, make_agent
from awsaug_cli.search.proxy_scores import Scores
from awsaug_cli.search.rewards import REWARDS
from awsaug_cli.search.spaces import UNNAMED_SPACE, search_space
from awsaug_cli.search.verdict import Verdict, judge

SCORE_REPEATS = 3  # the closing comparison's fine-tunes per policy, unless told


@dataclass(frozen=True)
class SearchRecord:
    """run.json's "search" section: what a search runs with, read and written only through this
    record. A record written by an earlier awsaug lacks the settings added since; it reads as
    those searches ran (the defaults below)."""

    loops: int
    trajectories: int
    finetune_epochs: int
    finetune_lr: float | None  # None: recorded before it was a setting (such searches ran at the preset's min_lr)
    seed: int
    common_noise: bool
    agent: dict[str, Any]  # the algorithm and its settings (CriticSettings or PaperSettings, as a record)
    space: str = UNNAMED_SPACE
    equivalent_ops: list[list[str]] = field(default_factory=list)  # measured on the data (equivalent_ops.py)
    reward: str = "accuracy"
    score_repeats: int = SCORE_REPEATS
    pretrain_fingerprint: str = ""
    pairs_in_pipeline: bool = False
    world_size: int = 1
    device: str = "cpu"

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SearchRecord:
        """The record as run.json (or a saved state) holds it; keys it does not know are left out
        (when it was written, by which version)."""
        return cls(**{f.name: record[f.name] for f in dataclasses.fields(cls) if f.name in record})

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recorded_search(run_dir: Path) -> SearchRecord | None:
    """The run's search record; None when it has none."""
    recorded = read_run(run_dir).get("search")
    return SearchRecord.from_record(recorded) if recorded else None


def search_paths(run_dir: Path) -> dict[str, Path]:
    folder = run_dir / "search"
    return {
        "state": folder / "state.safetensors",
        "history": folder / "history.jsonl",
        "answer": folder / "policy.json",
        "final": folder / "final_policy.json",
        "scores": folder / "scores.json",
    }


STATE_FORMAT = "awsaug.search"


def save_state(path: Path, agent: SearchAgent, settings: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """The agent after a loop, with that loop's history records (restored on resume if a crash
    came between this write and the history's)."""
    tensors, scalars = agent.state()
    write_tensors(path, tensors, STATE_FORMAT, {"scalars": scalars, "settings": settings, "records": records})


def load_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(tensors, scalars, the search's settings, the last loop's records) of a saved state."""
    tensors, metadata = read_tensors(path, STATE_FORMAT)
    return tensors, metadata["scalars"], metadata["settings"], metadata["records"]


def read_scores(path: Path) -> Scores | None:
    """The closing comparison a search kept; None when there is none (or it cannot be read: it is redone)."""
    try:
        return Scores.from_records(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def run_verdict(run_dir: Path, answer: Policy) -> Verdict | None:
    """The verdict on `answer` from the run's search history; None when the run has none."""
    paths = search_paths(run_dir)
    history = read_jsonl(paths["history"])
    recorded = recorded_search(run_dir)
    if not history or recorded is None:
        return None
    return judge(answer, history, REWARDS[recorded.reward][1], recorded.equivalent_ops, read_scores(paths["scores"]))


def state_policy(path: Path) -> Policy:
    """The current policy of a search in progress, from its saved state."""
    tensors, metadata = read_tensors(path, STATE_FORMAT)
    settings = SearchRecord.from_record(metadata["settings"])
    agent = make_agent(
        settings.trajectories,
        settings.seed,
        search_space(settings.space),
        equivalent=settings.equivalent_ops,
        **settings.agent,
    )
    agent.load_state(tensors, metadata["scalars"])
    return agent.policy()
