"""The app factory for the UI tests: real backup trees whose mtimes follow a fixed clock, settings
for them, and small Pilot helpers (wait for a condition, read the screen as text).

Snapshot tests need the same pixels on every run, so their trees live at a FIXED path (paths are
on screen) and every date shown derives from FIXED_NOW (the snapshot tests read it in UTC).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable

from treeutil import make_marker, make_verify_log, set_age

from opsbackup_tui.app import OpsBackupApp, make_app
from opsbackup_tui.core.artefacts.stamps import format_stamp
from opsbackup_tui.core.opslog import format_line
from opsbackup_tui.core.settings import Settings, load_settings
from opsbackup_tui.screens.dashboard import DashboardScreen
from opsbackup_tui.widgets.logtail import LogTail

FIXED_NOW = 1795685400.0  # 2026-11-26 09:30:00 UTC
HOST = "backup-host"
SNAPSHOT_ROOT = Path("/tmp/opsbackup-snapshots")
SIZES = ((120, 40), (80, 24))
HOUR, DAY = 3600, 86400
WAIT_S = 15.0  # a safety net against hangs, never a performance limit


def fixed_clock() -> float:
    return FIXED_NOW


def stamp_at(seconds_before: float, now: float = FIXED_NOW) -> str:
    return format_stamp(datetime.fromtimestamp(now - seconds_before))


def log_line(level: str, message: str, seconds_before: float, now: float = FIXED_NOW, **context) -> str:
    when = datetime.fromtimestamp(now - seconds_before)
    return format_line(level, message, context or {"job": "db_backup"}, when).rstrip("\n")


def _dump(base: Path, age_s: float, size: int, now: float) -> Path:
    """db/full-<stamp>.sql.gz of `size` bytes (the checklist never decompresses) with a true .sha256."""
    db = base / "db"
    db.mkdir(parents=True, exist_ok=True)
    path = db / f"full-{stamp_at(age_s, now)}.sql.gz"
    data = (b"x" * 64 + b"\n") * (size // 65) + b"y" * (size % 65)
    path.write_bytes(data)
    (db / f"{path.name}.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    set_age(path, age_s, now)
    return path


def build_tree(root: Path, kind: str, now: float = FIXED_NOW) -> Path:
    """A backup tree under root/backups and root/ops.log. Kinds:
    healthy: 30 nightly dumps (the newest 7 h old), a fresh marker, a verify OK, a calm ops.log;
    failing: the newest dump 3 days old, a stale marker, a FAILED verify, FAIL lines in ops.log;
    empty: nothing at all (no folders, no ops.log)."""
    base = root / "backups"
    log = root / "ops.log"
    if kind == "empty":
        return base
    base.mkdir(parents=True, exist_ok=True)
    if kind == "healthy":
        for night in range(30):
            _dump(base, 7 * HOUR + night * DAY, 20_000 + (night * 7919) % 6000, now)
        make_marker(base, stamp_at(6 * HOUR, now), age_s=6 * HOUR, now=now)
        make_verify_log(base, stamp_at(2 * DAY, now), age_s=2 * DAY, now=now,
                        dump=f"full-{stamp_at(2 * DAY + 7 * HOUR, now)}.sql.gz")
        lines = [log_line("INFO", "job db_backup started", 7 * HOUR + 60, now, job="db_backup", event="start"),
                 log_line("INFO", "job db_backup finished OK in 12.3 s: full dump", 7 * HOUR, now,
                          job="db_backup", event="end"),
                 log_line("INFO", "job snapshot finished OK in 4.0 s: snapshot 1a2b3c4d", 6 * HOUR, now,
                          job="snapshot", event="end")]
    elif kind == "failing":
        for night in range(5):
            _dump(base, 3 * DAY + night * DAY, 25_000 - night * 1500, now)
        make_marker(base, stamp_at(2 * DAY, now), age_s=2 * DAY, now=now)
        make_verify_log(base, stamp_at(DAY, now), result="FAIL", age_s=DAY, now=now,
                        error="ERROR 1064 at line 42: syntax error",
                        dump=f"full-{stamp_at(3 * DAY, now)}.sql.gz")
        lines = [log_line("INFO", "job db_backup started", 2 * HOUR + 30, now, job="db_backup", event="start"),
                 log_line("ERROR", "job db_backup finished FAIL in 0.4 s: mariadb-dump exited 2", 2 * HOUR, now,
                          job="db_backup", event="end"),
                 "raw line from a cron mail: [bold]not markup[/] FAILED",
                 log_line("WARNING", "disk 91 % full on /srv/backups", HOUR, now, job="df")]
    else:
        raise ValueError(f"unknown tree kind {kind!r}")
    log.write_text("\n".join(lines) + "\n")
    return base


def build_settings(root: Path, **flags: object) -> Settings:
    """Settings for the tree under `root`; flags as `make_settings` takes them (values as text)."""
    values = {"backup_base": str(root / "backups"), "state_dir": str(root / "state"),
              "log_path": str(root / "ops.log"), "import_jobs": "4"}  # on screen: the same on every host
    values.update({key: str(value) for key, value in flags.items()})
    return load_settings(values, environ={}, config_path=None)


def build_app(tree_kind: str = "healthy", *, root: Path, clock: Callable[[], float] = fixed_clock,
              host: str = HOST, now: float | None = None, **flags: object) -> OpsBackupApp:
    """An app over a fresh tree of `tree_kind` at `root` (emptied first)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    build_tree(root, tree_kind, clock() if now is None else now)
    return make_app(build_settings(root, **flags), clock=clock, host=host)


