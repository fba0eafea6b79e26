"""Step 1: pick the dump: newest first, sha256 verified on demand (cached), verify results shown;
the default is the newest dump whose checksum verifies, and a failing one cannot be picked.
Enter on a verified dump picks it; on an unchecked one it checks it."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from ...core.dr import DumpRow, list_dumps
from ...core.fmt import age_words, size_words
from .base import StepScreen

COLUMNS = ("dump", "size", "age", "sha256", "verify log", "note")


class PickDumpScreen(StepScreen):
    number = 1
    scrolls = False  # the table scrolls itself: its header and the highlighted dump stay in view
    DEFAULT_CSS = """
    PickDumpScreen #dumps { height: 1fr; }
    PickDumpScreen .help { color: $text-muted; }
    """
    BINDINGS = [Binding("c", "check", "Check sha256")]

    def body(self) -> ComposeResult:
        yield Static("Dumps in the backup tree, newest first. Only a dump whose sha256 verifies can be picked.",
                     classes="help")
        yield DataTable(id="dumps", cursor_type="row")

    def on_mount(self) -> None:
        self.rows: list[DumpRow] = []
        self.checking: int | None = None
        table = self.query_one(DataTable)
        for key in COLUMNS:
            table.add_column(key, key=key)
        table.focus()
        self.show_result("reading the backup tree…", None)
        self._load()

    @work(thread=True, group="dr-pick", exit_on_error=False)
    def _load(self) -> None:
        rows = list_dumps(self.session.settings)
        self.app.call_from_thread(self._fill, rows)
        # The default: the newest dump whose checksum verifies, checked newest first.
        for index, row in enumerate(rows):
            if row.sha == "unchecked":
                self.app.call_from_thread(self._checking, index)
                self.session.check_dump(row, record=False)
                self.app.call_from_thread(self._update_row, index)
            if row.sha == "OK":
                self.app.call_from_thread(self._select, index)
                return
        self.app.call_from_thread(self.show_result, "no dump with a verifying sha256: nothing can be restored "
                                                    "from this tree; look for copies elsewhere", False)

    def _fill(self, rows: list[DumpRow]) -> None:
        self.rows = rows
        table = self.query_one(DataTable)
        now = self.app.clock()
        for index, row in enumerate(rows):
            table.add_row(*self._cells(row, now), key=str(index))
        if not rows:
            self.show_result(f"no valid dump in {self.session.settings.db_dir}", False)

    def _cells(self, row: DumpRow, now: float) -> list:
        verify = "–" if row.verify is None else f"{row.verify.result} ({row.verify.path.name})"
        sha_style = {"OK": "bold green", "unchecked": "dim"}.get(row.sha, "bold red")
        return [row.dump.name, size_words(row.dump.size), age_words(now - row.dump.mtime),
                Text(row.sha, style=sha_style), Text(verify), Text(row.note or "")]

    def _checking(self, index: int) -> None:
        self.checking = index
        self.show_result(f"checking the sha256 of {self.rows[index].dump.name}…", None)

    def _update_row(self, index: int) -> None:
        self.checking = None
        table = self.query_one(DataTable)
        for key, value in zip(COLUMNS, self._cells(self.rows[index], self.app.clock())):
            table.update_cell(str(index), key, value)
        if table.cursor_row == index:
            self._describe(index)

    def _select(self, index: int) -> None:
        self.query_one(DataTable).move_cursor(row=index)
        self._describe(index)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.rows:
            self._describe(event.cursor_row)

    def _highlighted(self) -> DumpRow | None:
        index = self.query_one(DataTable).cursor_row
        return self.rows[index] if self.rows and index is not None and index < len(self.rows) else None

    def _describe(self, index: int) -> None:
        row = self.rows[index]
        self.will_run([f"sha256 of {row.dump.path}", f"against {row.dump.sha_path}"], ran=row.sha != "unchecked")
        if row.sha == "OK":
            extra = "" if row.verify else "; no verify log exists for this dump (step 4 can only check the tables exist)"
            note = f"; note: {row.note}" if row.note else ""
            self.show_result(f"{row.dump.name}: sha256 OK{extra}{note}", True)
        elif row.sha == "unchecked":
            self.show_result(f"{row.dump.name}: sha256 not checked yet", None)
        else:
            self.show_result(f"{row.dump.name}: sha256 {row.sha}: this dump cannot be picked", False)

    def enter_does(self) -> str:
        row = self._highlighted()
        if row is None or self.checking is not None:
            return "wait: checking…" if self.checking is not None else "(no dump)"
        return {"OK": f"restore from {row.dump.name}", "unchecked": f"check the sha256 of {row.dump.name}"}.get(
            row.sha, "(this dump cannot be picked: ↑↓ choose another)")

    def more_keys(self) -> list[str]:
        return ["↑↓ choose", "c check sha256"]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.primary()

    def primary(self) -> None:
        row = self._highlighted()
        if row is None or self.checking is not None:
            return
        if row.sha == "OK":
            self.session.pick(row)
            self.go_next()
        elif row.sha == "unchecked":
            self.action_check()

    def action_check(self) -> None:
        table = self.query_one(DataTable)
        if self.rows and table.cursor_row is not None and self.checking is None:
            self._checking(table.cursor_row)
            self._check(table.cursor_row)

    @work(thread=True, group="dr-check", exit_on_error=False)
    def _check(self, index: int) -> None:
        self.session.check_dump(self.rows[index])
        self.app.call_from_thread(self._update_row, index)
