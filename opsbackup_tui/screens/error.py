"""The one place a failure is shown: what failed, the runbook step to take, the stderr tail."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from .confirm import Dialog


class ErrorScreen(Dialog):
    DEFAULT_CSS = """
    ErrorScreen > Vertical { border: thick $error; }
    ErrorScreen .title { color: $error; }
    ErrorScreen .message { margin: 1 0; }
    ErrorScreen .next { text-style: bold; margin-bottom: 1; }
    ErrorScreen VerticalScroll { height: auto; max-height: 14; background: $panel; padding: 0 1; }
    ErrorScreen Button { margin-top: 1; }
    """
    BINDINGS = [Binding("escape,enter", "close", "Close")]

    def __init__(self, title: str, message: str, next_step: str | None = None, stderr_tail: str = "") -> None:
        super().__init__()
        self.title_text, self.message = title, message
        self.next_step, self.stderr_tail = next_step, stderr_tail

    def compose(self) -> ComposeResult:
        # Text, never markup: error text and stderr come from outside.
        with Vertical():
            yield Label(Text(self.title_text), classes="title")
            yield Static(Text(self.message), classes="message")
            if self.next_step:
                yield Static(Text(f"Next: {self.next_step}"), classes="next")
            if self.stderr_tail:
                yield Label("stderr (last lines):")
                with VerticalScroll():
                    yield Static(Text(self.stderr_tail[-4000:]))
            yield Button("Close (esc)", id="close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
