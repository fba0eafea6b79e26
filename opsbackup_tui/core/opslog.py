"""ops.log: the line format, appending our lines, reading the tail, and the acknowledged position.

Lines follow Laravel/Monolog's `[YYYY-mm-dd HH:MM:SS] channel.LEVEL: message {context} [extra]`.
This tool writes the same shape on channel `opsbackup`, e.g.
`[2026-11-26 03:00:12] opsbackup.INFO: job db_backup finished OK in 12.3 s {"job":"db_backup","event":"end"} []`.
Anything else is kept as a raw line.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .fmt import printable

CHANNEL = "opsbackup"
ALERT_LEVELS = frozenset({"ERROR", "CRITICAL", "ALERT", "EMERGENCY"})

_LINE_RE = re.compile(
    r"\[(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?\] "
    r"([\w.-]+?)\.([A-Z]+): (.*)",
    re.S,
)
_FAIL_RE = re.compile(r"\bFAIL(?:ED|URE|S)?\b")
# A cheap byte-level pass picks the lines that can be alerts; only those are parsed.
_CANDIDATE_RE = re.compile(rb"FAIL|\.(?:ERROR|CRITICAL|ALERT|EMERGENCY): ")


@dataclass(frozen=True)
class LogLine:
    raw: str
    time: datetime | None = None
    channel: str | None = None
    level: str | None = None
    message: str = ""
    context: Any = None

    @property
    def is_alert(self) -> bool:
        if self.level is None:
            return bool(_FAIL_RE.search(self.raw))
        if self.channel == CHANNEL:
            # Our own lines say what they are in their level and fields: an INFO summary that
            # mentions FAIL (the evaluation's "verify_restore FAIL") is no alert.
            return self.level in ALERT_LEVELS or (isinstance(self.context, dict) and self.context.get("event") == "alert")
        return self.level in ALERT_LEVELS or bool(_FAIL_RE.search(self.message))


def _split_trailing_json(text: str) -> tuple[str, Any]:
    """'msg {"a":1}' -> ('msg', {'a': 1}); leaves text alone when it ends in no JSON value."""
    if text.endswith(" []"):
        return text[:-3], []
    if not text.endswith("}"):
        return text, None
    start = len(text)
    for _ in range(32):
        start = text.rfind(" {", 0, start)
        if start < 0:
            break
        try:
            return text[:start], json.loads(text[start + 1:])
        except ValueError:
            continue
    return text, None


def parse_line(raw: str) -> LogLine:
    """One line, parsed; control characters made printable (a log line must not drive a terminal)."""
    raw = printable(raw.rstrip("\r\n"))
    match = _LINE_RE.fullmatch(raw)
    if not match:
        return LogLine(raw=raw, message=raw)
    stamp, channel, level, rest = match.groups()
    try:
        when = datetime.strptime(stamp.replace("T", " "), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return LogLine(raw=raw, message=raw)
    rest, extra = _split_trailing_json(rest)
    message, context = _split_trailing_json(rest) if extra is not None else (rest, None)
    return LogLine(raw=raw, time=when, channel=channel, level=level, message=message, context=context)


def format_line(level: str, message: str, context: dict[str, Any] | None = None, when: datetime | None = None) -> str:
    when = when or datetime.now()
    # One physical line per entry, whatever the message holds.
    message = message.replace("\r", " ").replace("\n", " ")
    ctx = json.dumps(context or {}, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"[{when:%Y-%m-%d %H:%M:%S}] {CHANNEL}.{level}: {message} {ctx} []\n"


def append(path: Path, level: str, message: str, context: dict[str, Any] | None = None,
           when: datetime | None = None) -> None:
    """Append one line with a single O_APPEND write, so concurrent writers never interleave."""
    data = format_line(level, message, context, when).encode("utf-8", errors="replace")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


# --- reading ---


def tail_lines(path: Path, count: int, block: int = 64 * 1024, max_bytes: int = 16 * 1024 * 1024) -> tuple[list[str], int, int]:
    """The last `count` lines, read backwards with pread: (lines, end offset, inode)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        end = st.st_size
        pos = end
        chunks: list[bytes] = []
        newlines = 0
        while pos > 0 and newlines <= count and end - pos < max_bytes:
            size = min(block, pos)
            pos -= size
            chunk = os.pread(fd, size, pos)
            chunks.append(chunk)
            newlines += chunk.count(b"\n")
        data = b"".join(reversed(chunks))
    finally:
        os.close(fd)
    if pos > 0:
        # Started mid-line: drop the partial first line.
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines[-count:] if count else [], end, st.st_ino


@dataclass(frozen=True)
class Ack:
    """The operator's acknowledged position in one ops.log."""

    inode: int
    offset: int
    fingerprint: str  # sha256 of the bytes just before offset: tells a rewritten file from the same one
    at: float


_FINGERPRINT_SPAN = 256


