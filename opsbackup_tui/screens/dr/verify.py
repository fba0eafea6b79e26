"""Step 4: the restored database against the verify log of the same dump: tables and each critical
table's rows, side by side."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from ...core.jobs.verify import count_tables
from ...core.recovery import compare, find_verify_log
from ...core.tree import BackupTree
from ..confirm import ConfirmScreen
from .base import StepScreen


class VerifyScreen(StepScreen):
    number = 4

    def body(self) -> ComposeResult:
        yield Static("", id="source")
        yield DataTable(id="compare", cursor_type="none")

    def on_mount(self) -> None:
        s = self.session
        table = self.query_one(DataTable)
        for key in ("check", "verify log", "restored", ""):
            table.add_column(key, key=key or "ok")
        self.will_run([f"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{s.database}'"]
                      + [f"SELECT COUNT(*) FROM `{s.database}`.`{t}`" for t in s.settings.critical_tables])
        self.show_result("counting…", None)
        self._count()

    @work(thread=True, group="dr-verify", exit_on_error=False)
    def _count(self) -> None:
        s = self.session
        try:
            tables, rows = count_tables(s.server, s.database, s.settings.critical_tables)
        except Exception as exc:  # noqa: BLE001 - shown as it is
            self.app.call_from_thread(self.show_result, f"counting failed: {exc}", False)
            return
        log = find_verify_log(BackupTree(s.settings.backup_base), s.row.dump)
        self.app.call_from_thread(self._show, tables, rows, log)

    def _show(self, tables, rows, log) -> None:
        s = self.session
        s.comparison = compare(log, tables, rows)
        if log is None:
            source = (f"No verify log exists for {s.row.dump.name}: the counts cannot be compared, only checked "
                      "(tables exist, critical tables present).")
        elif not log.ok:
            source = f"The only verify log of this dump ({log.path.name}) says {log.result}: counts not compared."
        else:
            source = f"Compared with {log.path.name} (result OK)."
        self.query_one("#source", Static).update(Text(source))
        table = self.query_one(DataTable)
        for c in s.comparison:
            table.add_row(c.item, "–" if c.expected is None else str(c.expected),
                          "missing" if c.actual is None else str(c.actual),
                          Text("✓" if c.ok else "✗", style="bold green" if c.ok else "bold red"))
        bad = [c for c in s.comparison if not c.ok]
        s.transcript.step("step 4: verify")
        s.transcript.result(source)
        for c in s.comparison:
            s.transcript.result(c.text)
        if bad:
            self.show_result(f"{len(bad)} difference(s): the restored database does not match. Check before "
                             "switching the application.", False)
        else:
            self.show_result("the restored database matches" + (" its verify log" if log and log.ok else
                                                                 ": tables and critical tables present"), True)
        self.allow_next(True)

    def go_next(self) -> None:
        bad = [c.text for c in self.session.comparison if not c.ok]
        if not bad:
            super().go_next()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.session.transcript.result("operator went on despite the differences")
                self.dismiss("next")

        self.app.push_screen(ConfirmScreen("Go on with differences?", bad, yes="Go on anyway", danger=True), answer)
