"""A screen that runs one job in place (migration, monthly checklist) with a JobRow for progress
and cancel, and tells its subclass when the job ends."""

from __future__ import annotations

from textual import work
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker

from ..core.events import Event, Finished, Started
from ..core.jobs import TITLES
from ..core.jobs.base import Job, run_job
from ..widgets.jobs import JobRow
from .error import ErrorScreen


class JobScreen(Screen[None]):
    BINDINGS = [Binding("escape", "close", "Back")]

    def __init__(self) -> None:
        super().__init__()
        self.worker: Worker | None = None
        self.row: JobRow | None = None

    def start(self, job: Job, container) -> None:
        """Run `job`; its progress shows in a JobRow mounted into `container`."""
        if self.worker is not None and self.worker.is_running:
            return
        if self.row is not None:
            self.row.remove()
        self.row = JobRow(job.kind, self.app.clock())
        container.mount(self.row)
        self.worker = self._run(job)

    @work(group="screen-job", exit_on_error=False)
    async def _run(self, job: Job) -> None:
        await run_job(job, self._event, clock=self.app.clock)

    def _event(self, event: Event) -> None:
        if not self.is_mounted or self.row is None:
            return
        if not isinstance(event, Started):
            self.row.feed(event, self.app.clock())
        if isinstance(event, Finished):
            if not event.ok and not event.cancelled and not event.busy:
                self.app.push_screen(ErrorScreen(f"{job_title(event.job)} failed", event.error or "",
                                                 event.next_step, event.stderr_tail))
            self.job_finished(event)

    def job_finished(self, event: Finished) -> None:
        """For subclasses: refresh what the job changed."""

    def on_job_row_cancel_requested(self, message: JobRow.CancelRequested) -> None:
        message.stop()
        if self.worker is not None:
            self.worker.cancel()

    def action_close(self) -> None:
        if self.worker is not None and self.worker.is_running:
            self.app.notify("A job is running here: cancel it first (its Cancel button).", severity="warning")
            return
        self.dismiss(None)


def job_title(kind: str) -> str:
    return TITLES.get(kind, kind)
