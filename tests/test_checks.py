"""The five checks on real temp trees, a real HTTP server and real ops.log files, at a fixed `now`."""

from __future__ import annotations

import shutil
import socket
import threading
from datetime import datetime
from pathlib import Path

import pytest
from treeutil import make_dump, make_marker, make_verify_log, run_as_nobody, set_age

from opsbackup_tui.core import checks
from opsbackup_tui.core.artefacts.tree import BackupTree
from opsbackup_tui.core.checks import (
    CHECK_IDS,
    CheckResult,
    Status,
    check_db_dump,
    check_metrics,
    check_ops_log,
    check_uploads_snapshot,
    check_verify_restore,
    overall,
    run_checks,
)
from opsbackup_tui.core.opslog import acknowledge, load_ack, scan_alerts
from opsbackup_tui.core.promtext import count_samples

NOW = 1_800_000_000  # a fixed "now" (2027-01-15); every mtime is set relative to it
MIN, HOUR, DAY = 60, 3600, 86400

GOOD_METRICS = b"""# HELP crm_ops_last_backup_timestamp_seconds When the last backup finished.
# TYPE crm_ops_last_backup_timestamp_seconds gauge
crm_ops_last_backup_timestamp_seconds{job="db_backup"} 1.7999964e+09
crm_ops_last_backup_timestamp_seconds{job="snapshot"} 1799994600
# HELP crm_http_requests_total Requests served.
# TYPE crm_http_requests_total counter
crm_http_requests_total{method="GET",route="/crm/ops/metrics"} 1027
crm_queue_size 0
"""


def base_of(settings) -> Path:
    return settings.backup_base


def db_result(settings) -> CheckResult:
    return check_db_dump(settings, BackupTree(settings.backup_base), NOW)


def snapshot_result(settings) -> CheckResult:
    return check_uploads_snapshot(settings, BackupTree(settings.backup_base), NOW)


def verify_result(settings) -> CheckResult:
    return check_verify_restore(settings, BackupTree(settings.backup_base), NOW)


# --- db_dump ---


@pytest.mark.parametrize("age,status", [
    (0, Status.OK), (59 * MIN, Status.OK), (60 * MIN - 1, Status.OK),
    (60 * MIN, Status.STALE), (60 * MIN + 1, Status.STALE), (120 * MIN - 1, Status.STALE),
    (120 * MIN, Status.FAIL), (120 * MIN + 1, Status.FAIL), (30 * DAY, Status.FAIL),
])
def test_db_dump_thresholds(make_settings, age, status):
    settings = make_settings(db_dump_stale_min=60, db_dump_fail_min=120)
    dump = make_dump(base_of(settings), "20270115-0200", age_s=age, now=NOW, data=b"z" * 2048)
    result = db_result(settings)
    assert result.status is status
    assert result.age_seconds == age
    assert result.path == str(dump)
    assert result.threshold_seconds == 60 * MIN
    assert dump.name in result.detail
    assert result.facts == {"size_bytes": 2048, "mtime": NOW - age}
    if status is not Status.OK:
        assert status.value in result.detail


@pytest.mark.parametrize("future", [121, 3600, 3 * DAY])
def test_db_dump_in_the_future_is_clock_skew(make_settings, future):
    settings = make_settings(db_dump_stale_min=60, db_dump_fail_min=120)
    make_dump(base_of(settings), "20270115-0200", age_s=-future, now=NOW)
    result = db_result(settings)
    assert result.status is Status.WARN
    assert "clock skew" in result.detail
    assert result.age_seconds == -future


def test_db_dump_a_few_seconds_ahead_is_within_the_documented_tolerance(make_settings):
    settings = make_settings()
    make_dump(base_of(settings), "20270115-0200", age_s=-30, now=NOW)
    result = db_result(settings)
    assert result.status is Status.OK  # README: more than 2 minutes in the future is clock skew
    assert result.age_seconds == -30


def test_db_dump_none(make_settings):
    settings = make_settings()
    (base_of(settings) / "db").mkdir(parents=True)
    result = db_result(settings)
    assert result.status is Status.FAIL
    assert result.age_seconds is None
    assert "no valid dump" in result.detail


