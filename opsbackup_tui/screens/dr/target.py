"""Step 2: the target server and an empty database. Connectivity, privileges and other sessions are
checked; a missing database is created; a non-empty one or the production database needs its
name typed exactly; anything else is refused. Enter, in any field, does the next of these."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from ...core.dr import TargetReport, create_sql
from ...core.mysql import ServerConfig
from ...core.settings import Secret
from .base import StepScreen

FIELDS = ("host", "port", "socket", "user", "password", "database")


class TargetScreen(StepScreen):
    number = 2
    DEFAULT_CSS = """
    TargetScreen .field { height: 1; margin-bottom: 1; }
    TargetScreen .field Label { width: 18; padding: 0 1 0 0; }
    TargetScreen .field Input { width: 1fr; }
    TargetScreen #typed { margin-top: 1; }
    TargetScreen #typed { display: none; }
    TargetScreen.-needs-name #typed { display: block; }
    """

    def body(self) -> ComposeResult:
        settings = self.session.settings
        default_db = f"{settings.db_name or 'crm'}_restore_{datetime.fromtimestamp(self.app.clock()):%Y%m%d}"
        values = {"host": settings.db_host, "port": str(settings.db_port), "socket": str(settings.db_socket or ""),
                  "user": settings.db_user or "", "password": "", "database": default_db}
        labels = {"socket": "socket (optional)"}
        for key in FIELDS:
            with Horizontal(classes="field"):
                yield Label(labels.get(key, key))
                yield Input(values[key], id=f"f-{key}", password=key == "password", compact=True,
                            placeholder="(empty: the configured password)" if key == "password" else "")
        yield Static("", id="report")
        yield Input(placeholder="type the database name exactly to restore into it", id="typed", compact=True)

    def on_mount(self) -> None:
        self.report: TargetReport | None = None
        self.working = False
        self.query_one("#f-database", Input).focus()
        self._update_plan()

    def _server(self) -> tuple[ServerConfig, str]:
        value = {key: self.query_one(f"#f-{key}", Input).value.strip() for key in FIELDS}
        settings = self.session.settings
        password = Secret(value["password"]) if value["password"] else settings.db_password
        try:
            port = int(value["port"] or 3306)
        except ValueError:
            port = -1
        server = ServerConfig(value["host"] or "127.0.0.1", port, Path(value["socket"]) if value["socket"] else None,
                              value["user"] or None, password)
        return server, value["database"]

    def _update_plan(self) -> None:
        server, database = self._server()
        self.will_run([f"connect as {server.describe()}",
                       f"information_schema: does `{database}` exist, how many tables, other sessions on it",
                       "SHOW GRANTS FOR CURRENT_USER()"])
        self.refresh_hint()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "typed":
            self.refresh_hint()
            return
        self.report = None  # the report was of another target
        self.remove_class("-needs-name")
        self._update_plan()

    # --- Enter ---

    def enter_does(self) -> str:
        report = getattr(self, "report", None)
        if getattr(self, "working", False):
            return "wait…"
        if report is None:
            return "check the target"
        if report.refused:
            return "(refused: change the target)"
        if not report.exists:
            return f"create `{report.database}`"
        if report.needs_typed_name and self.query_one("#typed", Input).value != report.database:
            return f"type `{report.database}` exactly, then ⏎"
        return f"restore into `{report.database}`"

    def primary(self) -> None:
        if self.working:
            return
        report = self.report
        if report is None:
            self._run(self.session.check_target, "checking")
        elif report.refused:
            self.show_result(f"refused: {report.refused}", False)
        elif not report.exists:
            self._run(self.session.create_target, "creating")
        elif report.needs_typed_name and (typed := self.query_one("#typed", Input)).value != report.database:
            if typed.has_focus and typed.value:
                self.show_result(f"`{typed.value}` is not `{report.database}`: type the name exactly", False)
            typed.focus()
        else:
            server, database = self._server()
            try:
                self.session.use_target(server, database, self.query_one("#typed", Input).value)
            except ValueError as exc:
                self.show_result(str(exc), False)
                return
            self.go_next()

    @work(thread=True, group="dr-target", exclusive=True, exit_on_error=False)
    def _run(self, step, doing: str) -> None:
        server, database = self._server()
        if not 1 <= server.port <= 65535:
            self.app.call_from_thread(self.show_result, "the port must be a number between 1 and 65535", False)
            return
        self.app.call_from_thread(self._working, True, f"{doing} {database} on {server.describe()}…")
        try:
            report = step(server, database)
        except Exception as exc:  # noqa: BLE001 - a server error, said as it is
            self.app.call_from_thread(self.show_result, f"{doing} `{database}` failed: {exc}", False)
            return
        finally:
            self.app.call_from_thread(self._working, False)
        self.app.call_from_thread(self._show_report, report)

    def _working(self, working: bool, text: str = "") -> None:
        self.working = working
        if working:
            self.show_result(text, None)
        else:
            self.refresh_hint()

    def _show_report(self, report: TargetReport) -> None:
        self.report = report
        self.query_one("#report", Static).update(report.summary)
        refused = report.refused
        needs_name = not refused and report.exists and report.needs_typed_name
        self.set_class(needs_name, "-needs-name")
        if refused:
            self.will_run([], ran=True)
            self.show_result(f"refused: {refused}", False)
        elif not report.exists:
            self.will_run([create_sql(report.database)])
            self.show_result(f"`{report.database}` does not exist: ⏎ creates it", None)
        elif needs_name:
            why = "the production database" if report.production else f"not empty ({report.tables} tables)"
            self.show_result(f"`{report.database}` is {why}: restoring into it overwrites its tables. "
                             "Type its name exactly to go on.", False)
            self.query_one("#typed", Input).focus()
        else:
            self.will_run([f"connect {report.server}; information_schema; SHOW GRANTS"]
                          + ([create_sql(report.database)] if self.session.created_database else []), ran=True)
            self.show_result(f"`{report.database}` is empty and ready", True)
