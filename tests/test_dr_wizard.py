"""The DR wizard (R) driven by keys against the real MariaDB: a whole recovery from a real dump of a
CRM database that is then dropped, walked with Enter and y alone; and each refusal: a non-empty
target or the production database without the typed name, a dump whose checksum fails, a dump
that switches database, a cancelled import (x), leaving the wizard mid-import (escape, q, ctrl+q).
Every test counts its keys: no click, no Tab to a button."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import pytest
from dr_support import (  # noqa: F401 - fixtures
    Keys,
    counts,
    crm_sql,
    database_exists,
    drop_later,
    flip_byte,
    hand_dump,
    hint,
    new_db_name,
    on_step,
    option_dirs,
    real_backup,
    result,
    result_says,
    routines,
    swept,
    text_of,
    triggers,
    wait_for,
    write_crm_env,
    write_verify_log,
)
from jobs_support import crm_db, db_flags, option_file_is_a_pipe, sql  # noqa: F401 - fixtures
from textual.widgets import DataTable
from ui_support import settle

from opsbackup_tui.app import make_app
from opsbackup_tui.core.artefacts.verifylogs import VerifyLog
from opsbackup_tui.screens.confirm import ConfirmScreen
from opsbackup_tui.screens.dashboard import DashboardScreen
from opsbackup_tui.screens.dr.audit import AuditScreen
from opsbackup_tui.screens.dr.importing import ImportScreen
from opsbackup_tui.screens.dr.pick import PickDumpScreen
from opsbackup_tui.screens.dr.switch import SwitchScreen
from opsbackup_tui.screens.dr.target import TargetScreen
from opsbackup_tui.screens.dr.verify import VerifyScreen

SIZE = (120, 40)


def transcripts(settings) -> list[Path]:
    return sorted(settings.reports_dir.glob("dr-*.md"))


def default_target(settings) -> str:
    """The database step 2 proposes: <OPS_DB_NAME>_restore_YYYYmmdd."""
    return f"{settings.db_name or 'crm'}_restore_{datetime.now():%Y%m%d}"


async def confirm(pilot) -> ConfirmScreen:
    return await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen,
                          "a confirmation")


async def open_wizard(pilot, keys: Keys) -> PickDumpScreen:
    await settle(pilot)
    await keys("R")
    return await on_step(pilot, PickDumpScreen)


async def to_target(pilot, keys: Keys) -> TargetScreen:
    pick = await open_wizard(pilot, keys)
    await keys.enter_when(pick, "restore from")
    return await on_step(pilot, TargetScreen)


async def to_import(pilot, keys: Keys, database: str | None = None) -> ImportScreen:
    """Step 1 (the default dump), step 2 (the default target, or `database`, created), the import step."""
    step2 = await to_target(pilot, keys)
    if database is not None:
        await keys.retype(database)
    await keys.enter_when(step2, "check the target")
    await keys.enter_when(step2, "create `")
    await keys.enter_when(step2, "restore into `")
    return await on_step(pilot, ImportScreen)


# --- the whole recovery ---


async def test_end_to_end_recovery_from_a_real_dump_with_enter_and_y_alone(
        tmp_path, make_settings, mysql_server, crm_db, drop_later, own_tmp):
    crm_env = tmp_path / "crm" / ".env"
    old_env = write_crm_env(crm_env, host="10.0.0.9", database=crm_db)
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db, crm_env=crm_env,
                                        reload_command="touch reloaded.flag"))
    original = counts(mysql_server, crm_db)
    original_routines, original_triggers = routines(mysql_server, crm_db), triggers(mysql_server, crm_db)
    assert original[0] >= 5 and original[1]["contacts"] == 5
    backup = await real_backup(settings)
    # The disaster: the CRM's database is gone.
    sql(mysql_server, f"DROP DATABASE `{crm_db}`")
    restored_db = drop_later(default_target(settings))

    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        # 1: the newest dump whose sha256 verifies is the default, its verify log shown.
        pick = await open_wizard(pilot, keys)
        await wait_for(pilot, lambda: f"restore from {backup.dump.name}" in hint(pick), "the default dump")
        assert backup.verify_log.path.name in str(pick.query_one(DataTable).get_row_at(0)[4])
        await keys("enter")
        # 2: the proposed database on the same server: checked, created, checked again.
        step2 = await on_step(pilot, TargetScreen)
        await keys.enter_when(step2, "check the target")
        await keys.enter_when(step2, f"create `{restored_db}`")
        await result_says(pilot, step2, "is empty and ready")
        assert "grants cover the import" in text_of(step2.query_one("#report"))
        await keys("enter")
        # 3: the streamed import.
        step3 = await on_step(pilot, ImportScreen)
        assert "--sandbox" in text_of(step3.query_one("#plan"))
        await keys.enter_when(step3, f"import into `{restored_db}`")
        await result_says(pilot, step3, "imported:")
        assert text_of(step3.query_one("#plan-label")) == "ran:"
        await keys.enter_when(step3, "next")
        # 4: every number equals the verify log's.
        step4 = await on_step(pilot, VerifyScreen)
        await result_says(pilot, step4, "the restored database matches its verify log")
        table = step4.query_one(DataTable)
        marks = [str(table.get_row_at(i)[3]) for i in range(table.row_count)]
        assert marks == ["✓"] * 4, marks
        assert f"Compared with {backup.verify_log.path.name}" in text_of(step4.query_one("#source"))
        await keys.enter_when(step4, "next")
        # 5: the .env diff (the password masked), confirmed with y, then the reload command.
        step5 = await on_step(pilot, SwitchScreen)
        await keys.enter_when(step5, "write the new .env")
        intro = text_of(step5.query_one("#intro"))
        assert "DB_HOST 10.0.0.9 → 127.0.0.1" in intro and f"DB_DATABASE {crm_db} → {restored_db}" in intro
        ask = await confirm(pilot)
        assert f"+DB_DATABASE={restored_db}" in "\n".join(ask.lines)
        await keys("y")
        await result_says(pilot, step5, "written; the old file is kept as")
        await keys.enter_when(step5, "run touch reloaded.flag")
        await result_says(pilot, step5, "reload command exited 0")
        await keys.enter_when(step5, "next")
        # 6: the post-audit verify restore, then the end.
        step6 = await on_step(pilot, AuditScreen)
        for _ in range(3):
            await keys.enter_when(step6, "run the verify restore")
            await wait_for(pilot, lambda: "finish" in hint(step6), "the verify restore's result")
            if not swept(result(step6)):
                break
            step6.verified = None  # another process's verify swept it: run it again
        assert not step6.query_one("#verdict").has_class("-bad"), result(step6)
        assert "lines imported)" in result(step6)
        await keys("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and not app._dr_running,
                       "back on the dashboard")
        assert keys.used() == {"R", "enter", "y"}, keys.pressed

    # The restored database equals the original: tables, views, rows, triggers, routines.
    assert counts(mysql_server, restored_db) == original
    assert triggers(mysql_server, restored_db) == original_triggers
    assert routines(mysql_server, restored_db) == original_routines
    # The CRM points at it; the old .env is kept beside it.
    env_text = crm_env.read_text()
    assert f"DB_DATABASE={restored_db}\n" in env_text and "DB_HOST=127.0.0.1\n" in env_text
    assert 'MAIL_PASSWORD="mail p#ss"' in env_text and "# the database" in env_text
    backups = sorted(crm_env.parent.glob(".env.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == old_env
    assert os.stat(crm_env).st_mode & 0o777 == 0o640
    assert (crm_env.parent / "reloaded.flag").exists()  # the reload ran in the .env's folder
    # The audit transcript records each step, each command, each result.
    [transcript] = transcripts(settings)
    text = transcript.read_text()
    for needle in ("# DR session", "operator: ", "step 1: dump picked", backup.dump.name, "step 2: target checked",
                   f"CREATE DATABASE `{restored_db}`", "step 3: import", "imported into", "step 4: verify",
                   "rows.contacts: expected 5, restored 5", "step 5: switch the application",
                   f"DB_DATABASE={restored_db}", "touch reloaded.flag", "exit 0", "step 6: post-audit verify restore",
                   "session completed"):
        assert needle in text, f"{needle!r} missing from the transcript:\n{text}"
    assert option_dirs(own_tmp) == []
    # The post-audit wrote its own verify log (OK) and dropped its verify database.
    audit_log = max(p for p in settings.verify_dir.glob("verify-*.log") if p != backup.verify_log.path)
    audit = VerifyLog.read(audit_log)
    assert audit.ok and audit.dump == backup.dump.name
    assert not database_exists(mysql_server, audit.values["database"])


# --- refusals ---


def hand_settings(tmp_path, make_settings, mysql_server, body: str | None = None, **extra):
    """Settings over a tree holding one hand-made dump (a true .sha256) of a small CRM; OPS_DB_NAME a
    name of its own (the proposed target, <name>_restore_<date>, is then the test's alone)."""
    extra.setdefault("db_name", new_db_name("crm_prod"))
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", **extra))
    hand_dump(settings.backup_base, "20261126-0200", crm_sql() if body is None else body)
    return settings


def slow_body(seconds: int = 90) -> str:
    """A CRM dump whose import takes `seconds` after its first table: the real client and server, slowed."""
    return crm_sql(extra="".join("SELECT SLEEP(1);\n" for _ in range(seconds)))


async def test_non_empty_target_needs_its_name_typed(tmp_path, make_settings, mysql_server, scratch_db):
    sql(mysql_server, "CREATE TABLE keepme (id INT)", database=scratch_db)
    settings = hand_settings(tmp_path, make_settings, mysql_server)
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        step2 = await to_target(pilot, keys)
        await keys.retype(scratch_db)
        await keys.enter_when(step2, "check the target")
        await result_says(pilot, step2, "not empty (1 tables)")
        assert step2.has_class("-needs-name") and step2.query_one("#typed").has_focus
        for wrong in (scratch_db.upper(), scratch_db + "x", scratch_db[:-1]):
            await keys.retype(wrong)
            await keys("enter")
            await result_says(pilot, step2, f"`{wrong}` is not `{scratch_db}`")
            assert isinstance(app.screen, TargetScreen), wrong
        await keys.retype(scratch_db)
        await keys.enter_when(step2, f"restore into `{scratch_db}`")
        await on_step(pilot, ImportScreen)
        assert keys.used() <= {"R", "enter", "end", "ctrl+u", *scratch_db, *scratch_db.upper(), "x"}
    assert sql(mysql_server, "SHOW TABLES", database=scratch_db) == [("keepme",)]  # nothing imported yet
    text = transcripts(settings)[0].read_text()
    assert f"operator typed `{scratch_db}`" in text and "exists with 1 tables" in text


async def test_changing_the_target_forgets_its_check(tmp_path, make_settings, mysql_server, scratch_db):
    sql(mysql_server, "CREATE TABLE keepme (id INT)", database=scratch_db)
    settings = hand_settings(tmp_path, make_settings, mysql_server)
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        step2 = await to_target(pilot, keys)
        await keys.retype(scratch_db)
        await keys.enter_when(step2, "check the target")
        await result_says(pilot, step2, "not empty")
        await keys("shift+tab")  # back to the database field, then another name: the check is forgotten
        await keys.retype(scratch_db + "2")
        assert "check the target" in hint(step2) and not step2.has_class("-needs-name")


async def test_production_database_needs_its_name_typed(tmp_path, make_settings, mysql_server, scratch_db):
    settings = hand_settings(tmp_path, make_settings, mysql_server, db_name=scratch_db)
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        step2 = await to_target(pilot, keys)
        await keys.retype(scratch_db)
        await keys.enter_when(step2, "check the target")  # empty, but it is OPS_DB_NAME
        await result_says(pilot, step2, "is the production database")
        assert "PRODUCTION database (OPS_DB_NAME)" in text_of(step2.query_one("#report"))
        await keys(*"crm_q")  # q types a q in a field, never leaves
        assert isinstance(app.screen, TargetScreen) and step2.query_one("#typed").value == "crm_q"
        await keys.retype(scratch_db)
        await keys.enter_when(step2, f"restore into `{scratch_db}`")
        await on_step(pilot, ImportScreen)


async def test_a_target_with_other_sessions_or_unreachable_is_refused_whatever_is_typed(
        tmp_path, make_settings, mysql_server, scratch_db):
    from jobs_support import admin, free_port

    settings = hand_settings(tmp_path, make_settings, mysql_server)
    app = make_app(settings, clock=time.time, host="backup-host")
    other = admin(mysql_server, scratch_db)  # a CRM worker still connected to it
    try:
        async with app.run_test(size=SIZE) as pilot:
            keys = Keys(pilot)
            step2 = await to_target(pilot, keys)
            await keys.retype(scratch_db)
            await keys.enter_when(step2, "check the target")
            await result_says(pilot, step2, "refused: 1 other session(s)")
            assert not step2.has_class("-needs-name")
            await keys("enter")
            await result_says(pilot, step2, "refused: 1 other session(s)")
            assert isinstance(app.screen, TargetScreen)
            # The port field: four Tabs up (database ← password ← user ← socket ← port).
            await keys("shift+tab", "shift+tab", "shift+tab", "shift+tab")
            assert step2.query_one("#f-port").has_focus
            await keys.retype(str(free_port()))
            await keys.enter_when(step2, "check the target")
            await result_says(pilot, step2, "refused: cannot use")
            await keys.retype(str(mysql_server.port))
            await keys("tab", "tab", "tab", "tab")
            await keys.retype("bad-name;drop")
            await keys.enter_when(step2, "check the target")
            await result_says(pilot, step2, "plain MySQL name")
            assert isinstance(app.screen, TargetScreen)
    finally:
        other.close()


async def test_a_dump_whose_checksum_fails_cannot_be_picked(tmp_path, make_settings, mysql_server):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets"))
    older = hand_dump(settings.backup_base, "20261125-0200", crm_sql(), age_s=86400 + 3600)
    newest = hand_dump(settings.backup_base, "20261126-0200", crm_sql(users=4), age_s=3600)
    flip_byte(newest)
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        pick = await open_wizard(pilot, keys)
        await wait_for(pilot, lambda: "restore from" in hint(pick), "a dump whose sha256 verifies")
        table = pick.query_one(DataTable)
        assert table.cursor_row == 1  # the default: the next older dump that verifies
        assert f"{older.name}: sha256 OK" in result(pick)
        assert str(table.get_row_at(0)[3]) == "MISMATCH" and str(table.get_row_at(1)[3]) == "OK"
        await keys("up")
        await result_says(pilot, pick, f"{newest.name}: sha256 MISMATCH: this dump cannot be picked")
        assert table.cursor_row == 0 and "cannot be picked" in hint(pick)
        await keys("c")  # checking again does not change the verdict
        await wait_for(pilot, lambda: "sha256 MISMATCH" in (t := transcripts(settings)[0].read_text()) and t,
                       "the re-check in the transcript")
        await keys("enter")  # no way on with it
        await pilot.pause(0.2)
        assert isinstance(app.screen, PickDumpScreen)
        await keys("down")
        await keys.enter_when(pick, f"restore from {older.name}")
        await on_step(pilot, TargetScreen)
    assert f"step 1: dump picked\n- result: {older.name}" in transcripts(settings)[0].read_text()


@pytest.mark.parametrize("statement", ["USE `{other}`;", "CREATE DATABASE IF NOT EXISTS `{other}x`;",
                                       "/*!40000 USE `{other}` */;"], ids=["use", "create-database", "versioned-use"])
async def test_a_dump_that_switches_database_is_refused_and_the_other_database_untouched(
        tmp_path, make_settings, mysql_server, scratch_db, drop_later, statement):
    other = scratch_db
    sql(mysql_server, "CREATE TABLE victims (id INT PRIMARY KEY)", "INSERT INTO victims VALUES (1),(2),(3)",
        database=other)
    hostile = statement.format(other=other) + "\nDROP TABLE IF EXISTS `victims`;\nCREATE TABLE `pwned` (id INT);\n"
    settings = hand_settings(tmp_path, make_settings, mysql_server, crm_sql(extra=hostile))
    restored_db = drop_later(default_target(settings))
    drop_later(other + "x")
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        step3 = await to_import(pilot, keys)
        await keys.enter_when(step3, "import into")
        text = await result_says(pilot, step3, "import failed:")
        assert "refused at line" in text and "switches or creates a database" in text, text
        await wait_for(pilot, lambda: f"drop the half-imported `{restored_db}`" in hint(step3), "the drop offered")
    assert sql(mysql_server, "SELECT COUNT(*) FROM victims", database=other) == [(3,)]
    assert sql(mysql_server, "SHOW TABLES", database=other) == [("victims",)]
    assert not database_exists(mysql_server, other + "x")
    assert ("pwned",) not in sql(mysql_server, "SHOW TABLES", database=restored_db)
    assert "FAILED: import stopped: refused" in transcripts(settings)[0].read_text()


async def test_x_cancels_mid_import_and_enter_drops_the_partial_database(
        tmp_path, make_settings, mysql_server, drop_later, own_tmp):
    from jobs_support import find_child

    settings = hand_settings(tmp_path, make_settings, mysql_server, slow_body())
    restored_db = drop_later(default_target(settings))
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        step3 = await to_import(pilot, keys)
        await keys.enter_when(step3, "import into")
        await wait_for(pilot, lambda: sql(mysql_server, "SHOW TABLES", database=restored_db), "the first table")
        assert step3.busy() and find_child("mariadb") is not None and "x cancel" in hint(step3)
        assert option_file_is_a_pipe(find_child("mariadb")) and option_dirs(own_tmp) == []  # nothing on disk
        await keys("x")
        ask = await confirm(pilot)
        assert ask.title_text == "Cancel DR import?"
        await keys("y")
        text = await result_says(pilot, step3, "import cancelled")
        assert f"`{restored_db}` holds a partial import" in text
        assert not step3.busy() and find_child("mariadb") is None
        assert option_dirs(own_tmp) == []
        await keys.enter_when(step3, f"drop the half-imported `{restored_db}`")
        ask = await confirm(pilot)
        assert f"DROP DATABASE `{restored_db}`" in ask.lines
        await keys("y")
        await result_says(pilot, step3, f"`{restored_db}` dropped")
        await keys.enter_when(step3, "back to step 2")
        await on_step(pilot, TargetScreen)
        assert keys.used() == {"R", "enter", "x", "y"}, keys.pressed
    assert not database_exists(mysql_server, restored_db)
    text = transcripts(settings)[0].read_text()
    assert "cancelled by the operator" in text and f"DROP DATABASE `{restored_db}`" in text
    assert "job dr_import cancelled" in settings.log_path.read_text()


async def test_leaving_mid_import_asks_cancels_and_leaves_nothing(
        tmp_path, make_settings, mysql_server, drop_later, own_tmp):
    from jobs_support import find_child

    settings = hand_settings(tmp_path, make_settings, mysql_server, slow_body())
    restored_db = drop_later(default_target(settings))
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        step3 = await to_import(pilot, keys)
        await keys.enter_when(step3, "import into")
        await wait_for(pilot, lambda: sql(mysql_server, "SHOW TABLES", database=restored_db), "the first table")
        # Escape asks first; "Stay" keeps the import running.
        await keys("escape")
        ask = await confirm(pilot)
        assert ask.title_text == "Leave the DR wizard?" and ask.lines[0] == "An import is running."
        await keys("n")
        await on_step(pilot, ImportScreen)
        assert step3.busy()
        # Leaving cancels the import, then asks about its database.
        await keys("escape")
        await confirm(pilot)
        await keys("y")
        offer = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and "partial import"
                               in app.screen.title_text and app.screen, "the offer to drop")
        assert f"DROP DATABASE `{restored_db}`" in offer.lines[0]
        await keys("y")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and not app._dr_running, "the dashboard")
        await wait_for(pilot, lambda: find_child("mariadb") is None, "the client gone")
    assert not database_exists(mysql_server, restored_db)
    assert option_dirs(own_tmp) == []
    text = transcripts(settings)[0].read_text()
    assert "cancelled: the operator left the wizard" in text and "dropped" in text
    assert "session left at step 3" in text
    assert not list(settings.backup_base.rglob("*.tmp")) and not list(settings.backup_base.rglob(".*.tmp"))


