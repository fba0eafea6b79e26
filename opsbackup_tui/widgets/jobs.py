"""The jobs panel: one row per job kind with its phase, a progress bar, bytes, rate, elapsed, ETA;
also the jobs that run elsewhere (held locks). Newest first, so the newest stays in view.

A row is focusable: x asks to cancel it (the only running one when no row has the focus), Enter
opens its whole result and stderr tail, delete takes a finished row off the panel. A finished row
shows what happened, whole (it wraps), and no stale progress or ETA.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import ProgressBar, Static

from ..core.events import Event, Finished, Phase, Progress, Started
from ..core.jobs import title
from ..core.locks import LockBusy
from ..core.plain import format_progress


def clock_words(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def finished_words(event: Finished) -> str:
    """What a finished job did, in one paragraph."""
    if event.ok:
        return f"OK in {event.duration_s:.1f} s: {event.summary}"
    if event.cancelled:
        return f"cancelled after {event.duration_s:.1f} s; nothing half-written was kept"
    if event.busy:
        return f"not started: {event.error or event.summary}"
    return f"FAILED after {event.duration_s:.1f} s: {event.error or event.summary}"


class JobRow(Vertical, can_focus=True):
    DEFAULT_CSS = """
    JobRow {
        height: auto;
        padding: 0 1;
        margin-bottom: 1;
        border-left: tall $primary;
    }
    JobRow:focus { background: $boost; border-left: thick $accent; }
    JobRow.-done { border-left: tall $success; }
    JobRow.-failed { border-left: tall $error; }
    JobRow.-elsewhere { border-left: tall $warning; }
    JobRow .title { text-style: bold; }
    JobRow ProgressBar { width: 1fr; }
    JobRow Bar { width: 1fr; }  /* the default 32 cells push the percentage out of a narrow panel */
    JobRow .stats { color: $text-muted; }
    """
    BINDINGS = [
        Binding("x", "cancel", "Cancel job"),
        Binding("enter", "details", "Details", show=False),
        Binding("delete", "dismiss", "Dismiss", show=False),
    ]

    class CancelRequested(Message):
        def __init__(self, kind: str) -> None:
            super().__init__()
            self.kind = kind

    class DetailsRequested(Message):
        def __init__(self, row: "JobRow") -> None:
            super().__init__()
            self.row = row

    def __init__(self, kind: str, started_at: float | None, id: str | None = None, focusable: bool = True) -> None:
        super().__init__(id=id)
        self.can_focus = focusable  # in a screen that runs one job, its keys are the screen's
        self.kind = kind
        self.started_at = started_at
        self.finished = False
        # The latest state; painted on mount and on every change (events may beat the mount).
        self._phase: Phase | None = None
        self._progress: Progress | None = None
        self._now = started_at or 0.0
        self.end: Finished | None = None
        self.elsewhere: LockBusy | None = None
        self.cancelling = False
        self._ready = False  # children composed and mounted

    def compose(self) -> ComposeResult:
        yield Static(title(self.kind), classes="title")
        yield Static("starting…", classes="phase")
        yield ProgressBar(total=None, show_eta=False, classes="bar")
        yield Static("", classes="stats")

    def on_mount(self) -> None:
        self._ready = True
        self._paint()

    @property
    def running(self) -> bool:
        return not self.finished and self.elsewhere is None

    def action_cancel(self) -> None:
        if self.running and not self.cancelling:
            self.post_message(self.CancelRequested(self.kind))

    def action_details(self) -> None:
        self.post_message(self.DetailsRequested(self))

    def action_dismiss(self) -> None:
        if not self.running and isinstance(self.parent, JobsPanel):
            self.parent.dismiss(self)

    def feed(self, event: Event, now: float) -> None:
        """Show one job event (Phase, Progress or Finished)."""
        if isinstance(event, Phase):
            self._phase, self._progress = event, None
        elif isinstance(event, Progress):
            self._progress, self._now = event, now
        elif isinstance(event, Finished):
            self.finished, self.end = True, event
        self._paint()

    def show_cancelling(self) -> None:
        self.cancelling = True
        self._paint()

    def show_elsewhere(self, busy: LockBusy) -> None:
        self.elsewhere = busy
        self._paint()

    def _paint(self) -> None:
        # Not `is_mounted` (it turns True only after on_mount, whose paint must not be skipped), nor
        # `children` (they exist before their own children are mounted).
        if not self._ready:
            return
        phase = self.query_one(".phase", Static)
        bar = self.query_one(ProgressBar)
        stats = self.query_one(".stats", Static)
        if self.elsewhere is not None or self.end is not None:
            bar.display = stats.display = False
            if self.elsewhere is not None:
                self.add_class("-elsewhere")
                phase.update(Text(f"running elsewhere: {self.elsewhere}"))
            else:
                self.add_class("-done" if self.end.ok else "-failed")
                phase.update(Text(finished_words(self.end)))
            return
        if self._phase is not None:
            detail = self._phase.detail
            phase.update(Text(("cancelling… " if self.cancelling else "")
                              + (f"{self._phase.name}: {detail}" if detail else self._phase.name)))
        progress = self._progress
        if progress is None:
            bar.update(total=None, progress=0)
            return
        if progress.total:
            bar.update(total=progress.total, progress=min(progress.done, progress.total))
        else:
            bar.update(total=None)
        parts = [format_progress(progress)]
        if self.started_at is not None:
            parts.append(f"{clock_words(self._now - self.started_at)} elapsed")
        if progress.total and progress.rate and progress.done < progress.total:
            parts.append(f"ETA {clock_words((progress.total - progress.done) / progress.rate)}")
        stats.update(Text(" · ".join(parts)))


class JobsPanel(VerticalScroll, can_focus=False):
    DEFAULT_CSS = """
    JobsPanel { height: auto; }
    JobsPanel > .empty { color: $text-muted; padding: 0 1; }
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # kind -> its current row. The truth for events: the DOM lags behind (mount and remove are
        # asynchronous) and a new row of a kind may only be mounted once the old one (same id) is gone.
        self._rows: dict[str, JobRow] = {}

    def compose(self) -> ComposeResult:
        yield Static("No job running. d: DB backup · s: snapshot · v: verify · r: report", classes="empty")

    def rows(self) -> list[JobRow]:
        return list(self._rows.values())

    def running_rows(self) -> list[JobRow]:
        return [row for row in self._rows.values() if row.running]

    def _row(self, kind: str, started_at: float | None = None, fresh: bool = False) -> JobRow:
        old = self._rows.get(kind)
        if old is not None and not fresh:
            return old
        row = self._rows[kind] = JobRow(kind, started_at, id=f"job-{kind}")
        self.query_one(".empty").display = False
        self.call_later(self._replace, old, row)
        return row

    async def _replace(self, old: JobRow | None, row: JobRow) -> None:
        if old is not None and old.parent is not None:
            await old.remove()
        if self._rows.get(row.kind) is row:  # not replaced or dismissed meanwhile
            await self.mount(row, before=0)  # newest first: the newest job stays in view
            self.scroll_home(animate=False)

    def on_job_event(self, event: Event, now: float) -> None:
        if isinstance(event, Started):
            self._row(event.job, event.at, fresh=True)
            return
        row = self._rows.get(event.job)
        if row is not None:
            row.feed(event, now)

    def show_elsewhere(self, busy: LockBusy) -> None:
        row = self._rows.get(busy.kind)
        if row is not None and not row.finished:
            return  # shown already, or ours is running (then the lock is ours)
        self._row(busy.kind, fresh=True).show_elsewhere(busy)

    def clear_elsewhere(self, kind: str) -> None:
        row = self._rows.get(kind)
        if row is not None and row.elsewhere is not None:
            self.dismiss(row)

    def dismiss(self, row: JobRow) -> None:
        """Take a finished row, or one running elsewhere, off the panel."""
        if self._rows.get(row.kind) is row:
            del self._rows[row.kind]
        self.call_later(self._drop, row)

    async def _drop(self, row: JobRow) -> None:
        if row.parent is not None:
            await row.remove()
        self.update_empty()

    def update_empty(self) -> None:
        if self.is_mounted:
            self.query_one(".empty").display = not self._rows
