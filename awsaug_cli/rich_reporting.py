"""The CLI's side of reporting: rich output for the Reporter interface and result tables."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from awsaug_cli.bench import Measurement, speedups


class RichReporter:
    """Messages as dim lines; progress as a live bar with ETA on a terminal (one bar per label,
    finished bars cleared), nothing extra when the output is not a terminal."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console, transient=True,
        )
        self.task = None
        self.label = None

    def info(self, message: str) -> None:
        self.console.print(f"[dim]{message}[/dim]")

    def progress(self, label: str, done: int, total: int) -> None:
        if not self.console.is_terminal:
            return
        if label != self.label:
            if self.task is None:
                self.bars.start()
            else:
                self.bars.remove_task(self.task)
            self.task, self.label = self.bars.add_task(label, total=total), label
        self.bars.update(self.task, completed=done)

    def close(self) -> None:
        if self.task is not None:
            self.bars.stop()


def bench_table(results: list[Measurement]) -> Table:
    ratios = speedups(results)
    table = Table(title="Full training transform throughput (median over rounds)")
    for column, justify in (("case", "left"), ("method", "left"), ("images/s", "right"), ("ms/batch", "right"), ("× Pillow loop", "right")):
        table.add_column(column, justify=justify)
    for m in results:
        ratio = ratios.get((m.method, m.case))
        table.add_row(
            m.case.label, m.method, f"{m.images_per_second:,.0f}", f"{m.median_seconds * 1e3:.2f}",
            "—" if ratio is None else f"{ratio:.1f}×",
        )
    return table
