"""Step 6: the post-audit: a verify restore, as the runbook asks, and the end of the session."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from ...core.events import Finished
from .importing import JobStep


class AuditScreen(JobStep):
    number = 6

    def body(self) -> ComposeResult:
        yield Static("The runbook's last step: a verify restore of the newest dump, to be sure the backups "
                     "themselves are sound. It is optional: finishing without it is recorded.")
        yield Vertical(id="progress")

    def on_mount(self) -> None:
        self.verified: bool | None = None  # None: not run
        self.will_run(self.session.post_audit_job().plan())

    def enter_does(self) -> str:
        if self.job_running():
            return "wait: verify restore running… (x cancels)"
        return "run the verify restore" if self.verified is None else "finish the DR session"

    def primary(self) -> None:
        if self.job_running():
            return
        if self.verified is None:
            self.show_result("verify restore running…", None)
            self.start_job(self.session.post_audit_job(), self.query_one("#progress"))
            self.refresh_hint()
        else:
            self.go_next()

    def job_finished(self, event: Finished) -> None:
        self.session.post_audit_finished(event)
        self.verified = event.ok
        self.will_run(self.session.post_audit_job().plan(), ran=True)
        self.show_result(event.summary if event.ok else f"verify restore failed: {event.error}", event.ok)
