"""What every DR wizard step shares: the session, the frame (title, what will run, result, back/next)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from ...core.dr import DRSession
from ..confirm import ConfirmScreen

STEPS = ("Pick the dump", "Target database", "Import", "Verify", "Switch the application", "Post-audit")


class StepScreen(Screen[str]):
    """One step: dismissed with "next", "back" or "quit".

    Textual calls a message handler of every class in the MRO: subclasses handle their own buttons
    and never call super() for handlers; this class handles Back and Next after them."""

    DEFAULT_CSS = """
    StepScreen { layout: vertical; }
    StepScreen > .step-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    StepScreen > VerticalScroll { height: 1fr; padding: 0 1; }
    StepScreen .will-run { background: $panel; padding: 0 1; margin: 1 0; height: auto; display: none; }
    StepScreen .will-run-label { color: $text-muted; margin-top: 1; display: none; }
    StepScreen.-will-run .will-run, StepScreen.-will-run .will-run-label { display: block; }
    StepScreen .result { height: auto; margin: 1 0; }
    StepScreen .result.-ok { color: $success; }
    StepScreen .result.-bad { color: $error; text-style: bold; }
    StepScreen .nav { height: 3; align-horizontal: right; padding: 0 1; }
    StepScreen .nav Button { margin-left: 2; }
    """
    # q would quit the app at once (no job of the app runs): mid-wizard it asks first, like escape.
    BINDINGS = [Binding("escape", "leave", "Leave the wizard"), Binding("q", "leave", "Leave the wizard", show=False)]

    number = 0

    def __init__(self, session: DRSession) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        yield Static(f"DR wizard · step {self.number} of {len(STEPS)}: {STEPS[self.number - 1]}", classes="step-title")
        with VerticalScroll(id="body"):
            yield from self.body()
            yield Static("", classes="will-run-label", id="will-run-label")
            yield Static("", classes="will-run", id="will-run")
            yield Static("", classes="result", id="result")
        with Horizontal(classes="nav"):
            yield Button("Back", id="back", disabled=self.number == 1)
            yield Button("Next", id="next", variant="primary", disabled=True)
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    def will_run(self, lines: list[str]) -> None:
        """Show what the next action runs, before it runs."""
        self.query_one("#will-run-label", Static).update("will run:")
        self.query_one("#will-run", Static).update(Text("\n".join(lines)))
        self.set_class(bool(lines), "-will-run")

    def show_result(self, text: str, ok: bool | None) -> None:
        result = self.query_one("#result", Static)
        result.update(Text(text))
        result.set_class(ok is True, "-ok")
        result.set_class(ok is False, "-bad")
        # On a small terminal the body scrolls: a verdict below the fold would go unseen.
        result.scroll_visible(animate=False)

    def allow_next(self, allowed: bool) -> None:
        self.query_one("#next", Button).disabled = not allowed

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            event.stop()
            self.go_next()
        elif event.button.id == "back":
            event.stop()
            self.dismiss("back")

    def go_next(self) -> None:
        self.dismiss("next")

    def busy(self) -> bool:
        """True while this step runs something that leaving would have to cancel."""
        return False

    def action_leave(self) -> None:
        lines = ["Nothing is left half-done: a running import is cancelled (you are then asked about its database),",
                 "and the audit transcript keeps what happened so far."]
        if self.busy():
            lines.insert(0, "An import is running.")

        def answer(yes: bool | None) -> None:
            if yes:
                self.leave()

        self.app.push_screen(ConfirmScreen("Leave the DR wizard?", lines, yes="Leave", no="Stay", danger=True), answer)

    def leave(self) -> None:
        self.dismiss("quit")
