"""Writing a policy: the canonical awsaug JSON. Formats for other libraries (albumentations,
kornia, DALI, Fast AutoAugment) keep only the top-k pairs and are named here so that asking
for one gives a clear answer; they are not built yet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from awsaug_cli.policy import Policy


class ExportError(ValueError):
    """An export that cannot be made (an unknown or unbuilt format, a bad --top-k); an unwritable
    destination is atomic.WriteError, as for every output."""


def _canonical(policy: Policy, out: Path, top_k: int) -> None:
    policy.save(out, top_k=top_k)


EXPORTERS: dict[str, Callable[[Policy, Path, int], None] | None] = {
    "awsaug": _canonical,
    "albumentations": None,
    "kornia": None,
    "dali": None,
    "fastaa": None,
}


def export(policy: Policy, out: Path, format: str = "awsaug", top_k: int = 25) -> None:
    if format not in EXPORTERS:
        raise ExportError(f"--format {format!r}: choose one of {', '.join(EXPORTERS)}")
    writer = EXPORTERS[format]
    if writer is None:
        raise ExportError(f"--format {format}: this export is not built yet; the canonical format (awsaug) is")
    if top_k < 1:
        raise ExportError(f"--top-k must be at least 1, got {top_k}")
    writer(policy, out, top_k)


def export_policy_file(out: Path, *, source: Path | None, run_dir: Path, format: str = "awsaug", top_k: int = 25) -> Policy:
    """Export `source` (default: the run's best policy) to `out`; returns the policy."""
    from awsaug_cli.formats.importers import import_policy
    from awsaug_cli.runs import RunError
    from awsaug_cli.search_stage import search_paths

    if source is None:
        source = search_paths(run_dir)["best"]
        if not source.exists():
            raise RunError(f"{run_dir}: no finished search (no {source}); run `awsaug search` or pass --from FILE")
    policy = import_policy(source)
    export(policy, out, format, top_k)
    return policy
