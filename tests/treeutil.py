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


# --- legacy dumps (for the migration tests and bench/migrate.py) ---

SQL_HEADER = (
    "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n--\n"
    "-- Host: localhost    Database: crm\n"
    "-- ------------------------------------------------------\n"
    "-- Server version\t10.11.6-MariaDB-0+deb12u1\n\n"
    "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
    "/*!40101 SET NAMES utf8mb4 */;\n\n"
    "--\n-- Table structure for table `contacts`\n--\n\n"
    "DROP TABLE IF EXISTS `contacts`;\n"
    "CREATE TABLE `contacts` (\n  `id` int(10) unsigned NOT NULL,\n  `first_name` varchar(80) NOT NULL,\n"
    "  `last_name` varchar(80) NOT NULL,\n  `email` varchar(190) NOT NULL,\n  `phone` varchar(40) DEFAULT NULL,\n"
    "  `lead_score` smallint(6) NOT NULL DEFAULT 0,\n  `notes` text DEFAULT NULL,\n"
    "  `created_at` datetime NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\n"
    "--\n-- Dumping data for table `contacts`\n--\n\n"
    "LOCK TABLES `contacts` WRITE;\n"
)
SQL_FOOTER = "UNLOCK TABLES;\n"
_FIRST = ("Jan", "Petr", "Eva", "Jana", "Tomáš", "Lucie", "Martin", "Kateřina", "Pavel", "Alžběta", "Bob", "Čeněk")
_LAST = ("Novák", "Svoboda", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý", "Horák", "Smith", "O\\'Brien")
_WORDS = ("call", "back", "next", "week", "offer", "sent", "meeting", "budget", "renewal", "demo", "pricing",
          "contract", "signed", "lost", "to", "the", "after", "Q3", "invoice", "support")


def sql_block(rows: int, seed: int, first_id: int = 1, per_insert: int = 200) -> bytes:
    """`rows` contacts as mysqldump's extended INSERT lines (long lines, escaped quotes, UTF-8)."""
    import random

    rng = random.Random(seed)
    out = []
    for start in range(0, rows, per_insert):
        values = []
        for row_id in range(first_id + start, first_id + min(rows, start + per_insert)):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            notes = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 14)))
            values.append(f"({row_id},'{first}','{last}','{first.lower()}.{row_id}@example.com',"
                          f"'+420 {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(100, 999)}',"
                          f"{rng.randint(0, 100)},'{notes}','20{rng.randint(15, 26)}-{rng.randint(1, 12):02d}-"
                          f"{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00')")
        out.append("INSERT INTO `contacts` VALUES " + ",".join(values) + ";\n")
    return "".join(out).encode("utf-8")


def legacy_sql(size: int = 0, *, seed: int = 0, trailer: bool = True, block_rows: int = 2000) -> bytes:
    """A realistic uncompressed dump of about `size` bytes (at least a header and one INSERT line)."""
    parts = [SQL_HEADER.encode()]
    total, index = len(parts[0]), 0
    while True:
        block = sql_block(block_rows, seed * 1_000_003 + index, first_id=1 + index * block_rows)
        parts.append(block)
        total += len(block)
        index += 1
        if total >= size:
            break
    parts.append(SQL_FOOTER.encode())
    if trailer:
        parts.append(TRAILER.encode())
    return b"".join(parts)


def write_sized_sql(path: Path, size: int, *, seed: int = 0, block: int = 4 << 20) -> bytes:
    """An uncompressed dump of ~`size` bytes written fast: a few MiB of realistic SQL repeated
    (deflate's 32 KiB window never sees the repeats, so it compresses like unique text).
    Returns the sha256 of the content."""
    body = legacy_sql(block, seed=seed)
    head, rest = body[: len(SQL_HEADER)], body[len(SQL_HEADER):-len(SQL_FOOTER) - len(TRAILER)]
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for piece in [head] + [rest] * max(1, size // max(1, len(rest))) + [SQL_FOOTER.encode(), TRAILER.encode()]:
            handle.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def put(path: Path, data: bytes, when: float | None = None) -> Path:
    """Write `data` to `path` (folders made) with mtime `when` (epoch seconds) if given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if when is not None:
        os.utime(path, (when, when), follow_symlinks=False)
    return path
