"""A search's files in a run directory (run.json's "search" section: run_records.py): under
search/ the saved state of the agent after each loop, the closing comparison's scores and the
verdict on an answer. The command writes them; the exports, figures and `export-policy` read them
from here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from awsaug_cli.checkpoint import read_tensors, write_tensors
from awsaug_cli.policy import Policy
from awsaug_cli.run_records import SearchRecord, recorded_search
from awsaug_cli.runs import read_jsonl
from awsaug_cli.search.loop import SearchAgent, make_agent
from awsaug_cli.search.proxy_scores import Scores
from awsaug_cli.search.rewards import REWARDS
from awsaug_cli.search.spaces import search_space
from awsaug_cli.search.verdict import Verdict, judge


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
    unit = REWARDS[recorded.reward][1]
    scores = read_scores(paths["scores"])
    return judge(answer, history, unit, recorded.equivalent_ops, scores, recorded.unchanged_ops)


def state_policy(path: Path) -> Policy:
    """The current policy of a search in progress, from its saved state."""
    tensors, metadata = read_tensors(path, STATE_FORMAT)
    settings = SearchRecord.from_record(metadata["settings"])
    agent = make_agent(
        settings.trajectories,
        settings.seed,
        search_space(settings.space),
        equivalent=settings.equivalent_ops,
        unchanged=settings.unchanged_ops,
        **settings.agent,
    )
    agent.load_state(tensors, metadata["scalars"])
    return agent.policy()
