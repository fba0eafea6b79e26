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
