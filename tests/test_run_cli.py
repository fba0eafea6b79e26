"""`opsbackup run JOB` as a real process: exit codes, plain output, signals."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
from jobs_support import (  # noqa: F401 - fixtures
    cli,
    cli_flags,
    crm_db,
    db_flags,
    descendants,
    find_child,
    held_table,
    leftovers,
    option_file_is_a_pipe,
    pid_alive,
    read_proc,
    wait_until,
)
from test_locks import hold
from treeutil import make_dump, make_marker, make_verify_log

from opsbackup_tui.core import opslog
from opsbackup_tui.core.locks import peek

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\w+) (.*)$")


def settings_args(tmp_path: Path, **flags) -> list[str]:
    base = {"backup_base": str(tmp_path / "backups"), "state_dir": str(tmp_path / "state"),
            "log_path": str(tmp_path / "ops.log")}
    base.update({k: str(v) for k, v in flags.items()})
    return cli_flags(base)


def finish(proc, timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_run_db_backup_prints_plain_lines_and_exits_0(mysql_server, crm_db, tmp_path):
    args = settings_args(tmp_path, **db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    code, out, err = finish(cli(*args, "run", "db_backup"))
    assert code == 0, out + err
    lines = [LINE.match(line) for line in out.splitlines()]
    assert all(lines), out
    assert [m.group(1) for m in lines] == ["db_backup"] * len(lines)
    texts = [m.group(2) for m in lines]
    assert texts[0] == "started: DB backup"
    assert texts[1].startswith("phase dumping: ") and "--defaults-extra-file=…" in texts[1]
    assert re.fullmatch(r"OK in \d+\.\d s: full-\d{8}-\d{4}\.sql\.gz: .*, 4 tables", texts[-1])
    dumps = sorted(p.name for p in (tmp_path / "backups" / "db").iterdir())
    assert len(dumps) == 2 and dumps[1] == dumps[0] + ".sha256"


def test_run_failure_exits_1_with_the_next_step(mysql_server, tmp_path):
    args = settings_args(tmp_path, **db_flags(mysql_server, tmp_path / "secrets", db_name="opsb_missing_db_cli"))
    code, out, _ = finish(cli(*args, "run", "db_backup"))
    assert code == 1
    assert re.search(r"db_backup FAIL: mariadb-dump exited 2: .*Unknown database", out)
    assert "db_backup next: check the DB server and credentials" in out


def test_run_busy_exits_75(mysql_server, crm_db, tmp_path):
    holder = hold(tmp_path / "backups")
    try:
        args = settings_args(tmp_path, **db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
        code, out, _ = finish(cli(*args, "run", "db_backup"))
    finally:
        holder.stdin.close()
        holder.wait()
    assert code == 75
    # Busy is no failure: it says so (exit 75, EX_TEMPFAIL), never "FAIL".
    assert re.search(rf"db_backup BUSY: db_backup is running \(pid {holder.pid}, since \d\d:\d\d\)", out)
    assert "FAIL" not in out
    assert not (tmp_path / "backups" / "db").exists()


def test_run_configuration_error_exits_3(tmp_path):
    code, _, err = finish(cli(*settings_args(tmp_path), "--set", "db_port=99999", "run", "db_backup"))
    assert code == 3 and "configuration error" in err and "db_port" in err


@pytest.mark.parametrize("sig,expected", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_dump_and_leaves_nothing(mysql_server, crm_db, tmp_path, sig, expected):
    args = settings_args(tmp_path, **db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    db_dir = tmp_path / "backups" / "db"
    with held_table(mysql_server, crm_db, "opportunities"):
        proc = cli(*args, "run", "db_backup")
        dump_pid = wait_until(lambda: find_child("mariadb-dump", proc.pid, with_arg=crm_db), "the dump to start")
        assert option_file_is_a_pipe(dump_pid)
        children = descendants(proc.pid)
        wait_until(lambda: leftovers(db_dir), "the .partial file")
        assert peek(tmp_path / "backups", "db_backup").pid == proc.pid

        proc.send_signal(sig)
        code, out, err = finish(proc)

    assert code == expected, out + err
    assert "db_backup CANCELLED after" in out
    assert leftovers(db_dir) == [] and not any(p.name.startswith("full-") for p in db_dir.iterdir())
    assert all(not pid_alive(pid) for pid in children)
    assert peek(tmp_path / "backups", "db_backup") is None
    end = [opslog.parse_line(line) for line in (tmp_path / "ops.log").read_text().splitlines()][-1]
    assert end.level == "WARNING" and end.context["result"] == "CANCELLED"
    assert "Traceback" not in err


def test_verify_auto_does_nothing_unless_enabled(mysql_server, crm_db, tmp_path):
    args = settings_args(tmp_path, **db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    code, out, err = finish(cli(*args, "run", "verify", "--auto"))
    assert code == 0 and out == ""
    assert "OPS_VERIFY_AUTO is off" in err
    assert not (tmp_path / "ops.log").exists()  # no job ran

    assert finish(cli(*args, "run", "db_backup"))[0] == 0
    code, out, err = finish(cli(*args, "--set", "verify_auto=1", "run", "verify", "--auto"))
    assert code == 0, out + err
    assert "verify OK in" in out
    [log] = (tmp_path / "backups" / "verify").iterdir()
    assert "result: OK" in log.read_text()


def test_run_report_prints_its_path(tmp_path):
    code, out, _ = finish(cli(*settings_args(tmp_path), "run", "report"))
    assert code == 0
    [report] = (tmp_path / "backups" / "reports").iterdir()
    assert out.splitlines()[-1].endswith(f"report written to {report}")


def test_run_evaluate_exits_0_and_alerts(tmp_path, http_stub):
    base = tmp_path / "backups"
    make_dump(base, "20261126-0200", age_s=3600)
    make_marker(base, "20261126-0200", age_s=3600)
    make_verify_log(base, "20261126-0200", age_s=3600, result="FAIL", error="sha256 mismatch")
    env = dict(os.environ, OPS_SLACK_WEBHOOK_URL=http_stub.url + "/hook/cliEvaluateToken")
    code, out, err = finish(cli(*settings_args(tmp_path), "run", "evaluate", env=env))
    assert code == 0, out + err
    assert "evaluate | alert: verify_restore FAILED" in out
    assert len(http_stub.requests) == 1
    assert "cliEvaluateToken" not in out + err + (tmp_path / "ops.log").read_text()
    code, out, _ = finish(cli(*settings_args(tmp_path), "run", "evaluate", env=env))
    assert code == 0 and "0 alerts" in out and len(http_stub.requests) == 1


def test_plain_renderer_lines():
    import io

    from opsbackup_tui.core.events import Finished, Output, Phase, Progress, Started
    from opsbackup_tui.core.plain import PlainJobRenderer, format_progress

    out = io.StringIO()
    with PlainJobRenderer(out) as render:
        render(Started("verify", "Verify restore", 0.0))
        render(Phase("verify", "importing", "full-x.sql.gz → mariadb"))
        render(Progress("verify", 512 * 1024, 1024 * 1024, "bytes", 2 * 1024 * 1024, "3 tables, current: users"))
        render(Progress("verify", 1024 * 1024, 1024 * 1024, "bytes", None, ""))  # within 5 s: not printed
        render(Output("verify", "dropped verify_20200101_000000, left by a crashed run"))
        render(Finished("verify", False, "Verify restore failed", error="sha256 mismatch",
                        next_step="use an older dump"))
        render(Finished("verify", False, "Verify restore cancelled", cancelled=True, duration_s=2.25))
        render(Finished("verify", True, "3 tables", duration_s=1.04))
    texts = [LINE.match(line).group(2) for line in out.getvalue().splitlines()]
    assert texts == [
        "started: Verify restore",
        "phase importing: full-x.sql.gz → mariadb",
        "progress 512.0 KiB of 1.0 MiB (50 %), 2.0 MiB/s, 3 tables, current: users",
        "| dropped verify_20200101_000000, left by a crashed run",
        "FAIL: sha256 mismatch",
        "next: use an older dump",
        "CANCELLED after 2.2 s",
        "OK in 1.0 s: 3 tables",
    ]
    assert format_progress(Progress("snapshot", 7, None, "files", 1.5)) == "7 files, 1.5/s"
    assert format_progress(Progress("db_backup", 2048, None)) == "2.0 KiB"


def test_sigterm_twice_during_verify_drops_the_database(mysql_server, tmp_path):
    """Cancelled in the middle of the import (the dump waits on a named lock the test holds),
    twice: the verify database is still dropped, the client stopped, exit 143."""
    import gzip
    import secrets

    from jobs_support import admin, databases, sql
    from treeutil import TRAILER

    lock_name = f"opsb_test_{secrets.token_hex(4)}"
    body = f"CREATE TABLE users (id INT);\nDO GET_LOCK('{lock_name}', 600);\nCREATE TABLE contacts (id INT);\n"
    make_dump(tmp_path / "backups", "20261126-0200", data=gzip.compress((body + TRAILER).encode(), mtime=0))
    args = settings_args(tmp_path, **db_flags(mysql_server, tmp_path / "secrets"))
    holder = admin(mysql_server)
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, 5)", (lock_name,))
        proc = cli(*args, "run", "verify")
        client = wait_until(lambda: find_child("mariadb", proc.pid, with_arg="--binary-mode"), "the import client")
        wait_until(lambda: any((row[7] or "").startswith("DO GET_LOCK")
                               for row in sql(mysql_server, "SHOW PROCESSLIST")), "the import to wait on the lock")
        database = next(a for a in read_proc(client)[0] if a.startswith("--database=")).split("=", 1)[1]
        assert database in databases(mysql_server)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
    finally:
        holder.close()
    assert code == 143, out + err
    assert database not in databases(mysql_server)
    assert not pid_alive(client)
    assert peek(tmp_path / "backups", "verify") is None
    assert "Traceback" not in err
