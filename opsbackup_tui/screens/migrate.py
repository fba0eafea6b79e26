"""Legacy migration (m): the dry-run table first (Enter on a row shows all its problems), then the
run (r, asks first) with progress; x cancels; F5 scans again."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from ..core.events import Finished
from ..core.fmt import size_words
from ..core.jobs.migrate import MigrateJob, MigrationPlan, plan_migration
from ..widgets.keybar import KeyBar
from .confirm import ConfirmScreen
from .detail import DetailScreen
from .jobscreen import JobScreen


class MigrateScreen(JobScreen):
    DEFAULT_CSS = """
    MigrateScreen > .title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    MigrateScreen #summary { padding: 0 1; height: auto; }
    MigrateScreen DataTable { height: 1fr; }
    MigrateScreen #progress { height: auto; }
    """
    BINDINGS = [Binding("r", "run", "Run migration"), Binding("f5,ctrl+r", "rescan", "Scan again")]

    def compose(self) -> ComposeResult:
        yield Static("Legacy migration: dry run (nothing changes until you run it: r)", classes="title", id="title")
        yield Static("scanning…", id="summary")
        yield DataTable(id="plan", cursor_type="row")
        yield Vertical(id="progress")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in ("file", "size", "target", "action", "time from", "problems", "folder"):
            table.add_column(key, key=key)
        self.plan: MigrationPlan | None = None
        table.focus()
        self._scan()

    @work(thread=True, group="migrate-plan", exclusive=True, exit_on_error=False)
    def _scan(self) -> None:
        plan = plan_migration(self.app.settings, self.app.clock())
        self.app.call_from_thread(self._show, plan)

    def _show(self, plan: MigrationPlan) -> None:
        self.plan = plan
        table = self.query_one(DataTable)
        table.clear()
        for c in plan.candidates:
            target = c.target.rsplit("/", 1)[-1] if c.target else "–"
            style = "bold red" if c.action == "skip" else ""
            # Text: a str cell is read as markup, and file names are the operator's (`old[/x]` crashed it).
            table.add_row(Text(Path(c.source).name), size_words(c.size), target, Text(c.action, style=style),
                          c.time_source or "–", Text("; ".join(c.problems)), Text(str(Path(c.source).parent)))
        todo = [c for c in plan.candidates if c.runnable]
        self.query_one("#summary", Static).update(Text(
            f"{len(plan.candidates)} legacy file(s) in {', '.join(plan.folders)}: {len(todo)} to migrate "
            f"({size_words(sum(c.size for c in todo))}), {len(plan.candidates) - len(todo)} left alone. "
            f"Dumps in db/ now: {plan.dumps_before}, {plan.missing_checksums} without .sha256."))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if self.plan is not None and event.cursor_row < len(self.plan.candidates):
            c = self.plan.candidates[event.cursor_row]
            self.app.push_screen(DetailScreen(Path(c.source).name, [
                ("file", c.source), ("target", c.target or "–"), ("action", c.action),
                ("time from", c.time_source or "–"), ("problems", "\n".join(c.problems) or "none")]))

    def action_rescan(self) -> None:
        if not self.job_running():
            self._scan()

    def action_run(self) -> None:
        if self.job_running() or self.plan is None:
            return
        if not any(c.runnable for c in self.plan.candidates):
            self.app.notify("Nothing to migrate.")
            return
        job = MigrateJob(self.app.settings, self.plan)

        def answer(yes: bool | None) -> None:
            if yes:
                self.start_job(job, self.query_one("#progress"))

        self.app.push_screen(ConfirmScreen("Migrate the legacy dumps?", job.plan()), answer)

    def job_finished(self, event: Finished) -> None:
        done = f"{datetime.fromtimestamp(self.app.clock()):%H:%M}"
        verdict = event.summary if event.ok else f"FAILED: {event.error}" if not event.cancelled else "cancelled"
        self.query_one("#title", Static).update(
            Text(f"Legacy migration: ran at {done} ({verdict}); below, the dry run of what is left"))
        self._scan()
