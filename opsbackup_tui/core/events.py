"""Job events: what a running job tells its two faces (the CLI renderer and the UI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Union


@dataclass(frozen=True)
class Started:
    job: str
    description: str
    at: float


@dataclass(frozen=True)
class Phase:
    job: str
    name: str  # "checksum", "dumping", "importing", …
    detail: str = ""  # what runs, secrets redacted


@dataclass(frozen=True)
class Progress:
    job: str
    done: int
    total: int | None  # None: unknown, the UI shows an indeterminate bar
    unit: str = "bytes"
    rate: float | None = None  # units per second
    detail: str = ""  # "12 tables, current: contacts"


@dataclass(frozen=True)
class Output:
    job: str
    line: str  # already decoded and redacted
    stream: str = "stderr"


@dataclass(frozen=True)
class Finished:
    job: str
    ok: bool
    summary: str
    error: str | None = None
    cancelled: bool = False
    busy: bool = False  # refused because the same kind runs elsewhere (the lock)
    duration_s: float = 0.0
    next_step: str | None = None  # the runbook step to take after a failure
    stderr_tail: str = ""
    result: Any = None  # the job's typed result (a dataclass: paths, counts), also on a failure
    warnings: tuple[str, ...] = ()  # what went wrong besides the result, e.g. a scratch DROP that failed


Event = Union[Started, Phase, Progress, Output, Finished]
Emit = Callable[[Event], None]
