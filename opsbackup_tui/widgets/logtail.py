"""The ops.log tail: bounded memory, FAIL/alert lines highlighted, a case-insensitive filter.
Lines arrive from a follower thread in batches; they are never read as Textual markup.

A Log, not a RichLog: it styles only the lines on screen when they are drawn (1000 lines cost
~2 ms instead of ~240 ms), so opening a big log and following 10k lines/s never freezes the UI.
The price is no wrapping: long lines scroll sideways."""

from __future__ import annotations

from collections import deque

from rich.highlighter import Highlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Log, Static

from ..core.opslog import LogLine, parse_line
from .theme import theme_colour

MAX_LINES = 2000

LEVEL_VARIABLE = {"ERROR": "error", "CRITICAL": "error", "ALERT": "error", "EMERGENCY": "error",
                  "WARNING": "warning", "NOTICE": "accent", "INFO": "foreground-muted", "DEBUG": "foreground-muted"}


class LineStyler(Highlighter):
    """Colours a displayed line when it is drawn: alerts in the theme's error colour, the level
    prefix in its level's colour. `colours` is refreshed from the theme once per batch."""

    def __init__(self) -> None:
        self.colours: dict[str, str] = {}

    def highlight(self, text: Text) -> None:
        line = parse_line(text.plain)
        if line.is_alert:
            text.stylize(f"bold {self.colours.get('error', 'red')}")
            return
        colour = self.colours.get(LEVEL_VARIABLE.get(line.level or "", ""), "")
        head = text.plain.find(": ") if line.level else -1
        if colour and head > 0:
            text.stylize(colour, 0, head + 1)


def display(line: LogLine) -> str:
    """Parsed lines without their JSON context (noise at 3 a.m.); others as they are."""
    if line.level is None or line.time is None:
        return line.raw
    return f"[{line.time:%Y-%m-%d %H:%M:%S}] {line.channel}.{line.level}: {line.message}"


class LogTail(Vertical):
    DEFAULT_CSS = """
    LogTail { height: 1fr; border: round $panel-lighten-2; border-title-color: $text; }
    LogTail:focus-within { border: round $accent; }
    LogTail > Log { height: 1fr; background: $surface; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 1; }
    LogTail > .missing { color: $text-muted; padding: 1 2; }
    LogTail > Input { display: none; height: 3; }
    LogTail.-filtering > Input { display: block; }
    """
    BINDINGS = [Binding("escape", "clear_filter", "Clear filter", show=False)]

    def __init__(self, path: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.lines: deque[LogLine] = deque(maxlen=MAX_LINES)
        self.filter_text = ""
        self.border_title = f"ops.log · {path}"
        self.styler = LineStyler()
        self.following = True
        self._resizing = False

    def compose(self) -> ComposeResult:
        yield Static("", classes="missing")
        log = Log(max_lines=MAX_LINES, highlight=True, auto_scroll=True)
        log.highlighter = self.styler
        yield log
        yield Input(placeholder="filter (substring, case-insensitive) · escape clears", id="log-filter")

    def on_mount(self) -> None:
        self.query_one(".missing", Static).display = False
        self.watch(self.app, "theme", self._theme_changed, init=True)
        # `following`: at the end, and staying there as lines come, until the operator scrolls up.
        self.watch(self.query_one(Log), "scroll_y", self._scrolled, init=False)

    def _scrolled(self, old: float, new: float) -> None:
        log = self.query_one(Log)
        if new < old and not self._resizing:
            self.following = False  # the operator scrolled up to read
        elif log.is_vertical_scroll_end:
            self.following = True

    def on_resize(self) -> None:
        # A resize moves the end away from the view: a log that followed keeps following.
        if self.following:
            self._resizing = True
            self.call_after_refresh(self._back_to_the_end)

    def _back_to_the_end(self) -> None:
        self.query_one(Log).scroll_end(animate=False, immediate=True, x_axis=False)
        self._resizing = False

    def _theme_changed(self) -> None:
        variables = self.app.get_css_variables()
        self.styler.colours = {name: theme_colour(variables, name) for name in set(LEVEL_VARIABLE.values())}
        log = self.query_one(Log)
        log._render_line_cache.clear()
        log.refresh()

    def set_missing(self, missing: bool) -> None:
        note = self.query_one(".missing", Static)
        note.update(Text(f"No ops.log at {self.path} yet. It shows here as soon as a job writes to it."))
        note.display = missing

    def _matches(self, line: LogLine) -> bool:
        return not self.filter_text or self.filter_text in line.raw.lower()

    def add_lines(self, raw_lines: list[str]) -> None:
        if not raw_lines:
            return
        self.set_missing(False)
        parsed = [parse_line(raw) for raw in raw_lines[-MAX_LINES:]]
        self.lines.extend(parsed)
        self.query_one(Log).write_lines([display(line) for line in parsed if self._matches(line)])

    def reset(self) -> None:
        """The file was replaced or truncated: start over."""
        self.lines.clear()
        self.query_one(Log).clear()

    def start_filter(self) -> None:
        self.add_class("-filtering")
        # Focus after the refresh that makes the input visible: a hidden widget takes no focus.
        self.call_after_refresh(self.query_one(Input).focus)

    def set_filter(self, text: str) -> None:
        self.filter_text = text.lower()
        log = self.query_one(Log)
        log.clear()
        log.write_lines([display(line) for line in self.lines if self._matches(line)])
        shown = f" · filter: {text}" if text else ""
        self.border_title = f"ops.log · {self.path}{shown}"

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(Log).focus()

    def action_clear_filter(self) -> None:
        self.query_one(Input).value = ""
        self.set_filter("")
        self.remove_class("-filtering")
        self.query_one(Log).focus()
