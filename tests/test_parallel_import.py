"""The parallel import (core/parallel.py behind import_dump) against the real MariaDB, on real
`mariadb-dump` output of a schema with views (one on a view on a view), triggers, procedures,
functions, an event, a sequence, foreign keys both ways round the alphabet and generated columns:
the same database as a serial import, a failing client that stops the others, cancel, a section
larger than the buffer, the guard's refusals, and every recovery path using it.

Tests that must catch the import mid-flight make one client wait on a named lock the test holds
(`DO GET_LOCK(…)` put into the dump): deterministic, and no test asserts on how long anything took.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import hashlib
import os
import random
import re
import secrets
import threading
import time
from pathlib import Path

import pytest
from jobs_support import (  # noqa: F401 - fixtures
    NIGHT,
    SAFETY_S,
    ProcWatcher,
    Recorder,
    admin,
    clock_at,
    databases,
    db_flags,
    descendants,
    pid_alive,
    read_proc,
    run,
    seed_crm,
    sql,
    wait_until,
)
from treeutil import make_dump

from opsbackup_tui.core import parallel
from opsbackup_tui.core.events import Phase, Progress
from opsbackup_tui.core.importer import import_dump
from opsbackup_tui.core.jobs.base import JobContext, JobError, run_job
from opsbackup_tui.core.jobs.dump import DumpJob
from opsbackup_tui.core.mysql import ServerConfig
from opsbackup_tui.core.parallel import AFTER, SEQUENCE, TABLE, TAIL, Splitter, session_only
from opsbackup_tui.core.proc import Redactor
from opsbackup_tui.core.settings import ConfigError, load_settings

RICH = [
    "CREATE TABLE people (id INT PRIMARY KEY, first VARCHAR(40) NOT NULL, last VARCHAR(40) NOT NULL, "
    "full_name VARCHAR(81) AS (CONCAT(first, ' ', last)) STORED, last_len INT AS (CHAR_LENGTH(last)) VIRTUAL, "
    "KEY (full_name)) ENGINE=InnoDB",
    "INSERT INTO people (id, first, last) VALUES " + ",".join(f"({i}, 'First{i}', 'Last{i % 7}')" for i in range(1, 301)),
    "CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(50)) ENGINE=InnoDB",
    "CREATE TABLE zones (id INT PRIMARY KEY, account_id INT NOT NULL, label VARCHAR(20), "
    "FOREIGN KEY (account_id) REFERENCES accounts(id) ON DELETE CASCADE) ENGINE=InnoDB",
    "INSERT INTO accounts VALUES " + ",".join(f"({i}, 'account {i}')" for i in range(1, 51)),
    "INSERT INTO zones VALUES " + ",".join(f"({i}, {1 + i % 50}, 'zone {i}')" for i in range(1, 201)),
    "CREATE SEQUENCE invoice_seq START WITH 100 INCREMENT BY 1",
    "CREATE TABLE invoices (id INT PRIMARY KEY, contact_id INT, total DECIMAL(10,2), "
    "FOREIGN KEY (contact_id) REFERENCES contacts(id)) ENGINE=InnoDB",
    "INSERT INTO invoices VALUES (NEXTVAL(invoice_seq), 1, 10.00), (NEXTVAL(invoice_seq), 2, 20.50), "
    "(NEXTVAL(invoice_seq), 3, 30.25)",
    "CREATE VIEW big_deal_ids AS SELECT id FROM big_deals",
    "CREATE VIEW a_deal_count AS SELECT COUNT(*) AS n FROM big_deal_ids",
    "CREATE TRIGGER contacts_bu BEFORE UPDATE ON contacts FOR EACH ROW SET NEW.name = TRIM(NEW.name)",
    "CREATE TRIGGER zones_bi BEFORE INSERT ON zones FOR EACH ROW SET NEW.label = LOWER(NEW.label)",
]


def seed_rich(server: ServerConfig, database: str) -> None:
    seed_crm(server, database, big_rows=1200)  # notes: ~1.2 MB, the larger section
    sql(server, *RICH, database=database)


def _in_thread(coro_factory):
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("value", asyncio.run(coro_factory())))
    thread.start()
    thread.join(SAFETY_S)
    return box["value"]


@pytest.fixture(scope="module")
def rich(mysql_server, tmp_path_factory):
    """(source database, its dump made by the real DB backup job, the dump's SQL text)."""
    folder = tmp_path_factory.mktemp("rich")
    name = f"opsb_rich_{secrets.token_hex(4)}"
    sql(mysql_server, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        seed_rich(mysql_server, name)
        settings = load_settings({"backup_base": str(folder / "backups"), "state_dir": str(folder / "state"),
                                  "log_path": str(folder / "ops.log"), **db_flags(mysql_server, folder, db_name=name)},
                                 environ={}, config_path=None)
        finished, _ = _in_thread(lambda: run(DumpJob(settings), clock_at(NIGHT)))
        assert finished.ok, finished.error
        path = Path(finished.result.path)
        yield name, path, gzip.decompress(path.read_bytes()).decode("utf-8")
    finally:
        sql(mysql_server, f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def new_db(mysql_server):
    """new_db() -> the name of a fresh empty database, dropped after the test."""
    made: list[str] = []

    def build() -> str:
        name = f"opsb_par_{secrets.token_hex(4)}"
        sql(mysql_server, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        made.append(name)
        return name

    yield build
    for name in made:
        sql(mysql_server, f"DROP DATABASE IF EXISTS `{name}`")


def write_dump(folder: Path, text: str, name: str = "dump.sql.gz") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    return path


def before_rows_of(text: str, table: str, statement: str) -> str:
    """The dump with `statement` on a line of its own just before the INSERT into `table`."""
    marker = f"INSERT INTO `{table}` VALUES"
    assert marker in text, marker
    return text.replace(marker, f"{statement}\n{marker}", 1)


def context(settings, recorder: Recorder | None = None) -> JobContext:
    return JobContext(settings, "verify", recorder or Recorder(), time.time, Redactor(), asyncio.get_running_loop())


@pytest.fixture
def settings(make_settings, mysql_server, tmp_path):
    return make_settings(**db_flags(mysql_server, tmp_path / "secrets"))


def snapshot(server: ServerConfig, database: str) -> dict:
    """Everything an import makes, with the database's own name taken out."""
    lit = "'" + database.replace("'", "''") + "'"

    def rows(query: str) -> list[tuple]:
        found = sql(server, query.replace("{db}", lit))
        return sorted(tuple(str(v).replace(f"`{database}`.", "") if v is not None else None for v in row)
                      for row in found)

    tables = rows("SELECT table_name, table_type, auto_increment FROM information_schema.tables "
                  "WHERE table_schema = {db}")
    base = [name for name, kind, _ in tables if kind == "BASE TABLE"]
    counts = {name: sql(server, f"SELECT COUNT(*) FROM `{database}`.`{name}`")[0][0] for name in base}
    # CHECKSUM TABLE of a table with a generated column differs between two imports of one dump
    # on MariaDB 10.11 (seen here, the rows being equal): those tables are compared row by row.
    generated = {name for name, in sql(server, "SELECT DISTINCT table_name FROM information_schema.columns "
                                               f"WHERE table_schema = {lit} AND is_generated = 'ALWAYS'")}
    checksums = {row[0].split(".", 1)[1]: row[1] for row in sql(
        server, "CHECKSUM TABLE " + ", ".join(f"`{database}`.`{name}`" for name in base if name not in generated))}
    for name in generated:
        checksums[name] = hashlib.sha256(repr(sql(server, f"SELECT * FROM `{database}`.`{name}` ORDER BY 1"))
                                         .encode()).hexdigest()
    return {
        "tables": tables, "rows": counts, "checksums": checksums, "generated": sorted(generated),
        "views": rows("SELECT table_name, view_definition FROM information_schema.views WHERE table_schema = {db}"),
        "routines": rows("SELECT routine_type, routine_name, routine_definition, definer FROM information_schema.routines "
                         "WHERE routine_schema = {db}"),
        "triggers": rows("SELECT trigger_name, event_object_table, action_timing, event_manipulation, "
                         "action_statement, definer FROM information_schema.triggers WHERE trigger_schema = {db}"),
        "events": rows("SELECT event_name, event_definition, status, definer FROM information_schema.events "
                       "WHERE event_schema = {db}"),
        "sequence": sql(server, f"SELECT next_not_cached_value, minimum_value, increment FROM `{database}`.invoice_seq"),
        "foreign_keys": rows("SELECT constraint_name, table_name, referenced_table_name FROM "
                             "information_schema.referential_constraints WHERE constraint_schema = {db}"),
    }


def lock_waiters(server: ServerConfig, database: str) -> int:
    """Clients of `database` waiting on a GET_LOCK the test holds."""
    return sum(1 for row in sql(server, "SHOW PROCESSLIST")
               if row[3] == database and (row[7] or "").startswith("DO GET_LOCK"))


def import_clients() -> list[int]:
    """Live import clients below this process."""
    found = []
    for pid in descendants():
        info = read_proc(pid)
        if info and info[0] and os.path.basename(info[0][0]) in ("mariadb", "mysql") and "--binary-mode" in info[0]:
            found.append(pid)
    return found


class HeldLock:
    """A named lock held by a connection of the test until release()."""

    def __init__(self, server: ServerConfig) -> None:
        self.name = f"opsb_par_{secrets.token_hex(4)}"
        self.conn = admin(server)
        with self.conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 5)", (self.name,))
            assert cur.fetchone() == (1,)

    @property
    def statement(self) -> str:
        return f"DO GET_LOCK('{self.name}', 600);"

    def release(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- the splitter, on real mariadb-dump output ---


def split(text: bytes, sizes: random.Random | None = None, comment_locks: bool = True):
    events: list[tuple] = []
    out: list[bytes] = []
    splitter = Splitter(lambda kind, name, line: events.append((kind, name, line, len(b"".join(out)))),
                        out.append, comment_locks=comment_locks)
    at = 0
    while at < len(text):
        step = sizes.randint(1, 70_000) if sizes else len(text)
        splitter.feed(text[at:at + step])
        at += step
    splitter.finish()
    return events, b"".join(out)


def marker_lines(text: bytes) -> list[tuple[int, bytes]]:
    return [(number, line) for number, line in enumerate(text.split(b"\n"), 1)
            if line.startswith((b"-- Table structure", b"-- Sequence structure", b"-- Temporary table",
                                b"-- Final view", b"-- Dumping routines", b"-- Dumping events"))]


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_the_splitter_cuts_a_real_dump_at_its_sections(rich, seed):
    _, _, text = rich
    data = text.encode("utf-8")
    events, out = split(data, random.Random(seed) if seed is not None else None)

    # Every byte comes out once and in order; only the LOCK/UNLOCK lines became comments.
    assert out.replace(b"\n-- LOCK TABLES `", b"\nLOCK TABLES `").replace(b"\n-- UNLOCK TABLES;", b"\nUNLOCK TABLES;") \
        == data
    assert b"\nLOCK TABLES" not in out and b"\nUNLOCK TABLES" not in out
    # One section per marker line, at its line, in dump order; the header is everything before.
    sections = [(kind, line) for kind, _, line, _ in events if kind != TAIL]
    assert [line for _, line in sections] == [number for number, _ in marker_lines(data)]
    assert events[0][3] == data.index(b"\n-- Sequence structure") + 1
    kinds = {kind for kind, _ in sections}
    assert kinds == {TABLE, SEQUENCE, AFTER}
    names = [(kind, name) for kind, name, _, _ in events]
    assert (SEQUENCE, "invoice_seq") in names and (TABLE, "zones") in names
    assert (AFTER, "the placeholder of view `a_deal_count`") in names and (AFTER, "view `big_deal_ids`") in names
    assert (AFTER, "the routines") in names and (AFTER, "the events") in names
    # A table's triggers (and only theirs) go after the tables, from the first line of their block.
    tails = [(name, line) for kind, name, line, _ in events if kind == TAIL]
    assert sorted(name for name, _ in tails) == ["contacts", "zones"]
    lines = data.split(b"\n")
    for _, line in tails:
        assert lines[line - 1].startswith(b"/*!50003 SET @saved_cs_client")


def test_without_comment_locks_the_stream_is_unchanged(rich):
    _, _, text = rich
    data = text.encode("utf-8")
    assert split(data, random.Random(9), comment_locks=False)[1] == data


def test_a_line_longer_than_the_carry_passes_whole():
    long_row = b"INSERT INTO `t` VALUES (" + b"9" * 100_000 + b");\n"
    data = (b"/*!40101 SET NAMES utf8mb4 */;\n-- Table structure for table `t`\nCREATE TABLE t (v TEXT);\n"
            + long_row + b"-- Final view structure for view `v`\nCREATE VIEW v AS SELECT 1;\n")
    events, out = split(data, random.Random(4))
    assert out == data
    assert [(kind, name, line) for kind, name, line, _ in events] == [(TABLE, "t", 2), (AFTER, "view `v`", 5)]


@pytest.mark.parametrize("header, ok", [
    (b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump\n--\n/*!40101 SET NAMES utf8mb4 */;\n"
     b"/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n\n", True),
    (b"SET @@SESSION.SQL_LOG_BIN= 0;\n", True),
    (b"-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=883;\n", True),
    (b"SET @@GLOBAL.GTID_PURGED='3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5';\n", False),
    (b"/*!40101 SET GLOBAL max_connections=10 */;\n", False),
    (b"CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=883;\n", False),
    (b"CREATE TABLE t (id INT);\n", False),
    (b"SET NAMES utf8mb4; DROP TABLE t;\n", False),
    (b"INSERT INTO t VALUES (1);\n", False),
])
def test_only_a_header_of_session_settings_is_sent_to_every_client(header, ok):
    assert session_only(header) is ok


# --- against the server ---


async def test_parallel_and_serial_imports_make_the_same_database(rich, mysql_server, new_db, settings, tmp_path):
    source, _, text = rich
    lock = HeldLock(mysql_server)
    # The first table's client waits on the lock until a second client is seen: the import is
    # parallel for certain, whatever the machine's speed.
    path = write_dump(tmp_path, before_rows_of(text, "accounts", lock.statement))
    serial_db, parallel_db = new_db(), new_db()
    try:
        recorder = Recorder()
        task = asyncio.ensure_future(import_dump(context(settings, recorder), mysql_server, path, parallel_db,
                                                 strip_definer=False, jobs=3))
        await asyncio.to_thread(wait_until, lambda: task.done() or len(import_clients()) >= 3, "three clients")
        # The operator sees what each client does.
        await asyncio.to_thread(wait_until, lambda: task.done() or any(
            re.search(r"client \d: `accounts`", p.detail) for p in recorder.of(Progress)), "the progress line")
        lock.release()
        stats = await task
    finally:
        lock.release()
    serial = await import_dump(context(settings), mysql_server, path, serial_db, strip_definer=False, jobs=1)

    assert serial.clients == 1 and serial.timings == []
    assert stats.clients >= 4  # the sequence's, two or three for the tables, the one for what follows them
    assert len({t.client for t in stats.timings}) >= 2
    assert {t.name for t in stats.timings} == {name for name, in sql(
        mysql_server, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{source}' "
                      "AND table_type = 'BASE TABLE'")}
    assert stats.after_tables > 0
    got = snapshot(mysql_server, parallel_db)
    assert got == snapshot(mysql_server, serial_db)
    assert got == snapshot(mysql_server, source)
    assert got["rows"]["notes"] == 1200 and got["rows"]["invoices"] == 3 and len(got["views"]) == 3
    assert got["generated"] == ["people"] and len(got["checksums"]) == len(got["rows"]) == 9
    assert {name for _, name, *_ in got["routines"]} == {"count_users", "deal_total"} and len(got["triggers"]) == 3
    importing = next(e.detail for e in recorder.of(Phase) if e.name == "importing")
    assert "tables on up to 3 clients at once" in importing
    details = [p.detail for p in recorder.of(Progress)]
    assert any(re.search(r"^\d+ tables read; client \d: `accounts`", d) for d in details), details
    assert details[-1] == "9 tables read; done"
    assert import_clients() == []


async def test_a_failing_client_stops_the_others_and_the_error_names_it(rich, mysql_server, new_db, settings,
                                                                        tmp_path):
    _, _, text = rich
    lock = HeldLock(mysql_server)
    first_people_row = re.search(r"INSERT INTO `people` VALUES\n(\(1,[^\n]*\n)", text).group(1)  # a duplicate key
    broken = before_rows_of(text, "accounts", lock.statement).replace(
        "INSERT INTO `people` VALUES\n", "INSERT INTO `people` VALUES\n" + first_people_row, 1)
    path = write_dump(tmp_path, broken)
    target = new_db()
    try:
        task = asyncio.ensure_future(import_dump(context(settings), mysql_server, path, target,
                                                 strip_definer=False, jobs=3))
        blocked = await asyncio.to_thread(wait_until, lambda: lock_waiters(mysql_server, target), "a blocked client")
        assert blocked == 1
        with pytest.raises(JobError) as raised:
            await task
        still_held = lock.conn is not None
        survivors = import_clients()
    finally:
        lock.release()
    error = str(raised.value)
    assert still_held and survivors == []  # the blocked client was stopped, not waited for
    # With the dump's UNIQUE_CHECKS=0, MariaDB 10.11 finds the duplicate at the statement's COMMIT
    # (its bulk insert into an empty table); a serial import fails the same way.
    assert error.startswith("the mysql client failed: ERROR 1180 (HY000) at line "), error
    assert "during COMMIT" in error and "one of 3 for the tables" in error
    line = int(re.search(r"is line (\d+) of the dump, in table `people`\)$", error).group(1))
    assert broken.split("\n")[line - 1] == "INSERT INTO `people` VALUES"  # the failing statement
    assert "ERROR 1180" in raised.value.stderr_tail
    # Nothing of what runs after the tables ran.
    assert sql(mysql_server, "SELECT COUNT(*) FROM information_schema.views WHERE table_schema = %s" % repr(target)) \
        == [(0,)]


async def test_cancel_stops_every_client(rich, mysql_server, new_db, settings, tmp_path):
    _, _, text = rich
    lock = HeldLock(mysql_server)
    held = before_rows_of(before_rows_of(text, "accounts", lock.statement), "people", lock.statement)
    path = write_dump(tmp_path, held)
    target = new_db()
    recorder = Recorder()
    try:
        task = asyncio.ensure_future(import_dump(context(settings, recorder), mysql_server, path, target,
                                                 strip_definer=False, jobs=3))
        await asyncio.to_thread(wait_until, lambda: lock_waiters(mysql_server, target) == 2, "two blocked clients")
        clients = import_clients()
        assert len(clients) >= 2
        # What the operator sees meanwhile: the table each client is on.
        await asyncio.to_thread(wait_until, lambda: any(
            re.search(r"client \d: `accounts`.*client \d: `people`", p.detail) for p in recorder.of(Progress)),
            "the progress line")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert all(not pid_alive(pid) for pid in clients)
        assert import_clients() == []
        assert lock_waiters(mysql_server, target) == 0 or await asyncio.to_thread(
            wait_until, lambda: lock_waiters(mysql_server, target) == 0, "the server to drop the connections")
    finally:
        lock.release()


async def test_a_section_larger_than_the_buffer_streams_with_bounded_memory(rich, mysql_server, new_db, settings,
                                                                           monkeypatch):
    source, path, _ = rich
    monkeypatch.setattr(parallel, "BUFFER", 64 * 1024)
    target = new_db()
    stats = await import_dump(context(settings), mysql_server, path, target, strip_definer=False, jobs=2)
    notes = next(t for t in stats.timings if t.name == "notes")
    assert notes.size > 1024 * 1024  # the section is 16 times the buffer and more
    # Never more than the buffer and one decompressed piece of the stream were held.
    assert 0 < stats.peak_buffered <= 64 * 1024 + 512 * 1024 < notes.size
    assert snapshot(mysql_server, target) == snapshot(mysql_server, source)


@pytest.mark.parametrize("where", ["a table section", "the routines"])
async def test_a_refused_line_stops_the_import_before_anything_after_it(rich, mysql_server, new_db, settings,
                                                                       tmp_path, scratch_db, where):
    _, _, text = rich
    sql(mysql_server, "CREATE TABLE precious (id INT PRIMARY KEY)", "INSERT INTO precious VALUES (1), (2)",
        database=scratch_db)
    hostile = f"USE `{scratch_db}`;\nDROP TABLE precious;"
    if where == "a table section":
        dump = before_rows_of(text, "opportunities", hostile)
    else:
        dump = text.replace("/*!50003 DROP FUNCTION IF EXISTS", hostile + "\n/*!50003 DROP FUNCTION IF EXISTS", 1)
    path = write_dump(tmp_path, dump)
    target = new_db()
    with pytest.raises(JobError) as raised:
        await import_dump(context(settings), mysql_server, path, target, strip_definer=False, jobs=3)
    assert "refused at line" in str(raised.value) and "switches or creates a database" in str(raised.value)
    assert sql(mysql_server, "SELECT id FROM precious ORDER BY id", database=scratch_db) == [(1,), (2,)]
    made = {name for name, in sql(mysql_server, "SELECT table_name FROM information_schema.tables "
                                                f"WHERE table_schema = '{target}'")}
    assert not made & {"people", "users", "zones"}  # sections after the refused line
    # and nothing of what runs after the tables (views, routines, triggers, events)
    assert sql(mysql_server, f"SELECT COUNT(*) FROM information_schema.views WHERE table_schema = '{target}'") == [(0,)]
    assert sql(mysql_server, f"SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = '{target}'") \
        == [(0,)]
    assert import_clients() == []


async def test_a_table_whose_default_is_a_sequence_waits_for_the_sequence(mysql_server, new_db, settings, tmp_path):
    """The sequences' client has finished before the first table is created. (mariadb-dump names
    the source database in such a DEFAULT, `nextval(`crm`.`seq`)`: the dump is edited as a restore
    under the same name sees it. A serial import of this dump fails: its `LOCK TABLES` does not lock
    the sequence the DEFAULT reads, ERROR 1100.)"""
    source, target = new_db(), new_db()
    sql(mysql_server, "CREATE SEQUENCE ticket_seq START WITH 500",
        "CREATE TABLE a_tickets (id INT PRIMARY KEY DEFAULT NEXTVAL(ticket_seq), what VARCHAR(20))",
        "INSERT INTO a_tickets (what) VALUES ('one'), ('two')", database=source)
    settings = dataclasses.replace(settings, db_name=source)
    dumped, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert dumped.ok, dumped.error
    text = gzip.decompress(Path(dumped.result.path).read_bytes()).decode()
    assert f"nextval(`{source}`.`ticket_seq`)" in text
    lock = HeldLock(mysql_server)
    edited = text.replace(f"`{source}`.`ticket_seq`", f"`{target}`.`ticket_seq`").replace(
        "CREATE SEQUENCE", f"{lock.statement}\nCREATE SEQUENCE", 1)
    try:
        task = asyncio.ensure_future(import_dump(context(settings), mysql_server, write_dump(tmp_path, edited), target,
                                                 strip_definer=False, jobs=3))
        await asyncio.to_thread(wait_until, lambda: lock_waiters(mysql_server, target), "the sequence's client")
        lock.release()  # without the wait for the sequence, the table would already have failed (ERROR 1146)
        stats = await task
    finally:
        lock.release()
    assert stats.clients == 2  # the sequence's, the table's; the trailer alone follows the tables: no client
    assert sql(mysql_server, "SELECT id, what FROM a_tickets ORDER BY id", database=target) == [(500, "one"),
                                                                                             (501, "two")]
    assert sql(mysql_server, "SELECT next_not_cached_value FROM ticket_seq", database=target) == [(1500,)]


async def test_a_dump_whose_header_is_not_session_settings_imports_on_one_client(mysql_server, new_db, settings,
                                                                                tmp_path):
    body = ("CREATE TABLE early (id INT PRIMARY KEY);\nINSERT INTO early VALUES (1), (2);\n"
            "--\n-- Table structure for table `later`\n--\n\nCREATE TABLE later (id INT PRIMARY KEY);\n"
            "LOCK TABLES `later` WRITE;\nINSERT INTO `later` VALUES (1);\nUNLOCK TABLES;\n"
            "-- Dump completed on 2026-11-26  4:11:33\n")
    target = new_db()
    stats = await import_dump(context(settings), mysql_server, write_dump(tmp_path, body), target,
                              strip_definer=False, jobs=4)
    assert stats.clients == 1  # the CREATE/INSERT before the first section would run once per client
    assert sql(mysql_server, "SELECT COUNT(*) FROM early", database=target) == [(2,)]
    assert sql(mysql_server, "SELECT COUNT(*) FROM later", database=target) == [(1,)]


# --- every recovery path, and the setting ---


@pytest.fixture
def path_settings(rich, make_settings, mysql_server, tmp_path):
    """A backup tree holding the rich dump (and an older copy for the monthly pick), 3 clients."""
    source, dump, _ = rich
    base = tmp_path / "backups"
    for stamp, age in (("20261126-0200", 3600), ("20261125-0200", 90_000)):
        make_dump(base, stamp, data=dump.read_bytes(), age_s=age)
    return make_settings(**db_flags(mysql_server, tmp_path / "secrets", import_jobs=3, db_name=source,
                                    critical_tables="users,contacts,notes"))


def job_for(name: str, settings):
    from opsbackup_tui.core.artefacts.tree import BackupTree
    from opsbackup_tui.core.jobs.drill import DrillJob
    from opsbackup_tui.core.jobs.monthly import MonthlyJob
    from opsbackup_tui.core.jobs.restore import RestoreJob
    from opsbackup_tui.core.jobs.verify import VerifyJob

    if name == "verify":
        return VerifyJob(settings)
    if name == "drill":
        return DrillJob(settings)
    if name == "monthly":
        return MonthlyJob(settings, seed=1)
    return RestoreJob(settings, ServerConfig.from_settings(settings), BackupTree(settings.backup_base).newest_valid_dump(),
                      name)


@pytest.mark.parametrize("path", ["verify", "drill", "monthly", "restore"])
async def test_every_recovery_path_imports_in_parallel(path, path_settings, mysql_server, new_db):
    settings = path_settings
    target = new_db() if path == "restore" else None
    when = NIGHT + 3600 + 600 + secrets.randbelow(3000)  # a scratch name no other test run likely takes
    recorder = Recorder()
    with ProcWatcher() as watcher:
        finished = await run_job(job_for(target or path, settings), recorder, clock=clock_at(when))
    if path == "monthly":
        assert finished.result.items[0].ok, finished.result.items[0]
    else:
        assert finished.ok, finished.error
    clients = {seen.pid for seen in watcher.seen if "--binary-mode" in seen.argv}
    assert len(clients) >= 2  # tables on some, what follows them on one more
    importing = [e.detail for e in recorder.of(Phase) if e.name == "importing"]
    assert importing and all("tables on up to 3 clients at once" in d for d in importing)
    assert [p.detail for p in recorder.of(Progress) if p.detail.endswith("; done")]
    if target:
        assert snapshot(mysql_server, target) == snapshot(mysql_server, settings.db_name)


def test_the_import_jobs_setting(make_settings):
    assert make_settings().import_jobs == min(os.cpu_count() or 1, 8)
    assert make_settings(import_jobs=1).import_jobs == 1
    assert make_settings(environ={"OPS_IMPORT_JOBS": "6"}).import_jobs == 6
    for bad in ("0", "-2", "two", "33", "1.5"):
        with pytest.raises(ConfigError) as raised:
            make_settings(environ={"OPS_IMPORT_JOBS": bad})
        assert raised.value.var.startswith("OPS_IMPORT_JOBS")
        assert "1 to 32" in str(raised.value)
