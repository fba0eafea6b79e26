"""The whole story behind one row: a checklist row (its full detail, path, threshold and fix — for
ops_log the alert lines themselves, filterable) or a job row (its result, error, next step and
stderr tail). Enter does the fix (it asks first); escape and q go back."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Log, Static

from ..core.checks import ACKNOWLEDGE, CheckResult, fix_command
from ..core.events import Finished
from ..core.fmt import age_words
from ..core.jobs import title
from ..widgets.checklist import FIX_KEYS
from ..widgets.jobs import finished_words
from ..widgets.keybar import KeyBar


class DetailScreen(Screen[None]):
    DEFAULT_CSS = """
    DetailScreen > .title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    DetailScreen > #sections { height: 1fr; padding: 0 1; }
    DetailScreen.-lines > #sections { height: auto; max-height: 50%; }
    DetailScreen .heading { color: $text-muted; margin-top: 1; }
    DetailScreen Log { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q", "back", "Back"), Binding("slash", "filter", "Filter", show=False)]

    def __init__(self, heading: str, sections: list[tuple[str, str]], lines: list[str] | None = None) -> None:
        super().__init__()
        self.heading, self.sections, self.lines = heading, sections, lines

    def compose(self) -> ComposeResult:
        yield Static(Text(self.heading), classes="title")
        with VerticalScroll(id="sections", can_focus=False):
            for name, text in self.sections:
                yield Static(name, classes="heading")
                yield Static(Text(text))
        if self.lines is not None:
            yield Input(placeholder="filter the lines (substring; escape clears)", id="filter")
            yield Log(max_lines=5000, auto_scroll=False)
        yield KeyBar()

    def on_mount(self) -> None:
        if self.lines is not None:
            self.add_class("-lines")
            self._show_lines("")
            self.query_one(Log).focus()

    def _show_lines(self, needle: str) -> None:
        log = self.query_one(Log)
        log.clear()
        shown = [line for line in self.lines if needle.lower() in line.lower()]
        log.write_lines(shown or [f"(no line holds {needle!r})" if needle else "(no lines)"])

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show_lines(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(Log).focus()

    def action_filter(self) -> None:
        if self.lines is not None:
            self.query_one("#filter", Input).focus()

    def action_back(self) -> None:
        field = self.query("#filter").first(Input) if self.lines is not None else None
        if field is not None and field.has_focus and field.value:
            field.value = ""  # escape clears the filter first
            return
        self.dismiss(None)


class CheckDetailScreen(DetailScreen):
    BINDINGS = [Binding("enter", "fix", "Fix")]

    def __init__(self, result: CheckResult, lines: list[str] | None = None) -> None:
        fix = result.fix
        key = FIX_KEYS.get(fix or "")
        how = f"press {key} here or on the dashboard, or run `{fix_command(fix)}`" if fix else "nothing to do"
        sections = [("status", f"{result.status.value}" + (f", {age_words(result.age_seconds)} old"
                                                           if result.age_seconds is not None else "")),
                    ("detail", result.detail), ("looked at", result.path or "-")]
        if result.threshold_seconds is not None:
            sections.append(("threshold", age_words(result.threshold_seconds)))
        sections.append(("fix", how))
        super().__init__(f"{result.id}: {result.status.value}", sections, lines)
        self.result = result

    def check_action(self, action: str, parameters) -> bool | None:
        return self.result.fix is not None if action == "fix" else True

    def action_fix(self) -> None:
        fix = self.result.fix
        if fix == ACKNOWLEDGE:
            self.app.dashboard.action_acknowledge()
        elif fix is not None:
            self.app.action_start_job(fix)


def job_detail(event: Finished) -> DetailScreen:
    sections = [("result", finished_words(event))]
    if event.warnings:
        sections.append(("warnings", "\n".join(event.warnings)))
    if event.next_step and not event.ok:
        sections.append(("next", event.next_step))
    if event.stderr_tail:
        sections.append(("stderr (last lines)", event.stderr_tail[-4000:]))
    return DetailScreen(f"{title(event.job)}: {'OK' if event.ok else 'cancelled' if event.cancelled else 'FAILED'}",
                        sections)

