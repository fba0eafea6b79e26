"""Step 6: the post-audit: a verify restore, as the runbook asks, and the end of the session."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Button, Static

from ...core.events import Event, Finished, Phase
from ...core.jobs.base import run_job
from .base import StepScreen


class AuditScreen(StepScreen):
    number = 6

    def body(self) -> ComposeResult:
        yield Static("The runbook's last step: run a verify restore of the newest dump to be sure the backups "
                     "themselves are sound.")
        yield Button("Run verify restore", id="verify", variant="primary")
        yield Static("", id="phase")

    def on_mount(self) -> None:
        self.will_run(self.session.post_audit_job().plan())
        button = self.query_one("#next", Button)
        button.label = "Finish"
        self.allow_next(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "verify":
            event.stop()
            event.button.disabled = True
            self.show_result("verify restore running…", None)
            self._verify()

    @work(group="dr-audit", exit_on_error=False)
    async def _verify(self) -> None:
        await run_job(self.session.post_audit_job(), self._on_event, clock=self.app.clock)

    def _on_event(self, event: Event) -> None:
        if not self.is_mounted:
            return
        if isinstance(event, Phase):
            self.query_one("#phase", Static).update(Text(f"{event.name}: {event.detail}"))
        elif isinstance(event, Finished):
            self.session.post_audit_finished(event)
            self.show_result(event.summary if event.ok else f"verify restore failed: {event.error}", event.ok)
            self.query_one("#verify", Button).disabled = False