def test_db_dump_only_invalid_ones(make_settings):
    settings = make_settings()
    base = base_of(settings)
    make_dump(base, "20270115-0200", sha=False, now=NOW)
    (base / "db" / "full-20270116-0200.sql.gz.partial").write_bytes(b"x")
    result = db_result(settings)
    assert result.status is Status.FAIL
    assert "full-20270115-0200.sql.gz has no .sha256" in result.detail


def test_db_dump_newer_without_checksum_is_skipped_and_said(make_settings):
    settings = make_settings(db_dump_stale_min=60, db_dump_fail_min=120)
    base = base_of(settings)
    older = make_dump(base, "20270114-0200", age_s=30 * MIN, now=NOW)
    make_dump(base, "20270115-0200", age_s=5 * MIN, now=NOW, sha=False)
    result = db_result(settings)
    assert result.status is Status.OK
    assert result.path == str(older)
    assert "full-20270115-0200.sql.gz has no .sha256" in result.detail


def test_db_dump_newer_with_malformed_checksum_is_skipped_and_said(make_settings):
    settings = make_settings(db_dump_stale_min=60, db_dump_fail_min=120)
    base = base_of(settings)
    older = make_dump(base, "20270114-0200", age_s=90 * MIN, now=NOW)
    newer = make_dump(base, "20270115-0200", age_s=5 * MIN, now=NOW, sha=False)
    (base / "db" / f"{newer.name}.sha256").write_text("garbage\n")
    result = db_result(settings)
    assert result.status is Status.STALE  # the older one decides
    assert result.path == str(older)
    assert "malformed" in result.detail


def test_db_dump_newest_by_name_even_when_an_old_one_was_touched(make_settings):
    settings = make_settings(db_dump_stale_min=60, db_dump_fail_min=120)
    base = base_of(settings)
    make_dump(base, "20270101-0200", age_s=1 * MIN, now=NOW)   # re-touched old dump
    newest = make_dump(base, "20270113-0200", age_s=3 * DAY, now=NOW)
    result = db_result(settings)
    assert result.path == str(newest)
    assert result.status is Status.FAIL  # the missing nightly dumps are not hidden


def test_db_dump_folder_missing_or_a_file(make_settings):
    settings = make_settings()
    result = db_result(settings)
    assert result.status is Status.FAIL and "does not exist" in result.detail
    base_of(settings).mkdir()
    (base_of(settings) / "db").write_text("not a folder")
    result = db_result(settings)
    assert result.status is Status.FAIL and "is not a directory" in result.detail
    assert result.path == str(settings.db_dir)


def _db_check_as_nobody(settings):
    result = check_db_dump(settings, BackupTree(settings.backup_base), NOW)
    return result.status.value, result.detail


def test_db_dump_unreadable_folder(make_settings, public_tmp):
    settings = make_settings(backup_base=public_tmp / "backups")
    make_dump(settings.backup_base, "20270115-0200", now=NOW)
    settings.db_dir.chmod(0)
    status, detail = run_as_nobody(_db_check_as_nobody, settings)
    assert status == "FAIL"
    assert "permission denied" in detail


# --- uploads_snapshot ---


@pytest.mark.parametrize("age,status", [
    (0, Status.OK), (60 * MIN - 1, Status.OK), (60 * MIN, Status.STALE), (90 * DAY, Status.STALE),
])
def test_snapshot_thresholds(make_settings, age, status):
    settings = make_settings(snapshot_stale_min=60)
    marker = make_marker(base_of(settings), "20270115-0130", age_s=age, now=NOW, snapshot_id="9f8e7d6c")
    result = snapshot_result(settings)
    assert result.status is status
    assert result.age_seconds == age
    assert result.path == str(marker)
    assert result.threshold_seconds == 60 * MIN
    assert "9f8e7d6c" in result.detail


def test_snapshot_none_missing_folder_and_skew(make_settings):
    settings = make_settings(snapshot_stale_min=60)
    result = snapshot_result(settings)
    assert result.status is Status.FAIL and "does not exist" in result.detail
    (base_of(settings) / "snapshots").mkdir(parents=True)
    (base_of(settings) / "snapshots" / "snapshot-20270115-0130.txt.tmp").write_text("snapshot_id: x\n")
    result = snapshot_result(settings)
    assert result.status is Status.FAIL and "no snapshot marker" in result.detail
    make_marker(base_of(settings), "20270115-0130", age_s=-DAY, now=NOW)
    result = snapshot_result(settings)
    assert result.status is Status.WARN and "clock skew" in result.detail


