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

R = TypeVar("R", bound="RunRecord")


class RunRecord:
    """What both sections share: read from run.json's dict (or a saved state's), written back as one."""

    @classmethod
    def from_record(cls: type[R], record: dict[str, Any]) -> R:
        """The section as stored; RunError (not a traceback) for one that lacks a setting every
        version wrote: run.json was edited, or is not awsaug's."""
        fields = dataclasses.fields(cls)
        missing = [
            f.name for f in fields if f.name not in record and f.default is f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise RunError(
                f"run.json's {cls.__name__} lacks {', '.join(missing)}: restore it, or start again in another --run-dir"
            )
        return cls(**{f.name: record[f.name] for f in fields if f.name in record})

    def record(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_section(run_dir: Path, kind: type[R], section: str) -> R | None:
    """The run's `section` as a `kind`; None when the run has none."""
    recorded = read_run(run_dir).get(section)
    return kind.from_record(recorded) if recorded else None


@dataclass(frozen=True)
class PretrainRecord(RunRecord):
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


def recorded_pretrain(run_dir: Path) -> PretrainRecord | None:
    return read_section(run_dir, PretrainRecord, "pretrain")


SCORE_REPEATS = 3  # the closing comparison's fine-tunes per policy, unless told


@dataclass(frozen=True)
class SearchRecord(RunRecord):
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
    unchanged_ops: list[str] = field(default_factory=list)  # measured too; none recorded: a critic without a zero
    reward: str = "accuracy"
    score_repeats: int = SCORE_REPEATS
    pretrain_fingerprint: str = ""
    pairs_in_pipeline: bool = False
    world_size: int = 1
    device: str = "cpu"


def recorded_search(run_dir: Path) -> SearchRecord | None:
    return read_section(run_dir, SearchRecord, "search")
