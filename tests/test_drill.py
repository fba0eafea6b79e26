"""`opsbackup drill` against the real MariaDB: a good drill (exit 0, --json with the RTO and its parts,
a report, an ops.log line), failing drills (a dump whose checksum fails, a truncated dump with a
matching .sha256, counts that differ from the verify log) with the Slack alert delivered to a local
HTTP server, and never a drill_* database left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
from dr_support import crm_sql, flip_byte, hand_dump, real_backup, write_verify_log
from jobs_support import (  # noqa: F401
    SAFETY_S,
    Recorder,
    cli,
    cli_flags,
    crm_db,
    databases,
    db_flags,
    sql,
)
from treeutil import make_dump

from opsbackup_tui.core.jobs.base import run_job
from opsbackup_tui.core.jobs.drill import DrillJob
from opsbackup_tui.core.opslog import parse_line
from opsbackup_tui.core.scratch import is_scratch

PARTS = {"checksum_s", "create_s", "import_s", "verify_s", "drop_s"}
WEBHOOK_PATH = "/services/T000/B000/drill-secret-token"


def drill_databases(server) -> set[str]:
    return {name for name in databases(server) if name.startswith("drill_")}


def flags_for(tmp_path, server, **extra) -> dict[str, str]:
    flags = {"backup_base": str(tmp_path / "backups"), "state_dir": str(tmp_path / "state"),
             "log_path": str(tmp_path / "ops.log")}
    flags.update(db_flags(server, tmp_path / "secrets", **extra))
    return flags


def run_drill(flags: dict[str, str]) -> tuple[int, dict, str]:
    proc = cli(*cli_flags(flags), "drill", "--json")
    out, err = proc.communicate(timeout=SAFETY_S)
    return proc.returncode, json.loads(out), err


def drill_lines(log_path) -> list:
    return [line for line in map(parse_line, log_path.read_text().splitlines())
            if (line.context or {}).get("event") == "rto"]


@pytest.fixture
async def backed_up(tmp_path, make_settings, mysql_server, crm_db):
    """A CRM database, its real dump (DumpJob) and verify log (VerifyJob); the CLI flags for it."""
    flags = flags_for(tmp_path, mysql_server, db_name=crm_db)
    settings = make_settings(**flags)
    backup = await real_backup(settings)
    return flags, settings, backup


async def test_a_good_drill(backed_up, mysql_server):
    flags, settings, backup = backed_up
    leftover = "drill_20200101_000000"  # left by a crashed drill: dropped; a look-alike is not
    sql(mysql_server, f"CREATE DATABASE `{leftover}`", "CREATE DATABASE IF NOT EXISTS `drill_notes`")
    try:
        code, result, err = run_drill(flags)
        assert code == 0, err
        assert result["ok"] is True and result["result"] == "OK" and result["dump"] == backup.dump.name
        assert is_scratch(result["database"], "drill")
        assert set(result["parts"]) == PARTS and all(v >= 0 for v in result["parts"].values())
        assert result["rto_s"] >= result["parts"]["import_s"] > 0
        assert result["verify_log"] == str(backup.verify_log.path)
        assert result["tables"] == backup.verify_log.tables
        assert result["rows"] == {"users": 3, "contacts": 5, "opportunities": 4}
        assert not [c for c in result["checks"] if "✗" in c]
        assert f"recovered {backup.dump.name} in {result['rto_s']} s (RTO)" in result["summary"]
        assert f"dropped {leftover}, left by a crashed run" in err
        report = settings.reports_dir / f"drill-{result['started'][:10].replace('-', '')}-" \
                                         f"{result['started'][11:16].replace(':', '')}.md"
        assert result["report"] == str(report)
        text = report.read_text()
        assert "Result: **OK**" in text and f"measured recovery time (RTO): **{result['rto_s']} s**" in text
        assert "| import |" in text and "rows.contacts: expected 5, restored 5" in text
        [line] = drill_lines(settings.log_path)
        assert line.level == "INFO" and f"drill OK: RTO {result['rto_s']} s for {backup.dump.name}" in line.message
        assert float(line.context["rto_s"]) == result["rto_s"]
        assert set(line.context) >= PARTS
        assert drill_databases(mysql_server) == {"drill_notes"}
    finally:
        sql(mysql_server, f"DROP DATABASE IF EXISTS `{leftover}`", "DROP DATABASE IF EXISTS `drill_notes`")


@pytest.mark.parametrize("damage", ["sha-mismatch", "truncated"])
async def test_a_failing_drill_alerts_and_exits_1(backed_up, mysql_server, http_stub, damage):
    flags, settings, backup = backed_up
    if damage == "sha-mismatch":
        flip_byte(backup.dump)
        expected = "sha256 mismatch"
    else:  # cut short, with a .sha256 that matches the cut file: only the import can tell
        make_dump(settings.backup_base, backup.dump.name[5:18], data=backup.dump.read_bytes()[:-200])
        expected = "truncated"
    flags["slack_webhook_url"] = http_stub.url + WEBHOOK_PATH
    code, result, err = run_drill(flags)
    assert code == 1, err
    assert result["ok"] is False and result["result"] == "FAIL" and expected in result["error"]
    assert result["rto_s"] >= 0 and result["dump"] == backup.dump.name
    # The alert reached the webhook, once, saying what failed.
    [(method, path, body)] = http_stub.requests
    assert method == "POST" and path == WEBHOOK_PATH
    alert = json.loads(body)["text"]
    assert alert.startswith("drill FAILED on ") and expected in alert
    # The report and the ops.log line say FAIL; the webhook URL appears nowhere.
    report = next(settings.reports_dir.glob("drill-*.md")).read_text()
    assert "Result: **FAIL**" in report and expected in report
    log = settings.log_path.read_text()
    [line] = drill_lines(settings.log_path)
    assert line.level == "ERROR" and "drill FAIL: RTO" in line.message
    assert "ALERT drill FAILED" in log
    for text in (log, report, err, json.dumps(result)):
        assert "drill-secret-token" not in text
    if damage == "truncated":
        assert "drop_s" in result["parts"]  # the scratch database was made, then dropped
    assert not {n for n in drill_databases(mysql_server) if is_scratch(n, "drill")}


async def test_a_drill_whose_counts_differ_from_the_verify_log_fails(tmp_path, make_settings, mysql_server):
    settings = make_settings(**flags_for(tmp_path, mysql_server))
    dump = hand_dump(settings.backup_base, "20261126-0200", crm_sql())
    write_verify_log(settings.backup_base, "20261126-0300", dump.name, 3, {"users": 3, "contacts": 7, "opportunities": 4})
    recorder = Recorder()
    finished = await run_job(DrillJob(settings), recorder)
    assert not finished.ok
    assert "differs from the verify log: rows.contacts: expected 7, restored 5" in finished.error
    assert finished.result.checks[2] == "rows.contacts: expected 7, restored 5  ✗"
    assert "drop_s" in finished.result.parts
    assert not {n for n in drill_databases(mysql_server) if is_scratch(n, "drill")}
    assert "ALERT drill FAILED" in settings.log_path.read_text()  # no webhook set: the log still says it


async def test_a_drill_without_a_verify_log_checks_presence_and_says_so(tmp_path, make_settings, mysql_server):
    settings = make_settings(**flags_for(tmp_path, mysql_server))
    dump = hand_dump(settings.backup_base, "20261126-0200", crm_sql())
    finished = await run_job(DrillJob(settings), Recorder())
    assert finished.ok, finished.error
    assert "(no verify log for this dump: counts not compared)" in finished.summary
    assert finished.result.verify_log is None and finished.result.dump == dump.name
    report = settings.reports_dir / finished.result.report.rsplit("/", 1)[1]
    assert "No verify log exists for this dump" in report.read_text()


async def test_a_drill_without_any_dump_fails_plainly(tmp_path, make_settings, mysql_server):
    settings = make_settings(**flags_for(tmp_path, mysql_server))
    finished = await run_job(DrillJob(settings), Recorder())
    assert not finished.ok and "no valid dump" in finished.error
    assert "opsbackup run db_backup" in finished.next_step


def test_the_drill_plan_says_what_it_will_do(tmp_path, make_settings, mysql_server):
    settings = make_settings(**flags_for(tmp_path, mysql_server))
    dump = hand_dump(settings.backup_base, "20261126-0200", crm_sql())
    plan = "\n".join(DrillJob(settings).plan())
    assert str(dump) in plan and "DEFINERs kept" in plan and "DROP DATABASE drill_" in plan
    assert re.search(r"reports/drill-YYYYmmdd-HHMM\.md", plan)


def test_an_interrupted_drill_drops_its_database_and_leaves_no_option_file(tmp_path, mysql_server):
    flags = flags_for(tmp_path, mysql_server)
    base = tmp_path / "backups"
    hand_dump(base, "20261126-0200", crm_sql(extra="SELECT SLEEP(1);\n" * 90))
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    before = drill_databases(mysql_server)
    proc = cli(*cli_flags(flags), "drill", "--json", env={**os.environ, "TMPDIR": str(private_tmp)})
    try:
        deadline = time.monotonic() + SAFETY_S
        while True:
            mine = {n for n in drill_databases(mysql_server) - before if is_scratch(n, "drill")}
            if mine and sql(mysql_server, "SHOW TABLES", database=next(iter(mine))):
                break
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        assert not [n for n in os.listdir(private_tmp) if n.startswith("opsbackup-my-")]  # the options are a pipe
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=SAFETY_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert not (drill_databases(mysql_server) - before)
    assert os.listdir(private_tmp) == []
    assert "job drill cancelled" in (tmp_path / "ops.log").read_text()