def _fingerprint(fd: int, offset: int) -> str:
    import hashlib  # here, not at the top: `opsbackup status` starts faster without it

    start = max(0, offset - _FINGERPRINT_SPAN)
    return hashlib.sha256(os.pread(fd, offset - start, start)).hexdigest()


def _ack_file(state_dir: Path) -> Path:
    return state_dir / "acks.json"


def load_ack(state_dir: Path, log_path: Path) -> Ack | None:
    try:
        with open(_ack_file(state_dir), encoding="utf-8") as handle:
            data = json.load(handle)
        entry = data[str(log_path)]
        return Ack(int(entry["inode"]), int(entry["offset"]), str(entry["fingerprint"]), float(entry["at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _load_acks(state_dir: Path) -> dict:
    try:
        with open(_ack_file(state_dir), encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def acknowledge(state_dir: Path, log_path: Path, now: float, offset: int | None = None) -> Ack:
    """Mark everything up to `offset` (default: the current end) as seen; the acknowledgement it
    replaces is kept for undo_acknowledge."""
    fd = os.open(log_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        offset = st.st_size if offset is None else min(offset, st.st_size)
        ack = Ack(st.st_ino, offset, _fingerprint(fd, offset), now)
    finally:
        os.close(fd)
    data = _load_acks(state_dir)
    key = str(log_path)
    entry = {"inode": ack.inode, "offset": ack.offset, "fingerprint": ack.fingerprint, "at": ack.at}
    previous = data.get(key)
    if isinstance(previous, dict):
        previous.pop("previous", None)
        entry["previous"] = previous
    data[key] = entry
    write_atomic(_ack_file(state_dir), json.dumps(data), mode=0o600)
    return ack


def undo_acknowledge(state_dir: Path, log_path: Path) -> Ack | None:
    """Take the last acknowledgement back (the one before it counts again); None: nothing to undo."""
    data = _load_acks(state_dir)
    key = str(log_path)
    entry = data.get(key)
    if not isinstance(entry, dict):
        return None
    previous = entry.get("previous")
    if isinstance(previous, dict):
        data[key] = previous
    else:
        del data[key]
    write_atomic(_ack_file(state_dir), json.dumps(data), mode=0o600)
    return load_ack(state_dir, log_path) or Ack(0, 0, "", 0.0)


@dataclass(frozen=True)
class AlertScan:
    count: int
    newest: LogLine | None
    start: int  # first byte looked at
    end: int
    window_cut: bool  # the acknowledged position lies before the window: older alerts were not counted
    acknowledged: bool
    oldest: LogLine | None = None
    lines: tuple[LogLine, ...] = ()  # the newest alert lines, when asked for (scan_alerts(keep=N))

    first_at: datetime | None = None  # the times of the oldest and newest alert lines that have one
    last_at: datetime | None = None

    def words(self) -> str:
        """'5 alerts from 09:14 to 14:02' (with the date when they span days), 'no alerts'."""
        if not self.count:
            return "no alerts"
        what = f"{self.count} alert{'s' if self.count != 1 else ''}"
        first, last = self.first_at, self.last_at
        if first is None or last is None:
            return what
        fmt = "%H:%M" if first.date() == last.date() else "%Y-%m-%d %H:%M"
        return f"{what} up to {last:{fmt}}" if first == last else f"{what} from {first:{fmt}} to {last:{fmt}}"


def scan_alerts(log_path: Path, state_dir: Path, window_bytes: int, keep: int = 0) -> AlertScan:
    """Count FAIL/alert lines after the acknowledged position, reading at most `window_bytes`;
    keep the newest `keep` of them."""
    ack = load_ack(state_dir, log_path)
    fd = os.open(log_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        end = st.st_size
        since = 0
        if ack is not None and ack.inode == st.st_ino and ack.offset <= end \
                and _fingerprint(fd, ack.offset) == ack.fingerprint:
            since = ack.offset
        start = max(since, end - window_bytes)
        # Cut inside the file: read one byte more, so a line that starts right at `start` is kept.
        cut = start > since and start > 0
        first = start - 1 if cut else start
        data = os.pread(fd, end - first, first) if end > first else b""
    finally:
        os.close(fd)
    if cut and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    count = 0
    newest: LogLine | None = None
    oldest: LogLine | None = None
    kept: deque[LogLine] = deque(maxlen=keep)
    first_at: datetime | None = None
    last_at: datetime | None = None
    line_end = -1
    for match in _CANDIDATE_RE.finditer(data):
        if match.start() < line_end:
            continue  # another token on a line already looked at
        line_start = data.rfind(b"\n", 0, match.start()) + 1
        line_end = data.find(b"\n", match.end())
        if line_end < 0:
            line_end = len(data)
        line = parse_line(data[line_start:line_end].decode("utf-8", errors="replace"))
        if line.is_alert:
            count += 1
            newest = line
            oldest = oldest or line
            if line.time is not None:
                first_at, last_at = first_at or line.time, line.time
            if keep:
                kept.append(line)
    return AlertScan(count, newest, start, end, start > since, since > 0, oldest, tuple(kept), first_at, last_at)

