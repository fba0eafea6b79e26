"""Rich output for the terminal CLI (never imported by `status --json`/`--prom` or by cron runs)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .core.checks import CheckResult, Status, fix_command
from .core.fmt import age_words, printable
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
        detail = printable(r.detail) + (f" (fix: {fix_command(r.fix)})" if r.fix else "")
        table.add_row(r.id, Text(r.status.value, style=STATUS_STYLE[r.status]), age_words(r.age_seconds),
                      age_words(r.threshold_seconds) if r.age_seconds is not None else "", Text(detail))
    console.print(table)
    console.print(Text.assemble("overall: ", (worst.value, STATUS_STYLE[worst])))


class RichJobRenderer:
    """Job events on a terminal: a progress bar for the running phase, lines above it."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                 console=self.console, transient=True)
        self.task = None

    def __enter__(self) -> "RichJobRenderer":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def __call__(self, event) -> None:
        from .core.events import Finished, Output, Phase, Progress, Started
        from .core.plain import format_progress

        if isinstance(event, Started):
            self.console.print(Text.assemble(("▶ ", "bold"), event.description))
            self.task = self.progress.add_task(event.description, total=None, info="")
        elif isinstance(event, Phase):
            self.console.print(Text(f"  {event.name}: {event.detail}" if event.detail else f"  {event.name}", style="dim"))
            if self.task is not None:
                self.progress.update(self.task, description=event.name, total=None, completed=0, info="")
        elif isinstance(event, Progress):
            if self.task is not None:
                self.progress.update(self.task, total=event.total, completed=event.done, info=format_progress(event))
        elif isinstance(event, Output):
            self.console.print(Text(f"  | {event.line}"))
        elif isinstance(event, Finished):
            if self.task is not None:
                self.progress.remove_task(self.task)
                self.task = None
            if event.ok:
                self.console.print(Text.assemble(("OK ", "bold green"), f"in {event.duration_s:.1f} s: {event.summary}"))
            elif event.cancelled:
                self.console.print(Text(f"CANCELLED after {event.duration_s:.1f} s", style="bold yellow"))
            elif event.busy:
                self.console.print(Text.assemble(("BUSY ", "bold yellow"), event.error or event.summary))
            else:
                self.console.print(Text.assemble(("FAIL ", "bold red"), event.error or event.summary))
                if event.stderr_tail:
                    self.console.print(Text(event.stderr_tail[-2000:], style="dim"))
                if event.next_step:
                    self.console.print(Text(f"next: {event.next_step}", style="bold"))
