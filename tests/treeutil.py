"""Builders for real backup trees in temp dirs."""

from __future__ import annotations

import gzip
import hashlib
import os
import time
from pathlib import Path

TRAILER = "-- Dump completed on 2026-11-26  4:11:33\n"


def dump_bytes(sql: str = "CREATE TABLE t (id int);\n", trailer: bool = True) -> bytes:
    return gzip.compress((sql + (TRAILER if trailer else "")).encode(), mtime=0)


def make_dump(base: Path, stamp: str, *, age_s: float = 3600, data: bytes | None = None, sha: bool = True,
              now: float | None = None) -> Path:
    """db/full-<stamp>.sql.gz with a true .sha256, mtime `age_s` seconds before `now`."""
    db = base / "db"
    db.mkdir(parents=True, exist_ok=True)
    path = db / f"full-{stamp}.sql.gz"
    data = dump_bytes() if data is None else data
    path.write_bytes(data)
    if sha:
        sha_path = db / f"{path.name}.sha256"
        sha_path.write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    set_age(path, age_s, now)
    return path


def make_marker(base: Path, stamp: str, *, age_s: float = 3600, snapshot_id: str = "1a2b3c4d",
                now: float | None = None) -> Path:
    folder = base / "snapshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"snapshot-{stamp}.txt"
    path.write_text(f"snapshot_id: {snapshot_id}\ntag: uploads\n")
    set_age(path, age_s, now)
    return path


def make_verify_log(base: Path, stamp: str, *, result: str = "OK", age_s: float = 3600, tables: int = 5,
                    error: str | None = None, now: float | None = None, dump: str = "full-20261126-0200.sql.gz") -> Path:
    folder = base / "verify"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"verify-{stamp}.log"
    lines = [f"dump: {dump}", "dump_sha256: " + "0" * 64, "database: verify_20261126_040000",
             f"tables: {tables}", "rows.users: 10", "rows.contacts: 100", "rows.opportunities: 50",
             "duration_s: 1.5", f"result: {result}"]
    if error:
        lines.append(f"error: {error}")
    path.write_text("\n".join(lines) + "\n")
    set_age(path, age_s, now)
    return path


def set_age(path: Path, age_s: float, now: float | None = None) -> None:
    stamp = (time.time() if now is None else now) - age_s
    os.utime(path, (stamp, stamp), follow_symlinks=False)


NOBODY = 65534


def run_as_nobody(func, *args):
    """func(*args) in a forked child that dropped root to nobody/nogroup; returns what it returned.

    Tests run as root, who reads mode-000 files and folders: a permission error needs another user.
    The child does not exec (the venv may live where nobody cannot reach); the result comes back
    pickled through a pipe. Not root: func runs in this process (mode 000 already denies). Skips
    when the process may not change its user.
    """
    import pickle

    import pytest

    if os.geteuid() != 0:
        return func(*args)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            os.close(read_fd)
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            except OSError as exc:
                payload = ("cannot-drop", f"{exc}")
            else:
                try:
                    payload = ("ok", func(*args))
                except BaseException as exc:  # noqa: BLE001 - reported to the parent
                    payload = ("raised", f"{type(exc).__name__}: {exc}")
            data = pickle.dumps(payload)
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view):]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks = []
    with os.fdopen(read_fd, "rb") as reader:
        chunks.append(reader.read())
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    assert os.waitstatus_to_exitcode(status) == 0 and data, "the unprivileged child failed"
    kind, value = pickle.loads(data)
    if kind == "cannot-drop":
        pytest.skip(f"cannot switch to user nobody here: {value}")
    if kind == "raised":
        raise AssertionError(f"the unprivileged child raised {value}")
    return value
