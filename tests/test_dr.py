"""The DR wizard's core (core/dr.py, core/recovery.py, core/jobs/restore.py) against the real MariaDB
and real files: dump list and checksum cache, target checks, create/drop, the .env switch and its
backup, the reload command, the audit transcript, step 4's comparison, and the guarded import."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import stat
from datetime import datetime

import pytest
from dr_support import (  # noqa: F401 - fixtures
    counts,
    crm_sql,
    database_exists,
    drop_later,
    flip_byte,
    hand_dump,
    new_db_name,
    option_dirs,
    real_backup,
    routines,
    triggers,
    write_crm_env,
    write_verify_log,
)
from jobs_support import (  # noqa: F401
    Recorder,
    admin,
    crm_db,
    db_flags,
    find_child,
    free_port,
    make_db_user,
    option_file_is_a_pipe,
    sql,
    wait_until,
)
from treeutil import make_dump, set_age

from opsbackup_tui.core.artefacts.reports import Transcript
from opsbackup_tui.core.artefacts.tree import BackupTree
from opsbackup_tui.core.artefacts.verifylogs import VerifyLog
from opsbackup_tui.core.dr import (
    ShaCache,
    apply_env_switch,
    check_dump,
    check_target,
    create_sql,
    drop_sql,
    list_dumps,
    plan_env_switch,
    run_reload,
)
from opsbackup_tui.core.events import Progress
from opsbackup_tui.core.jobs.base import run_job
from opsbackup_tui.core.jobs.restore import RestoreJob
from opsbackup_tui.core.mysql import ServerConfig, execute
from opsbackup_tui.core.recovery import Comparison, compare
from opsbackup_tui.core.settings import Secret

WHEN = datetime(2026, 11, 26, 9, 30, 0)


# --- step 1: the dump list and the checksum cache ---


def test_dumps_newest_first_with_their_verify_log_and_note(make_settings):
    settings = make_settings()
    base = settings.backup_base
    old = hand_dump(base, "20261124-0200", crm_sql(), age_s=3 * 86400)
    mid = hand_dump(base, "20261125-0200", crm_sql(), age_s=2 * 86400)
    new = hand_dump(base, "20261126-0200", crm_sql(), age_s=3600)
    (base / "db" / "full-20261126-0300.sql.gz").write_bytes(b"no checksum")  # never listed
    (base / "db" / "full-20261126-0400.sql.gz.partial").write_bytes(b"partial")
    (base / "db" / f"{old.name}.note").write_text("migrated from backup.sql; no trailer\n")
    write_verify_log(base, "20261125-0300", mid.name, 3, {"users": 3}, result="FAIL")
    write_verify_log(base, "20261126-0300", mid.name, 3, {"users": 3})  # the newest log of mid wins
    rows = list_dumps(settings)
    assert [r.dump.name for r in rows] == [new.name, mid.name, old.name]
    assert [r.sha for r in rows] == ["unchecked"] * 3
    assert rows[0].verify is None and rows[2].verify is None
    assert rows[1].verify.path.name == "verify-20261126-0300.log" and rows[1].verify.ok
    assert rows[2].note == "migrated from backup.sql; no trailer" and rows[0].note is None


def test_check_dump_verifies_and_caches_by_path_size_and_mtime(make_settings):
    settings = make_settings()
    base = settings.backup_base
    good = hand_dump(base, "20261125-0200", crm_sql())
    bad = hand_dump(base, "20261126-0200", crm_sql(users=4))
    flip_byte(bad)
    rows = list_dumps(settings)
    read: list[int] = []
    assert check_dump(settings, rows[0], read.append) == "MISMATCH"
    assert sum(read) == bad.stat().st_size
    assert check_dump(settings, rows[1]) == "OK"
    # A new session reads the verdicts from the cache (no hashing), kept 0600 in the state dir.
    assert [r.sha for r in list_dumps(settings)] == ["MISMATCH", "OK"]
    cache = settings.state_dir / "sha-cache.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert set(json.loads(cache.read_text()).values()) == {"MISMATCH", "OK"}
    # A changed file (new mtime, new size) is checked again.
    set_age(good, 60)
    bad.write_bytes(bad.read_bytes() + b"\0")
    assert [r.sha for r in list_dumps(settings)] == ["unchecked", "unchecked"]


def test_only_valid_dumps_are_offered(make_settings):
    """One definition of a valid dump: a .sha256 that names another file, or none at all, makes a
    dump that the wizard never offers (as the checklist never counts it)."""
    settings = make_settings()
    base = settings.backup_base
    dump = hand_dump(base, "20261126-0200", crm_sql())
    older = hand_dump(base, "20261125-0200", crm_sql(users=2))
    sha = base / "db" / f"{dump.name}.sha256"
    sha.write_text(f"{'a' * 64}  full-20261125-0200.sql.gz\n")  # names another file
    assert [row.dump.name for row in list_dumps(settings)] == [older.name]
    sha.write_text("not a checksum\n")
    assert [row.dump.name for row in list_dumps(settings)] == [older.name]
    assert BackupTree(base).newest_valid_dump().name == older.name
    older.unlink()
    shutil.copy(dump, dump.with_suffix(".bak"))
    dump.unlink()
    dump.mkdir()  # a folder where the dump was: not a valid dump any more
    assert list_dumps(settings) == []


def test_check_dump_on_an_unreadable_dump(public_tmp):
    from treeutil import run_as_nobody

    from opsbackup_tui.core.settings import load_settings

    settings = load_settings({"backup_base": str(public_tmp / "backups"), "state_dir": str(public_tmp / "state"),
                              "log_path": str(public_tmp / "ops.log")}, environ={}, config_path=None)
    dump = hand_dump(settings.backup_base, "20261126-0200", crm_sql())
    dump.chmod(0o000)
    settings.state_dir.mkdir()
    settings.state_dir.chmod(0o777)
    for folder in (settings.backup_base, settings.db_dir):
        folder.chmod(0o755)

    def check() -> str:
        [row] = list_dumps(settings)
        return check_dump(settings, row)

    assert run_as_nobody(check) == "unreadable"


def test_the_sha_cache_survives_a_broken_cache_file(make_settings):
    settings = make_settings()
    hand_dump(settings.backup_base, "20261126-0200", crm_sql())
    settings.state_dir.mkdir(parents=True)
    (settings.state_dir / "sha-cache.json").write_text("{not json")
    [row] = list_dumps(settings)
    assert row.sha == "unchecked"
    assert check_dump(settings, row) == "OK"
    assert ShaCache(settings.state_dir).get(row.dump) == "OK"


# --- step 2: the target ---


def test_check_target_of_a_new_database(mysql_server):
    name = new_db_name()
    report = check_target(mysql_server, name, "crm_prod")
    assert report.reachable and not report.exists and report.tables == 0 and report.sessions == 0
    assert report.privileges_ok is True  # root: ALL PRIVILEGES ON *.*
    assert report.refused is None and not report.needs_typed_name and not report.production
    assert report.server == mysql_server.describe()


def test_check_target_of_a_non_empty_database_with_a_session(mysql_server, scratch_db):
    sql(mysql_server, "CREATE TABLE a (id INT)", "CREATE TABLE b (id INT)", "CREATE VIEW v AS SELECT * FROM a",
        database=scratch_db)
    report = check_target(mysql_server, scratch_db, None)
    assert report.exists and report.tables == 3 and report.needs_typed_name and report.refused is None
    other = admin(mysql_server, scratch_db)
    try:
        report = check_target(mysql_server, scratch_db, None)
        assert report.sessions == 1
        assert "1 other session(s)" in report.refused
    finally:
        other.close()


def test_check_target_of_the_production_database(mysql_server, scratch_db):
    report = check_target(mysql_server, scratch_db, scratch_db)
    assert report.production and report.tables == 0 and report.needs_typed_name
    assert not check_target(mysql_server, scratch_db, scratch_db + "x").production
    assert not check_target(mysql_server, scratch_db, None).production


@pytest.mark.parametrize("name", ["", "crm-restore", "crm;drop", "a" * 65, "crm restore", "crm`x", "ünï"])
def test_check_target_refuses_names_that_are_not_plain(mysql_server, name):
    report = check_target(mysql_server, name, None)
    assert not report.reachable and "plain MySQL name" in report.refused


def test_check_target_of_an_unreachable_or_refusing_server(mysql_server):
    report = check_target(ServerConfig(mysql_server.host, free_port(), None, "root", None), "crm_restore", None)
    assert not report.reachable and "cannot reach the MySQL server" in report.refused
    wrong = ServerConfig(mysql_server.host, mysql_server.port, None, "root", Secret("wrong-password"))
    report = check_target(wrong, "crm_restore", None)
    assert not report.reachable and "access denied" in report.refused and "wrong-password" not in report.refused


def test_check_target_reads_the_privileges_from_the_grants(mysql_server, make_db_user):
    user = make_db_user("ALL ON `opsb\\_dr\\_%`.*")
    server = ServerConfig(mysql_server.host, mysql_server.port, None, user.name, Secret(user.password))
    assert check_target(server, new_db_name(), None).privileges_ok is True
    assert check_target(server, "elsewhere_db", None).privileges_ok is False
    reader = make_db_user("SELECT ON *.*")
    server = ServerConfig(mysql_server.host, mysql_server.port, None, reader.name, Secret(reader.password))
    report = check_target(server, new_db_name(), None)
    assert report.reachable and report.privileges_ok is False


def test_create_and_drop_the_target(mysql_server, drop_later):
    name = drop_later(new_db_name())
    statement = execute(mysql_server, create_sql(name))
    assert statement == f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    assert sql(mysql_server, "SELECT default_character_set_name FROM information_schema.schemata "
                             f"WHERE schema_name = '{name}'") == [("utf8mb4",)]
    with pytest.raises(Exception, match="exists"):
        execute(mysql_server, create_sql(name))  # never IF NOT EXISTS
    assert execute(mysql_server, drop_sql(name)) == f"DROP DATABASE `{name}`"
    assert not database_exists(mysql_server, name)


# --- step 5: the .env switch ---


def test_plan_env_switch_changes_only_the_db_keys(tmp_path):
    env = tmp_path / ".env"
    env.write_text("APP_NAME=CRM\n# database\nexport DB_HOST=10.0.0.9\nDB_PORT = 3306\nDB_DATABASE='crm'\n"
                   "DB_USERNAME=crm\nDB_PASSWORD=\"p#ss word\"\nMAIL_HOST=smtp.example.com")
    switch = plan_env_switch(env, {"DB_HOST": "127.0.0.1", "DB_PORT": "3306", "DB_DATABASE": "crm_restore_20261126",
                                   "DB_SOCKET": "/run/mysqld/my sock"})
    assert switch.changes == {"DB_HOST": ("10.0.0.9", "127.0.0.1"), "DB_DATABASE": ("crm", "crm_restore_20261126"),
                              "DB_SOCKET": (None, "/run/mysqld/my sock")}
    # A value keeps its quotes; a new key goes at the end.
    assert switch.new == ("APP_NAME=CRM\n# database\nexport DB_HOST=127.0.0.1\nDB_PORT = 3306\n"
                          "DB_DATABASE='crm_restore_20261126'\nDB_USERNAME=crm\nDB_PASSWORD=\"p#ss word\"\n"
                          "MAIL_HOST=smtp.example.com\nDB_SOCKET=\"/run/mysqld/my sock\"\n")
    assert env.read_text() == switch.old  # planning writes nothing
    assert "-export DB_HOST=10.0.0.9\n+export DB_HOST=127.0.0.1\n" in switch.diff
    assert f"{env} (now)" in switch.diff and f"{env} (after)" in switch.diff
    assert plan_env_switch(env, {"DB_PORT": "3306"}).changes == {}


def test_apply_env_switch_keeps_a_backup_and_the_mode_and_owner(tmp_path):
    env = tmp_path / ".env"
    old = write_crm_env(env, host="10.0.0.9", database="crm")
    env.chmod(0o640)
    os.chown(env, 65534, 65534)
    switch = plan_env_switch(env, {"DB_HOST": "127.0.0.1", "DB_DATABASE": "crm_restore"})
    backup = apply_env_switch(switch, WHEN)
    assert backup == tmp_path / ".env.bak-20261126-093000"
    assert backup.read_text() == old
    assert env.read_text() == switch.new and "DB_HOST=127.0.0.1\n" in switch.new
    st = os.stat(env)
    assert stat.S_IMODE(st.st_mode) == 0o640 and (st.st_uid, st.st_gid) == (65534, 65534)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", ".env.bak-20261126-093000"]  # no temp file left


def test_apply_env_switch_refuses_a_file_changed_since_the_diff(tmp_path):
    env = tmp_path / ".env"
    write_crm_env(env, host="10.0.0.9", database="crm")
    switch = plan_env_switch(env, {"DB_HOST": "127.0.0.1"})
    with open(env, "a") as handle:
        handle.write("DB_HOST=10.0.0.10\n")  # someone else edited it meanwhile
    changed = env.read_text()
    with pytest.raises(RuntimeError, match="changed since the diff was shown"):
        apply_env_switch(switch, WHEN)
    assert env.read_text() == changed and not list(tmp_path.glob(".env.bak-*"))


def test_run_reload_runs_without_a_shell_in_the_given_folder_without_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("OPS_DB_PASSWORD", "s3cret-db")
    monkeypatch.setenv("RESTIC_PASSWORD", "s3cret-restic")
    code, output = run_reload(["sh", "-c", 'pwd; echo "[$OPS_DB_PASSWORD$RESTIC_PASSWORD]"; echo oops >&2'], tmp_path)
    assert code == 0
    assert output.splitlines() == [str(tmp_path), "[]", "oops"]
    code, output = run_reload(["php", "artisan", "config:clear; touch /tmp/never"], tmp_path)
    assert code == 127 and "php: command not found" in output
    assert run_reload(["sh", "-c", "exit 3"], tmp_path)[0] == 3
    code, output = run_reload(["sleep", "5"], tmp_path, timeout=0.3)
    assert code == 124 and "did not finish" in output


# --- the audit transcript ---


def test_audit_transcript_records_who_when_and_each_step(tmp_path, monkeypatch):
    monkeypatch.setenv("SUDO_USER", "alice")
    monkeypatch.setenv("SSH_CONNECTION", "10.1.2.3 50000 10.0.0.2 22")
    transcript = Transcript(tmp_path / "reports", WHEN)
    assert transcript.path == tmp_path / "reports" / "dr-20261126-093000.md"
    transcript.step("step 1: dump picked", WHEN)
    transcript.command("sha256 /srv/backups/crm/db/full-20261126-0200.sql.gz")
    transcript.result("OK")
    # Written as it happens: readable before the session ends.
    assert "- result: OK" in transcript.path.read_text()
    transcript.close()
    transcript.write("after close")  # ignored, never raises
    text = transcript.path.read_text()
    assert text.startswith("# DR session 2026-11-26 09:30:00\n\noperator: ")
    assert "(sudo from alice), ssh from 10.1.2.3" in text
    assert "\n## 09:30:00 step 1: dump picked\n" in text
    assert "- run: `sha256 /srv/backups/crm/db/full-20261126-0200.sql.gz`" in text and "after close" not in text
    assert stat.S_IMODE(transcript.path.stat().st_mode) == 0o640


# --- step 4: the comparison with the verify log ---


def test_verify_log_for_a_dump_by_name_or_by_checksum(make_settings):
    settings = make_settings()
    base = settings.backup_base
    dump = hand_dump(base, "20261126-0200", crm_sql())
    tree = BackupTree(base)
    [entry] = list(tree.valid_dumps())
    assert tree.verify_log_for(entry) is None
    digest = entry.expected_sha256()
    # A log made when the dump had another name (renamed by a migration) matches by its sha256.
    write_verify_log(base, "20261125-0300", "backup-old-name.sql.gz", 3, {"users": 3}, digest=digest)
    assert BackupTree(base).verify_log_for(entry).path.name == "verify-20261125-0300.log"
    # An OK log beats a newer FAIL one; a FAIL one is the fallback.
    write_verify_log(base, "20261126-0300", dump.name, 3, {"users": 3}, result="FAIL")
    assert BackupTree(base).verify_log_for(entry).path.name == "verify-20261125-0300.log"
    (base / "verify" / "verify-20261125-0300.log").unlink()
    found = BackupTree(base).verify_log_for(entry)
    assert found.path.name == "verify-20261126-0300.log" and not found.ok


def test_compare_side_by_side(tmp_path):
    log_path = write_verify_log(tmp_path, "20261126-0300", "d", 5, {"users": 3, "contacts": 5, "opportunities": 4})
    log = VerifyLog.read(log_path)
    same = compare(log, 5, {"users": 3, "contacts": 5, "opportunities": 4})
    assert all(c.ok for c in same) and [c.item for c in same] == ["tables", "rows.users", "rows.contacts",
                                                                  "rows.opportunities"]
    diff = compare(log, 4, {"users": 3, "contacts": 6, "opportunities": None})
    assert [c.ok for c in diff] == [False, True, False, False]
    assert [c.text for c in diff if not c.ok] == ["tables: expected 5, restored 4  ✗",
                                                   "rows.contacts: expected 5, restored 6  ✗",
                                                   "rows.opportunities: expected 4, restored missing  ✗"]
    # Without a log (or with a FAIL one): only "present" can be checked.
    for no_log in (None, VerifyLog.read(write_verify_log(tmp_path, "20261126-0400", "d", 9, {"users": 1},
                                                           result="FAIL"))):
        checks = compare(no_log, 5, {"users": 3, "contacts": None})
        assert checks == [Comparison("tables", None, 5, True), Comparison("rows.users", None, 3, True),
                          Comparison("rows.contacts", None, None, False)]
    assert not compare(None, 0, {})[0].ok  # no tables at all is never a recovery


# --- step 3: the import as a job, against the real server ---


@pytest.fixture
async def backed_up(tmp_path, make_settings, mysql_server, crm_db):
    """A CRM database, a real dump of it (DumpJob) and a verify log (VerifyJob)."""
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    backup = await real_backup(settings)
    return settings, backup, crm_db


async def test_restore_job_recreates_the_database(backed_up, mysql_server, drop_later, own_tmp):
    settings, _, crm = backed_up
    target = drop_later(new_db_name())
    execute(mysql_server, create_sql(target))
    dump = BackupTree(settings.backup_base).newest_valid_dump()
    job = RestoreJob(settings, ServerConfig.from_settings(settings), dump, target)
    plan = "\n".join(job.plan())
    assert "--sandbox" in plan and "--binary-mode" in plan and f"--database={target}" in plan
    assert "DEFINER" not in plan
    recorder = Recorder()
    finished = await run_job(job, recorder)
    assert finished.ok, finished.error
    assert finished.result.database == target and finished.result.tables == len(counts(mysql_server, crm)[1])
    assert counts(mysql_server, target) == counts(mysql_server, crm)
    assert routines(mysql_server, target) == routines(mysql_server, crm)
    assert triggers(mysql_server, target) == triggers(mysql_server, crm)
    assert option_dirs(own_tmp) == []
    progress = recorder.of(Progress)
    assert progress and progress[-1].done == progress[-1].total == dump.size
    log = settings.log_path.read_text()
    assert "job dr_import started" in log and "job dr_import finished OK" in log


async def test_restore_job_as_a_least_privilege_user_needs_definers_removed(backed_up, mysql_server, drop_later,
                                                                          make_db_user):
    settings, _, crm = backed_up
    user = make_db_user("ALL ON `opsb\\_dr\\_%`.*")
    server = ServerConfig(mysql_server.host, mysql_server.port, None, user.name, Secret(user.password))
    dump = BackupTree(settings.backup_base).newest_valid_dump()
    kept = drop_later(new_db_name())
    execute(server, create_sql(kept))
    finished = await run_job(RestoreJob(settings, server, dump, kept), Recorder())
    assert not finished.ok and "1227" in finished.error, finished.error
    assert user.password not in finished.error + finished.stderr_tail
    stripped = drop_later(new_db_name())
    execute(server, create_sql(stripped))
    job = RestoreJob(settings, server, dump, stripped, strip_definer=True)
    assert "removes DEFINER clauses" in job.plan()[0]
    finished = await run_job(job, Recorder())
    assert finished.ok, finished.error
    assert counts(mysql_server, stripped) == counts(mysql_server, crm)


async def test_restore_job_refuses_a_dump_that_switches_database(make_settings, tmp_path, mysql_server, scratch_db,
                                                                 drop_later):
    sql(mysql_server, "CREATE TABLE victims (id INT)", "INSERT INTO victims VALUES (1),(2)", database=scratch_db)
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets"))
    hand_dump(settings.backup_base, "20261126-0200",
              crm_sql(extra=f"USE `{scratch_db}`;\nDELETE FROM victims;\n"))
    target = drop_later(new_db_name())
    execute(mysql_server, create_sql(target))
    dump = BackupTree(settings.backup_base).newest_valid_dump()
    finished = await run_job(RestoreJob(settings, mysql_server, dump, target), Recorder())
    assert not finished.ok and "refused at line" in finished.error and f"USE `{scratch_db}`" in finished.error
    assert sql(mysql_server, "SELECT COUNT(*) FROM victims", database=scratch_db) == [(2,)]
    assert {t for (t,) in sql(mysql_server, "SHOW TABLES", database=target)} <= {"users", "contacts", "opportunities"}


async def test_restore_job_fails_on_a_truncated_dump(make_settings, tmp_path, mysql_server, drop_later):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets"))
    path = hand_dump(settings.backup_base, "20261126-0200", crm_sql(contacts=2000))
    data = path.read_bytes()[: path.stat().st_size // 2]
    make_dump(settings.backup_base, "20261126-0200", data=data)  # cut short, with a matching .sha256
    target = drop_later(new_db_name())
    execute(mysql_server, create_sql(target))
    dump = BackupTree(settings.backup_base).newest_valid_dump()
    finished = await run_job(RestoreJob(settings, mysql_server, dump, target), Recorder())
    assert not finished.ok and "truncated" in finished.error, finished.error


async def test_restore_job_cancelled_stops_the_client_and_removes_its_option_file(
        make_settings, tmp_path, mysql_server, drop_later, own_tmp):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets"))
    hand_dump(settings.backup_base, "20261126-0200", crm_sql(extra="SELECT SLEEP(1);\n" * 90))
    target = drop_later(new_db_name())
    execute(mysql_server, create_sql(target))
    dump = BackupTree(settings.backup_base).newest_valid_dump()
    recorder = Recorder()
    task = asyncio.ensure_future(run_job(RestoreJob(settings, mysql_server, dump, target), recorder))
    while not sql(mysql_server, "SHOW TABLES", database=target):
        await asyncio.sleep(0.05)
    client = find_child("mariadb")
    assert client is not None and option_file_is_a_pipe(client) and option_dirs(own_tmp) == []
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.finished.cancelled
    assert find_child("mariadb") is None
    assert option_dirs(own_tmp) == []
    assert "job dr_import cancelled" in settings.log_path.read_text()


def test_the_env_switch_keeps_comments_quotes_and_line_ends(tmp_path):
    """One reader and writer of the .env: an inline comment is no part of the value (so `crm # prod`
    is not seen as changed) and stays on the line a rewrite changes; CRLF files stay CRLF."""
    env = tmp_path / ".env"
    env.write_bytes(b"APP_NAME=CRM\r\nDB_HOST=10.0.0.9 # the primary\r\nDB_DATABASE=crm # prod\r\n"
                    b"DB_PASSWORD=\"s3cret value\"\r\nAPP_KEY=base64:Zm9vYmFy\r\n")
    assert plan_env_switch(env, {"DB_DATABASE": "crm"}).changes == {}
    switch = plan_env_switch(env, {"DB_HOST": "127.0.0.1", "DB_DATABASE": "crm_restore"})
    assert switch.changes == {"DB_HOST": ("10.0.0.9", "127.0.0.1"), "DB_DATABASE": ("crm", "crm_restore")}
    assert switch.new == ("APP_NAME=CRM\r\nDB_HOST=127.0.0.1 # the primary\r\nDB_DATABASE=crm_restore # prod\r\n"
                          "DB_PASSWORD=\"s3cret value\"\r\nAPP_KEY=base64:Zm9vYmFy\r\n")
    # The diff shown before writing masks the secrets, here as everywhere a file is shown.
    assert "s3cret" not in switch.diff and "Zm9vYmFy" not in switch.diff
    assert "DB_PASSWORD=***" in switch.diff and "APP_KEY=***" in switch.diff
    apply_env_switch(switch, WHEN)
    assert env.read_bytes() == switch.new.encode()
