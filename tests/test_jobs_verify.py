"""Verify restore against the real MariaDB: a real dump restores into a scratch database that is
always dropped; corrupt, truncated or hostile dumps never pass and never touch anything else."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest
from jobs_support import (  # noqa: F401 - fixtures
    CRM_ROWS,
    NIGHT,
    Recorder,
    clock_at,
    crm_db,
    databases,
    db_flags,
    find_child,
    make_db_user,
    pid_alive,
    run,
    sql,
    wait_until,
)
from treeutil import TRAILER, make_dump

from opsbackup_tui.core.artefacts.tree import BackupTree
from opsbackup_tui.core.artefacts.verifylogs import VerifyLog
from opsbackup_tui.core.checks import Status, check_verify_restore
from opsbackup_tui.core.events import Phase, Progress
from opsbackup_tui.core.importer import import_argv, import_dump
from opsbackup_tui.core.jobs.base import JobContext, JobError, run_job
from opsbackup_tui.core.jobs.dump import DumpJob
from opsbackup_tui.core.jobs.verify import VerifyJob
from opsbackup_tui.core.locks import peek
from opsbackup_tui.core.mysql import ServerConfig, client_capabilities, client_program, defaults_file
from opsbackup_tui.core.proc import Redactor
from opsbackup_tui.core.scratch import drop as drop_database
from opsbackup_tui.core.settings import Secret

VERIFY_AT = NIGHT + 3600  # 2026-11-26 03:00:00
VERIFY_DB = "verify_20261126_030000"
VERIFY_LOG = "verify-20261126-0300.log"
SPEC_KEYS = ("dump", "dump_sha256", "database", "tables", "rows.users", "rows.contacts", "rows.opportunities",
             "duration_s", "result")


def verify_log(settings) -> VerifyLog:
    return VerifyLog.read(settings.verify_dir / VERIFY_LOG)


def sql_dump(settings, body: str, stamp: str = "20261126-0200", trailer: bool = True) -> Path:
    """A dump made by hand (with a true .sha256): what an attacker or a broken tool could leave."""
    data = gzip.compress((body + (TRAILER if trailer else "")).encode("utf-8"), mtime=0)
    return make_dump(settings.backup_base, stamp, data=data)


CRM_SCHEMA = (
    "CREATE TABLE `users` (id INT PRIMARY KEY);\nINSERT INTO `users` VALUES (1),(2);\n"
    "CREATE TABLE `contacts` (id INT PRIMARY KEY);\nINSERT INTO `contacts` VALUES (1);\n"
    "CREATE TABLE `opportunities` (id INT PRIMARY KEY);\n"
)


async def assert_clean_failure(settings, finished, *, expect: str, created: bool = True) -> VerifyLog:
    """The job failed saying `expect`, its verify log says FAIL with that error, no verify DB is left."""
    assert not finished.ok
    assert expect in finished.error, finished.error
    log = verify_log(settings)
    assert log.result == "FAIL"
    assert expect in log.error
    assert log.values["database"].startswith(VERIFY_DB)  # a name taken on the server gets a suffix
    assert finished.result.log == str(settings.verify_dir / VERIFY_LOG)
    assert log.values["database"] not in databases_of(settings)
    return log


def databases_of(settings) -> set[str]:
    return databases(ServerConfig.from_settings(settings))


@pytest.fixture
def settings_for(mysql_server, make_settings, tmp_path):
    def build(**extra):
        return make_settings(**db_flags(mysql_server, tmp_path / "secrets", **extra))

    return build


async def test_verify_of_a_real_dump(mysql_server, crm_db, settings_for):
    settings = settings_for(db_name=crm_db)
    dumped, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert dumped.ok, dumped.error
    before = sql(mysql_server, "SELECT COUNT(*) FROM contacts", database=crm_db)

    finished, rec = await run(VerifyJob(settings), clock_at(VERIFY_AT))

    assert finished.ok, finished.error
    log = verify_log(settings)
    for key in SPEC_KEYS:
        assert key in log.values, key
    assert log.result == "OK" and log.error is None
    assert log.dump == "full-20261126-0200.sql.gz"
    assert log.dump_sha256 == dumped.result.sha256
    assert log.values["database"] == VERIFY_DB
    assert log.tables == 5  # four tables and the view
    assert log.rows == CRM_ROWS
    assert log.duration_s is not None and log.duration_s >= 0
    assert VERIFY_DB not in databases(mysql_server)
    result = finished.result
    assert (result.log, result.tables, result.rows, result.dump, result.database) == \
        (str(log.path), 5, CRM_ROWS, dumped.result.path, VERIFY_DB)
    assert (os.stat(log.path).st_mode & 0o777) == 0o640

    assert rec.phases == ["checksum", "creating", "importing", "counting", "cleanup"]
    importing = next(e for e in rec.of(Phase) if e.name == "importing").detail
    assert "--binary-mode" in importing and "--sandbox" in importing and "--defaults-extra-file=…" in importing
    progress = [p for p in rec.of(Progress) if p.detail != "sha256"]
    assert progress[-1].done == progress[-1].total == dumped.result.size

    # The CRM database was only read.
    assert sql(mysql_server, "SELECT COUNT(*) FROM contacts", database=crm_db) == before
    # The checklist takes the log as a good verify.
    tree = BackupTree(settings.backup_base)
    assert check_verify_restore(settings, tree, os.path.getmtime(log.path) + 60).status is Status.OK


async def test_one_flipped_byte_is_refused_before_any_database_is_made(mysql_server, crm_db, settings_for):
    settings = settings_for(db_name=crm_db)
    dumped, _ = await run(DumpJob(settings), clock_at(NIGHT))
    path = Path(dumped.result.path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    finished, rec = await run(VerifyJob(settings), clock_at(VERIFY_AT))

    log = await assert_clean_failure(settings, finished, expect="sha256 mismatch")
    assert log.dump_sha256 == dumped.result.sha256
    assert "creating" not in rec.phases and "importing" not in rec.phases


async def test_truncated_gzip_with_a_matching_checksum_fails_and_drops_the_database(
        mysql_server, scratch_db, settings_for):
    from jobs_support import seed_crm

    seed_crm(mysql_server, scratch_db, big_rows=3000)
    settings = settings_for(db_name=scratch_db)
    dumped, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert dumped.ok, dumped.error
    path = Path(dumped.result.path)
    cut = path.read_bytes()[: dumped.result.size * 2 // 3]
    path.write_bytes(cut)
    path.with_name(path.name + ".sha256").write_text(f"{hashlib.sha256(cut).hexdigest()}  {path.name}\n")

    finished, rec = await run(VerifyJob(settings), clock_at(VERIFY_AT))

    await assert_clean_failure(settings, finished, expect="truncated")
    assert "importing" in rec.phases and "cleanup" in rec.phases


@pytest.mark.parametrize("switch", [
    "USE `{other}`;",
    "use {other};",
    "  USE {other}",
    "/*!40000 USE `{other}` */;",
    "CREATE DATABASE IF NOT EXISTS `{other}`;",
    "/*!40000 DROP DATABASE `{other}` */;",
    # Not where mysqldump puts statements, but where a server still runs them:
    "SELECT 1; USE `{other}`;",
    "INSERT INTO filler VALUES (-1, 'a;b');USE {other};",
    "SELECT 'it''s'; /* hop */ USE {other};",
    "/* a comment */ USE {other};",
    "\rUSE {other};",
    "USE\r{other};",
    "/*M!100000 USE {other} */;",
    "CREATE OR REPLACE DATABASE `{other}`;",
])
@pytest.mark.parametrize("padding", [0, 4 * 1024 * 1024], ids=["at-once", "after-4MiB-imported"])
async def test_dump_switching_database_is_refused_and_other_db_untouched(
        mysql_server, scratch_db, settings_for, switch, padding):
    other = scratch_db
    sql(mysql_server, "CREATE TABLE precious (id INT PRIMARY KEY, v VARCHAR(20))",
        "INSERT INTO precious VALUES (1, 'keep'), (2, 'me')", database=other)
    settings = settings_for()
    rows = [f"({i},'{secrets.token_hex(200)}')" for i in range(padding // 410)]
    filler = "".join(f"INSERT INTO filler VALUES {','.join(rows[i:i + 100])};\n" for i in range(0, len(rows), 100))
    sql_dump(settings, "CREATE TABLE filler (id INT PRIMARY KEY, v TEXT);\n" + filler
             + switch.format(other=other) + "\n"
             + "DROP TABLE IF EXISTS precious;\nCREATE TABLE pwned (id INT);\n"
             + CRM_SCHEMA)

    finished, _ = await run(VerifyJob(settings), clock_at(VERIFY_AT))

    log = await assert_clean_failure(settings, finished, expect="refused at line")
    assert "switches or creates a database" in log.error
    assert sql(mysql_server, "SELECT id, v FROM precious ORDER BY id", database=other) == [(1, "keep"), (2, "me")]
    assert sql(mysql_server, "SHOW TABLES", database=other) == [("precious",)]
    assert finished.next_step and "not made by the DB backup job" in finished.next_step


@pytest.mark.parametrize("command", [
    "\\! touch {marker}",
    "system touch {marker}",
    "  \\! touch {marker}",
    "SYSTEM touch {marker};",
    "\\. {script}",
    "source {script}",
])
async def test_client_commands_in_a_dump_never_run_on_this_host(mysql_server, settings_for, tmp_path, command):
    marker = tmp_path / "pwned-marker"
    script = tmp_path / "evil.sql"
    script.write_text(f"system touch {marker}\n")
    settings = settings_for()
    sql_dump(settings, CRM_SCHEMA + command.format(marker=marker, script=script) + "\n")

    finished, _ = await run(VerifyJob(settings), clock_at(VERIFY_AT))

    log = await assert_clean_failure(settings, finished, expect="refused at line")
    assert "client command" in log.error
    assert not marker.exists()


@pytest.mark.parametrize("line", [
    "SELECT 1; \\! touch {marker}",
    "SELECT 1; system touch {marker}",
    "INSERT INTO users VALUES (3); \\! touch {marker}",
])
async def test_client_commands_after_a_statement_never_run(mysql_server, settings_for, tmp_path, line):
    marker = tmp_path / "pwned-marker"
    settings = settings_for()
    sql_dump(settings, CRM_SCHEMA + line.format(marker=marker) + "\n")
    finished, _ = await run(VerifyJob(settings), clock_at(VERIFY_AT))
    assert not marker.exists()
    log = await assert_clean_failure(settings, finished, expect="refused at line 6")
    assert "client command" in log.error


@pytest.mark.parametrize("command", ["\\! touch {marker}", "system touch {marker}"])
def test_the_import_client_itself_refuses_client_commands(mysql_server, scratch_db, tmp_path, command):
    """Second line of defence, without the guard: the client as the job starts it runs no shell."""
    marker = tmp_path / "client-marker"
    program = client_program()
    flavour, sandbox = client_capabilities(program)
    assert flavour == "mariadb" and sandbox
    with defaults_file(mysql_server) as cnf:
        argv = import_argv(program, str(cnf), scratch_db, sandbox)
        out = subprocess.run(argv, input=f"SELECT 1;\n{command.format(marker=marker)}\nSELECT 2;\n",
                             capture_output=True, text=True, pass_fds=(cnf.fd,))
    assert not marker.exists()
    assert out.returncode != 0
    assert "Access denied" not in out.stderr and out.stdout.startswith("1\n")  # it logged in and ran SQL


async def test_leftover_verify_databases_are_dropped_but_lookalikes_stay(mysql_server, crm_db, settings_for):
    keep = ["verify_notes", "verify_20200101_000000_x", "verify_2020010_000000", "drill_20200101_000000"]
    leftover = "verify_20200101_000000"
    for name in [leftover, *keep]:
        sql(mysql_server, f"DROP DATABASE IF EXISTS `{name}`", f"CREATE DATABASE `{name}`",
            f"CREATE TABLE `{name}`.t (id INT)", f"INSERT INTO `{name}`.t VALUES (7)")
    try:
        settings = settings_for(db_name=crm_db)
        dumped, _ = await run(DumpJob(settings), clock_at(NIGHT))
        assert dumped.ok, dumped.error
        finished, rec = await run(VerifyJob(settings), clock_at(VERIFY_AT))
        assert finished.ok, finished.error
        names = databases(mysql_server)
        assert leftover not in names
        for name in keep:
            assert name in names
            assert sql(mysql_server, f"SELECT id FROM `{name}`.t") == [(7,)]
        assert f"dropped {leftover}, left by a crashed run" in rec.output
    finally:
        sql(mysql_server, *[f"DROP DATABASE IF EXISTS `{name}`" for name in [leftover, *keep]])


def test_drop_database_refuses_names_it_did_not_make(mysql_server):
    for name in ("verify_notes", "crm", "verify_20200101_000000; DROP DATABASE crm", "mysql"):
        with pytest.raises(ValueError):
            drop_database(mysql_server, name)


async def test_least_privileged_user_verifies_a_dump_with_root_definers(
        mysql_server, crm_db, settings_for, make_db_user):
    """DEFINER=root on the view, trigger and routines would fail the import (ERROR 1227) for a user
    who may only touch verify_* databases: the job strips them from the stream."""
    root_settings = settings_for(db_name=crm_db)
    dumped, _ = await run(DumpJob(root_settings), clock_at(NIGHT))
    text = gzip.decompress(Path(dumped.result.path).read_bytes()).decode()
    assert "DEFINER=`root`@" in text

    user = make_db_user("ALL ON `verify\\_%`.*")
    settings = settings_for(user=user.name, password=user.password, backup_base=str(root_settings.backup_base))
    finished, _ = await run(VerifyJob(settings), clock_at(VERIFY_AT))
    assert finished.ok, finished.error
    assert verify_log(settings).tables == 5

    # Without the stripping, the same user fails on the first DEFINER: the stripping is what matters.
    name = "verify_20200202_000000"
    sql(mysql_server, f"CREATE DATABASE `{name}`")
    try:
        server = ServerConfig(mysql_server.host, mysql_server.port, None, user.name, Secret(user.password))
        ctx = JobContext(settings, "verify", Recorder(), time.time, Redactor(), asyncio.get_running_loop())
        with pytest.raises(JobError) as raised:
            await import_dump(ctx, server, Path(dumped.result.path), name, strip_definer=False)
        assert "1227" in str(raised.value) or "1227" in raised.value.stderr_tail
    finally:
        sql(mysql_server, f"DROP DATABASE IF EXISTS `{name}`")


async def test_missing_critical_table_fails(mysql_server, settings_for):
    settings = settings_for()
    sql_dump(settings, CRM_SCHEMA.replace("CREATE TABLE `opportunities` (id INT PRIMARY KEY);\n", ""))
    finished, _ = await run(VerifyJob(settings), clock_at(VERIFY_AT))
    log = await assert_clean_failure(settings, finished, expect="critical table missing after import: opportunities")
    assert log.values["rows.opportunities"] == "missing"
    assert log.rows["users"] == 2 and log.tables == 2


async def test_dump_without_trailer_fails(mysql_server, settings_for):
    settings = settings_for()
    sql_dump(settings, CRM_SCHEMA, trailer=False)
    finished, _ = await run(VerifyJob(settings), clock_at(VERIFY_AT))
    await assert_clean_failure(settings, finished, expect="trailer")


async def test_sql_error_fails_with_the_client_message(mysql_server, settings_for):
    settings = settings_for()
    sql_dump(settings, CRM_SCHEMA + "INSERT INTO users VALUES (1);\n")  # duplicate key
    finished, _ = await run(VerifyJob(settings), clock_at(VERIFY_AT))
    await assert_clean_failure(settings, finished, expect="the mysql client failed: ERROR 1062")


async def test_a_dump_with_a_malformed_checksum_file_is_never_the_one_verified(mysql_server, settings_for):
    """One definition of the newest valid dump: verify takes the one the checklist shows, not a newer
    dump whose .sha256 merely exists."""
    settings = settings_for()
    older = sql_dump(settings, CRM_SCHEMA, stamp="20261125-0200")
    newer = sql_dump(settings, CRM_SCHEMA, stamp="20261126-0200")
    newer.with_name(newer.name + ".sha256").write_text("not a checksum\n")
    from opsbackup_tui.core.checks import check_db_dump

    shown = check_db_dump(settings, BackupTree(settings.backup_base), VERIFY_AT).path
    assert shown == str(older) and str(older) in "\n".join(VerifyJob(settings).plan())
    finished, rec = await run(VerifyJob(settings), clock_at(VERIFY_AT))
    assert finished.ok, finished.error
    assert finished.result.dump == str(older) and verify_log(settings).dump == older.name

    older.unlink()
    finished, rec = await run(VerifyJob(settings), clock_at(VERIFY_AT + 60))
    assert not finished.ok and "no valid dump" in finished.error and ".sha256 is malformed" in finished.error
    assert rec.phases == []


async def test_no_dump_to_verify(mysql_server, settings_for):
    settings = settings_for()
    make_dump(settings.backup_base, "20261126-0100", sha=False)  # no .sha256: never valid
    finished, rec = await run(VerifyJob(settings), clock_at(VERIFY_AT))
    assert not finished.ok and "no valid dump" in finished.error
    assert rec.phases == []


async def test_server_unreachable_and_wrong_password(mysql_server, settings_for, make_db_user):
    from jobs_support import free_port

    settings = settings_for(port=free_port())
    sql_dump(settings, CRM_SCHEMA)
    finished, _ = await run(VerifyJob(settings), clock_at(VERIFY_AT))
    await assert_clean_failure_no_db(settings, finished, "cannot reach the MySQL server")

    user = make_db_user("ALL ON `verify\\_%`.*")
    settings = settings_for(user=user.name, password="not-" + user.password, backup_base=str(settings.backup_base))
    finished, _ = await run(VerifyJob(settings), clock_at(VERIFY_AT + 60))
    assert not finished.ok and "access denied" in finished.error
    assert user.password not in finished.error


async def assert_clean_failure_no_db(settings, finished, expect: str) -> None:
    assert not finished.ok and expect in finished.error, finished.error
    log = verify_log(settings)
    assert log.result == "FAIL" and expect in log.error


async def test_cancel_during_import_drops_the_database_and_stops_the_client(mysql_server, settings_for):
    """The dump waits on a named lock the test holds: the import is caught alive, then cancelled."""
    settings = settings_for()
    lock_name = f"opsb_test_{secrets.token_hex(4)}"
    sql_dump(settings, CRM_SCHEMA + f"DO GET_LOCK('{lock_name}', 600);\n")
    holder = None
    from jobs_support import admin

    holder = admin(mysql_server)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 5)", (lock_name,))
            assert cur.fetchone() == (1,)
        rec = Recorder()
        task = asyncio.ensure_future(run_job(VerifyJob(settings), rec, clock=clock_at(VERIFY_AT)))
        client = await asyncio.to_thread(wait_until, lambda: find_child("mariadb", with_arg="--binary-mode"),
                                         "the import client")
        await asyncio.to_thread(
            wait_until, lambda: any((row[7] or "").startswith("DO GET_LOCK")
                                    for row in sql(mysql_server, "SHOW PROCESSLIST")), "the import to block")
        assert VERIFY_DB in databases(mysql_server)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        holder.close()
    assert rec.finished.cancelled
    assert not pid_alive(client)
    assert VERIFY_DB not in databases(mysql_server)
    assert peek(settings.backup_base, "verify") is None
    assert "cleanup" in rec.phases


async def test_a_drop_that_fails_keeps_the_verdict_and_says_so(mysql_server, settings_for, make_db_user):
    """The scratch database's DROP is refused (the user may not drop): the verify stays OK, its
    summary says the drop failed, and the next run (an admin, a day later) drops the leftover."""
    user = make_db_user("CREATE, INSERT, SELECT ON `verify\\_%`.*")
    settings = settings_for(user=user.name, password=user.password)
    sql_dump(settings, CRM_SCHEMA)
    finished, rec = await run(VerifyJob(settings), clock_at(VERIFY_AT))
    try:
        assert finished.ok, finished.error
        assert "could not drop the scratch database verify_20261126_030000" in finished.summary
        assert finished.warnings and "the next run drops it" in finished.warnings[0]
        assert verify_log(settings).result == "OK"
        assert finished.result.database in databases(mysql_server)
        admin = settings_for(backup_base=str(settings.backup_base))
        later, later_rec = await run(VerifyJob(admin), clock_at(VERIFY_AT + 86400))
        assert later.ok, later.error
        assert f"dropped {finished.result.database}, left by a crashed run" in later_rec.output
        assert finished.result.database not in databases(mysql_server)
    finally:
        sql(mysql_server, f"DROP DATABASE IF EXISTS `{finished.result.database}`")