async def test_differences_from_the_verify_log_are_shown_and_need_a_confirmation(
        tmp_path, make_settings, mysql_server, drop_later):
    settings = hand_settings(tmp_path, make_settings, mysql_server)
    write_verify_log(settings.backup_base, "20261126-0300", "full-20261126-0200.sql.gz", 3,
                     {"users": 3, "contacts": 6, "opportunities": 4})
    drop_later(default_target(settings))
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        step3 = await to_import(pilot, keys)
        await keys.enter_when(step3, "import into")
        await result_says(pilot, step3, "imported:")
        await keys.enter_when(step3, "next")
        step4 = await on_step(pilot, VerifyScreen)
        await result_says(pilot, step4, "1 difference(s)")
        table = step4.query_one(DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows == [["tables", "3", "3", "✓"], ["rows.users", "3", "3", "✓"], ["rows.contacts", "6", "5", "✗"],
                        ["rows.opportunities", "4", "4", "✓"]]
        await keys.enter_when(step4, "go on despite the differences")
        ask = await confirm(pilot)
        assert ask.title_text == "Go on with differences?"
        assert ask.lines == ["rows.contacts: expected 6, restored 5  ✗"]
        await keys("escape")
        await on_step(pilot, VerifyScreen)
        await keys("enter")
        await confirm(pilot)
        await keys("y")
        step5 = await on_step(pilot, SwitchScreen)
        await wait_for(pilot, lambda: "OPS_CRM_ENV is not set" in text_of(step5.query_one("#intro")),
                       "what to change by hand")
    text = transcripts(settings)[0].read_text()
    assert "operator went on despite the differences" in text and "no OPS_CRM_ENV" in text


async def test_without_a_verify_log_step_4_says_so_and_back_does_not_import_twice(
        tmp_path, make_settings, mysql_server, drop_later):
    settings = hand_settings(tmp_path, make_settings, mysql_server)
    restored_db = drop_later(default_target(settings))
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        pick = await open_wizard(pilot, keys)
        await result_says(pilot, pick, "no verify log exists for this dump")
        await keys.enter_when(pick, "restore from")
        step2 = await on_step(pilot, TargetScreen)
        await keys.enter_when(step2, "check the target")
        await keys.enter_when(step2, "create `")
        await keys.enter_when(step2, "restore into `")
        step3 = await on_step(pilot, ImportScreen)
        await keys.enter_when(step3, "import into")
        await result_says(pilot, step3, "imported:")
        await keys.enter_when(step3, "next")
        step4 = await on_step(pilot, VerifyScreen)
        await result_says(pilot, step4, "matches: tables and critical tables present")
        assert "No verify log exists for full-20261126-0200.sql.gz" in text_of(step4.query_one("#source"))
        # Back to step 3 (backspace): the import is not offered twice.
        await keys("backspace")
        step3 = await on_step(pilot, ImportScreen)
        await result_says(pilot, step3, f"already imported into `{restored_db}`")
        assert "next" in hint(step3)


async def test_q_mid_import_asks_before_leaving(tmp_path, make_settings, mysql_server, drop_later, own_tmp):
    settings = hand_settings(tmp_path, make_settings, mysql_server, slow_body())
    restored_db = drop_later(default_target(settings))
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        step3 = await to_import(pilot, keys)
        await keys.enter_when(step3, "import into")
        await wait_for(pilot, lambda: sql(mysql_server, "SHOW TABLES", database=restored_db), "the first table")
        await keys("backspace")  # back is refused while it runs: it says so
        assert isinstance(app.screen, ImportScreen)
        await keys("q")
        ask = await confirm(pilot)
        assert ask.title_text == "Leave the DR wizard?"
        await keys("escape")
        await on_step(pilot, ImportScreen)
        assert step3.busy() and app.is_running


async def test_ctrl_q_mid_import_asks_first(tmp_path, make_settings, mysql_server, drop_later, own_tmp):
    settings = hand_settings(tmp_path, make_settings, mysql_server, slow_body())
    restored_db = drop_later(default_target(settings))
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        step3 = await to_import(pilot, keys)
        await keys.enter_when(step3, "import into")
        await wait_for(pilot, lambda: sql(mysql_server, "SHOW TABLES", database=restored_db), "the first table")
        await keys("ctrl+q")
        for _ in range(100):  # up to 5 s on a loaded machine
            await pilot.pause(0.05)
            if isinstance(app.screen, ConfirmScreen):
                break
        asked = isinstance(app.screen, ConfirmScreen)
    assert option_dirs(own_tmp) == []  # whatever happens, the private option file is gone
    assert asked, "ctrl+q quit the app mid-import without asking"


REALISTIC_ENV = """APP_NAME="Acme CRM"
APP_ENV=production
APP_KEY=base64:q1Vx3kZlY0lWc2VjcmV0QXBwS2V5MTIzNDU2Nzg5MGFiY2Q=
APP_DEBUG=false
APP_URL=https://crm.acme.example

LOG_CHANNEL=stack
LOG_LEVEL=warning

DB_CONNECTION=mysql
DB_HOST=10.0.0.9
DB_PORT=3306
DB_DATABASE={database}
DB_USERNAME=root
DB_PASSWORD={db_password}

BROADCAST_DRIVER=log
CACHE_DRIVER=redis
QUEUE_CONNECTION=redis
SESSION_DRIVER=redis
REDIS_HOST=127.0.0.1
REDIS_PASSWORD=r3dis-Secret-Pw
REDIS_URL=redis://default:r3dis-Url-Secret@127.0.0.1:6379/0

MAIL_MAILER=smtp
MAIL_HOST=smtp.mailgun.org
MAIL_USERNAME=postmaster@mg.acme.example
MAIL_PASSWORD="m@il Secret Pw"
MAILGUN_SECRET=key-mailgunSecret0123
AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
PUSHER_APP_SECRET=pusherSecret42
STRIPE_KEY=pk_live_stripePublishable77
STRIPE_SECRET=sk_live_stripeSecret88
SENTRY_LARAVEL_DSN=https://publicKey:sentrySecret99@o1.ingest.sentry.io/1
JWT_SECRET=jwtSecretValue1234567890
"""
SECRETS = ("q1Vx3kZlY0lWc2VjcmV0QXBwS2V5", "r3dis-Secret-Pw", "r3dis-Url-Secret", "m@il Secret Pw",
           "key-mailgunSecret0123", "wJalrXUtnFEMI", "pusherSecret42", "sk_live_stripeSecret88", "sentrySecret99",
           "jwtSecretValue", "pk_live_stripePublishable77")


async def test_no_secret_of_a_realistic_laravel_env_reaches_the_screen_or_the_transcript(
        tmp_path, make_settings, mysql_server, drop_later):
    settings = hand_settings(tmp_path, make_settings, mysql_server)
    crm_env = tmp_path / "crm" / ".env"
    crm_env.parent.mkdir(parents=True)
    crm_env.write_text(REALISTIC_ENV.format(database=settings.db_name, db_password="db-Pw-Secret-5150"))
    # The jobs log in with the test server's credentials, not the .env's DB_PASSWORD (a secret to hide).
    own_password = {} if mysql_server.password is not None else {"db_password": ""}
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=settings.db_name,
                                        crm_env=crm_env, **own_password))
    drop_later(default_target(settings))
    seen: list[str] = []
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        keys = Keys(pilot)
        step3 = await to_import(pilot, keys)
        await keys.enter_when(step3, "import into")
        await keys.enter_when(step3, "next")
        step4 = await on_step(pilot, VerifyScreen)
        await keys.enter_when(step4, "next")
        step5 = await on_step(pilot, SwitchScreen)
        await wait_for(pilot, lambda: "write the new .env" in hint(step5), "the diff")
        from ui_support import screen_text

        seen.append(screen_text(app))
        assert "APP_KEY=***" in seen[-1] or "DB_PASSWORD=***" in seen[-1]
        await keys("enter")
        ask = await confirm(pilot)
        seen += [screen_text(app), "\n".join(ask.lines)]
        assert "DB_PASSWORD=***" in seen[-1]
        await keys("y")
        await result_says(pilot, step5, "written; the old file is kept as")
        seen.append(screen_text(app))
    shown = "\n".join(seen + [transcripts(settings)[0].read_text()])
    for secret in (*SECRETS, "db-Pw-Secret-5150"):
        assert secret not in shown, secret
    text = crm_env.read_text()  # the file itself keeps every value, only the two keys changed
    assert "db-Pw-Secret-5150" in text and "sk_live_stripeSecret88" in text
    assert f"DB_DATABASE={default_target(settings)}\n" in text and "DB_HOST=127.0.0.1\n" in text
