"""The monthly checklist (c): run the three items with progress, see the dump-size chart with the
flagged points, and the history of past monthly reports."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ..core.artefacts.reports import monthly_history
from ..core.artefacts.tree import BackupTree
from ..core.events import Finished
from ..core.jobs.monthly import MonthlyJob
from ..core.trend import size_trend
from ..widgets.keybar import KeyBar
from ..widgets.sizechart import SizeChart
from .confirm import ConfirmScreen
from .jobscreen import JobScreen
from .viewer import MarkdownScreen


class MonthlyScreen(JobScreen):
    DEFAULT_CSS = """
    MonthlyScreen > .title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    MonthlyScreen #items { height: auto; padding: 0 1; margin-bottom: 1; }
    MonthlyScreen #history { height: 1fr; }
    MonthlyScreen #progress { height: auto; }
    """

    BINDINGS = [Binding("r", "run", "Run the checklist")]

    def compose(self) -> ComposeResult:
        yield Static("Monthly checklist (runbook §8): r runs it", classes="title")
        yield Static("", id="items")
        yield SizeChart(id="chart")
        yield Vertical(id="progress")
        yield Static("Past monthly reports (enter opens one):", classes="label")
        yield DataTable(id="history", cursor_type="row")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#history", DataTable)
        for key in ("report", "result", "seed"):
            table.add_column(key, key=key)
        self.reports: list = []
        self.query_one("#items", Static).update(Text("\n".join(MonthlyJob(self.app.settings).plan())))
        self._load()

    @work(thread=True, group="monthly-load", exclusive=True, exit_on_error=False)
    def _load(self) -> None:
        settings = self.app.settings
        dumps = list(BackupTree(settings.backup_base).valid_dumps())
        points = size_trend([(d.name, d.size) for d in reversed(dumps)])
        self.app.call_from_thread(self._show, points, monthly_history(settings.reports_dir))

    def _show(self, points, reports) -> None:
        self.query_one(SizeChart).set_points(points)
        self.reports = reports
        table = self.query_one("#history", DataTable)
        table.clear()
        for report in reports:
            ok = report.ok
            result = Text("PASS" if ok else "FAIL" if ok is False else "?", style="bold green" if ok else "bold red")
            table.add_row(report.path.name, result, "?" if report.seed is None else str(report.seed))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        report = self.reports[event.cursor_row]
        self.app.push_screen(MarkdownScreen(f"Monthly report · {report.path}", report.text))

    def action_run(self) -> None:
        if self.job_running():
            return
        job = MonthlyJob(self.app.settings)

        def answer(yes: bool | None) -> None:
            if yes:
                self.start_job(job, self.query_one("#progress"))

        self.app.push_screen(ConfirmScreen("Run the monthly checklist?", job.plan()), answer)

    def job_finished(self, event: Finished) -> None:
        items = event.result.items if event.result is not None else []
        if items:
            self.query_one("#items", Static).update(Text("\n".join(
                f"{'PASS' if i.ok else 'FAIL'}  {i.name}: {i.summary}" for i in items)))
        self._load()
