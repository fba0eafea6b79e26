"""Screens that run a job in place (migration, monthly checklist, the DR wizard's import and
post-audit): the job's JobRow for progress, x to cancel it (asking first), and q / escape that go
back — asking first, and cancelling properly, when the job still runs."""

from __future__ import annotations

from textual import work
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from ..core.events import Event, Finished, Started
from ..core.jobs import title
from ..core.jobs.base import Job, run_job
from ..widgets.jobs import JobRow
from .confirm import ConfirmScreen
from .error import ErrorScreen


class RunsJob:
    """Mixed into a Screen: one job at a time, shown in a JobRow mounted where the screen says."""

    worker: Worker | None = None
    row: JobRow | None = None
    errors_in_a_dialog = True  # the DR steps show a failure in their verdict line instead

    def start_job(self, job: Job, container) -> None:
        if self.job_running():
            return
        if self.row is not None:
            self.row.remove()
        self.row = JobRow(job.kind, self.app.clock(), focusable=False)
        container.mount(self.row)
        self.worker = self._run_job(job)
        self.refresh_bindings()

    @work(group="screen-job", exit_on_error=False)
    async def _run_job(self, job: Job) -> None:
        await run_job(job, self._job_event, clock=self.app.clock)

    def _job_event(self, event: Event) -> None:
        if not self.is_mounted or self.row is None:
            return  # the screen is gone; the job still cleans up after itself
        if not isinstance(event, Started):
            self.row.feed(event, self.app.clock())
        self.job_event(event)
        if isinstance(event, Finished):
            self.refresh_bindings()  # x cancels no more
            if self.errors_in_a_dialog and not event.ok and not event.cancelled and not event.busy:
                self.app.push_screen(ErrorScreen(f"{title(event.job)} failed", event.error or "",
                                                 event.next_step, event.stderr_tail))
            self.job_finished(event)

    def job_event(self, event: Event) -> None:
        """For subclasses: every event of the job (phases, progress, the end)."""

    def job_finished(self, event: Finished) -> None:
        """For subclasses: refresh what the job changed."""

    def check_action(self, action: str, parameters) -> bool | None:
        """x shows, and works, only while the job runs."""
        return self.job_running() if action == "cancel_job" else True

    def job_running(self) -> bool:
        # The job's Finished event is its last word (sent after its cleanup): the worker may still
        # be winding down, the job is over.
        return self.worker is not None and self.worker.is_running and not (self.row and self.row.finished)

    def on_job_row_cancel_requested(self, message: JobRow.CancelRequested) -> None:
        message.stop()
        self.action_cancel_job()

    def action_cancel_job(self) -> None:
        if not self.job_running():
            self.app.notify("Nothing runs here to cancel.")
            return

        def answer(yes: bool | None) -> None:
            if yes and self.job_running():
                self.row.show_cancelling()
                self.worker.cancel()

        self.app.push_screen(ConfirmScreen(f"Cancel {title(self.row.kind)}?", [
            "Its programs are stopped, temporary files and databases removed, the cancel logged."],
            yes="Cancel it", no="Keep it running", danger=True), answer)

    def leave_after_cancel(self, leave) -> None:
        """`leave()` now, or — while the job runs — after asking, cancelling it and its cleanup."""
        if not self.job_running():
            leave()
            return

        def answer(yes: bool | None) -> None:
            if yes and self.job_running():
                self.row.show_cancelling()
                self.worker.cancel()
                self._leave_when_done(leave)

        self.app.push_screen(ConfirmScreen(f"{title(self.row.kind)} is running. Cancel it and go back?", [
            "It is cancelled properly: programs stopped, temporary files and databases removed, the cancel logged."],
            yes="Cancel and go back", no="Stay", danger=True), answer)

    @work(group="screen-leave", exit_on_error=False)
    async def _leave_when_done(self, leave) -> None:
        try:
            await self.worker.wait()  # the job's own cleanup (DROP, removed temp files) is part of it
        except (WorkerCancelled, WorkerFailed):
            pass
        leave()


class JobScreen(RunsJob, Screen[None]):
    BINDINGS = [Binding("escape,q", "close", "Back"), Binding("x", "cancel_job", "Cancel job")]

    def action_close(self) -> None:
        self.leave_after_cancel(lambda: self.dismiss(None))
