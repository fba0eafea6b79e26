"""Step 5: point the CRM at the restored database: the .env diff, a timestamped backup of the old
file, the new one written atomically after confirmation, then the reload command (or what to run)."""

from __future__ import annotations

from datetime import datetime

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

from ...core.dr import EnvSwitch
from ...core.proc import shown
from ..confirm import ConfirmScreen
from .base import StepScreen


class SwitchScreen(StepScreen):
    number = 5
    DEFAULT_CSS = """
    SwitchScreen #diff { background: $panel; height: auto; margin: 1 0; }
    SwitchScreen #controls { height: 3; }
    SwitchScreen #controls Button { margin-right: 2; }
    """

    def body(self) -> ComposeResult:
        yield Static("", id="intro")
        yield Static("", id="diff")
        with Horizontal(id="controls"):
            yield Button("Write the new .env", id="apply", variant="primary", disabled=True)
            yield Button("Run the reload command", id="reload", disabled=True)
        yield Static("", id="reload-out")

    def on_mount(self) -> None:
        self.switch: EnvSwitch | None = None
        self.allow_next(True)
        self.query_one("#next", Button).label = "Next (post-audit)"
        self._plan()

    @work(thread=True, group="dr-switch", exit_on_error=False)
    def _plan(self) -> None:
        try:
            switch = self.session.plan_switch()
        except OSError as exc:
            self.app.call_from_thread(self.show_result, f"cannot read {exc.filename}: {exc.strerror}", False)
            return
        if switch is None:
            self.app.call_from_thread(self._manual)
        else:
            self.app.call_from_thread(self._show, switch)

    def _manual(self) -> None:
        self.query_one("#intro", Static).update(Text(self.session.manual_switch_text()))

    def _show(self, switch: EnvSwitch) -> None:
        self.switch = switch
        if not switch.changes:
            self.query_one("#intro", Static).update(Text(f"{switch.path} already points at the restored database."))
            self._offer_reload()
            return
        self.query_one("#intro", Static).update(Text(
            f"{switch.path}: " + ", ".join(f"{k} {old or '(unset)'} → {new}" for k, (old, new) in switch.changes.items())))
        self.query_one("#diff", Static).update(Syntax(switch.diff, "diff", theme="ansi_dark", word_wrap=True))
        self.will_run([f"cp -p {switch.path} {switch.path}.bak-YYYYmmdd-HHMMSS",
                       f"write {switch.path} atomically (same mode and owner)"])
        self.query_one("#apply", Button).disabled = False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            event.stop()
            self._confirm_apply()
        elif event.button.id == "reload":
            event.stop()
            self._reload()

    def _confirm_apply(self) -> None:
        switch = self.switch

        def answer(yes: bool | None) -> None:
            if yes:
                self._apply()

        self.app.push_screen(ConfirmScreen(f"Point the CRM at `{self.session.database}`?",
                                           switch.diff.splitlines()[:40], yes="Write it"), answer)

    @work(thread=True, group="dr-switch", exit_on_error=False)
    def _apply(self) -> None:
        try:
            backup = self.session.apply_switch(datetime.fromtimestamp(self.app.clock()))
        except (OSError, RuntimeError) as exc:
            self.app.call_from_thread(self.show_result, f"not written: {exc}", False)
            return
        self.app.call_from_thread(self._applied, backup)

    def _applied(self, backup) -> None:
        self.query_one("#apply", Button).disabled = True
        self.show_result(f"written; the old file is kept as {backup}", True)
        self._offer_reload()

    def _offer_reload(self) -> None:
        command = self.session.settings.reload_command
        if command:
            self.will_run([f"{shown(command)}   (in {self.session.settings.crm_env.parent})"])
            self.query_one("#reload", Button).disabled = False
        else:
            self.query_one("#reload-out", Static).update(Text(
                "No OPS_RELOAD_COMMAND set: reload the CRM yourself, e.g. `php artisan config:clear` in "
                f"{self.session.settings.crm_env.parent}, then redeploy if needed."))

    @work(thread=True, group="dr-switch", exit_on_error=False)
    def _reload(self) -> None:
        self.app.call_from_thread(self.show_result, f"running {shown(self.session.settings.reload_command)}…", None)
        code, output = self.session.reload()
        self.app.call_from_thread(self._reloaded, code, output)

    def _reloaded(self, code: int, output: str) -> None:
        self.query_one("#reload-out", Static).update(Text(output[-2000:] or "(no output)"))
        self.show_result(f"reload command exited {code}", code == 0)
