"""Writing a policy: the canonical awsaug JSON (exact), or a format another library reads, which
keeps only the top-k pairs and says how much that loses (formats/approximation.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from awsaug_cli.errors import UserError
from awsaug_cli.formats import to_albumentations, to_dali, to_fastaa, to_kornia
from awsaug_cli.formats.approximation import Approximation
from awsaug_cli.policy import Policy
from awsaug_cli.space import AWS36


class ExportError(UserError):
    """An export that cannot be made (an unknown format, a bad --top-k or --slots); an unwritable
    destination is atomic.WriteError, as for every output."""


def _canonical(policy: Policy, out: Path, top_k: int, slots: int) -> None:
    policy.save(out, top_k=top_k)


# format → writer(policy, out, top_k, slots): None for the exact canonical file, otherwise the
# Approximation the file holds.
EXPORTERS: dict[str, Callable[[Policy, Path, int, int], Approximation | None]] = {
    "awsaug": _canonical,
    "albumentations": to_albumentations.write,
    "kornia": to_kornia.write,
    "dali": to_dali.write,
    "fastaa": to_fastaa.write,
}


# format → what to say beside its file, where the file is only right for some releases of its library.
CAVEATS: dict[str, Callable[[], str]] = {"kornia": to_kornia.written_for}


MAX_SLOTS = 10_000  # 100× the default: finer proportions than any trainer can tell apart


def export(
    policy: Policy, out: Path, format: str = "awsaug", top_k: int = 25, slots: int = 100
) -> Approximation | None:
    if format not in EXPORTERS:
        raise ExportError(f"--format {format!r}: choose one of {', '.join(EXPORTERS)}")
    if top_k < 1:
        raise ExportError(f"--top-k must be at least 1, got {top_k}")
    if not 1 <= slots <= MAX_SLOTS:
        raise ExportError(
            f"--slots must be between 1 and {MAX_SLOTS:,}, got {slots:,} (each slot is a sub-policy "
            "in the file and in memory)"
        )
    if format != "awsaug" and policy.space.key != AWS36.key:  # their op tables transcribe the AWS-36 ops
        raise ExportError(
            f"--format {format} holds AWS-36 policies; this one's space is {policy.space.key!r}: export it "
            "as awsaug JSON (exact) and apply it with awsaug (TrainTransform, PolicyAugment)"
        )
    return EXPORTERS[format](policy, out, top_k, slots)


def export_policy_file(
    out: Path, *, source: Path | None, run_dir: Path, format: str = "awsaug", top_k: int = 25, slots: int = 100
) -> tuple[Policy, Approximation | None]:
    """Export `source` (default: the run's searched policy) to `out`; returns the policy and, for a
    non-canonical format, what the export kept of it."""
    from awsaug_cli.formats.importers import import_policy
    from awsaug_cli.runs import RunError, owned_by_run
    from awsaug_cli.search.run_state import search_paths

    if owned_by_run(out, run_dir):
        raise ExportError(
            f"{out}: a file the run directory {run_dir} keeps (its record, weights, search or training "
            "results); write the export elsewhere, e.g. beside it"
        )
    if source is None:
        source = search_paths(run_dir)["answer"]
        if not source.exists():
            raise RunError(f"{run_dir}: no finished search (no {source}); run `awsaug search` or pass --from FILE")
    policy = import_policy(source)
    return policy, export(policy, out, format, top_k, slots)
