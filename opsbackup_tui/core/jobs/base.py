"""The job engine: lock, ops.log start/end, typed events, cancel, alert on failure.

A job subclass implements `plan()` (what will run, shown before it runs) and `execute(ctx)`;
`run_job` does everything every job must do around it, for the CLI and the UI alike.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, ClassVar

from .. import jobrecord, opslog
from ..alerts import raise_alert
from ..events import Emit, Event, Finished, Output, Phase, Progress, Started
from ..fmt import one_line
from ..locks import JobLock, LockBusy
from ..proc import Redactor
from ..settings import Settings


class JobError(Exception):
    """A failure explained for an operator: what failed, the runbook step, the stderr tail.

    `public` is the same failure without anything a program printed (stderr may quote SQL, rows
    or paths): what the Slack alert says. None when the message quotes no program output.
    """

    def __init__(self, message: str, next_step: str | None = None, stderr_tail: str = "",
                 result: dict[str, Any] | None = None, public: str | None = None) -> None:
        super().__init__(message)
        self.next_step = next_step
        self.stderr_tail = stderr_tail
        self.result = result or {}
        self.public = public


@dataclass
class Outcome:
    summary: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class JobContext:
    settings: Settings
    kind: str
    emit: Emit
    clock: Callable[[], float]
    redact: Redactor
    loop: asyncio.AbstractEventLoop

    def phase(self, name: str, detail: str = "") -> None:
        self.emit(Phase(self.kind, name, self.redact(detail)))

    def output(self, line: str) -> None:
        self.emit(Output(self.kind, self.redact(line)))

    def output_threadsafe(self, line: str) -> None:
        """For stderr drains and relay threads: hands the line to the loop thread."""
        self.loop.call_soon_threadsafe(self.output, line)

    @asynccontextmanager
    async def ticker(self, sample: Callable[[], Progress], interval: float = 0.25) -> AsyncIterator[None]:
        """Emit `sample()` every `interval` while the block runs, and once at its end."""

        async def tick() -> None:
            while True:
                await asyncio.sleep(interval)
                self.emit(sample())

        task = asyncio.ensure_future(tick())
        try:
            yield
        finally:
            task.cancel()
            self.emit(sample())


class Job(ABC):
    kind: ClassVar[str]
    title: ClassVar[str]
    next_step: ClassVar[str]

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def plan(self) -> list[str]:
        """What will run (commands, secrets redacted) and where it writes: shown before it runs."""

    @abstractmethod
    async def execute(self, ctx: JobContext) -> Outcome:
        """Do the work; raise JobError on failure. Cancellation arrives as CancelledError."""

    def alert_on_failure(self) -> bool:
        return True


class Rate:
    """Units per second over the run so far."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, done: int) -> float | None:
        elapsed = time.monotonic() - self.started
        return done / elapsed if elapsed > 0.05 else None


def _shielded(emit: Emit) -> Emit:
    """A display that fails (a closed screen, a bug in a renderer) must never fail the backup."""

    def safe(event: Event) -> None:
        try:
            emit(event)
        except Exception:  # noqa: BLE001 - the job's result and ops.log lines still tell what happened
            pass

    return safe


async def run_job(job: Job, emit: Emit, clock: Callable[[], float] = time.time) -> Finished:
    """Run one job with its lock, log lines, events and alert. Re-raises CancelledError after
    emitting Finished(cancelled=True) and cleaning up."""
    settings = job.settings
    kind = job.kind
    redact = Redactor.from_settings(settings)
    started = time.monotonic()
    emit = _shielded(emit)

    def log(level: str, message: str, **context: Any) -> None:
        try:
            opslog.append(settings.log_path, level, redact(message), {"job": kind, **context})
        except OSError:
            pass  # a missing log folder must not fail a backup; the end event still tells

    def finish(event: Finished) -> Finished:
        emit(event)
        return event

    lock = JobLock(settings.backup_base, kind)
    try:
        lock.acquire()
    except LockBusy as busy:
        log("INFO", f"job {kind} not started: {busy}", event="busy")
        return finish(Finished(kind, False, str(busy), error=str(busy), busy=True,
                               next_step="wait for it to finish (see the jobs panel or ops.log)"))
    except OSError as exc:
        message = f"cannot create the lock in {settings.backup_base}: {exc.strerror}"
        return finish(Finished(kind, False, message, error=message,
                               next_step="check OPS_BACKUP_BASE exists and is writable"))

    ctx = JobContext(settings, kind, emit, clock, redact, asyncio.get_running_loop())
    log("INFO", f"job {kind} started", event="start")
    started_at = clock()
    emit(Started(kind, job.title, started_at))
    event: Finished
    alert_failure: str | None = None  # None: the error itself
    try:
        outcome = await job.execute(ctx)
    except asyncio.CancelledError:
        duration = time.monotonic() - started
        lock.release()
        log("WARNING", f"job {kind} cancelled after {duration:.1f} s", event="end", result="CANCELLED",
            duration_s=round(duration, 1))
        cancelled = Finished(kind, False, f"{job.title} cancelled", cancelled=True, duration_s=duration)
        jobrecord.save(settings.backup_base, cancelled, started_at, clock())
        emit(cancelled)
        raise
    except JobError as exc:
        event = Finished(kind, False, f"{job.title} failed", error=redact(str(exc)),
                         duration_s=time.monotonic() - started, next_step=exc.next_step or job.next_step,
                         stderr_tail=redact(exc.stderr_tail), result=exc.result)
        alert_failure = exc.public
    except Exception as exc:  # noqa: BLE001 - report any bug as a failed job, never a silent success
        event = Finished(kind, False, f"{job.title} failed", error=redact(f"internal error: {exc!r}"),
                         duration_s=time.monotonic() - started, next_step=job.next_step)
        alert_failure = f"internal error ({type(exc).__name__}); see ops.log"
    else:
        event = Finished(kind, True, redact(outcome.summary), duration_s=time.monotonic() - started,
                         result=outcome.result)
    finally:
        lock.release()

    jobrecord.save(settings.backup_base, event, started_at, clock())
    if event.ok:
        log("INFO", f"job {kind} finished OK in {event.duration_s:.1f} s: {one_line(event.summary)}",
            event="end", result="OK", duration_s=round(event.duration_s, 1))
    else:
        log("ERROR", f"job {kind} finished FAIL in {event.duration_s:.1f} s: {one_line(event.error or '')}",
            event="end", result="FAIL", duration_s=round(event.duration_s, 1))
        if job.alert_on_failure():
            # The alert's own outcome never changes the job's result. It never quotes program
            # output (stderr may hold SQL, rows or paths): the full error is in ops.log above.
            failure = event.error or "" if alert_failure is None else redact(alert_failure)
            await asyncio.to_thread(raise_alert, settings, f"{kind} FAILED", one_line(failure, 300),
                                    event.next_step, {"job": kind})
    return finish(event)


__all__ = ["Job", "JobContext", "JobError", "Outcome", "Rate", "run_job", "Event"]
