"""The dashboard: header line, the checklist, refreshed by a thread worker that never overlaps."""

from __future__ import annotations

import socket

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..core.checks import CheckResult, overall, run_checks
from ..widgets.checklist import ChecklistTable


class DashboardScreen(Screen):
    BINDINGS = [
        Binding("f5", "refresh_checks", "Refresh"),
        Binding("ctrl+r", "refresh_checks", "Refresh", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static(id="headline")
        yield ChecklistTable(id="checklist")
        yield Footer()

    def on_mount(self) -> None:
        self._timer = None
        self._headline(None)
        self.action_refresh_checks()

    def _headline(self, results: list[CheckResult] | None) -> None:
        settings = self.app.settings
        state = overall(results).value if results else "checking…"
        self.query_one("#headline", Static).update(
            f"[b]opsbackup[/b]  {socket.gethostname()}  ·  {settings.backup_base}  ·  overall: [b]{state}[/b]"
        )

    def action_refresh_checks(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._refresh_checks()

    @work(thread=True, exclusive=True, group="checks", exit_on_error=False)
    def _refresh_checks(self) -> None:
        results = run_checks(self.app.settings, clock=self.app.clock)
        self.app.call_from_thread(self._show_results, results)

    def _show_results(self, results: list[CheckResult]) -> None:
        self.query_one(ChecklistTable).show(results)
        self._headline(results)
        # The next refresh is scheduled when this one has finished: polls never overlap.
        self._timer = self.set_timer(self.app.settings.refresh_s, self._refresh_checks)
