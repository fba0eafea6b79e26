"""The last run of each job kind: `<backup_base>/.jobs/<kind>.json`, the one home of that artefact.

`run_job` saves a record at the end of every run (success, failure or cancel; not a run refused by
the lock: that one never started). It lives in the backup tree, not the per-user state dir,
because cron (root) and the UI (an operator) both run jobs and monitoring must see both.
`last_success_at` survives failures: "when did this last work" is what alerts are built on.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from ..events import Finished
from ..fmt import one_line

FOLDER = ".jobs"
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
# What a kind's result contributes to its record (numbers and short names only, never output).
EXTRA = {"drill": ("rto_s", "dump")}
SUMMARY_LIMIT = 300


@dataclass(frozen=True)
class JobRecord:
    kind: str
    ok: bool
    started_at: float
    finished_at: float
    duration_s: float
    summary: str
    host: str
    last_success_at: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def folder(backup_base: Path) -> Path:
    return backup_base / FOLDER


def path_for(backup_base: Path, kind: str) -> Path:
    if not _KIND_RE.fullmatch(kind):
        raise ValueError(f"not a job kind: {kind!r}")
    return folder(backup_base) / f"{kind}.json"


def _parse(data: Any) -> JobRecord | None:
    """A record from its JSON, or None when it is not one (hand-edited, another version)."""
    if not isinstance(data, dict) or not _KIND_RE.fullmatch(str(data.get("kind", ""))):
        return None
    try:
        numbers = {key: float(data[key]) for key in ("started_at", "finished_at", "duration_s")}
        last = data.get("last_success_at")
        extra = data.get("extra") or {}
        if not isinstance(data["ok"], bool) or not isinstance(extra, dict):
            return None
        return JobRecord(data["kind"], data["ok"], summary=str(data.get("summary", "")),
                         host=str(data.get("host", "")), last_success_at=None if last is None else float(last),
                         extra=extra, **numbers)
    except (KeyError, TypeError, ValueError):
        return None


def read(backup_base: Path, kind: str) -> JobRecord | None:
    try:
        with open(path_for(backup_base, kind), encoding="utf-8") as handle:
            return _parse(json.load(handle))
    except (OSError, ValueError):
        return None


def read_all(backup_base: Path) -> dict[str, JobRecord]:
    """Every kind's record, by kind; unreadable or foreign files are left out."""
    records: dict[str, JobRecord] = {}
    try:
        entries = list(os.scandir(folder(backup_base)))
    except OSError:
        return records
    for entry in sorted(entries, key=lambda e: e.name):
        kind = entry.name[:-5] if entry.name.endswith(".json") else ""
        if _KIND_RE.fullmatch(kind) and entry.is_file(follow_symlinks=False):
            record = read(backup_base, kind)
            if record is not None and record.kind == kind:
                records[kind] = record
    return records


def _plain(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool)) and not (isinstance(value, str) and len(value) > 200)


def record_of(finished: Finished, started_at: float, finished_at: float,
              previous: JobRecord | None) -> JobRecord:
    if finished.ok:
        summary, last_success = finished.summary, finished_at
        extra = {key: value for key in EXTRA.get(finished.job, ())
                 if _plain(value := getattr(finished.result, key, None))}
    else:
        summary = finished.summary if finished.cancelled else f"{finished.summary}: {finished.error or ''}"
        last_success, extra = (previous.last_success_at if previous else None), {}
    return JobRecord(finished.job, finished.ok, round(started_at, 3), round(finished_at, 3),
                     round(finished.duration_s, 3), one_line(summary, SUMMARY_LIMIT), socket.gethostname(),
                     last_success, extra)


def save(backup_base: Path, finished: Finished, started_at: float, finished_at: float) -> JobRecord | None:
    """Write the record of a run that just ended. Never raises: a read-only or full disk must not
    turn a good backup into a failed one (ops.log still has the end line). None when not written."""
    try:
        record = record_of(finished, started_at, finished_at, read(backup_base, finished.job))
        write_atomic(path_for(backup_base, finished.job), json.dumps(record.to_json(), indent=1) + "\n", 0o644)
    except (OSError, ValueError):
        return None
    return record
