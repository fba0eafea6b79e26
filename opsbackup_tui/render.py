"""Rich output for the terminal CLI (never imported by `status --json`/`--prom` or by cron runs)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .core.checks import CheckResult, Status
from .core.fmt import age_words
from .core.settings import Settings

STATUS_STYLE = {
    Status.OK: "bold green", Status.SKIPPED: "dim",
    Status.STALE: "bold yellow", Status.OVERDUE: "bold yellow", Status.WARN: "bold yellow",
    Status.FAIL: "bold red", Status.FAILED: "bold red", Status.UNKNOWN: "bold magenta",
}


def print_checklist(results: list[CheckResult], settings: Settings, worst: Status) -> None:
    console = Console()
    table = Table(title=f"Backups in {settings.backup_base}", title_justify="left", expand=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("age", justify="right", no_wrap=True)
    table.add_column("threshold", justify="right", no_wrap=True)
    table.add_column("detail")
    for r in results:
        table.add_row(r.id, Text(r.status.value, style=STATUS_STYLE[r.status]), age_words(r.age_seconds),
                      age_words(r.threshold_seconds) if r.age_seconds is not None else "", Text(r.detail))
    console.print(table)
    console.print(Text.assemble("overall: ", (worst.value, STATUS_STYLE[worst])))
