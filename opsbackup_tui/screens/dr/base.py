"""What every DR wizard step shares: the session and the frame — a title, a body that scrolls, and
below it, always on screen at 80×24 too, the verdict and what Enter does now.

Keys, the same on every step: Enter runs the step's primary action and, once the verdict allows
it, goes on (with the defaults right, Enter alone walks the wizard); backspace goes back a step;
escape and q leave (asking first); x cancels what runs. No buttons: nothing to Tab through, and no
Back button just before Next to press by mistake. The focus is on the step's one control (the
dump table, the target fields) and always visible.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...core.dr import DRSession
from ..confirm import ConfirmScreen

STEPS = ("Pick the dump", "Target database", "Import", "Verify", "Switch the application", "Post-audit")


class Body(VerticalScroll, can_focus=False):
    """The step's content; it scrolls, but is no focus stop of its own."""


class StepScreen(Screen[str]):
    """One step: dismissed with "next", "back" or "quit"."""

    DEFAULT_CSS = """
    StepScreen { layout: vertical; }
    StepScreen > .step-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    StepScreen > #body { height: 1fr; padding: 0 1; }
    StepScreen #plan-label { color: $text-muted; margin-top: 1; display: none; }
    StepScreen #plan { background: $panel; padding: 0 1; height: auto; display: none; }
    StepScreen.-plan #plan-label, StepScreen.-plan #plan { display: block; }
    StepScreen > #verdict { height: auto; max-height: 4; padding: 0 1; border-top: solid $panel-lighten-2; }
    StepScreen > #verdict.-ok { color: $success; }
    StepScreen > #verdict.-bad { color: $error; text-style: bold; }
    StepScreen > #hint { height: auto; max-height: 2; padding: 0 1; background: $boost; text-style: bold; }
    """
    BINDINGS = [
        Binding("enter", "primary", "Go on", show=False),
        # ctrl+b too: in a field, backspace deletes a character.
        Binding("backspace,ctrl+b", "back", "Back", key_display="⌫/^b"),
        Binding("escape", "leave", "Leave"),
        # q would quit the app at once: mid-wizard it asks first, like escape.
        Binding("q", "leave", "Leave", show=False),
    ]

    number = 0
    scrolls = True  # False: the step's own widget scrolls (step 1's table keeps its header in view)

    def __init__(self, session: DRSession) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        yield Static(f"DR wizard · step {self.number} of {len(STEPS)}: {STEPS[self.number - 1]}", classes="step-title")
        with (Body if self.scrolls else Vertical)(id="body"):
            yield from self.body()
            yield Static("", id="plan-label")
            yield Static("", id="plan")
        yield Static("", id="verdict")
        yield Static("", id="hint")
        yield Footer()

    def body(self) -> ComposeResult:
        yield from ()

    # --- what the step shows ---

    def will_run(self, lines: list[str], *, ran: bool = False) -> None:
        """What the next action runs, before it runs; `ran=True` once it has (no stale "will run")."""
        self.query_one("#plan-label", Static).update("ran:" if ran else "will run:")
        self.query_one("#plan", Static).update(Text("\n".join(lines)))
        self.set_class(bool(lines), "-plan")

    def show_result(self, text: str, ok: bool | None) -> None:
        """The step's verdict, always on screen (the body scrolls, the verdict stays)."""
        verdict = self.query_one("#verdict", Static)
        verdict.update(Text(text))
        verdict.set_class(ok is True, "-ok")
        verdict.set_class(ok is False, "-bad")
        self.refresh_hint()

    def refresh_hint(self) -> None:
        keys = [f"⏎ {self.enter_does()}", *self.more_keys(), "⌫/^b back" if self.number > 1 else None, "esc leave"]
        self.query_one("#hint", Static).update(Text("  ·  ".join(k for k in keys if k)))

    def on_mount(self) -> None:
        self.refresh_hint()

    # --- for the steps ---

    def enter_does(self) -> str:
        """What Enter does now, in a few words."""
        return "next"

    def more_keys(self) -> list[str]:
        return []

    def primary(self) -> None:
        """Enter: the step's obvious action now."""
        self.go_next()

    def busy(self) -> bool:
        """True while this step runs something that leaving would have to cancel."""
        return False

    # --- the keys ---

    def action_primary(self) -> None:
        self.primary()

    def on_input_submitted(self, event) -> None:
        event.stop()
        self.primary()

    def action_back(self) -> None:
        if self.busy():
            self.app.notify("Something runs in this step: x cancels it first.", severity="warning")
        elif self.number > 1:
            self.dismiss("back")

    def go_next(self) -> None:
        self.dismiss("next")

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
