"""One exclusive flock per job kind, in the backup tree: shared by the UI, cron and a second terminal.

The kernel drops a flock when its holder dies, so a killed job never leaves a stale lock. The
lock file is never unlinked (unlinking races with the next locker); it holds the holder's pid and
start time for the "db_backup is running (pid N, since HH:MM)" message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path


class LockBusy(Exception):
    def __init__(self, kind: str, pid: int | None, since: float | None, host: str | None) -> None:
        self.kind, self.pid, self.since, self.host = kind, pid, since, host
        who = f"pid {pid}" if pid else "another process"
        if host and host != socket.gethostname():
            who += f" on {host}"
        when = f", since {datetime.fromtimestamp(since):%H:%M}" if since else ""
        super().__init__(f"{kind} is running ({who}{when})")


def lock_path(base: Path, kind: str) -> Path:
    return base / ".locks" / f"{kind}.lock"


def _holder(fd: int) -> tuple[int | None, float | None, str | None]:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
        return data.get("pid"), data.get("since"), data.get("host")
    except (OSError, ValueError, AttributeError):
        return None, None, None


class JobLock:
    """`with JobLock(base, "db_backup"):` or acquire()/release(); raises LockBusy when held elsewhere."""

    def __init__(self, base: Path, kind: str) -> None:
        self.path = lock_path(base, kind)
        self.kind = kind
        self._fd: int | None = None

    def acquire(self) -> "JobLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        # A few short retries: a peek() from another process holds the lock for microseconds.
        for attempt in range(5):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 4:
                    pid, since, host = _holder(fd)
                    os.close(fd)
                    raise LockBusy(self.kind, pid, since, host) from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": time.time(), "host": socket.gethostname()}).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "JobLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def peek(base: Path, kind: str) -> LockBusy | None:
    """Who holds the lock of `kind`, without taking it for longer than an instant."""
    path = lock_path(base, kind)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, since, host = _holder(fd)
            return LockBusy(kind, pid, since, host)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
