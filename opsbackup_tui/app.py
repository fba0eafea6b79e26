"""The Textual app: settings and clock injected (make_app), jobs run in async workers that turn the
core's job events into messages, one handler for worker errors, and a quit that cancels properly."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Callable, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from .core.events import Event, Finished, Progress
from .core.jobs import TITLES, make_job
from .core.locks import peek
from .core.overview import Prefetch
from .core.proc import Redactor
from .core.settings import Settings
from .screens.confirm import ConfirmScreen
from .screens.dashboard import DashboardScreen
from .screens.error import ErrorScreen


class JobEvent(Message):
    """One core job event, delivered on the app's message queue."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # A burst of progress updates of one job costs one repaint.
        return (isinstance(message, JobEvent) and isinstance(self.event, Progress)
                and isinstance(message.event, Progress) and message.event.job == self.event.job)


class OpsBackupApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "opsbackup"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time, host: str | None = None,
                 prefetch: Prefetch | None = None) -> None:
        super().__init__()
        self.prefetch = prefetch
        self.settings = settings
        self.clock = clock
        self.host = host or socket.gethostname()
        self.running: dict[str, Worker] = {}
        self._quitting = False
        self._dr_running = False

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen())

    @property
    def dashboard(self) -> DashboardScreen:
        return next(s for s in self.screen_stack if isinstance(s, DashboardScreen))

    # --- command palette ---

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for kind in ("db_backup", "snapshot", "verify", "report"):
            yield SystemCommand(f"Run: {TITLES[kind]}", f"start the {TITLES[kind].lower()} job (asks first)",
                                lambda kind=kind: self.action_start_job(kind))
        yield SystemCommand("Acknowledge alerts", "mark the ops.log alerts as seen", self.dashboard.action_acknowledge)
        yield SystemCommand("Refresh checklist", "run the five checks now", self.dashboard.action_refresh_checks)
        yield SystemCommand("Runbook help", "the runbook, keys and settings", self.action_help)
        yield SystemCommand("DR wizard", "restore the database step by step (runbook §3)", self.action_dr_wizard)
        yield SystemCommand("Uploads restore", "restore chosen files from a restic snapshot (runbook §4)",
                            self.action_uploads)
        yield SystemCommand("Legacy migration", "dry run, then migrate old dumps into db/ (runbook §6)",
                            self.action_migrate)
        yield SystemCommand("Monthly checklist", "random dump import, size trend, restic check (runbook §8)",
                            self.action_monthly)
        if self.settings.prometheus_url is not None:
            yield SystemCommand("Fleet", "every backup host Prometheus knows, worst first", self.action_fleet)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # `f` exists only where there is a Prometheus server to read.
        return action != "fleet" or self.settings.prometheus_url is not None

    # --- help ---

    def action_help(self) -> None:
        from .screens.help import help_markdown
        from .screens.viewer import MarkdownScreen

        if not isinstance(self.screen, MarkdownScreen):
            self.push_screen(MarkdownScreen("Help: runbook, keys, settings", help_markdown(self.settings)))

    # --- guided recovery ---

    def action_dr_wizard(self) -> None:
        if self._dr_running:
            self.notify("The DR wizard is already open.")
            return
        self._dr_wizard()

    @work(group="dr", exit_on_error=False)
    async def _dr_wizard(self) -> None:
        from .screens.dr import run_wizard

        self._dr_running = True
        try:
            session = await run_wizard(self)
        finally:
            self._dr_running = False
        self.notify(f"DR session recorded in {session.transcript.path}", title="DR wizard")
        self.dashboard.action_refresh_checks()

    def action_uploads(self) -> None:
        from .screens.uploads import UploadsScreen

        if not isinstance(self.screen, UploadsScreen):
            self.push_screen(UploadsScreen())

    def action_migrate(self) -> None:
        from .screens.migrate import MigrateScreen

        if not isinstance(self.screen, MigrateScreen):
            self.push_screen(MigrateScreen())

    def action_fleet(self) -> None:
        from .screens.fleet import FleetScreen, HostScreen

        if not isinstance(self.screen, (FleetScreen, HostScreen)):
            self.push_screen(FleetScreen())

    def action_monthly(self) -> None:
        from .screens.monthly import MonthlyScreen

        if not isinstance(self.screen, MonthlyScreen):
            self.push_screen(MonthlyScreen())

    # --- jobs ---

    def action_start_job(self, kind: str) -> None:
        if kind in self.running:
            self.notify(f"{TITLES[kind]} is already running here.", title=TITLES[kind])
            return
        self._prepare_job(kind)

    @work(thread=True, group="prepare", exit_on_error=False)
    def _prepare_job(self, kind: str) -> None:
        # The plan and the lock peek touch the disk: a thread, never the UI loop.
        busy = peek(self.settings.backup_base, kind)
        if busy is not None:
            self.call_from_thread(self._show_busy, busy)
            return
        job = make_job(kind, self.settings)
        redact = Redactor.from_settings(self.settings)
        plan = [redact(line) for line in job.plan()]
        self.call_from_thread(self._confirm_job, job, plan)

    def _show_busy(self, busy) -> None:
        self.notify(f"{busy}: not started twice.", title="Running elsewhere", severity="warning")
        self.dashboard.query_one("#jobs").show_elsewhere(busy)

    def _confirm_job(self, job, plan: list[str]) -> None:
        def answer(yes: bool | None) -> None:
            if yes and job.kind not in self.running:
                self.running[job.kind] = self._run_job(job)
                self.dashboard.refresh_bindings()  # x cancels now

        self.push_screen(ConfirmScreen(f"Run {job.title}?", plan), answer)

    @work(group="jobs", exit_on_error=False)
    async def _run_job(self, job) -> Finished | None:
        from .core.jobs.base import run_job

        try:
            return await run_job(job, lambda event: self.post_message(JobEvent(event)), clock=self.clock)
        finally:
            self.running.pop(job.kind, None)
            self.dashboard.refresh_bindings()

    def on_job_event(self, message: JobEvent) -> None:
        event = message.event
        try:
            panel = self.dashboard.query_one("#jobs")
        except NoMatches:  # the panel is mounted after the first frame
            return
        panel.on_job_event(event, self.clock())
        if isinstance(event, Finished):
            self._job_finished(event)

    def _job_finished(self, event: Finished) -> None:
        from .widgets.jobs import finished_words

        title = TITLES.get(event.job, event.job)
        self.dashboard.show_status(f"{title}: {finished_words(event)}")
        if event.ok:
            self.notify(event.summary, title=f"{title}: OK")
            if event.job == "report" and event.result is not None:
                from .screens.viewer import MarkdownScreen

                self.push_screen(MarkdownScreen(f"Report · {event.result.path}", event.result.markdown))
        elif event.cancelled:
            self.notify(f"{title} cancelled; nothing half-written was kept.", title="Cancelled", severity="warning")
        elif event.busy:
            self.notify(event.error or event.summary, title="Running elsewhere", severity="warning")
        else:
            self.push_screen(ErrorScreen(f"{title} failed", event.error or event.summary, event.next_step,
                                         event.stderr_tail))
        self.dashboard.action_refresh_checks()

    def on_job_row_cancel_requested(self, message) -> None:  # a JobRow.CancelRequested
        self.ask_cancel(message.kind)

    def ask_cancel(self, kind: str) -> None:
        """x: cancel a job of ours after a one-key confirmation (y)."""
        if kind not in self.running:
            return

        def answer(yes: bool | None) -> None:
            worker = self.running.get(kind)
            if yes and worker is not None:
                for row in self.dashboard.query(f"#job-{kind}"):
                    row.show_cancelling()
                worker.cancel()

        self.push_screen(ConfirmScreen(f"Cancel {TITLES.get(kind, kind)}?", [
            "Its programs are stopped, temporary files and databases removed, its lock released, the cancel logged."],
            yes="Cancel it", no="Keep it running", danger=True), answer)

    # --- the one error path for workers ---

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and not self._quitting:
            error = event.worker.error
            self.push_screen(ErrorScreen(f"{event.worker.name or 'background work'} failed",
                                         f"{type(error).__name__}: {error}",
                                         "this is a bug or an unexpected state of the host; the log and the "
                                         "checklist still show the backups"))

    # --- quit ---

    async def action_quit(self) -> None:
        if isinstance(self.screen, ConfirmScreen):
            return  # the question is already asked
        if self._dr_running and _busy_dr_step(self.screen):
            # A DR import runs: leaving the wizard asks, cancels it and offers to drop its database.
            self.screen.action_leave()
            return
        if not self.running:
            self.exit()
            return
        names = ", ".join(TITLES[k] for k in self.running)

        def answer(yes: bool | None) -> None:
            if yes:
                self._cancel_and_exit()

        self.push_screen(ConfirmScreen(f"{names} still running. Cancel and quit?",
                                       ["Each job is cancelled properly: its children are stopped, temporary",
                                        "files and databases removed, its lock released, the cancel logged."],
                                       yes="Cancel jobs and quit", no="Keep running", danger=True), answer)

    @work(group="quit", exit_on_error=False)
    async def _cancel_and_exit(self) -> None:
        self._quitting = True
        workers = list(self.running.values())
        for worker in workers:
            worker.cancel()
        self.notify("Cancelling the running jobs…", title="Quitting")
        for worker in workers:
            while worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
                await asyncio.sleep(0.05)
        self.exit()


def _busy_dr_step(screen: Screen) -> bool:
    from .screens.dr.base import (
        StepScreen,  # here: the wizard's modules load only when it opens
    )

    return isinstance(screen, StepScreen) and screen.busy()


def make_app(settings: Settings, clock: Callable[[], float] = time.time, host: str | None = None,
             prefetch: Prefetch | None = None) -> OpsBackupApp:
    return OpsBackupApp(settings, clock, host, prefetch)


def run_app(settings: Settings, prefetch: Prefetch | None = None) -> int:
    make_app(settings, prefetch=prefetch).run()
    return 0
