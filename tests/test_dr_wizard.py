"""The DR wizard (R) driven by Pilot against the real MariaDB: a whole recovery from a real dump of a
CRM database that is then dropped, and each refusal: a non-empty target or the production database
without the typed name, a dump whose checksum fails, a dump that switches database, a cancelled
import, leaving the wizard mid-import."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from dr_support import (  # noqa: F401 - fixtures
    click,
    counts,
    crm_sql,
    database_exists,
    drop_later,
    flip_byte,
    hand_dump,
    new_db_name,
    next_disabled,
    on_step,
    option_dirs,
    real_backup,
    result,
    result_says,
    routines,
    swept,
    text_of,
    triggers,
    type_into,
    wait_for,
    write_crm_env,
    write_verify_log,
)
from jobs_support import crm_db, db_flags, option_file_is_a_pipe, sql  # noqa: F401 - fixtures
from textual.widgets import Button, DataTable
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


async def open_wizard(pilot) -> PickDumpScreen:
    await settle(pilot)
    await pilot.press("R")
    return await on_step(pilot, PickDumpScreen)


async def pick_default(pilot) -> PickDumpScreen:
    screen = await open_wizard(pilot)
    await wait_for(pilot, lambda: not next_disabled(screen), "a dump whose sha256 verifies")
    return screen


async def target(pilot, database: str, *, create: bool) -> TargetScreen:
    screen = await on_step(pilot, TargetScreen)
    await type_into(pilot, screen, "#f-database", database, keys=False)
    await click(pilot, "#check")
    if create:
        await result_says(pilot, screen, "does not exist")
        await click(pilot, "#create")
        await result_says(pilot, screen, "is empty and ready")
    return screen


async def to_import(pilot, database: str) -> ImportScreen:
    """Step 1 (the default dump) and step 2 (a new database, created), then the import step."""
    await pick_default(pilot)
    await click(pilot, "#next")
    await target(pilot, database, create=True)
    await click(pilot, "#next")
    return await on_step(pilot, ImportScreen)


# --- the whole recovery ---


async def test_end_to_end_recovery_from_a_real_dump(tmp_path, make_settings, mysql_server, crm_db, drop_later,
                                                    own_tmp):
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
    restored_db = drop_later(new_db_name())

    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        # 1: the newest dump whose sha256 verifies is the default, its verify log shown.
        pick = await pick_default(pilot)
        assert f"{backup.dump.name}: sha256 OK" in result(pick)
        assert backup.verify_log.path.name in str(pick.query_one(DataTable).get_row_at(0)[4])
        await click(pilot, "#next")
        # 2: a new database on the same server: checked, created, checked again.
        step2 = await target(pilot, restored_db, create=True)
        assert "grants cover the import" in text_of(step2.query_one("#report"))
        await click(pilot, "#next")
        # 3: the streamed import.
        step3 = await on_step(pilot, ImportScreen)
        assert "--sandbox" in text_of(step3.query_one("#will-run"))
        await click(pilot, "#start")
        await result_says(pilot, step3, "imported:")
        await click(pilot, "#next")
        # 4: every number equals the verify log's.
        step4 = await on_step(pilot, VerifyScreen)
        await result_says(pilot, step4, "the restored database matches its verify log")
        table = step4.query_one(DataTable)
        marks = [str(table.get_row_at(i)[3]) for i in range(table.row_count)]
        assert marks == ["✓"] * 4, marks
        assert f"Compared with {backup.verify_log.path.name}" in text_of(step4.query_one("#source"))
        await click(pilot, "#next")
        # 5: the .env diff, confirmed with y, then the reload command.
        step5 = await on_step(pilot, SwitchScreen)
        await wait_for(pilot, lambda: not step5.query_one("#apply", Button).disabled, "the diff")
        intro = text_of(step5.query_one("#intro"))
        assert "DB_HOST 10.0.0.9 → 127.0.0.1" in intro and f"DB_DATABASE {crm_db} → {restored_db}" in intro
        await click(pilot, "#apply")
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the confirm")
        assert f"+DB_DATABASE={restored_db}" in "\n".join(confirm.lines)
        await pilot.press("y")
        await result_says(pilot, step5, "written; the old file is kept as")
        await click(pilot, "#reload")
        await result_says(pilot, step5, "reload command exited 0")
        await click(pilot, "#next")
        # 6: the post-audit verify restore, then Finish.
        step6 = await on_step(pilot, AuditScreen)
        for _ in range(3):
            await click(pilot, "#verify")
            await wait_for(pilot, lambda: "running" not in result(step6) and not step6.query_one("#verify").disabled,
                           "the verify restore's result")
            if not swept(result(step6)):
                break
        assert not step6.query_one("#result").has_class("-bad"), result(step6)
        assert "lines imported)" in result(step6)
        await click(pilot, "#next")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and not app._dr_running,
                       "back on the dashboard")

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
    """Settings over a tree holding one hand-made dump (a true .sha256) of a small CRM."""
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", **extra))
    hand_dump(settings.backup_base, "20261126-0200", crm_sql() if body is None else body)
    return settings


def slow_body(seconds: int = 90) -> str:
    """A CRM dump whose import takes `seconds` after its first table: the real client and server, slowed."""
    return crm_sql(extra="".join("SELECT SLEEP(1);\n" for _ in range(seconds)))


async def test_non_empty_target_needs_its_name_typed(tmp_path, make_settings, mysql_server, scratch_db):
    sql(mysql_server, "CREATE TABLE keepme (id INT)", database=scratch_db)
    settings = hand_settings(tmp_path, make_settings, mysql_server, db_name="crm_prod")
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        await pick_default(pilot)
        await click(pilot, "#next")
        step2 = await target(pilot, scratch_db, create=False)
        await result_says(pilot, step2, "not empty (1 tables)")
        assert step2.has_class("-needs-name") and step2.query_one("#typed").display
        assert step2.query_one("#create", Button).disabled
        assert next_disabled(step2)
        for wrong in ("", scratch_db.upper(), scratch_db + "x", scratch_db[:-1]):
            await type_into(pilot, step2, "#typed", wrong)
            assert next_disabled(step2), wrong
        await type_into(pilot, step2, "#typed", scratch_db)
        assert not next_disabled(step2)
        # Changing the target again forgets the check: Next is disabled until it is checked again.
        await type_into(pilot, step2, "#f-database", scratch_db + "2")
        assert next_disabled(step2) and not step2.has_class("-needs-name")
        await type_into(pilot, step2, "#f-database", scratch_db)
        await click(pilot, "#check")
        await result_says(pilot, step2, "not empty")
        await type_into(pilot, step2, "#typed", scratch_db)
        await click(pilot, "#next")
        await on_step(pilot, ImportScreen)
    assert sql(mysql_server, "SHOW TABLES", database=scratch_db) == [("keepme",)]  # nothing imported yet
    text = transcripts(settings)[0].read_text()
    assert f"operator typed `{scratch_db}`" in text and "exists with 1 tables" in text


async def test_production_database_needs_its_name_typed(tmp_path, make_settings, mysql_server, scratch_db):
    settings = hand_settings(tmp_path, make_settings, mysql_server, db_name=scratch_db)
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        await pick_default(pilot)
        await click(pilot, "#next")
        step2 = await target(pilot, scratch_db, create=False)  # empty, but it is OPS_DB_NAME
        await result_says(pilot, step2, "is the production database")
        assert "PRODUCTION database (OPS_DB_NAME)" in text_of(step2.query_one("#report"))
        assert next_disabled(step2) and step2.has_class("-needs-name")
        await type_into(pilot, step2, "#typed", "crm_q")  # q types a q in a field, never leaves
        assert next_disabled(step2) and isinstance(app.screen, TargetScreen)
        await type_into(pilot, step2, "#typed", scratch_db)
        assert not next_disabled(step2)


async def test_a_target_with_other_sessions_or_unreachable_is_refused_whatever_is_typed(
        tmp_path, make_settings, mysql_server, scratch_db):
    from jobs_support import admin, free_port

    settings = hand_settings(tmp_path, make_settings, mysql_server, db_name="crm_prod")
    app = make_app(settings, clock=time.time, host="backup-host")
    other = admin(mysql_server, scratch_db)  # a CRM worker still connected to it
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pick_default(pilot)
            await click(pilot, "#next")
            step2 = await target(pilot, scratch_db, create=False)
            await result_says(pilot, step2, "refused: 1 other session(s)")
            assert step2.query_one("#create", Button).disabled and not step2.has_class("-needs-name")
            await type_into(pilot, step2, "#typed", scratch_db)
            assert next_disabled(step2)
            await type_into(pilot, step2, "#f-port", str(free_port()))
            await click(pilot, "#check")
            await result_says(pilot, step2, "refused: cannot use")
            assert next_disabled(step2) and step2.query_one("#create", Button).disabled
            await type_into(pilot, step2, "#f-database", "bad-name;drop")
            await type_into(pilot, step2, "#f-port", str(mysql_server.port))
            await click(pilot, "#check")
            await result_says(pilot, step2, "plain MySQL name")
            assert next_disabled(step2)
    finally:
        other.close()


async def test_a_dump_whose_checksum_fails_cannot_be_picked(tmp_path, make_settings, mysql_server):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets"))
    older = hand_dump(settings.backup_base, "20261125-0200", crm_sql(), age_s=86400 + 3600)
    newest = hand_dump(settings.backup_base, "20261126-0200", crm_sql(users=4), age_s=3600)
    flip_byte(newest)
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        pick = await pick_default(pilot)
        table = pick.query_one(DataTable)
        assert table.cursor_row == 1  # the default: the next older dump that verifies
        assert f"{older.name}: sha256 OK" in result(pick)
        assert str(table.get_row_at(0)[3]) == "MISMATCH" and str(table.get_row_at(1)[3]) == "OK"
        await pilot.press("up")
        await result_says(pilot, pick, f"{newest.name}: sha256 MISMATCH: this dump cannot be picked")
        assert table.cursor_row == 0 and next_disabled(pick)
        await pilot.press("c")  # checking again does not change the verdict
        await wait_for(pilot, lambda: "sha256 MISMATCH" in (t := transcripts(settings)[0].read_text()) and t,
                       "the re-check in the transcript")
        assert next_disabled(pick)
        await pilot.press("enter")  # no way around the disabled Next
        await pilot.pause(0.2)
        assert isinstance(app.screen, PickDumpScreen)
        await pilot.press("down")
        await wait_for(pilot, lambda: not next_disabled(pick), "the good dump again")
        await click(pilot, "#next")
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
    settings = hand_settings(tmp_path, make_settings, mysql_server, crm_sql(extra=hostile), db_name="crm_prod")
    restored_db = drop_later(new_db_name())
    drop_later(other + "x")
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        step3 = await to_import(pilot, restored_db)
        await click(pilot, "#start")
        text = await result_says(pilot, step3, "import failed:")
        assert "refused at line" in text and "switches or creates a database" in text, text
        assert not step3.query_one("#drop", Button).disabled and next_disabled(step3)
    assert sql(mysql_server, "SELECT COUNT(*) FROM victims", database=other) == [(3,)]
    assert sql(mysql_server, "SHOW TABLES", database=other) == [("victims",)]
    assert not database_exists(mysql_server, other + "x")
    assert ("pwned",) not in sql(mysql_server, "SHOW TABLES", database=restored_db)
    assert "FAILED: import stopped: refused" in transcripts(settings)[0].read_text()


async def test_cancel_mid_import_is_reported_and_the_partial_database_dropped(
        tmp_path, make_settings, mysql_server, drop_later, own_tmp):
    from jobs_support import find_child

    settings = hand_settings(tmp_path, make_settings, mysql_server, slow_body(), db_name="crm_prod")
    restored_db = drop_later(new_db_name())
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        step3 = await to_import(pilot, restored_db)
        await click(pilot, "#start")
        await wait_for(pilot, lambda: sql(mysql_server, "SHOW TABLES", database=restored_db), "the first table")
        assert step3.busy() and find_child("mariadb") is not None
        assert option_file_is_a_pipe(find_child("mariadb")) and option_dirs(own_tmp) == []  # nothing on disk
        await click(pilot, "#cancel")
        text = await result_says(pilot, step3, "import cancelled")
        assert f"`{restored_db}` holds a partial import" in text
        assert next_disabled(step3) and not step3.busy()
        assert find_child("mariadb") is None
        assert option_dirs(own_tmp) == []
        await click(pilot, "#drop")
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the confirm")
        assert f"DROP DATABASE `{restored_db}`" in confirm.lines
        await pilot.press("y")
        await result_says(pilot, step3, f"`{restored_db}` dropped")
        assert step3.query_one("#drop", Button).disabled
    assert not database_exists(mysql_server, restored_db)
    text = transcripts(settings)[0].read_text()
    assert "cancelled by the operator" in text and f"DROP DATABASE `{restored_db}`" in text
    assert "job dr_import cancelled" in settings.log_path.read_text()


async def test_leaving_mid_import_asks_cancels_and_leaves_nothing(
        tmp_path, make_settings, mysql_server, drop_later, own_tmp):
    from jobs_support import find_child

    settings = hand_settings(tmp_path, make_settings, mysql_server, slow_body(), db_name="crm_prod")
    restored_db = drop_later(new_db_name())
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        step3 = await to_import(pilot, restored_db)
        await click(pilot, "#start")
        await wait_for(pilot, lambda: sql(mysql_server, "SHOW TABLES", database=restored_db), "the first table")
        # Escape asks first; "Stay" keeps the import running.
        await pilot.press("escape")
        ask = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the question")
        assert ask.title_text == "Leave the DR wizard?" and ask.lines[0] == "An import is running."
        await pilot.press("n")
        await on_step(pilot, ImportScreen)
        assert step3.busy()
        # Leaving cancels the import, then asks about its database.
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the question")
        await pilot.press("y")
        offer = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and "partial import"
                               in app.screen.title_text and app.screen, "the offer to drop")
        assert f"DROP DATABASE `{restored_db}`" in offer.lines[0]
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and not app._dr_running, "the dashboard")
        await wait_for(pilot, lambda: find_child("mariadb") is None, "the client gone")
    assert not database_exists(mysql_server, restored_db)
    assert option_dirs(own_tmp) == []
    text = transcripts(settings)[0].read_text()
    assert "cancelled by the operator" in text and "dropped" in text and "session left at step 3" in text
    assert not list(settings.backup_base.rglob("*.tmp")) and not list(settings.backup_base.rglob(".*.tmp"))


async def test_differences_from_the_verify_log_are_shown_and_need_a_confirmation(
        tmp_path, make_settings, mysql_server, drop_later):
    settings = hand_settings(tmp_path, make_settings, mysql_server, db_name="crm_prod")
    write_verify_log(settings.backup_base, "20261126-0300", "full-20261126-0200.sql.gz", 3,
                     {"users": 3, "contacts": 6, "opportunities": 4})
    restored_db = drop_later(new_db_name())
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        step3 = await to_import(pilot, restored_db)
        await click(pilot, "#start")
        await result_says(pilot, step3, "imported:")
        await click(pilot, "#next")
        step4 = await on_step(pilot, VerifyScreen)
        await result_says(pilot, step4, "1 difference(s)")
        table = step4.query_one(DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert rows == [["tables", "3", "3", "✓"], ["rows.users", "3", "3", "✓"], ["rows.contacts", "6", "5", "✗"],
                        ["rows.opportunities", "4", "4", "✓"]]
        await click(pilot, "#next")
        ask = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the question")
        assert ask.title_text == "Go on with differences?"
        assert ask.lines == ["rows.contacts: expected 6, restored 5  ✗"]
        await pilot.press("escape")
        await on_step(pilot, VerifyScreen)
        await click(pilot, "#next")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        step5 = await on_step(pilot, SwitchScreen)
        await wait_for(pilot, lambda: "OPS_CRM_ENV is not set" in text_of(step5.query_one("#intro")),
                       "what to change by hand")
    text = transcripts(settings)[0].read_text()
    assert "operator went on despite the differences" in text and "no OPS_CRM_ENV" in text


async def test_without_a_verify_log_step_4_says_so_and_checks_the_tables_exist(
        tmp_path, make_settings, mysql_server, drop_later):
    settings = hand_settings(tmp_path, make_settings, mysql_server, db_name="crm_prod")
    restored_db = drop_later(new_db_name())
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        pick = await pick_default(pilot)
        assert "no verify log exists for this dump" in result(pick)
        await click(pilot, "#next")
        await target(pilot, restored_db, create=True)
        await click(pilot, "#next")
        step3 = await on_step(pilot, ImportScreen)
        await click(pilot, "#start")
        await result_says(pilot, step3, "imported:")
        await click(pilot, "#next")
        step4 = await on_step(pilot, VerifyScreen)
        await result_says(pilot, step4, "matches: tables and critical tables present")
        assert "No verify log exists for full-20261126-0200.sql.gz" in text_of(step4.query_one("#source"))
        # Back to step 3: the import is not offered twice.
        await click(pilot, "#back")
        step3 = await on_step(pilot, ImportScreen)
        await result_says(pilot, step3, f"already imported into `{restored_db}`")
        assert step3.query_one("#start", Button).disabled and not next_disabled(step3)


async def test_q_mid_import_asks_before_leaving(tmp_path, make_settings, mysql_server, drop_later, own_tmp):

    settings = hand_settings(tmp_path, make_settings, mysql_server, slow_body(), db_name="crm_prod")
    restored_db = drop_later(new_db_name())
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        step3 = await to_import(pilot, restored_db)
        await click(pilot, "#start")
        await wait_for(pilot, lambda: sql(mysql_server, "SHOW TABLES", database=restored_db), "the first table")
        await pilot.press("q")
        ask = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the question")
        assert ask.title_text == "Leave the DR wizard?"
        await pilot.press("escape")
        await on_step(pilot, ImportScreen)
        assert step3.busy() and app.is_running


async def test_ctrl_q_mid_import_asks_first(tmp_path, make_settings, mysql_server, drop_later, own_tmp):
    settings = hand_settings(tmp_path, make_settings, mysql_server, slow_body(), db_name="crm_prod")
    restored_db = drop_later(new_db_name())
    app = make_app(settings, clock=time.time, host="backup-host")
    async with app.run_test(size=SIZE) as pilot:
        await to_import(pilot, restored_db)
        await click(pilot, "#start")
        await wait_for(pilot, lambda: sql(mysql_server, "SHOW TABLES", database=restored_db), "the first table")
        await pilot.press("ctrl+q")
        for _ in range(100):  # up to 5 s on a loaded machine
            await pilot.pause(0.05)
            if isinstance(app.screen, ConfirmScreen):
                break
        asked = isinstance(app.screen, ConfirmScreen)
    assert option_dirs(own_tmp) == []  # whatever happens, the private option file is gone
    assert asked, "ctrl+q quit the app mid-import without asking"
