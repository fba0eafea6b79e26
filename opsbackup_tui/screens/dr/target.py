"""Step 2: the target server and an empty database. Connectivity, privileges and other sessions are
checked; a missing database can be created; a non-empty one or the production database needs its
name typed exactly; anything else is refused."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Static

from ...core.dr import TargetReport, create_sql
from ...core.mysql import DatabaseError, ServerConfig
from ...core.settings import Secret
from .base import StepScreen


class TargetScreen(StepScreen):
    number = 2
    DEFAULT_CSS = """
    TargetScreen .field { height: auto; }
    TargetScreen .field Label { width: 16; padding: 1 1 0 0; }
    TargetScreen .field Input { width: 1fr; }
    TargetScreen #actions { height: 3; margin-top: 1; }
    TargetScreen #actions Button { margin-right: 2; }
    TargetScreen #typed { display: none; }
    TargetScreen.-needs-name #typed { display: block; }
    """

    def body(self) -> ComposeResult:
        settings = self.session.settings
        default_db = f"{settings.db_name or 'crm'}_restore_{datetime.fromtimestamp(self.app.clock()):%Y%m%d}"
        fields = [("host", "host", settings.db_host, False), ("port", "port", str(settings.db_port), False),
                  ("socket", "socket (optional)", str(settings.db_socket or ""), False),
                  ("user", "user", settings.db_user or "", False),
                  ("password", "password", "", True), ("database", "database", default_db, False)]
        for key, label, value, secret in fields:
            with Horizontal(classes="field"):
                yield Label(label)
                placeholder = "(empty: the configured password)" if secret else ""
                yield Input(value, id=f"f-{key}", password=secret, placeholder=placeholder)
        with Horizontal(id="actions"):
            yield Button("Check target", id="check", variant="primary")
            yield Button("Create database", id="create", disabled=True)
        yield Static("", id="report")
        yield Input(placeholder="type the database name exactly to use it", id="typed")

    def on_mount(self) -> None:
        self.report: TargetReport | None = None
        self._update_plan()

    def _server(self) -> tuple[ServerConfig, str]:
        value = {key: self.query_one(f"#f-{key}", Input).value.strip()
                 for key in ("host", "port", "socket", "user", "password", "database")}
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

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "typed":
            self._update_next()
            return
        self.report = None
        self.query_one("#create", Button).disabled = True
        self.remove_class("-needs-name")
        self.allow_next(False)
        self._update_plan()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "check":
            event.stop()
            self._check()
        elif event.button.id == "create":
            event.stop()
            self._create()

    @work(thread=True, group="dr-target", exclusive=True, exit_on_error=False)
    def _check(self) -> None:
        server, database = self._server()
        if server.port < 1 or server.port > 65535:
            self.app.call_from_thread(self.show_result, "the port must be a number between 1 and 65535", False)
            return
        self.app.call_from_thread(self.show_result, f"checking {server.describe()}…", None)
        report = self.session.check_target(server, database)
        self.app.call_from_thread(self._show_report, report)

    def _show_report(self, report: TargetReport) -> None:
        self.report = report
        self.query_one("#report", Static).update(report.summary)
        refused = report.refused
        self.query_one("#create", Button).disabled = bool(refused) or report.exists
        self.set_class(not refused and report.exists and report.needs_typed_name, "-needs-name")
        if refused:
            self.show_result(f"refused: {refused}", False)
        elif not report.exists:
            self.will_run([create_sql(report.database)])
            self.show_result(f"`{report.database}` does not exist: create it (the button shows what runs)", None)
        elif report.needs_typed_name:
            why = "the production database" if report.production else f"not empty ({report.tables} tables)"
            self.show_result(f"`{report.database}` is {why}: restoring into it overwrites its tables. "
                             "Type its name exactly to go on.", False)
        else:
            self.show_result(f"`{report.database}` is empty and ready", True)
        self._update_next()

    @work(thread=True, group="dr-target", exclusive=True, exit_on_error=False)
    def _create(self) -> None:
        server, database = self._server()
        try:
            report = self.session.create_target(server, database)
        except (DatabaseError, Exception) as exc:  # noqa: BLE001 - a server error, said as it is
            self.app.call_from_thread(self.show_result, f"creating `{database}` failed: {exc}", False)
            return
        self.app.call_from_thread(self._show_report, report)

    def _update_next(self) -> None:
        report = self.report
        ok = report is not None and not report.refused and report.exists
        if ok and report.needs_typed_name:
            ok = self.query_one("#typed", Input).value == report.database
        self.allow_next(bool(ok))

    def go_next(self) -> None:
        server, database = self._server()
        try:
            self.session.use_target(server, database, self.query_one("#typed", Input).value)
        except ValueError as exc:
            self.show_result(str(exc), False)
            return
        super().go_next()
