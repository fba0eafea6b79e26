"""One flock per job kind: held across processes, named in the busy message, never stale."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from jobs_support import REPO_ROOT, pid_alive

from opsbackup_tui.core.locks import JobLock, LockBusy, lock_path, peek

HOLDER = (
    "import sys\nfrom pathlib import Path\nfrom opsbackup_tui.core.locks import JobLock\n"
    "lock = JobLock(Path(sys.argv[1]), sys.argv[2]).acquire()\n"
    "print('ready', flush=True)\nsys.stdin.read()\n"
)


def hold(base: Path, kind: str = "db_backup") -> subprocess.Popen:
    """Another process holding the lock until its stdin closes (or it is killed)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(base), kind], cwd=REPO_ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_acquire_release_and_reacquire(tmp_path):
    lock = JobLock(tmp_path, "db_backup").acquire()
    assert lock.path == tmp_path / ".locks" / "db_backup.lock"
    busy = peek(tmp_path, "db_backup")
    assert isinstance(busy, LockBusy) and busy.pid == os.getpid()
    lock.release()
    assert peek(tmp_path, "db_backup") is None
    assert lock.path.exists()  # never unlinked: unlinking races with the next locker
    assert lock.path.read_text() == ""
    with JobLock(tmp_path, "db_backup"):
        pass


def test_second_lock_in_another_process_is_refused_with_pid_and_time(tmp_path):
    holder = hold(tmp_path)
    try:
        with pytest.raises(LockBusy) as raised:
            JobLock(tmp_path, "db_backup").acquire()
        now = datetime.now()
    finally:
        holder.stdin.close()
        holder.wait()
    match = re.fullmatch(r"db_backup is running \(pid (\d+), since (\d\d):(\d\d)\)", str(raised.value))
    assert match, str(raised.value)
    assert int(match.group(1)) == holder.pid
    since = int(match.group(2)) * 60 + int(match.group(3))
    assert (now.hour * 60 + now.minute - since) % (24 * 60) in (0, 1)
    assert raised.value.host == socket.gethostname()
    # Released by the holder's exit: free again.
    JobLock(tmp_path, "db_backup").acquire().release()


def test_kinds_are_independent(tmp_path):
    holder = hold(tmp_path, "verify")
    try:
        with JobLock(tmp_path, "db_backup"):
            assert peek(tmp_path, "verify").pid == holder.pid
    finally:
        holder.stdin.close()
        holder.wait()


def test_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = hold(tmp_path)
    assert peek(tmp_path, "db_backup").pid == holder.pid
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert not pid_alive(holder.pid)
    # The lock file still names the dead holder, but the kernel dropped its flock.
    assert str(holder.pid) in lock_path(tmp_path, "db_backup").read_text()
    assert peek(tmp_path, "db_backup") is None
    with JobLock(tmp_path, "db_backup") as lock:
        assert str(os.getpid()) in lock.path.read_text()


def test_peek_never_takes_the_lock_for_long(tmp_path):
    # Many peeks from this process while another process acquires and releases in a loop:
    # the acquirer's short retries absorb a peek that holds the lock for an instant.
    code = ("import sys\nfrom pathlib import Path\nfrom opsbackup_tui.core.locks import JobLock\n"
            "for _ in range(200):\n    JobLock(Path(sys.argv[1]), 'report').acquire().release()\nprint('done')\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        peek(tmp_path, "report")
    out, err = proc.communicate()
    assert proc.returncode == 0 and out.strip() == "done", err


def test_busy_message_names_another_host_and_survives_garbage():
    busy = LockBusy("verify", 42, time.mktime((2026, 11, 26, 3, 7, 0, 0, 0, -1)), "backup-2")
    assert str(busy) == "verify is running (pid 42 on backup-2, since 03:07)"
    assert str(LockBusy("snapshot", None, None, None)) == "snapshot is running (another process)"


def test_garbage_in_the_lock_file_does_not_break_the_message(tmp_path):
    path = lock_path(tmp_path, "db_backup")
    path.parent.mkdir(parents=True)
    holder = hold(tmp_path)
    try:
        with open(path, "r+") as handle:  # another tool scribbled on it
            handle.write("{not json")
        busy = peek(tmp_path, "db_backup")
        assert str(busy) == "db_backup is running (another process)"
    finally:
        holder.stdin.close()
        holder.wait()