def test_snapshot_marker_without_id(make_settings):
    settings = make_settings()
    marker = make_marker(base_of(settings), "20270115-0130", now=NOW)
    marker.write_text("no id here\n")
    set_age(marker, HOUR, NOW)
    result = snapshot_result(settings)
    assert result.status is Status.OK
    assert "snapshot ?" in result.detail


# --- verify_restore ---


@pytest.mark.parametrize("age,status", [
    (0, Status.OK), (HOUR - 1, Status.OK), (HOUR, Status.OVERDUE), (30 * DAY, Status.OVERDUE),
])
def test_verify_thresholds(make_settings, age, status):
    settings = make_settings(verify_overdue_hours=1)
    log = make_verify_log(base_of(settings), "20270110-0400", age_s=age, now=NOW, tables=5)
    result = verify_result(settings)
    assert result.status is status
    assert result.age_seconds == age
    assert result.path == str(log)
    assert result.threshold_seconds == HOUR
    assert "5 tables" in result.detail


@pytest.mark.parametrize("age", [10, 30 * DAY])
def test_verify_fail_is_failed_fresh_or_old(make_settings, age):
    settings = make_settings(verify_overdue_hours=1)
    make_verify_log(base_of(settings), "20270110-0400", result="FAIL", age_s=age, now=NOW,
                    error="import failed: ERROR 1062 Duplicate entry")
    result = verify_result(settings)
    assert result.status is Status.FAILED
    assert "ERROR 1062 Duplicate entry" in result.detail


@pytest.mark.parametrize("body", ["dump: full-20270110-0200.sql.gz\ntables: 5\n", "result: \n", "result: MAYBE\n", ""])
def test_verify_without_a_valid_result_is_failed(make_settings, body):
    settings = make_settings()
    log = make_verify_log(base_of(settings), "20270110-0400", now=NOW)
    log.write_text(body)
    result = verify_result(settings)
    assert result.status is Status.FAILED
    assert "no valid result" in result.detail


def test_verify_newest_log_decides(make_settings):
    settings = make_settings(verify_overdue_hours=24)
    base = base_of(settings)
    make_verify_log(base, "20270103-0400", result="FAIL", age_s=2 * HOUR, now=NOW)
    make_verify_log(base, "20270110-0400", result="OK", age_s=3 * HOUR, now=NOW)
    assert verify_result(settings).status is Status.OK
    make_verify_log(base, "20270111-0400", result="FAIL", age_s=HOUR, now=NOW, error="tables: 2 of 5")
    assert verify_result(settings).status is Status.FAILED


def test_verify_none_missing_and_skew(make_settings):
    settings = make_settings()
    result = verify_result(settings)
    assert result.status is Status.FAIL and "does not exist" in result.detail
    (base_of(settings) / "verify").mkdir(parents=True)
    result = verify_result(settings)
    assert result.status is Status.FAIL and "no verify log" in result.detail
    make_verify_log(base_of(settings), "20270110-0400", age_s=-HOUR, now=NOW)
    result = verify_result(settings)
    assert result.status is Status.WARN and "clock skew" in result.detail


# --- metrics, against a real HTTP server ---


def metrics_settings(make_settings, url: str, timeout: float = 3.0):
    return make_settings(metrics_url=url, metrics_timeout_s=timeout)


def test_metrics_ok(make_settings, http_stub):
    http_stub.default = (200, GOOD_METRICS, 0.0, {"Content-Type": "text/plain; version=0.0.4"})
    url = http_stub.url + "/crm/ops/metrics"
    result = check_metrics(metrics_settings(make_settings, url))
    assert result.status is Status.OK
    assert result.path == url
    assert "HTTP 200" in result.detail and f"{count_samples(GOOD_METRICS.decode())} samples" in result.detail
    assert http_stub.requests[0][:2] == ("GET", "/crm/ops/metrics")


def test_metrics_html_is_a_parse_error(make_settings, http_stub):
    http_stub.default = (200, b"<!DOCTYPE html><html><body><h1>Login</h1></body></html>\n", 0.0,
                         {"Content-Type": "text/html"})
    result = check_metrics(metrics_settings(make_settings, http_stub.url + "/crm/ops/metrics"))
    assert result.status is Status.FAIL
    assert result.detail.startswith("parse error")


