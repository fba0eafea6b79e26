"""Step 3: the streamed import, with progress and cancel; a cancelled or failed import offers to
drop the half-imported database."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Checkbox, ProgressBar, Static
from textual.worker import Worker

from ...core.events import Event, Finished, Phase, Progress
from ...core.jobs.base import run_job
from ...core.plain import format_progress
from .base import StepScreen


class ImportScreen(StepScreen):
    number = 3
    DEFAULT_CSS = """
    ImportScreen #controls { height: 3; margin-top: 1; }
    ImportScreen #controls Button { margin-right: 2; }
    ImportScreen ProgressBar { margin-top: 1; }
    """

    def body(self) -> ComposeResult:
        session = self.session
        yield Static(Text(f"{session.row.dump.name} → `{session.database}` on {session.server.describe()}"))
        yield Checkbox("remove DEFINER clauses (when the target user lacks SUPER / SET USER: ERROR 1227)",
                       id="strip")
        with Horizontal(id="controls"):
            yield Button("Start import", id="start", variant="primary")
            yield Button("Cancel import", id="cancel", variant="error", disabled=True)
            yield Button("Drop the half-imported database", id="drop", variant="warning", disabled=True)
        yield ProgressBar(total=100, show_eta=False, id="bar")
        yield Static("", id="stats")

    def on_mount(self) -> None:
        self.worker: Worker | None = None
        self.query_one("#bar").display = False
        self._plan()
        if self.session.imported:
            self.query_one("#start", Button).disabled = True
            self.show_result(f"already imported into `{self.session.database}`", True)
            self.allow_next(True)

    def _job(self):
        return self.session.import_job(self.query_one("#strip", Checkbox).value)

    def _plan(self) -> None:
        self.will_run(self._job().plan())

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._plan()

    def busy(self) -> bool:
        return self.worker is not None and self.worker.is_running

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            event.stop()
            self._start()
        elif event.button.id == "cancel":
            event.stop()
            if self.worker is not None:
                self.worker.cancel()
        elif event.button.id == "drop":
            event.stop()
            self._ask_drop()

    def _start(self) -> None:
        job = self._job()
        self.session.import_started(job.plan())
        self.query_one("#start", Button).disabled = True
        self.query_one("#strip", Checkbox).disabled = True
        self.query_one("#cancel", Button).disabled = False
        self.query_one("#drop", Button).disabled = True
        self.query_one("#bar").display = True
        self.show_result("importing…", None)
        self.worker = self._run(job)

    @work(group="dr-import", exit_on_error=False)
    async def _run(self, job) -> None:
        await run_job(job, self._on_event, clock=self.app.clock)

    def _on_event(self, event: Event) -> None:
        if not self.is_mounted:
            return  # the operator left the wizard; the job still cleans up after itself
        if isinstance(event, Phase):
            self.query_one("#stats", Static).update(Text(f"{event.name}: {event.detail}"))
        elif isinstance(event, Progress):
            bar = self.query_one("#bar", ProgressBar)
            if event.total:
                bar.update(total=event.total, progress=event.done)
            eta = ""
            if event.total and event.rate and event.done < event.total:
                eta = f" · ETA {int((event.total - event.done) / event.rate)} s"
            self.query_one("#stats", Static).update(Text(format_progress(event) + eta))
        elif isinstance(event, Finished):
            self._finished(event)

    def _finished(self, event: Finished) -> None:
        self.session.import_finished(event)
        self.query_one("#cancel", Button).disabled = True
        if event.ok:
            self.show_result(f"imported: {event.summary}", True)
            self.allow_next(True)
            return
        if event.cancelled:
            self.show_result(f"import cancelled: `{self.session.database}` holds a partial import. "
                             "Drop it, then start again (or go back and pick another target).", False)
        else:
            self.show_result(f"import failed: {event.error}\nNext: {event.next_step}", False)
        self.query_one("#drop", Button).disabled = False
        self.query_one("#start", Button).disabled = False
        self.query_one("#strip", Checkbox).disabled = False

    def _ask_drop(self) -> None:
        from ..confirm import ConfirmScreen

        database = self.session.database

        def answer(yes: bool | None) -> None:
            if yes:
                self._drop()

        self.app.push_screen(ConfirmScreen(f"Drop `{database}`?", [f"DROP DATABASE `{database}`",
                                                                   f"on {self.session.server.describe()}"],
                                           yes="Drop it", danger=True), answer)

    @work(thread=True, group="dr-drop", exit_on_error=False)
    def _drop(self) -> None:
        database = self.session.database
        try:
            self.session.drop_target()
        except Exception as exc:  # noqa: BLE001 - shown to the operator as it is
            self.app.call_from_thread(self.show_result, f"dropping `{database}` failed: {exc}", False)
            return
        self.app.call_from_thread(self._dropped)

    def _dropped(self) -> None:
        self.query_one("#drop", Button).disabled = True
        self.show_result(f"`{self.session.database}` dropped. Go back to step 2 to create a fresh target.", None)

    def leave(self) -> None:
        if self.busy():
            self.worker.cancel()
        super().leave()
