"""Step 4: the restored database against the verify log of the same dump: tables and each critical
table's rows, side by side."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from ..confirm import ConfirmScreen
from .base import StepScreen


class Comparison(DataTable, can_focus=False):
    """A table to read, not to move in: no focus stop that shows nothing and eats Enter."""


class VerifyScreen(StepScreen):
    number = 4

    def body(self) -> ComposeResult:
        yield Static("", id="source")
        yield Comparison(id="compare", cursor_type="none")

    def on_mount(self) -> None:
        self.counted = False
        table = self.query_one(DataTable)
        for key in ("check", "verify log", "restored", ""):
            table.add_column(key, key=key or "ok")
        self._start_count()

    def _plan(self) -> list[str]:
        s = self.session
        return ([f"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{s.database}'"]
                + [f"SELECT COUNT(*) FROM `{s.database}`.`{t}`" for t in s.settings.critical_tables])

    def _start_count(self) -> None:
        self.counting = True
        self.will_run(self._plan())
        self.show_result("counting…", None)
        self._count()

    @work(thread=True, group="dr-verify", exit_on_error=False)
    def _count(self) -> None:
        try:
            verification = self.session.verify_target()
        except Exception as exc:  # noqa: BLE001 - shown as it is
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._show, verification)

    def _failed(self, exc: Exception) -> None:
        self.counting = False
        self.show_result(f"counting failed: {exc}", False)

    def _show(self, verification) -> None:
        self.counting, self.counted = False, True
        self.query_one("#source", Static).update(Text(verification.source))
        table = self.query_one(DataTable)
        for c in verification.comparison:
            table.add_row(c.item, "–" if c.expected is None else str(c.expected),
                          "missing" if c.actual is None else str(c.actual),
                          Text("✓" if c.ok else "✗", style="bold green" if c.ok else "bold red"))
        bad = verification.differences
        if bad:
            self.show_result(f"{len(bad)} difference(s): the restored database does not match. Check before "
                             "switching the application.", False)
        else:
            compared = verification.source.startswith("Compared with")
            self.show_result("the restored database matches" + (" its verify log" if compared else
                                                                 ": tables and critical tables present"), True)
        self.will_run(self._plan(), ran=True)

    def enter_does(self) -> str:
        if getattr(self, "counting", True):
            return "wait: counting…"
        if not self.counted:
            return "count again"
        verification = self.session.verification
        return "go on despite the differences (asks)" if verification.differences else "next: switch the application"

    def primary(self) -> None:
        if self.counted:
            self.go_next()
        elif not self.counting:
            self._start_count()

    def go_next(self) -> None:
        verification = self.session.verification
        bad = [c.text for c in verification.differences] if verification else []
        if not bad:
            super().go_next()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.session.accept_differences()
                self.dismiss("next")

        self.app.push_screen(ConfirmScreen("Go on with differences?", bad, yes="Go on anyway", danger=True), answer)
