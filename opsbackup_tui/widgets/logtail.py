"""The ops.log tail: bounded memory, FAIL/alert lines highlighted, a case-insensitive filter.
Lines arrive from a follower thread in batches; they are never read as Textual markup."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, RichLog, Static

from ..core.opslog import LogLine, parse_line
from .theme import theme_colour

MAX_LINES = 2000

LEVEL_VARIABLE = {"ERROR": "error", "CRITICAL": "error", "ALERT": "error", "EMERGENCY": "error",
                  "WARNING": "warning", "NOTICE": "accent", "INFO": "foreground-muted", "DEBUG": "foreground-muted"}


class LogTail(Vertical):
    DEFAULT_CSS = """
    LogTail { height: 1fr; border: round $panel-lighten-2; border-title-color: $text; }
    LogTail:focus-within { border: round $accent; }
    LogTail > RichLog { height: 1fr; background: $surface; scrollbar-size-vertical: 1; }
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

    def compose(self) -> ComposeResult:
        yield Static("", classes="missing")
        # min_width: RichLog's default (78) wraps wider than a narrower panel and cuts a character a row.
        yield RichLog(max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, auto_scroll=True, min_width=1)
        yield Input(placeholder="filter (substring, case-insensitive) · escape clears", id="log-filter")

    def on_mount(self) -> None:
        self.query_one(".missing", Static).display = False

    def set_missing(self, missing: bool) -> None:
        note = self.query_one(".missing", Static)
        note.update(Text(f"No ops.log at {self.path} yet. It shows here as soon as a job writes to it."))
        note.display = missing
        # The RichLog stays displayed: a hidden one has no width, and lines written the moment it
        # reappears would wrap at one character.

    def _matches(self, line: LogLine) -> bool:
        return not self.filter_text or self.filter_text in line.raw.lower()

    def _styled(self, line: LogLine) -> Text:
        """Parsed lines without their JSON context (noise at 3 a.m.); others as they are."""
        variables = self.app.get_css_variables()
        if line.level is None or line.time is None:
            plain = line.raw
            head = 0
        else:
            prefix = f"[{line.time:%Y-%m-%d %H:%M:%S}] {line.channel}.{line.level}:"
            plain = f"{prefix} {line.message}"
            head = len(prefix)
        if line.is_alert:
            return Text(plain, style=f"bold {theme_colour(variables, 'error', 'red')}")
        text = Text(plain)
        colour = theme_colour(variables, LEVEL_VARIABLE.get(line.level or "", ""))
        if colour and head:
            text.stylize(colour, 0, head)
        return text

    def add_lines(self, raw_lines: list[str]) -> None:
        if not raw_lines:
            return
        self.set_missing(False)
        parsed = [parse_line(raw) for raw in raw_lines[-MAX_LINES:]]
        self.lines.extend(parsed)
        log = self.query_one(RichLog)
        for line in parsed:
            if self._matches(line):
                log.write(self._styled(line))

    def reset(self) -> None:
        """The file was replaced or truncated: start over."""
        self.lines.clear()
        self.query_one(RichLog).clear()

    def start_filter(self) -> None:
        self.add_class("-filtering")
        # Focus after the refresh that makes the input visible: a hidden widget takes no focus.
        self.call_after_refresh(self.query_one(Input).focus)

    def set_filter(self, text: str) -> None:
        self.filter_text = text.lower()
        log = self.query_one(RichLog)
        log.clear()
        for line in self.lines:
            if self._matches(line):
                log.write(self._styled(line))
        shown = f" · filter: {text}" if text else ""
        self.border_title = f"ops.log · {self.path}{shown}"

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one(RichLog).focus()

    def action_clear_filter(self) -> None:
        self.query_one(Input).value = ""
        self.set_filter("")
        self.remove_class("-filtering")
        self.query_one(RichLog).focus()
