"""Legacy migration (m): the dry-run table first, then the run with progress and cancel."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Static

from ..core.events import Finished
from ..core.fmt import size_words
from ..core.jobs.migrate import MigrateJob, MigrationPlan, plan_migration
from .confirm import ConfirmScreen
from .jobscreen import JobScreen


class MigrateScreen(JobScreen):
    DEFAULT_CSS = """
    MigrateScreen > .title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    MigrateScreen #summary { padding: 0 1; height: auto; }
    MigrateScreen DataTable { height: 1fr; }
    MigrateScreen #actions { height: 3; padding: 0 1; }
    MigrateScreen #actions Button { margin-right: 2; }
    MigrateScreen #progress { height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static("Legacy migration: dry run (nothing changes until you run it)", classes="title")
        yield Static("scanning…", id="summary")
        yield DataTable(id="plan", cursor_type="row")
        with Horizontal(id="actions"):
            yield Button("Run migration", id="run", variant="primary", disabled=True)
            yield Button("Scan again", id="rescan")
        yield Vertical(id="progress")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key in ("file", "size", "target", "action", "time from", "problems"):
            table.add_column(key, key=key)
        self.plan: MigrationPlan | None = None
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
            table.add_row(Text(c.source), size_words(c.size), target, Text(c.action, style=style),
                          c.time_source or "–",
                          Text("; ".join(c.problems)))
        todo = [c for c in plan.candidates if c.runnable]
        self.query_one("#summary", Static).update(Text(
            f"{len(plan.candidates)} legacy file(s) in {', '.join(plan.folders)}: {len(todo)} to migrate "
            f"({size_words(sum(c.size for c in todo))}), {len(plan.candidates) - len(todo)} left alone. "
            f"Dumps in db/ now: {plan.dumps_before}, {plan.missing_checksums} without .sha256."))
        self.query_one("#run", Button).disabled = not todo

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "rescan":
            event.stop()
            self._scan()
        elif event.button.id == "run":
            event.stop()
            job = MigrateJob(self.app.settings, self.plan)

            def answer(yes: bool | None) -> None:
                if yes:
                    self.query_one("#run", Button).disabled = True
                    self.start(job, self.query_one("#progress"))

            self.app.push_screen(ConfirmScreen("Migrate the legacy dumps?", job.plan()), answer)

    def job_finished(self, event: Finished) -> None:
        if event.ok:
            self.app.notify(event.summary, title="Migration done")
        self._scan()
