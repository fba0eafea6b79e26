"""Shared by bench/tui_keys.py and bench/cancel.py: the app in this process over a temp backup tree
with the three long jobs configured for real (the DB backup and the verify of `bench_crm` on
127.0.0.1:3306, the snapshot of a ≥ 1 GB uploads dir into a fresh restic repository), the jobs'
events as the jobs panel sees them, starting a job by its key, and the process groups of its
children read from /proc.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import _common as c

DATABASE = "bench_crm"
UPLOADS_MB = 1100  # the uploads dir the snapshot reads: ≥ 1 GB
KEYS = {"db_backup": "d", "snapshot": "s", "verify": "v"}


def uploads_dir(megabytes: int = UPLOADS_MB, say=print) -> Path:
    """A cached uploads dir of `megabytes` MB: files of 1–40 MB of incompressible bytes in a few
    folders (made once under BENCH_HOME, reused)."""
    folder = c.BENCH_HOME / f"uploads-{megabytes}"
    done = folder / ".complete"
    if done.exists():
        return folder
    say(f"making {folder} ({megabytes} MB of uploads); done once")
    rng = random.Random(megabytes)
    left = megabytes * 1024 * 1024
    number = 0
    while left > 0:
        size = min(left, rng.randint(1, 40) * 1024 * 1024)
        path = folder / f"y{2020 + number % 6}" / f"m{number % 12 + 1:02d}" / f"scan-{number:04d}.pdf"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            for _ in range(size // (1024 * 1024)):
                handle.write(os.urandom(1024 * 1024))
            handle.write(os.urandom(size % (1024 * 1024)))
        left -= size
        number += 1
    done.touch()
    return folder


def touch_all(folder: Path) -> None:
    """New mtimes: the next `restic backup` reads and hashes every file again (as after a big
    upload day) instead of trusting its parent snapshot."""
    now = time.time()
    for top, _, names in os.walk(folder):
        for name in names:
            os.utime(os.path.join(top, name), (now, now))


def restic_repo(root: Path) -> dict[str, str]:
    password = root / "restic-password"
    password.write_text("bench-" + os.urandom(8).hex() + "\n")
    password.chmod(0o600)
    repo = root / "restic-repo"
    env = {**os.environ, "RESTIC_REPOSITORY": str(repo), "RESTIC_PASSWORD_FILE": str(password)}
    subprocess.run(["restic", "init"], env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return {"restic_repository": str(repo), "restic_password_file": str(password)}


def make_settings(root: Path, uploads: Path | None):
    from opsbackup_tui.core.settings import load_settings

    os.environ["XDG_CONFIG_HOME"] = str(root / "config")  # no user config file leaks in
    base = root / "tree"
    for sub in ("db", "snapshots", "verify"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    flags = {"backup_base": str(base), "db_host": c.HOST, "db_port": str(c.PORT), "db_user": c.USER,
             "db_name": DATABASE, "log_path": str(root / "ops.log"), "state_dir": str(root / "state")}
    if uploads is not None:
        flags.update(uploads_path=str(uploads), **restic_repo(root))
    return load_settings(flags, environ={})


@dataclass
class JobWatch:
    """What the jobs panel is told: whether a job runs, has sent progress, and how each ended."""

    running: str | None = None
    progress: int = 0
    finished: list = field(default_factory=list)

    def install(self) -> None:
        from opsbackup_tui.core.events import Finished, Progress, Started
        from opsbackup_tui.widgets.jobs import JobsPanel

        original = JobsPanel.on_job_event
        watch = self

        def on_job_event(panel, event, now):
            original(panel, event, now)
            if isinstance(event, Started):
                watch.running, watch.progress = event.job, 0
            elif isinstance(event, Progress):
                watch.progress += 1
            elif isinstance(event, Finished):
                watch.running = None
                watch.finished.append(event)

        JobsPanel.on_job_event = on_job_event

    @property
    def streaming(self) -> bool:
        return self.running is not None and self.progress > 0


def app_for(root: Path, kinds: list[str]):
    """(the app, the uploads dir or None, the JobWatch) for a bench of the job kinds `kinds`."""
    from opsbackup_tui.app import make_app

    uploads = uploads_dir() if "snapshot" in kinds else None
    watch = JobWatch()
    watch.install()
    return make_app(make_settings(root, uploads)), uploads, watch


async def start_job(pilot, watch: JobWatch, kind: str) -> None:
    """The job's key, then y in its confirmation; returns once it has sent progress."""
    app = pilot.app
    await pilot.press(KEYS[kind])
    for _ in range(500):
        if type(app.screen).__name__ == "ConfirmScreen":
            break
        await pilot.pause(0.02)
    else:
        raise RuntimeError(f"pressing {KEYS[kind]} did not open the confirmation")
    await pilot.press("y")
    for _ in range(3000):
        if watch.running == kind and watch.progress > 0:
            return
        if watch.finished and watch.finished[-1].job == kind and watch.running is None:
            raise RuntimeError(f"{kind} ended before it sent progress: {watch.finished[-1].error}")
        await asyncio.sleep(0.01)
    raise RuntimeError(f"{kind} started from the UI sent no progress")


