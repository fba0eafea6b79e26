"""A yes/no dialog that shows exactly what will run before it runs."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class Dialog(ModalScreen):
    """A box in the middle of the screen over the one behind: questions and failures."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical {
        width: 90%; max-width: 120; height: auto; max-height: 90%;
        border: thick $primary; background: $surface; padding: 1 2;
    }
    Dialog .title { text-style: bold; }
    """


class ConfirmScreen(Dialog):
    DEFAULT_CSS = """
    ConfirmScreen > Vertical { max-width: 110; }
    ConfirmScreen .title { margin-bottom: 1; }
    ConfirmScreen .plan { background: $panel; padding: 0 1; margin-bottom: 1; height: auto; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("escape,n", "answer(False)", "Cancel"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, title: str, lines: list[str], yes: str = "Run", no: str = "Cancel",
                 danger: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines
        self.yes, self.no, self.danger = yes, no, danger

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text), classes="title")
            yield Static(Text("\n".join(self.lines)), classes="plan")
            with Horizontal():
                yield Button(f"{self.no} (esc)", id="no")
                yield Button(f"{self.yes} (y)", id="yes", variant="error" if self.danger else "primary")

    def on_mount(self) -> None:
        self.query_one("#no" if self.danger else "#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
