"""The jobs panel: one row per job kind with its phase, a progress bar, bytes, rate, elapsed, ETA
and a cancel button; also the jobs that run elsewhere (held locks)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Label, ProgressBar, Static

from ..core.events import Event, Finished, Phase, Progress, Started
from ..core.fmt import one_line
from ..core.jobs import TITLES
from ..core.locks import LockBusy
from ..core.plain import format_progress


def clock_words(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class JobRow(Vertical):
    DEFAULT_CSS = """
    JobRow {
        height: auto;
        padding: 0 1;
        margin-bottom: 1;
        border-left: tall $primary;
    }
    JobRow.-done { border-left: tall $success; }
    JobRow.-failed { border-left: tall $error; }
    JobRow.-elsewhere { border-left: tall $warning; }
    JobRow Horizontal { height: auto; }
    JobRow .title { width: 1fr; text-style: bold; }
    JobRow Button { min-width: 10; margin-left: 1; }
    JobRow ProgressBar { width: 1fr; }
    JobRow Bar { width: 1fr; }  /* the default 32 cells push the percentage out of a narrow panel */
    JobRow .stats { color: $text-muted; }
    """

    class CancelRequested(Message):
        def __init__(self, kind: str) -> None:
            super().__init__()
            self.kind = kind

    def __init__(self, kind: str, started_at: float | None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kind = kind
        self.started_at = started_at
        self.finished = False
        # The latest state; painted on mount and on every change (events may beat the mount).
        self._phase: Phase | None = None
        self._progress: Progress | None = None
        self._now = started_at or 0.0
        self._end: Finished | None = None
        self._elsewhere: LockBusy | None = None
        self._ready = False  # children composed and mounted

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(TITLES.get(self.kind, self.kind), classes="title")
            yield Button("Cancel", id=f"cancel-{self.kind}", variant="error", compact=True)
        yield Label("starting…", classes="phase")
        yield ProgressBar(total=None, show_eta=False, classes="bar")
        yield Static("", classes="stats")

    def on_mount(self) -> None:
        self._ready = True
        self._paint()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if self.finished or self._elsewhere is not None:
            if isinstance(self.parent, JobsPanel):
                self.parent.dismiss(self)
            else:
                self.remove()
        else:
            event.button.disabled = True
            event.button.label = "Cancelling"
            self.post_message(self.CancelRequested(self.kind))

    def feed(self, event: Event, now: float) -> None:
        """Show one job event (Phase, Progress or Finished)."""
        if isinstance(event, Phase):
            self.show_phase(event)
        elif isinstance(event, Progress):
            self.show_progress(event, now)
        elif isinstance(event, Finished):
            self.show_finished(event)

    def show_phase(self, event: Phase) -> None:
        self._phase, self._progress = event, None
        self._paint()

    def show_progress(self, event: Progress, now: float) -> None:
        self._progress, self._now = event, now
        self._paint()

    def show_finished(self, event: Finished) -> None:
        self.finished, self._end = True, event
        self._paint()

    def show_elsewhere(self, busy: LockBusy) -> None:
        self._elsewhere = busy
        self._paint()

    def _paint(self) -> None:
        # Not `is_mounted` (it turns True only after on_mount, whose paint must not be skipped), nor
        # `children` (they exist before their own children, the Button among them, are mounted).
        if not self._ready:
            return
        phase = self.query_one(".phase", Label)
        bar = self.query_one(ProgressBar)
        stats = self.query_one(".stats", Static)
        button = self.query_one(Button)
        if self._elsewhere is not None:
            self.add_class("-elsewhere")
            phase.update(Text(f"running elsewhere: {self._elsewhere}"))
            bar.display = stats.display = False
            button.label, button.variant = "Dismiss", "default"
            return
        if self._end is not None:
            event = self._end
            if event.ok:
                self.add_class("-done")
                text = f"OK in {event.duration_s:.1f} s: {one_line(event.summary, 300)}"
            elif event.cancelled:
                self.add_class("-failed")
                text = f"cancelled after {event.duration_s:.1f} s"
            else:
                self.add_class("-failed")
                text = f"FAILED: {one_line(event.error or event.summary, 300)}"
            phase.update(Text(text))
            bar.display = False
            button.label, button.variant, button.disabled = "Dismiss", "default", False
            return
        if self._phase is not None:
            detail = one_line(self._phase.detail, 300)
            phase.update(Text(f"{self._phase.name}: {detail}" if detail else self._phase.name))
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


class JobsPanel(VerticalScroll):
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
            await self.mount(row)

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
        if row is not None and row._elsewhere is not None:
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
