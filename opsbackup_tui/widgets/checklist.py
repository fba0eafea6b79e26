"""The health checklist as a DataTable: status coloured from theme variables, ages in words."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ..core.checks import CheckResult, Status
from ..core.fmt import age_words
from .theme import theme_colour

# Theme variables, resolved when the table is filled: readable on light and dark themes.
STATUS_VARIABLE = {
    Status.OK: "success", Status.SKIPPED: "foreground-muted",
    Status.STALE: "warning", Status.OVERDUE: "warning", Status.WARN: "warning",
    Status.FAIL: "error", Status.FAILED: "error", Status.UNKNOWN: "accent",
}


# The key that fixes a check (core says which job; the UI says which key).
FIX_KEYS = {"db_backup": "d", "snapshot": "s", "verify": "v", "acknowledge": "a"}


def detail_with_fix(result: CheckResult) -> str:
    key = FIX_KEYS.get(result.fix or "")
    return f"{result.detail} · press {key}" if key else result.detail


class ChecklistTable(DataTable):
    DEFAULT_CSS = """
    ChecklistTable {
        height: auto;
        max-height: 12;
    }
    """

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = False
        self.add_column("check", key="check")
        self.add_column("status", key="status")
        self.add_column("age", key="age")
        self.add_column("threshold", key="threshold")
        self.add_column("detail", key="detail")

    def show(self, results: list[CheckResult]) -> None:
        variables = self.app.get_css_variables()
        cursor = self.cursor_row
        self.clear()
        for r in results:
            colour = theme_colour(variables, STATUS_VARIABLE[r.status])
            self.add_row(
                r.id,
                Text(r.status.value, style=f"bold {colour}".strip()),
                age_words(r.age_seconds),
                age_words(r.threshold_seconds) if r.threshold_seconds is not None and r.age_seconds is not None else "",
                Text(detail_with_fix(r)),
                key=r.id,
            )
        if results:
            self.move_cursor(row=min(cursor, len(results) - 1))