@pytest.mark.parametrize("body", [b"", b"\xff\xfe\x00binary", b"# only a comment\n", b"metric value_not_a_number\n"])
def test_metrics_bodies_that_do_not_parse(make_settings, http_stub, body):
    http_stub.default = (200, body, 0.0, {})
    result = check_metrics(metrics_settings(make_settings, http_stub.url + "/m"))
    assert result.status is Status.FAIL
    assert "parse error" in result.detail


@pytest.mark.parametrize("code", [500, 503, 404, 302, 204])
def test_metrics_http_status(make_settings, http_stub, code):
    http_stub.default = (code, GOOD_METRICS if code != 204 else b"", 0.0, {"Location": "/elsewhere"})
    result = check_metrics(metrics_settings(make_settings, http_stub.url + "/crm/ops/metrics"))
    assert result.status is Status.FAIL
    assert result.detail == f"HTTP {code} (expected 200)"


def test_metrics_slow_server_times_out(make_settings, http_stub):
    http_stub.default = (200, GOOD_METRICS, 2.0, {})
    result = check_metrics(metrics_settings(make_settings, http_stub.url + "/crm/ops/metrics", timeout=0.2))
    assert result.status is Status.FAIL
    assert result.detail == "timeout after 0.2 s"


@pytest.fixture
def dribbling_server():
    """Answers 200 at once, then a body one byte at a time, faster than any per-read timeout."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"#")
                except OSError:
                    return
                stop.wait(0.02)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/crm/ops/metrics"
    stop.set()
    server.close()
    thread.join()


def test_metrics_dribbling_server_hits_the_whole_request_deadline(make_settings, dribbling_server):
    result = check_metrics(metrics_settings(make_settings, dribbling_server, timeout=0.3))
    assert result.status is Status.FAIL
    assert result.detail == "timeout after 0.3 s"


def test_metrics_connection_refused(make_settings):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more
    result = check_metrics(metrics_settings(make_settings, f"http://127.0.0.1:{port}/crm/ops/metrics"))
    assert result.status is Status.FAIL
    assert result.detail == "connection refused"


def test_metrics_skipped_when_unset(make_settings):
    result = check_metrics(make_settings())
    assert result.status is Status.SKIPPED
    assert result.path is None
    assert "OPS_METRICS_URL" in result.detail
    assert result.status.exit_code == 0


# --- ops_log ---


def laravel(when: float, level: str, message: str, channel: str = "production") -> str:
    return f"[{datetime.fromtimestamp(when):%Y-%m-%d %H:%M:%S}] {channel}.{level}: {message} {{}} []\n"


def write_log(path: Path, *lines: str, mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8") as handle:
        handle.writelines(lines)


def test_ops_log_missing_file_is_warn(make_settings):
    settings = make_settings()
    result = check_ops_log(settings, NOW)
    assert result.status is Status.WARN
    assert "no ops.log" in result.detail
    assert result.path == str(settings.log_path)


def test_ops_log_clean_and_empty(make_settings):
    settings = make_settings()
    settings.log_path.write_text("")
    assert check_ops_log(settings, NOW).status is Status.OK
    write_log(settings.log_path,
              laravel(NOW - 500, "INFO", "job db_backup finished OK in 6.8 s"),
              laravel(NOW - 400, "WARNING", "Metrics endpoint slow response"),
              laravel(NOW - 300, "INFO", "FAILOVER drill scheduled"),
              laravel(NOW - 200, "DEBUG", "failed login for admin"),  # lower case: a Laravel message, not our FAIL
              "#0 /var/www/crm/app/Http/Controllers/OpsMetricsController.php(41): collect()\n")
    result = check_ops_log(settings, NOW)
    assert result.status is Status.OK
    assert "no FAIL/alert lines" in result.detail and "never acknowledged" in result.detail


def test_ops_log_counts_alerts_and_shows_the_newest(make_settings):
    settings = make_settings()
    write_log(settings.log_path,
              laravel(NOW - 900, "INFO", "job snapshot finished OK in 2.7 s"),
              laravel(NOW - 800, "ERROR", "SQLSTATE[HY000] [2002] Connection refused"),
              laravel(NOW - 700, "INFO", "job verify finished FAIL in 2.4 s"),
              "PHP Fatal error: backup FAILED badly\n",                            # raw line with the word
              laravel(NOW - 600, "ALERT", "ALERT db_backup FAILED on crm-backup-01", channel="opsbackup"),
              laravel(NOW - 500, "INFO", "job db_backup finished OK in 6.8 s"))
    result = check_ops_log(settings, NOW)
    assert result.status is Status.WARN
    assert result.detail.startswith("4 FAIL/alert lines")
    assert "ALERT db_backup FAILED on crm-backup-01" in result.detail
    assert result.age_seconds == 600


def test_ops_log_acknowledge_then_new_alert(make_settings):
    settings = make_settings()
    write_log(settings.log_path, laravel(NOW - 900, "ERROR", "disk full"), laravel(NOW - 800, "CRITICAL", "db gone"))
    assert check_ops_log(settings, NOW).status is Status.WARN
    acknowledge(settings.state_dir, settings.log_path, NOW)
    result = check_ops_log(settings, NOW)
    assert result.status is Status.OK and "since acknowledged" in result.detail

    write_log(settings.log_path, laravel(NOW - 100, "INFO", "job db_backup finished OK in 6.8 s"))
    assert check_ops_log(settings, NOW).status is Status.OK

    write_log(settings.log_path, laravel(NOW - 50, "EMERGENCY", "uploads disk unmounted"))
    result = check_ops_log(settings, NOW)
    assert result.status is Status.WARN
    assert result.detail.startswith("1 FAIL/alert line ")
    assert "uploads disk unmounted" in result.detail
    assert result.age_seconds == 50


def test_ops_log_acknowledge_up_to_an_offset(make_settings):
    settings = make_settings()
    first = laravel(NOW - 900, "ERROR", "first")
    write_log(settings.log_path, first, laravel(NOW - 800, "ERROR", "second"), laravel(NOW - 700, "ERROR", "third"))
    acknowledge(settings.state_dir, settings.log_path, NOW, offset=len(first.encode()))
    result = check_ops_log(settings, NOW)
    assert result.detail.startswith("2 FAIL/alert lines") and "third" in result.detail


def test_ops_log_ack_is_per_file(make_settings, tmp_path):
    settings = make_settings()
    other = make_settings(log_path=tmp_path / "other.log")
    for s in (settings, other):
        write_log(s.log_path, laravel(NOW - 900, "ERROR", "boom"))
    acknowledge(settings.state_dir, settings.log_path, NOW)
    assert check_ops_log(settings, NOW).status is Status.OK
    assert check_ops_log(other, NOW).status is Status.WARN


def test_ops_log_rotation_by_rename_after_ack(make_settings):
    settings = make_settings()
    write_log(settings.log_path, *[laravel(NOW - 900 + i, "ERROR", f"old {i}") for i in range(20)])
    acknowledge(settings.state_dir, settings.log_path, NOW)
    assert check_ops_log(settings, NOW).status is Status.OK
    settings.log_path.rename(settings.log_path.with_name("ops.log.1"))
    write_log(settings.log_path, laravel(NOW - 10, "ERROR", "after rotation"), mode="w")
    result = check_ops_log(settings, NOW)
    assert result.status is Status.WARN
    assert result.detail.startswith("1 FAIL/alert line ") and "after rotation" in result.detail


def test_ops_log_rotation_by_rename_to_a_bigger_file(make_settings):
    settings = make_settings()
    write_log(settings.log_path, laravel(NOW - 900, "ERROR", "old"))
    acknowledge(settings.state_dir, settings.log_path, NOW)
    settings.log_path.rename(settings.log_path.with_name("ops.log.1"))
    lines = [laravel(NOW - 300 + i, "INFO", f"ok {i}") for i in range(50)] + [laravel(NOW - 10, "ALERT", "new one")]
    write_log(settings.log_path, *lines, mode="w")
    result = check_ops_log(settings, NOW)
    assert result.status is Status.WARN and result.detail.startswith("1 FAIL/alert line ")


@pytest.mark.parametrize("grow", [False, True])
def test_ops_log_copytruncate_after_ack(make_settings, grow):
    settings = make_settings()
    write_log(settings.log_path, *[laravel(NOW - 900 + i, "ERROR", f"old {i}") for i in range(5)])
    acknowledge(settings.state_dir, settings.log_path, NOW)
    inode = settings.log_path.stat().st_ino
    shutil.copyfile(settings.log_path, settings.log_path.with_name("ops.log.1"))
    with open(settings.log_path, "r+") as handle:  # logrotate's copytruncate: same inode, size 0
        handle.truncate(0)
    new = [laravel(NOW - 20, "ERROR", "after copytruncate")]
    if grow:  # the new content grows past the acknowledged offset before the check runs
        new = [laravel(NOW - 300 + i, "INFO", f"ok {i}") for i in range(30)] + new
    write_log(settings.log_path, *new)
    assert settings.log_path.stat().st_ino == inode
    acked = load_ack(settings.state_dir, settings.log_path)
    assert (settings.log_path.stat().st_size > acked.offset) is grow
    result = check_ops_log(settings, NOW)
    assert result.status is Status.WARN
    assert result.detail.startswith("1 FAIL/alert line ") and "after copytruncate" in result.detail


def test_ops_log_window_cut_on_a_big_file(make_settings):
    settings = make_settings(log_window_kib=1)
    old_alerts = [laravel(NOW - 9000 + i, "ERROR", f"old alert {i}") for i in range(200)]
    quiet = [laravel(NOW - 5000 + i, "INFO", f"routine line {i:04d}") for i in range(100)]
    write_log(settings.log_path, *old_alerts, *quiet)
    assert settings.log_path.stat().st_size > 10 * 1024
    scan = scan_alerts(settings.log_path, settings.state_dir, 1024)
    assert scan.window_cut and scan.end - scan.start <= 1024
    result = check_ops_log(settings, NOW)
    assert result.status is Status.OK
    assert "last 1.0 KiB read" in result.detail

    write_log(settings.log_path, laravel(NOW - 5, "ERROR", "fresh alert"))
    result = check_ops_log(settings, NOW)
    assert result.status is Status.WARN and result.detail.startswith("1 FAIL/alert line ")


def test_ops_log_window_boundary_on_a_line_start_counts_that_line(make_settings):
    """A line that lies wholly inside the window is read, also when the window starts exactly on it."""
    settings = make_settings(log_window_kib=1)
    info = laravel(NOW - 100, "INFO", "x" * 10)
    alert = laravel(NOW - 50, "ERROR", "boundary alert")
    filler = laravel(NOW - 10, "INFO", "y")
    # [older lines][alert][quiet lines]: the last 1024 bytes start exactly at the alert line.
    tail = [alert]
    size = len(alert)
    while size + len(filler) <= 1024 - len(filler):
        tail.append(filler)
        size += len(filler)
    pad = 1024 - size - len(filler)
    tail.append(laravel(NOW - 10, "INFO", "y" + "z" * pad))
    assert sum(len(line) for line in tail) == 1024
    write_log(settings.log_path, *[info] * 40, *tail)
    result = check_ops_log(settings, NOW)
    assert result.status is Status.WARN
    assert "boundary alert" in result.detail


def test_ops_log_window_starting_mid_line_drops_the_partial_line(make_settings):
    settings = make_settings(log_window_kib=1)
    alert = laravel(NOW - 50, "ERROR", "long alert " + "q" * 200 + " job FAILED")
    filler = laravel(NOW - 10, "INFO", "y" * 40)
    write_log(settings.log_path, alert, *[filler] * (1000 // len(filler)))
    start = settings.log_path.stat().st_size - 1024
    assert 0 < start < len(alert) - 20  # the window starts inside the alert line, before "FAILED"
    scan = scan_alerts(settings.log_path, settings.state_dir, 1024)
    assert scan.count == 0 and scan.window_cut
    assert check_ops_log(settings, NOW).status is Status.OK


def test_ops_log_unreadable_is_warn_not_crash(make_settings):
    settings = make_settings()
    settings.log_path.mkdir()
    result = check_ops_log(settings, NOW)
    assert result.status is Status.WARN
    assert "cannot read" in result.detail


# --- the whole checklist ---


def _healthy(settings) -> None:
    base = settings.backup_base
    make_dump(base, "20270115-0200", age_s=HOUR, now=NOW)
    make_marker(base, "20270115-0130", age_s=HOUR, now=NOW)
    make_verify_log(base, "20270110-0400", age_s=2 * DAY, now=NOW)
    settings.log_path.write_text(laravel(NOW - 60, "INFO", "job db_backup finished OK"))


def test_run_checks_all_ok(make_settings, http_stub):
    http_stub.default = (200, GOOD_METRICS, 0.0, {})
    settings = make_settings(metrics_url=http_stub.url + "/crm/ops/metrics")
    _healthy(settings)
    results = run_checks(settings, now=NOW)
    assert [r.id for r in results] == list(CHECK_IDS)
    assert [r.status for r in results] == [Status.OK] * 5
    assert overall(results) is Status.OK and overall(results).exit_code == 0


def test_run_checks_uses_the_clock_when_now_is_not_given(make_settings):
    settings = make_settings()
    _healthy(settings)
    results = run_checks(settings, clock=lambda: NOW + 2 * DAY)
    by_id = {r.id: r for r in results}
    assert by_id["db_dump"].status is Status.FAIL  # 2 days + 1 h past its mtime, default FAIL at 48 h
    assert by_id["db_dump"].age_seconds == 2 * DAY + HOUR
    assert by_id["metrics"].status is Status.SKIPPED


def test_run_checks_on_an_empty_base(make_settings):
    results = run_checks(make_settings(), now=NOW)
    by_id = {r.id: r.status for r in results}
    assert by_id == {"db_dump": Status.FAIL, "uploads_snapshot": Status.FAIL, "verify_restore": Status.FAIL,
                     "metrics": Status.SKIPPED, "ops_log": Status.WARN}
    assert overall(results) is Status.FAIL


def test_run_checks_mixed_warnings(make_settings):
    settings = make_settings(db_dump_stale_min=60, db_dump_fail_min=120, verify_overdue_hours=1)
    _healthy(settings)
    make_dump(settings.backup_base, "20270115-0300", age_s=90 * MIN, now=NOW)
    results = run_checks(settings, now=NOW)
    by_id = {r.id: r.status for r in results}
    assert by_id["db_dump"] is Status.STALE and by_id["verify_restore"] is Status.OVERDUE
    assert overall(results).exit_code == 1


def test_a_crashing_check_is_unknown_not_a_crash():
    result = checks._guard("db_dump", lambda: 1 / 0)
    assert result.status is Status.UNKNOWN
    assert "ZeroDivisionError" in result.detail


def test_to_json_shape(make_settings):
    settings = make_settings()
    make_dump(settings.backup_base, "20270115-0200", age_s=123.456, now=NOW, data=b"a" * 10)
    data = db_result(settings).to_json()
    assert data["id"] == "db_dump" and data["status"] == "OK"
    assert data["age_seconds"] == 123.5
    assert data["path"].endswith("full-20270115-0200.sql.gz")
    assert data["threshold_seconds"] == settings.db_dump_stale_min * 60
    assert data["size_bytes"] == 10
    assert isinstance(data["detail"], str) and data["detail"]


# --- statuses and exit codes ---


@pytest.mark.parametrize("status,code", [
    (Status.OK, 0), (Status.SKIPPED, 0), (Status.STALE, 1), (Status.OVERDUE, 1), (Status.WARN, 1),
    (Status.FAIL, 2), (Status.FAILED, 2), (Status.UNKNOWN, 3),
])
def test_exit_code_mapping(status, code):
    assert status.exit_code == code


def _r(status: Status) -> CheckResult:
    return CheckResult("x", status, None, None, "")


@pytest.mark.parametrize("statuses,worst", [
    ([], Status.OK),
    ([Status.OK, Status.SKIPPED], Status.OK),
    ([Status.SKIPPED], Status.OK),
    ([Status.OK, Status.STALE, Status.OK], Status.STALE),
    ([Status.OVERDUE, Status.WARN], Status.OVERDUE),
    ([Status.WARN, Status.FAIL, Status.STALE], Status.FAIL),
    ([Status.OK, Status.UNKNOWN], Status.UNKNOWN),
    ([Status.STALE, Status.UNKNOWN], Status.UNKNOWN),
    ([Status.UNKNOWN, Status.FAILED], Status.FAILED),
])
def test_overall(statuses, worst):
    result = overall([_r(s) for s in statuses])
    assert result is worst
