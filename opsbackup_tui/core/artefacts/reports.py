"""Reports under `reports/`: the report job's `report-YYYYmmdd-HHMM.md`, the drill's
`drill-YYYYmmdd-HHMM.md`, the monthly checklist's `monthly-YYYYmm.md` (with a machine-readable
result line), and the DR wizard's audit transcript `dr-YYYYmmdd-HHMMSS.md` (appended and fsynced as
the session goes, so an interrupted session still leaves its record)."""

from __future__ import annotations

import getpass
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..atomic import write_atomic
from .stamps import format_stamp

REPORT_LIMIT = 4 * 1024 * 1024  # a report is read for display at most this far
_MONTHLY_MARK = re.compile(r"<!-- opsbackup:monthly (\{.*\}) -->")


def report_path(folder: Path, when: datetime) -> Path:
    return folder / f"report-{format_stamp(when)}.md"


def drill_path(folder: Path, when: datetime) -> Path:
    return folder / f"drill-{format_stamp(when)}.md"


def monthly_path(folder: Path, when: datetime) -> Path:
    return folder / f"monthly-{when:%Y%m}.md"


def write(path: Path, markdown: str) -> Path:
    write_atomic(path, markdown.rstrip("\n") + "\n", 0o640)
    return path


def monthly_mark(ok: bool, seed: int) -> str:
    return "<!-- opsbackup:monthly " + json.dumps({"ok": ok, "seed": seed}) + " -->"


@dataclass
class MonthlyReport:
    path: Path
    text: str
    ok: bool | None  # None: the result line is missing or broken
    seed: int | None


def monthly_history(folder: Path) -> list[MonthlyReport]:
    """Past monthly reports, newest first; a hand-edited, broken result line reads as unknown."""
    out = []
    for path in sorted(folder.glob("monthly-*.md"), reverse=True):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read(REPORT_LIMIT)
        except OSError:
            continue
        data: dict = {}
        match = _MONTHLY_MARK.search(text)
        if match:
            try:
                loaded = json.loads(match.group(1))
                data = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                pass
        ok = data.get("ok") if isinstance(data.get("ok"), bool) else None
        seed = data.get("seed") if isinstance(data.get("seed"), int) else None
        out.append(MonthlyReport(path, text, ok, seed))
    return out


def operator() -> str:
    """Who runs this: the login, the sudo user behind it, the SSH peer."""
    who = getpass.getuser()
    if os.environ.get("SUDO_USER"):
        who += f" (sudo from {os.environ['SUDO_USER']})"
    if os.environ.get("SSH_CONNECTION"):
        who += f", ssh from {os.environ['SSH_CONNECTION'].split()[0]}"
    return who


class Transcript:
    """The DR session's audit transcript: who, when, each step, each command, each result."""

    def __init__(self, folder: Path, now: datetime) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"dr-{now:%Y%m%d-%H%M%S}.md"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.write(f"# DR session {now:%Y-%m-%d %H:%M:%S}\n\noperator: {operator()}\n")

    def write(self, text: str) -> None:
        if self._fd < 0:
            return
        os.write(self._fd, (text.rstrip("\n") + "\n").encode("utf-8", errors="replace"))
        os.fsync(self._fd)

    def step(self, title: str, when: datetime | None = None) -> None:
        self.write(f"\n## {(when or datetime.now()):%H:%M:%S} {title}\n")

    def command(self, text: str) -> None:
        self.write(f"- run: `{text}`")

    def result(self, text: str) -> None:
        self.write(f"- result: {text}")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
