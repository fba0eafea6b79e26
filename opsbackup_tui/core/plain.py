"""Job events as plain timestamped lines: for cron mail and logs (no rich, no colours)."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import TextIO

from .events import Event, Finished, Output, Phase, Progress, Started
from .fmt import size_words

PROGRESS_EVERY_S = 5.0


def format_progress(event: Progress) -> str:
    if event.unit == "bytes":
        done = size_words(event.done)
        if event.total:
            done += f" of {size_words(event.total)} ({100.0 * event.done / event.total:.0f} %)"
        rate = f", {size_words(event.rate)}/s" if event.rate else ""
    else:
        done = f"{event.done}" + (f" of {event.total}" if event.total else "") + f" {event.unit}"
        rate = f", {event.rate:.1f}/s" if event.rate else ""
    return done + rate + (f", {event.detail}" if event.detail else "")


class PlainJobRenderer:
    """Callable as an Emit; a context manager like the rich renderer."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._last_progress = 0.0

    def __enter__(self) -> "PlainJobRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.out.flush()

    def _line(self, job: str, text: str) -> None:
        self.out.write(f"{datetime.now():%Y-%m-%d %H:%M:%S} {job} {text}\n")
        self.out.flush()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started):
            self._line(event.job, f"started: {event.description}")
        elif isinstance(event, Phase):
            self._line(event.job, f"phase {event.name}" + (f": {event.detail}" if event.detail else ""))
        elif isinstance(event, Progress):
            now = time.monotonic()
            if now - self._last_progress >= PROGRESS_EVERY_S:
                self._last_progress = now
                self._line(event.job, "progress " + format_progress(event))
        elif isinstance(event, Output):
            self._line(event.job, f"| {event.line}")
        elif isinstance(event, Finished):
            if event.ok:
                self._line(event.job, f"OK in {event.duration_s:.1f} s: {event.summary}")
            elif event.cancelled:
                self._line(event.job, f"CANCELLED after {event.duration_s:.1f} s")
            elif event.busy:
                self._line(event.job, f"BUSY: {event.error}; not started twice")
            else:
                self._line(event.job, f"FAIL: {event.error}")
                if event.next_step:
                    self._line(event.job, f"next: {event.next_step}")