def _stat(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].split()  # state ppid pgrp …


def descendants(root: int | None = None) -> list[int]:
    root = os.getpid() if root is None else root
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            parents[int(entry)] = int(fields[1])
    found, frontier = [], {root}
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in found]
        found += children
        frontier = set(children)
    return found


def child_groups() -> set[int]:
    """The process groups our children lead (core.proc.Child starts each in its own session)."""
    groups = set()
    for pid in descendants():
        fields = _stat(pid)
        if fields is not None and int(fields[2]) == pid:
            groups.add(pid)
    return groups


def alive_in(groups: set[int]) -> list[int]:
    """Processes (not zombies) still in one of `groups`, anywhere on the host."""
    alive = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            if int(fields[2]) in groups and fields[0] != b"Z":
                alive.append(int(entry))
    return alive


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run_bench(prefix: str, bench, keep: bool, bytecode: str):
    """`bench(root)` (a coroutine) on the CRM database, in a temp dir, between two load averages."""
    c.ensure_crm(DATABASE, 1)
    root = Path(tempfile.mkdtemp(prefix=prefix))
    print(f"load average before: {c.load_avg()}{c.busy_note()}")
    print(f"bytecode: not cached (PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}); "
          f"the app runs in this interpreter, {bytecode}")
    try:
        return asyncio.run(bench(root))
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def clean_before(kind: str, base: Path, uploads: Path | None) -> None:
    """Between two runs of a kind: nothing of the last run in the way (names are per minute), the
    uploads touched so restic reads them all again. The verify keeps the dump it imports."""
    if kind == "db_backup":
        for old in (base / "db").glob("full-*"):
            old.unlink()
    elif kind == "verify":
        for old in (base / "verify").glob("verify-*"):
            old.unlink()
    elif kind == "snapshot" and uploads is not None:
        for old in (base / "snapshots").glob("snapshot-*"):
            old.unlink()
        touch_all(uploads)


def check_result(kind: str, event, base: Path) -> tuple[bool, str, float]:
    """(fine, what it left, seconds) of a finished run."""
    if not event.ok:
        return False, f"{event.error or event.summary}", event.duration_s
    if kind == "db_backup":
        kept = sorted((c.dump_store(DATABASE) / "db").glob("full-*.sql.gz"))
        reference = kept[-1].stat().st_size if kept else None
        dumps = sorted((base / "db").glob("full-*.sql.gz"))
        size = dumps[-1].stat().st_size if dumps else 0
        sha = bool(dumps) and dumps[-1].with_name(dumps[-1].name + ".sha256").exists()
        fine = len(dumps) == 1 and sha and (reference is None or size >= 0.9 * reference)
        return fine, f"{dumps[-1].name if dumps else 'no dump'} {size / 1e6:.1f} MB, .sha256 {sha}", event.duration_s
    if kind == "verify":
        logs = sorted((base / "verify").glob("verify-*.log"))
        result = next((line for line in logs[-1].read_text().splitlines() if line.startswith("result:")), "") \
            if logs else ""
        return result == "result: OK", f"{logs[-1].name if logs else 'no verify log'} {result}", event.duration_s
    markers = sorted((base / "snapshots").glob("snapshot-*.txt"))
    return bool(markers), f"{markers[-1].name if markers else 'no marker'}: {event.summary}", event.duration_s
