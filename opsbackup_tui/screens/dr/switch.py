"""Step 5: point the CRM at the restored database: the .env diff (secrets masked), a timestamped
backup of the old file, the new one written atomically after confirmation, then the reload command
(or what to run). Enter: write (asks), then reload, then next; n goes on without switching."""

from __future__ import annotations

from datetime import datetime

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from ...core import laravel_env
from ...core.dr import EnvSwitch
from ...core.proc import shown
from ..confirm import ConfirmScreen
from .base import StepScreen


class SwitchScreen(StepScreen):
    number = 5
    DEFAULT_CSS = """
    SwitchScreen #diff { background: $panel; height: auto; margin: 1 0; }
    """
    BINDINGS = [Binding("n", "skip", "Skip the switch")]

    def body(self) -> ComposeResult:
        yield Static("", id="intro")
        yield Static("", id="diff")
        yield Static("", id="reload-out")

    def on_mount(self) -> None:
        self.switch: EnvSwitch | None = None
        self.state = "planning"  # → manual | diff → written ; then reload when a command is set
        self.reloaded = False
        self._plan()

    @work(thread=True, group="dr-switch", exit_on_error=False)
    def _plan(self) -> None:
        try:
            switch = self.session.plan_switch()
        except OSError as exc:
            self.app.call_from_thread(self._cannot_read, exc)
            return
        self.app.call_from_thread(self._show, switch)

    def _cannot_read(self, exc: OSError) -> None:
        self.state = "manual"
        self.show_result(f"cannot read {exc.filename}: {exc.strerror}", False)

    def _show(self, switch: EnvSwitch | None) -> None:
        intro = self.query_one("#intro", Static)
        if switch is None:
            self.state = "manual"
            intro.update(Text(self.session.manual_switch_text()))
            self.show_result("nothing to write here: change the CRM's settings as said above", None)
            return
        self.switch = switch
        if not switch.changes:
            self.state = "written"
            intro.update(Text(f"{switch.path} already points at the restored database."))
            self._offer_reload()
            return
        self.state = "diff"
        intro.update(Text(f"{switch.path}: " + ", ".join(
            f"{k} {laravel_env.MASK if laravel_env.is_secret_key(k) else old or '(unset)'} → "
            f"{laravel_env.MASK if laravel_env.is_secret_key(k) else new}"
            for k, (old, new) in switch.changes.items())))
        self.query_one("#diff", Static).update(Syntax(switch.diff, "diff", theme="ansi_dark", word_wrap=True))
        self.will_run([f"cp -p {switch.path} {switch.path}.bak-YYYYmmdd-HHMMSS",
                       f"write {switch.path} atomically (same mode and owner)"])
        self.show_result("the diff above is what will be written (secrets masked)", None)

    def _reload_command(self) -> list[str] | None:
        command = self.session.settings.reload_command
        return list(command) if command and self.state == "written" and not self.reloaded else None

    def enter_does(self) -> str:
        state = getattr(self, "state", "planning")
        if state == "planning":
            return "wait…"
        if state == "diff":
            return f"write the new {self.switch.path.name} (asks)"
        if self._reload_command():
            return f"run {shown(self._reload_command())}"
        return "next: the post-audit"

    def more_keys(self) -> list[str]:
        return ["n skip the switch"] if getattr(self, "state", "") == "diff" else []

    def primary(self) -> None:
        if self.state == "planning":
            return
        if self.state == "diff":
            self._confirm_apply()
        elif self._reload_command():
            self._reload()
        else:
            self.go_next()

    def action_skip(self) -> None:
        if self.state == "diff":
            self.session.transcript.step("step 5: switch the application")
            self.session.transcript.result("the operator skipped the .env switch")
            self.go_next()

    def _confirm_apply(self) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self._apply()

        self.app.push_screen(ConfirmScreen(f"Point the CRM at `{self.session.database}`?",
                                           self.switch.diff.splitlines()[:40], yes="Write it"), answer)

    @work(thread=True, group="dr-switch", exit_on_error=False)
    def _apply(self) -> None:
        try:
            backup = self.session.apply_switch(datetime.fromtimestamp(self.app.clock()))
        except (OSError, RuntimeError) as exc:
            self.app.call_from_thread(self.show_result, f"not written: {exc}", False)
            return
        self.app.call_from_thread(self._applied, backup)

    def _applied(self, backup) -> None:
        self.state = "written"
        self.will_run([f"cp -p {self.switch.path} {backup}", f"wrote {self.switch.path} (same mode and owner)"],
                      ran=True)
        self.show_result(f"written; the old file is kept as {backup}", True)
        self._offer_reload()

    def _offer_reload(self) -> None:
        command = self.session.settings.reload_command
        if command:
            self.will_run([f"{shown(command)}   (in {self.session.settings.crm_env.parent})"])
        else:
            self.query_one("#reload-out", Static).update(Text(
                "No OPS_RELOAD_COMMAND set: reload the CRM yourself, e.g. `php artisan config:clear` in "
                f"{self.session.settings.crm_env.parent}, then redeploy if needed."))
        self.refresh_hint()

    @work(thread=True, group="dr-switch", exit_on_error=False)
    def _reload(self) -> None:
        self.app.call_from_thread(self.show_result, f"running {shown(self.session.settings.reload_command)}…", None)
        code, output = self.session.reload()
        self.app.call_from_thread(self._reloaded, code, output)

    def _reloaded(self, code: int, output: str) -> None:
        self.reloaded = True
        self.will_run([f"{shown(self.session.settings.reload_command)}   (in {self.session.settings.crm_env.parent})"],
                      ran=True)
        out = self.query_one("#reload-out", Static)
        out.update(Text(output[-2000:] or "(no output)"))
        self.show_result(f"reload command exited {code}", code == 0)
        self.call_after_refresh(out.scroll_visible, animate=False)
