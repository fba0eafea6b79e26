"""Step 3: the streamed import, with progress; x cancels it. A cancelled or failed import offers to
drop the half-imported database (Enter, then y)."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from ...core.events import Finished
from ..confirm import ConfirmScreen
from ..jobscreen import RunsJob
from .base import StepScreen


class JobStep(RunsJob, StepScreen):
    """A step that runs a job: its row shows the progress, x cancels it, leaving cancels it too."""

    errors_in_a_dialog = False
    BINDINGS = [Binding("x", "cancel_job", "Cancel")]
    DEFAULT_CSS = """
    JobStep #progress { height: auto; }
    """

    def busy(self) -> bool:
        return self.job_running()

    def more_keys(self) -> list[str]:
        return ["x cancel"] if self.job_running() else []

    def leave(self) -> None:
        if self.job_running():
            self.worker.cancel()  # asked already (leaving asks); its cleanup goes on after the screen
            self.session.transcript.result(f"{self.row.kind} cancelled: the operator left the wizard")
        super().leave()


class ImportScreen(JobStep):
    number = 3
    BINDINGS = [Binding("t", "toggle_definers", "DEFINERs")]

    def body(self) -> ComposeResult:
        session = self.session
        yield Static(Text(f"{session.row.dump.name} → `{session.database}` on {session.server.describe()}"))
        yield Static("", id="definers")
        yield Vertical(id="progress")

    def on_mount(self) -> None:
        self.strip_definer = False
        self.dropped = False
        self._show_definers()
        if self.session.imported:
            self.will_run(self.session.import_job(self.strip_definer).plan(), ran=True)
            self.show_result(f"already imported into `{self.session.database}`", True)

    def _show_definers(self) -> None:
        state = ("removed: the target user needs no SUPER / SET USER" if self.strip_definer
                 else "kept, as in production (remove them when the target user lacks SUPER: ERROR 1227)")
        self.query_one("#definers", Static).update(Text(f"DEFINER clauses: {state} · t toggles"))
        if not self.job_running() and not self.session.imported:
            self.will_run(self.session.import_job(self.strip_definer).plan())

    def action_toggle_definers(self) -> None:
        if not self.job_running() and not self.session.imported:
            self.strip_definer = not self.strip_definer
            self._show_definers()

    def enter_does(self) -> str:
        session = self.session
        if self.job_running():
            return "wait: importing… (x cancels)"
        if session.imported:
            return "next: verify the restored database"
        if getattr(self, "dropped", False):
            return "back to step 2 for a fresh target"
        if session.holds_partial_import:
            return f"drop the half-imported `{session.database}`"
        return f"import into `{session.database}`"

    def more_keys(self) -> list[str]:
        return super().more_keys() or ([] if self.session.imported or self.session.import_attempted else ["t DEFINERs"])

    def primary(self) -> None:
        session = self.session
        if self.job_running():
            return
        if session.imported:
            self.go_next()
        elif self.dropped:
            self.dismiss("back")
        elif session.holds_partial_import:
            self._ask_drop()
        else:
            job = session.import_job(self.strip_definer)
            session.import_started(job.plan())
            self.show_result("importing…", None)
            self.start_job(job, self.query_one("#progress"))
            self.refresh_hint()

    def job_finished(self, event: Finished) -> None:
        session = self.session
        session.import_finished(event)
        self.will_run(session.import_job(self.strip_definer).plan(), ran=True)
        if event.ok:
            self.show_result(f"imported: {event.summary}", True)
        elif event.cancelled:
            self.show_result(f"import cancelled: `{session.database}` holds a partial import. ⏎ drops it "
                             "(or go back and pick another target).", False)
        else:
            self.show_result(f"import failed: {event.error}\nNext: {event.next_step}", False)

    def _ask_drop(self) -> None:
        database = self.session.database

        def answer(yes: bool | None) -> None:
            if yes:
                self._drop()

        self.app.push_screen(ConfirmScreen(f"Drop `{database}`?", [f"DROP DATABASE `{database}`",
                                                                   f"on {self.session.server.describe()}"],
                                           yes="Drop it", danger=True), answer)

    @work(group="dr-drop", exit_on_error=False)
    async def _drop(self) -> None:
        database = self.session.database
        try:
            await asyncio.to_thread(self.session.drop_target)
        except Exception as exc:  # noqa: BLE001 - shown to the operator as it is
            self.show_result(f"dropping `{database}` failed: {exc}", False)
            return
        self.dropped = True
        self.will_run([f"DROP DATABASE `{database}`"], ran=True)
        self.show_result(f"`{database}` dropped. ⏎ goes back to step 2 to create a fresh target.", None)
