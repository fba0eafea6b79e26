"""The dashboard: headline, checklist, dump-size sparkline, actions, the ops.log tail, the jobs panel.

All I/O runs in thread workers: the checklist refresh (never overlapping: the next one is
scheduled when the last finished, or run at once when the tree or the log changed meanwhile)
and the log follower, which also notices changes in the backup tree.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from ..core.checks import CheckResult, overall
from ..core.fmt import size_words
from ..core.jobs import KINDS
from ..core.opslog import parse_line
from ..core.overview import Overview, Prefetch, collect_overview
from ..widgets.checklist import STATUS_VARIABLE, ChecklistTable
from ..widgets.keybar import KeyBar
from ..widgets.theme import theme_colour
from .confirm import ConfirmScreen

FOLLOW_INTERVAL_S = 0.25
# Textual writes frames to the terminal from a thread. Mounting the rest of the dashboard holds the
# GIL for tens of ms, and that thread then waits for it between its writes to the pty: started at
# once, the rest would hold back the first frame by as long (measured by bench/tui_start.py).
REST_AFTER_S = 0.05
# How long the first frame waits for the prefetched checks before it shows "checking…" instead.
FIRST_FRAME_WAIT_S = 0.25
NARROW = 100


def _tree_signature(settings) -> tuple:
    """Cheap stats that change when a dump, marker or verify log is added, renamed or removed."""
    sig = []
    for folder in (settings.db_dir, settings.snapshots_dir, settings.verify_dir):
        try:
            st = os.stat(folder)
            sig.append((st.st_ino, st.st_mtime_ns))
        except OSError:
            sig.append(None)
    return tuple(sig)


class DashboardScreen(Screen):
    BINDINGS = [
        Binding("d", "app.start_job('db_backup')", "DB backup"),
        Binding("s", "app.start_job('snapshot')", "Snapshot"),
        Binding("v", "app.start_job('verify')", "Verify"),
        Binding("r", "app.start_job('report')", "Report"),
        Binding("R", "app.dr_wizard", "DR wizard"),
        Binding("u", "app.uploads", "Uploads"),
        Binding("m", "app.migrate", "Migrate"),
        Binding("c", "app.monthly", "Monthly"),
        Binding("f", "app.fleet", "Fleet"),
        Binding("a", "acknowledge", "Ack alerts"),
        Binding("ctrl+z", "undo_acknowledge", "Undo ack", show=False),
        Binding("x", "cancel_job", "Cancel job"),
        Binding("slash", "filter_log", "Filter log"),
        Binding("f5", "refresh_checks", "Refresh"),
        Binding("ctrl+r", "refresh_checks", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._timer = None
        self._refreshing = False
        self._pending = False
        self.results: list[CheckResult] = []
        self._overview: Overview | None = None
        self._prefetch: Prefetch | None = None
        self.status_text = "Enter on a row shows all of it · ? help"  # the last result, until the next one

    def compose(self) -> ComposeResult:
        # The first frame holds what an operator looks at first: the headline and the checklist,
        # both with their content (a widget filled after it is laid out costs another frame).
        # The rest is mounted a moment after (see _mount_rest).
        prefetch, self.app.prefetch = self.app.prefetch, None
        if prefetch is not None and prefetch.ready(FIRST_FRAME_WAIT_S):
            overview = prefetch.take()
            if overview is not None:
                self.results, self._overview = overview.results, overview
        else:
            # Slow checks (a metrics endpoint that takes its time, a slow mount) do not hold the
            # first frame: the first refresh takes over the prefetch's result.
            self._prefetch = prefetch
        yield Static(self._headline_text(), id="headline")
        yield ChecklistTable(id="checklist")

    def _mount_rest(self) -> None:
        # Imported here: the first frame needs none of them.
        from textual.widgets import Label, Sparkline

        from ..widgets.jobs import JobsPanel
        from ..widgets.logtail import LogTail

        settings = self.app.settings
        middle = Horizontal(
            Vertical(Label("dump sizes (last 30)", id="trend-label"), Sparkline([], id="sizes"), id="trend"),
            Horizontal(Button("DB backup (d)", id="run-db_backup", compact=True),
                       Button("Snapshot (s)", id="run-snapshot", compact=True),
                       Button("Verify (v)", id="run-verify", compact=True),
                       Button("Report (r)", id="run-report", compact=True), id="actions"),
            id="middle")
        for button in middle.query(Button):
            button.can_focus = False  # their keys (d s v r) are the way; no Tab stops on them
        bottom = Horizontal(LogTail(str(settings.log_path), id="log"), JobsPanel(id="jobs"), id="bottom")
        self.mount(middle, bottom, Static(Text(self.status_text), id="status"), KeyBar())
        self.call_after_refresh(self._rest_mounted)

    def _rest_mounted(self) -> None:
        self.refresh_bindings()  # a key bar mounted after the first frame learns the keys
        if self.results:
            self._show_rest(self._overview)
        self._follow_log()

    def on_mount(self) -> None:
        table = self.query_one(ChecklistTable)
        table.focus()
        if self._overview is not None:
            # Ready before the screen mounted: the first frame already holds the checklist.
            table.show(self.results)
            self._timer = self.set_timer(self.app.settings.refresh_s, self._timed_refresh)
        else:
            self.action_refresh_checks()
        self.set_timer(REST_AFTER_S, self._mount_rest)

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")

    def show_status(self, text: str) -> None:
        """The last result, kept on screen until the next one (a toast vanishes after 5 s)."""
        self.status_text = f"{datetime.fromtimestamp(self.app.clock()):%H:%M} {text}"
        for status in self.query("#status"):
            status.update(Text(self.status_text))

    # --- checklist ---

    def _headline(self) -> None:
        self.query_one("#headline", Static).update(self._headline_text())

    def _headline_text(self) -> Text:
        settings = self.app.settings
        # The overall state first: a long host or path must not push it off a narrow terminal.
        text = Text.assemble(("opsbackup", "bold"), "  overall: ")
        if self.results:
            worst = overall(self.results)
            colour = theme_colour(self.app.get_css_variables(), STATUS_VARIABLE[worst])
            text.append(worst.value, style=f"bold {colour}".strip())
        else:
            text.append("checking…")
        text.append(f"  ·  {self.app.host}  ·  {settings.backup_base}")
        return text

    def action_refresh_checks(self) -> None:
        """Refresh now; if a refresh is running, run another right after it."""
        if self._refreshing:
            self._pending = True
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._refreshing = True
        self._refresh_checks()

    @work(thread=True, group="checks", exit_on_error=False)
    def _refresh_checks(self) -> None:
        prefetch, self._prefetch = self._prefetch, None
        try:
            # The prefetch runs the same checks: its wait is bounded by their own timeouts.
            overview = prefetch.take(self.app.settings.metrics_timeout_s + 5) if prefetch is not None else None
            if overview is None:
                overview = collect_overview(self.app.settings, self.app.clock())
        finally:
            self.app.call_from_thread(self._refresh_done)
        self.app.call_from_thread(self._show, overview)

    def _refresh_done(self) -> None:
        self._refreshing = False
        if self._pending:
            self._pending = False
            self.action_refresh_checks()
        elif self._timer is None:
            # The next refresh is scheduled when this one has finished: polls never overlap.
            self._timer = self.set_timer(self.app.settings.refresh_s, self._timed_refresh)

    def _timed_refresh(self) -> None:
        self._timer = None
        self.action_refresh_checks()

    def _show(self, overview: Overview) -> None:
        self.results, self._overview = overview.results, overview
        self.query_one(ChecklistTable).show(overview.results)
        self._headline()
        if self.query("#bottom"):
            self._show_rest(overview)

    def _show_rest(self, overview: Overview) -> None:
        sizes, busy = overview.sizes, overview.busy
        spark = self.query_one("#sizes")
        spark.data = sizes
        label = "dump sizes (last 30)"
        if sizes:
            label += f": {size_words(min(sizes))} – {size_words(max(sizes))}, newest {size_words(sizes[-1])}"
        self.query_one("#trend-label").update(label)
        jobs = self.query_one("#jobs")
        held = {b.kind for b in busy}
        for kind in KINDS:
            if kind.name not in held:
                jobs.clear_elsewhere(kind.name)
        for b in busy:
            if b.kind not in self.app.running:
                jobs.show_elsewhere(b)

    # --- ops.log ---

    @work(thread=True, group="follow", exit_on_error=False)
    def _follow_log(self) -> None:
        worker = get_current_worker()
        settings = self.app.settings
        from ..core.follow import LogFollower

        follower = LogFollower(settings.log_path)
        first = follower.start()
        self.app.call_from_thread(self._log_started, first, follower.exists)
        signature = _tree_signature(settings)
        rotations = follower.rotations
        try:
            while not worker.is_cancelled:
                existed = follower.exists
                lines = follower.poll()
                if follower.rotations != rotations:
                    rotations = follower.rotations
                    self.app.call_from_thread(self.query_one("#log").reset)
                if lines or existed != follower.exists:
                    self.app.call_from_thread(self._log_lines, lines)
                current = _tree_signature(settings)
                if current != signature:
                    signature = current
                    self.app.call_from_thread(self.action_refresh_checks)
                time.sleep(FOLLOW_INTERVAL_S)
        finally:
            follower.close()

    def _log_started(self, lines: list[str], exists: bool) -> None:
        tail = self.query_one("#log")
        tail.set_missing(not exists)
        tail.add_lines(lines)

    def _log_lines(self, lines: list[str]) -> None:
        self.query_one("#log").add_lines(lines)
        if any(parse_line(line).is_alert for line in lines):
            self.action_refresh_checks()

    def action_filter_log(self) -> None:
        self.query_one("#log").start_filter()

    def action_acknowledge(self) -> None:
        self._ask_acknowledge()

    @work(thread=True, group="ack", exit_on_error=False)
    def _ask_acknowledge(self) -> None:
        from ..core.opslog import scan_alerts

        settings = self.app.settings
        try:
            scan = scan_alerts(settings.log_path, settings.state_dir, settings.log_window_kib * 1024, keep=3)
        except FileNotFoundError:
            self.app.call_from_thread(self.show_status, "no ops.log to acknowledge yet")
            return
        self.app.call_from_thread(self._confirm_acknowledge, scan)

    def _confirm_acknowledge(self, scan) -> None:
        if not scan.count:
            self.show_status("no alerts to acknowledge")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._acknowledge(scan.end, scan.words())

        self.app.push_screen(ConfirmScreen(f"Acknowledge {scan.words()}?",
                                           ["The newest:", *(line.raw for line in scan.lines),
                                            "ctrl+z takes it back."], yes="Acknowledge"), answer)

    @work(thread=True, group="ack", exit_on_error=False)
    def _acknowledge(self, offset: int, words: str) -> None:
        from ..core.opslog import acknowledge

        settings = self.app.settings
        acknowledge(settings.state_dir, settings.log_path, self.app.clock(), offset)
        self.app.call_from_thread(self.show_status, f"acknowledged {words} · ctrl+z takes it back")
        self.app.call_from_thread(self.action_refresh_checks)

    @work(thread=True, group="ack", exit_on_error=False)
    def action_undo_acknowledge(self) -> None:
        from ..core.opslog import undo_acknowledge

        settings = self.app.settings
        undone = undo_acknowledge(settings.state_dir, settings.log_path)
        self.app.call_from_thread(self.show_status, "the last acknowledgement is taken back" if undone
                                  else "no acknowledgement to take back")
        self.app.call_from_thread(self.action_refresh_checks)

    # --- details ---

    def on_data_table_row_selected(self, event) -> None:
        if isinstance(event.data_table, ChecklistTable) and event.cursor_row < len(self.results):
            self._open_check(self.results[event.cursor_row])

    @work(thread=True, group="detail", exit_on_error=False)
    def _open_check(self, result: CheckResult) -> None:
        from ..screens.detail import CheckDetailScreen

        lines = None
        if result.id == "ops_log":
            from ..core.opslog import scan_alerts

            settings = self.app.settings
            try:
                lines = [line.raw for line in scan_alerts(settings.log_path, settings.state_dir,
                                                          settings.log_window_kib * 1024, keep=2000).lines]
            except OSError:
                lines = []
        self.app.call_from_thread(self.app.push_screen, CheckDetailScreen(result, lines))

    def on_job_row_details_requested(self, message) -> None:
        from ..screens.detail import job_detail

        row = message.row
        if row.end is not None:
            self.app.push_screen(job_detail(row.end))

    # --- jobs ---

    def check_action(self, action: str, parameters) -> bool | None:
        return bool(self.app.running) if action == "cancel_job" else True

    def action_cancel_job(self) -> None:
        """x: the focused job row's job, or the only one running."""
        from ..widgets.jobs import JobRow

        focused = self.focused if isinstance(self.focused, JobRow) else None
        running = [row for row in self.query(JobRow) if row.running and row.kind in self.app.running]
        row = focused if focused is not None and focused.running else running[0] if len(running) == 1 else None
        if row is None:
            self.show_status("nothing of ours runs to cancel" if not running
                             else "several jobs run: Tab to the one to cancel, then x")
            return
        self.app.ask_cancel(row.kind)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("run-"):
            self.app.action_start_job(event.button.id[4:])
