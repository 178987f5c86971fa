"""The CLI's side of reporting: rich output for the Reporter interface and result tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from awsaug_cli.bench import Measurement, speedups


class RichReporter:
    def __init__(self, console: Console) -> None:
        self.console = console

    def info(self, message: str) -> None:
        self.console.print(f"[dim]{message}[/dim]")

    def progress(self, label: str, done: int, total: int) -> None:
        self.console.print(f"[dim]{label}: round {done}/{total}[/dim]")


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
