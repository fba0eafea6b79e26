"""The job engine: lock, ops.log start/end, typed events, cancel, alert on failure.

A job subclass implements `plan()` (what will run, shown before it runs) and `execute(ctx)`;
`run_job` does everything every job must do around it, for the CLI and the UI alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from abc import ABC, abstractmethod
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, AsyncIterator, Callable, ClassVar

from .. import opslog
from ..alerts import raise_alert
from ..artefacts import jobrecords
from ..artefacts.tree import BackupTree
from ..events import Emit, Event, Finished, Output, Phase, Progress, Started
from ..fmt import one_line, os_error_next_step, os_error_words, printable
from ..locks import JobLock, LockBusy
from ..proc import Redactor
from ..settings import Settings


class JobError(Exception):
    """A failure explained for an operator: what failed, the runbook step, the stderr tail.

    `public` is the same failure without anything a program printed (stderr may quote SQL, rows
    or paths): what the Slack alert says. None when the message quotes no program output.
    """

    def __init__(self, message: str, next_step: str | None = None, stderr_tail: str = "",
                 result: Any = None, public: str | None = None) -> None:
        super().__init__(message)
        self.next_step = next_step
        self.stderr_tail = stderr_tail
        self.result = result
        self.public = public


@dataclass
class Outcome:
    summary: str
    result: Any = None  # the job's typed result (a dataclass)


def result_dict(result: Any) -> dict[str, Any]:
    """A job's typed result as plain data, for --json."""
    if result is None:
        return {}
    return dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result)


@dataclass
class JobContext:
    settings: Settings
    kind: str
    emit: Emit
    clock: Callable[[], float]
    redact: Redactor
    loop: asyncio.AbstractEventLoop
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def tree(self) -> BackupTree:
        """The backup tree as this run found it: read once, on first use."""
        return BackupTree(self.settings.backup_base)

    def phase(self, name: str, detail: str = "") -> None:
        self.emit(Phase(self.kind, name, printable(self.redact(detail))))

    def output(self, line: str) -> None:
        self.emit(Output(self.kind, printable(self.redact(line))))

    def log(self, level: str, message: str) -> None:
        """A line of this job in ops.log (and its output): for what an operator must find later."""
        self.output(message)
        try:
            opslog.append(self.settings.log_path, level, self.redact(message), {"job": self.kind})
        except OSError:
            pass  # a missing log folder must not fail a backup

    def warn(self, text: str) -> None:
        """Something that went wrong besides the job's result: shown now, and added to its end."""
        self.warnings.append(text)
        self.output(f"warning: {text}")

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


@dataclass(eq=False)  # a job is itself, not its options
class Job(ABC):
    """A job's options are its fields (after the settings); what it is, its class variables."""

    kind: ClassVar[str]  # one of core.jobs.KINDS, which names it
    next_step: ClassVar[str]  # the runbook step after a failure
    alerts: ClassVar[bool] = True  # a failure raises an alert (report and evaluate say it otherwise)

    settings: Settings

    @property
    def title(self) -> str:
        from . import title

        return title(self.kind)

    @cached_property
    def server(self):
        """The CRM's database server, from the settings."""
        from ..mysql import ServerConfig

        return ServerConfig.from_settings(self.settings)

    @cached_property
    def restic(self):
        """The restic repository of the uploads, from the settings."""
        from ..restic import ResticConfig

        return ResticConfig.from_settings(self.settings)

    @abstractmethod
    def plan(self) -> list[str]:
        """What will run (commands, secrets redacted) and where it writes: shown before it runs."""

    @abstractmethod
    async def execute(self, ctx: JobContext) -> Outcome:
        """Do the work; raise JobError on failure. Cancellation arrives as CancelledError."""


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

    def failed(error: str, next_step: str | None, stderr_tail: str = "", result: Any = None) -> Finished:
        return Finished(kind, False, f"{job.title} failed", error=redact(_with(error, ctx.warnings)),
                        duration_s=time.monotonic() - started, next_step=next_step,
                        stderr_tail=redact(stderr_tail), result=result, warnings=tuple(ctx.warnings))

    try:
        outcome = await job.execute(ctx)
    except asyncio.CancelledError:
        duration = time.monotonic() - started
        lock.release()
        log("WARNING", f"job {kind} cancelled after {duration:.1f} s", event="end", result="CANCELLED",
            duration_s=round(duration, 1))
        cancelled = Finished(kind, False, _with(f"{job.title} cancelled", ctx.warnings), cancelled=True,
                             duration_s=duration, warnings=tuple(ctx.warnings))
        jobrecords.save(settings.backup_base, cancelled, started_at, clock())
        emit(cancelled)
        raise
    except JobError as exc:
        event = failed(str(exc), exc.next_step or job.next_step, exc.stderr_tail, exc.result)
        alert_failure = exc.public
    except OSError as exc:
        # A full disk, a read-only mount, a permission: said as such wherever it happens.
        event = failed(os_error_words(exc), os_error_next_step(exc) or job.next_step)
    except Exception as exc:  # noqa: BLE001 - report any bug as a failed job, never a silent success
        event = failed(f"internal error: {exc!r}", job.next_step)
        alert_failure = f"internal error ({type(exc).__name__}); see ops.log"
    else:
        event = Finished(kind, True, redact(_with(outcome.summary, ctx.warnings)),
                         duration_s=time.monotonic() - started, result=outcome.result,
                         warnings=tuple(ctx.warnings))
    finally:
        lock.release()

    jobrecords.save(settings.backup_base, event, started_at, clock())
    if event.ok:
        log("INFO", f"job {kind} finished OK in {event.duration_s:.1f} s: {one_line(event.summary)}",
            event="end", result="OK", duration_s=round(event.duration_s, 1))
    else:
        log("ERROR", f"job {kind} finished FAIL in {event.duration_s:.1f} s: {one_line(event.error or '')}",
            event="end", result="FAIL", duration_s=round(event.duration_s, 1))
        if job.alerts:
            # The alert's own outcome never changes the job's result. It never quotes program
            # output (stderr may hold SQL, rows or paths): the full error is in ops.log above.
            failure = event.error or "" if alert_failure is None else redact(alert_failure)
            await asyncio.to_thread(raise_alert, settings, f"{kind} FAILED", one_line(failure, 300),
                                    event.next_step, {"job": kind})
    return finish(event)


def _with(text: str, warnings: list[str]) -> str:
    return "; ".join([text, *warnings]) if warnings else text


__all__ = ["Job", "JobContext", "JobError", "Outcome", "Rate", "run_job", "Event"]
