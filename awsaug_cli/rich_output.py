"""The CLI's side of reporting: rich output for the Reporter interface and result tables."""

from __future__ import annotations

import math
import statistics

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from awsaug_cli.bench import Measurement, speedups
from awsaug_cli.commands.compare import PolicyResult
from awsaug_cli.search.proxy_scores import Scores
from awsaug_cli.search.verdict import Verdict


class RichReporter:
    """Messages as dim lines. On a terminal, one live area: the latest status panel and a
    progress bar with ETA for the current task; elsewhere a plain line per status."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = None
        self.label = None
        self.panel: Table | None = None
        self.live = Live(self, console=console, refresh_per_second=4, transient=True)

    def __rich__(self) -> Group:
        return Group(*([self.panel] if self.panel is not None else []), self.bars)

    def _show(self) -> None:
        if not self.live.is_started:
            self.live.start()

    def info(self, message: str) -> None:
        self.console.print(f"[dim]{message}[/dim]")

    def progress(self, label: str, done: int, total: int) -> None:
        if not self.console.is_terminal:
            return
        self._show()
        if label != self.label:
            if self.task is not None:
                self.bars.remove_task(self.task)
            self.task, self.label = self.bars.add_task(label, total=total), label
        self.bars.update(self.task, completed=done)

    def status(self, title: str, rows: list[tuple[str, str]]) -> None:
        if not self.console.is_terminal:
            self.console.print(
                f"{title}: " + "; ".join(f"{key} {value}" for key, value in rows), highlight=False, soft_wrap=True
            )
            return
        table = Table(title=title, show_header=False, title_justify="left", box=None)
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(key, value)
        self.panel = table
        self._show()

    def close(self) -> None:
        if self.live.is_started:
            self.live.stop()
            if self.panel is not None:
                self.console.print(self.panel)


def bench_table(results: list[Measurement]) -> Table:
    ratios = speedups(results)
    table = Table(title="Full training transform throughput (median over rounds)")
    for column, justify in (
        ("case", "left"),
        ("method", "left"),
        ("images/s", "right"),
        ("ms/batch", "right"),
        ("× Pillow loop", "right"),
    ):
        table.add_column(column, justify=justify)
    for m in results:
        ratio = ratios.get((m.method, m.case))
        table.add_row(
            m.case.label,
            m.method,
            f"{m.images_per_second:,.0f}",
            f"{m.median_seconds * 1e3:.2f}",
            "—" if ratio is None else f"{ratio:.1f}×",
        )
    return table


def verdict_panel(verdict: Verdict, title: str) -> Panel:
    """What the search found, framed so it cannot be missed; yellow when it found nothing."""
    return Panel(
        "\n".join(verdict.lines()), title=title, title_align="left", border_style="green" if verdict.found else "yellow"
    )


# A policy's name (often a file path) keeps at least this many characters a line: in a log or a
# narrow terminal rich otherwise shrinks the column to nothing and the rows lose their names.
POLICY_WIDTH = 16


def comparison_table(results: list[PolicyResult]) -> Table:
    """--compare's table: the final-epoch accuracy is the headline; the best over epochs is labelled."""
    table = Table(title="Policies at the same budget: test accuracy (%), mean ± std over seeds")
    table.add_column("policy", overflow="fold", min_width=POLICY_WIDTH)
    table.add_column("final epoch", justify="right", no_wrap=True)  # the headline, never broken
    for column in ("per seed", "best epoch (reference)"):  # wrap in a narrow terminal or a log
        table.add_column(column, justify="right", overflow="fold")
    for result in results:
        table.add_row(
            result.policy,
            f"{result.mean:.2f} ± {result.std:.2f}",
            ", ".join(f"{a:.2f}" for a in result.finals),
            f"{statistics.mean(result.bests):.2f}",
        )
    return table


def score_table(scores: Scores) -> Table:
    """`awsaug score`'s table: the proxy's reward per policy with its paired error, and its rank."""
    table = Table(
        title=f"The search's proxy: {scores.repeats} fine-tune(s) of {scores.finetune_epochs} epochs per policy "
        f"from the shared weights ({scores.reward} reward, {scores.unit})"
    )
    table.add_column("rank", justify="right")
    table.add_column("policy", overflow="fold", min_width=POLICY_WIDTH)
    for column in ("reward", "± error"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("per repeat", justify="right", overflow="fold")
    for score in sorted(scores.scores, key=lambda s: s.rank):
        error = f"{score.error:.2f}" if math.isfinite(score.error) else "— (1 repeat)"
        table.add_row(
            str(score.rank), score.policy, f"{score.reward:.2f}", error, ", ".join(f"{r:.2f}" for r in score.rewards)
        )
    return table
