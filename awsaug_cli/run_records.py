"""run.json's sections as typed, frozen records, read and written only here: what a pretrain
ran with (everything a search or a resume needs of it) and what a search runs with. A record
written by an earlier awsaug lacks the settings added since; it reads as those runs ran (the
defaults below). Keys a record does not know (when it was written, by which version) are left
out when read and added by runs.write_stage when written."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from awsaug_cli.runs import RunError, read_run
from awsaug_cli.search.spaces import UNNAMED_SPACE

R = TypeVar("R")


def from_record(kind: type[R], record: dict[str, Any]) -> R:
    """`kind` from a section as stored; RunError (not a traceback) for one that lacks a setting
    every version wrote: run.json was edited, or is not awsaug's."""
    fields = dataclasses.fields(kind)
    missing = [f.name for f in fields if f.name not in record and f.default is f.default_factory is dataclasses.MISSING]
    if missing:
        raise RunError(
            f"run.json's {kind.__name__} lacks {', '.join(missing)}: restore it, or start again in another --run-dir"
        )
    return kind(**{f.name: record[f.name] for f in fields if f.name in record})


@dataclass(frozen=True)
class PretrainRecord:
    """run.json's "pretrain" section."""

    preset: str
    model: str
    epochs: int
    batch_size: int
    seed: int
    split_seed: int
    mode: str  # ddp or independent
    data: str
    data_name: str
    data_fingerprint: str
    data_sizes: dict[str, int]  # train, val, test
    image_size: list[int]  # [H, W]
    classes: list[str]
    mean: list[float]
    std: list[float]
    optim: dict[str, Any] = field(default_factory=dict)  # presets.OptimSettings as a record
    bn_momentum: float = 0.1
    augment: dict[str, Any] = field(default_factory=dict)  # crop padding, Cutout, flip
    space: str = UNNAMED_SPACE  # the search space whose start the shared weights trained under
    loader: str = "memory"
    skip_bad_files: bool = False
    pairs_in_pipeline: bool = False
    world_size: int = 1
    device: str = "cpu"

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PretrainRecord:
        return from_record(cls, record)

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recorded_pretrain(run_dir: Path) -> PretrainRecord | None:
    """The run's pretrain record; None when it has none."""
    recorded = read_run(run_dir).get("pretrain")
    return PretrainRecord.from_record(recorded) if recorded else None


SCORE_REPEATS = 3  # the closing comparison's fine-tunes per policy, unless told


@dataclass(frozen=True)
class SearchRecord:
    """run.json's "search" section (also saved with the search's state)."""

    loops: int
    trajectories: int
    finetune_epochs: int
    seed: int
    common_noise: bool
    agent: dict[str, Any]  # the algorithm and its settings (CriticSettings or PaperSettings, as a record)
    finetune_lr: float | None = None  # None: recorded before it was a setting (those ran at the preset's min_lr)
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
        """The record as run.json (or a saved state) holds it."""
        return from_record(cls, record)

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recorded_search(run_dir: Path) -> SearchRecord | None:
    """The run's search record; None when it has none."""
    recorded = read_run(run_dir).get("search")
    return SearchRecord.from_record(recorded) if recorded else None