def snapshot_root(name: str) -> Path:
    return SNAPSHOT_ROOT / name


@contextmanager
def snapshot_host(monkeypatch):
    """For a snapshot test: dates in UTC and the fixed folders under SNAPSHOT_ROOT to this test
    alone (another pytest on the host waits for the lock)."""
    SNAPSHOT_ROOT.mkdir(parents=True, exist_ok=True)
    lock = os.open(SNAPSHOT_ROOT / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(lock, fcntl.LOCK_EX)
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()
        os.close(lock)


# --- Pilot helpers ---


async def wait_for(pilot, predicate: Callable[[], object], what: str, timeout: float = WAIT_S):
    """Pause the pilot until predicate() is true (returns its value); fails after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            app = pilot.app
            raise AssertionError(f"timed out waiting for {what}; screens {app.screen_stack}; "
                                 f"the screen shows:\n{screen_text(app)}")
        await pilot.pause(0.02)


def log_ready(app: OpsBackupApp) -> bool:
    """The follower has delivered the file's tail (or found no file)."""
    try:
        tail = app.dashboard.query_one(LogTail)
    except Exception:  # noqa: BLE001 - not mounted yet
        return False
    try:
        empty = app.settings.log_path.stat().st_size == 0
    except FileNotFoundError:
        empty = True
    return bool(tail.lines) or empty


async def settle(pilot) -> None:
    """Wait until the dashboard shows the checklist and the log tail, and no refresh runs."""
    app = pilot.app
    await wait_for(pilot, lambda: any(isinstance(s, DashboardScreen) for s in app.screen_stack), "the dashboard")
    screen = app.dashboard
    await wait_for(pilot, lambda: screen.results and not screen._refreshing and not screen._pending,
                   "the checklist")
    await wait_for(pilot, lambda: log_ready(app), "the log tail")
    await pilot.pause()


def screen_text(app: OpsBackupApp) -> str:
    """What the terminal shows now, as plain text (the same render as a screenshot)."""
    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


# --- programs, databases ---


# A mariadb-dump that takes its time: one INSERT every 50 ms for half a minute, its pid in $FAKE_PID_FILE.
SLOW_DUMP = """#!/bin/sh
case "$1" in --version) echo "mariadb-dump from 10.11.6-MariaDB, client 10.11"; exit 0;; esac
[ -n "$FAKE_PID_FILE" ] && echo $$ > "$FAKE_PID_FILE"
echo "-- MariaDB dump 10.19"
echo "-- Table structure for table \\`contacts\\`"
i=0
while [ $i -lt 600 ]; do
    echo "INSERT INTO contacts VALUES ($i,'row $i');"
    sleep 0.05
    i=$((i+1))
done
echo "-- Dump completed on 2026-11-26  4:11:33"
"""


def failing_dump(stderr: str, code: int = 2) -> str:
    """A mariadb-dump that prints `stderr` and exits `code`."""
    quoted = stderr.replace("'", "'\\''")
    return f"""#!/bin/sh
case "$1" in --version) echo "mariadb-dump from 10.11.6-MariaDB"; exit 0;; esac
printf '%s\\n' '{quoted}' >&2
exit {code}
"""


def db_flags(server, folder: Path, **extra: object) -> dict[str, str]:
    """make_settings flags that point the jobs at the test MariaDB."""
    flags = {"db_host": server.host, "db_port": str(server.port), "db_user": server.user or "root"}
    if server.password is not None:
        folder.mkdir(parents=True, exist_ok=True)
        pw_file = folder / "db-password"
        pw_file.write_text(server.password.reveal() + "\n")
        pw_file.chmod(0o600)
        flags["db_password_file"] = str(pw_file)
    flags.update({key: str(value) for key, value in extra.items()})
    return flags
