"""Health evaluation (the runbook's EvaluateBackupHealthJob) on a real tree, a real webhook server
and an injected clock: an alert on each change of state, de-duplicated, a recovery message."""

from __future__ import annotations

import json
import os
import socket

from jobs_support import NIGHT, clock_at, free_port, mode, run
from treeutil import make_dump, make_marker, make_verify_log

from opsbackup_tui.core import opslog
from opsbackup_tui.core.jobs.evaluate import EvaluateJob, load_state, state_path

MIN = 60
HOOK = "/services/T1/B1/evaluateHookToken"


def texts(stub) -> list[str]:
    return [json.loads(body)["text"] for _, _, body in stub.requests]


def settings_for(make_settings, stub, **extra):
    return make_settings(db_dump_stale_min=60, db_dump_fail_min=120, snapshot_stale_min=600,
                         verify_overdue_hours=48, realert_min=30, slack_webhook_url=stub.url + HOOK, **extra)


def fresh_tree(base, now):
    make_dump(base, "20261126-0150", age_s=10 * MIN, now=now)
    make_marker(base, "20261126-0150", age_s=10 * MIN, now=now)
    make_verify_log(base, "20261126-0150", age_s=10 * MIN, now=now)


async def evaluate(settings, at: float):
    finished, rec = await run(EvaluateJob(settings), clock_at(at))
    assert finished.ok, finished.error
    return finished.result.alerts, rec


async def test_transitions_ok_stale_fail_ok_with_dedup_and_realert(make_settings, http_stub):
    settings = settings_for(make_settings, http_stub)
    base = settings.backup_base
    t0 = NIGHT
    fresh_tree(base, t0)
    host = socket.gethostname()

    # OK everywhere: nothing to say.
    alerts, _ = await evaluate(settings, t0)
    assert alerts == [] and http_stub.requests == []
    assert mode(state_path(settings.state_dir)) == 0o600
    assert load_state(settings.state_dir)["db_dump"]["status"] == "OK"

    # 70 minutes old: STALE, one alert naming the check, its age against the threshold, the next step.
    t1 = t0 + 60 * MIN
    alerts, _ = await evaluate(settings, t1)
    assert alerts == [("alert", "db_dump", "STALE")]
    [text] = texts(http_stub)
    assert text.startswith(f"db_dump STALE on {host}: full-20261126-0150.sql.gz")
    assert "(age 1 h 10 min, threshold 1 h)" in text
    assert text.endswith("next: check the cron and the job's log, then run a DB backup (`opsbackup run db_backup`)")

    # Still STALE a few minutes later: no repeat.
    alerts, _ = await evaluate(settings, t1 + 5 * MIN)
    assert alerts == [] and len(http_stub.requests) == 1

    # Past FAIL: a change of state, alerted at once.
    t2 = t0 + 115 * MIN
    alerts, _ = await evaluate(settings, t2)
    assert alerts == [("alert", "db_dump", "FAIL")]
    assert texts(http_stub)[-1].startswith(f"db_dump FAIL on {host}: ")
    assert "(age 2 h 5 min, threshold 1 h)" in texts(http_stub)[-1]

    # Within the re-alert interval: silence; once it has passed: the same alert again.
    alerts, _ = await evaluate(settings, t2 + 29 * MIN)
    assert alerts == [] and len(http_stub.requests) == 2
    alerts, _ = await evaluate(settings, t2 + 30 * MIN)
    assert alerts == [("alert", "db_dump", "FAIL")] and len(http_stub.requests) == 3
    alerts, _ = await evaluate(settings, t2 + 45 * MIN)
    assert alerts == [] and len(http_stub.requests) == 3

    # A new dump: recovery, said once.
    t3 = t2 + 50 * MIN
    make_dump(base, "20261126-0440", age_s=2 * MIN, now=t3)
    alerts, _ = await evaluate(settings, t3)
    assert alerts == [("recovery", "db_dump", "OK")]
    recovery = texts(http_stub)[-1]
    assert recovery.startswith(f"db_dump recovered on {host}: now OK: full-20261126-0440.sql.gz")
    alerts, _ = await evaluate(settings, t3 + 5 * MIN)
    assert alerts == []

    # And no dump since: the dead-man's switch fires again, straight to FAIL.
    alerts, _ = await evaluate(settings, t3 + 5 * 60 * MIN)
    assert alerts == [("alert", "db_dump", "FAIL")]

    # ops.log holds every alert (ALERT level) and the recovery (NOTICE), never the webhook URL.
    log = settings.log_path.read_text()
    assert "evaluateHookToken" not in log
    lines = [opslog.parse_line(line) for line in log.splitlines()]
    events = [(line.level, line.context.get("event"), line.context.get("status")) for line in lines
              if line.context and line.context.get("check") == "db_dump"]
    assert events == [("ALERT", "alert", "STALE"), ("ALERT", "alert", "FAIL"), ("ALERT", "alert", "FAIL"),
                      ("NOTICE", "recovery", "OK"), ("ALERT", "alert", "FAIL")]
    assert all(line.is_alert for line in lines if line.level == "ALERT")


async def test_each_check_alerts_on_its_own(make_settings, http_stub):
    settings = settings_for(make_settings, http_stub)
    base = settings.backup_base
    t0 = NIGHT
    fresh_tree(base, t0)
    await evaluate(settings, t0)

    # A failed verify and a stale snapshot in the same run: two alerts.
    make_verify_log(base, "20261126-0210", result="FAIL", error="sha256 mismatch", age_s=MIN, now=t0 + 20 * MIN)
    alerts, _ = await evaluate(settings, t0 + 20 * MIN)
    assert alerts == [("alert", "verify_restore", "FAILED")]
    assert "sha256 mismatch" in texts(http_stub)[-1]
    assert "next: run a verify restore" in texts(http_stub)[-1]

    # Eleven hours on: the dump FAILs, the snapshot is STALE, the FAILED verify is re-alerted.
    alerts, _ = await evaluate(settings, t0 + 11 * 60 * MIN)
    assert sorted(alerts) == [("alert", "db_dump", "FAIL"), ("alert", "uploads_snapshot", "STALE"),
                              ("alert", "verify_restore", "FAILED")]
    snapshot_text = next(t for t in texts(http_stub) if t.startswith("uploads_snapshot"))
    assert "threshold 10 h" in snapshot_text and "`opsbackup run snapshot`" in snapshot_text


async def test_unreachable_webhook_never_fails_the_evaluation(make_settings, monkeypatch):
    from opsbackup_tui.core import alerts

    monkeypatch.setattr(alerts, "BACKOFF_S", (0.01, 0.01))
    settings = make_settings(db_dump_stale_min=60, db_dump_fail_min=120,
                             slack_webhook_url=f"http://127.0.0.1:{free_port()}/hook")  # refused
    # No tree at all: every check fails; the job still succeeds and remembers what it alerted.
    finished, rec = await run(EvaluateJob(settings), clock_at(NIGHT))
    assert finished.ok
    assert {a[1] for a in finished.result.alerts} == {"db_dump", "uploads_snapshot", "verify_restore"}
    assert "(Slack: network error (ConnectError))" in rec.output
    assert "0 delivered to Slack" in finished.summary
    # Not delivered is not "not alerted": the next run within the interval stays quiet.
    finished, _ = await run(EvaluateJob(settings), clock_at(NIGHT + 60))
    assert finished.result.alerts == []


async def test_a_damaged_state_file_means_alert_again(make_settings, http_stub):
    settings = settings_for(make_settings, http_stub)
    await evaluate(settings, NIGHT)
    sent = len(http_stub.requests)
    assert sent == 3
    state_path(settings.state_dir).write_text("{not json")
    alerts, _ = await evaluate(settings, NIGHT + 60)
    assert len(alerts) == 3 and len(http_stub.requests) == 6
    assert json.loads(state_path(settings.state_dir).read_text())["db_dump"]["status"] == "FAIL"


async def test_metrics_check_is_alerted_too(make_settings, http_stub):
    from conftest import HTTPStub

    metrics = HTTPStub()
    try:
        metrics.default = (500, b"down", 0, {})
        settings = settings_for(make_settings, http_stub, metrics_url=metrics.url + "/crm/ops/metrics")
        fresh_tree(settings.backup_base, NIGHT)
        alerts, _ = await evaluate(settings, NIGHT)
        assert alerts == [("alert", "metrics", "FAIL")]
        assert "HTTP 500" in texts(http_stub)[0] and "/crm/ops/metrics answers" in texts(http_stub)[0]
        metrics.default = (200, b"# HELP up x\n# TYPE up gauge\nup 1\n", 0, {})
        alerts, _ = await evaluate(settings, NIGHT + 60)
        assert alerts == [("recovery", "metrics", "OK")]
    finally:
        metrics.close()


def test_state_file_is_not_world_readable_and_survives_restarts(make_settings, tmp_path):
    settings = make_settings()
    assert load_state(settings.state_dir) == {}
    os.makedirs(settings.state_dir, exist_ok=True)
    state_path(settings.state_dir).write_text("[1, 2]")
    assert load_state(settings.state_dir) == {}


async def test_its_own_summary_is_no_alert_after_an_acknowledgement(make_settings, http_stub):
    """The evaluation's INFO line names the states (`verify_restore FAIL`): it must not bring the
    ops_log warning back after every acknowledgement."""
    from opsbackup_tui.core.checks import Status, check_ops_log

    settings = settings_for(make_settings, http_stub)
    base = settings.backup_base
    fresh_tree(base, NIGHT)
    (base / "verify" / "verify-20261126-0150.log").unlink()  # no verify log: verify_restore FAIL
    await evaluate(settings, NIGHT)
    assert "verify_restore FAIL" in settings.log_path.read_text()
    assert check_ops_log(settings, NIGHT).status is Status.WARN  # its ALERT line is an alert
    opslog.acknowledge(settings.state_dir, settings.log_path, NIGHT)
    assert check_ops_log(settings, NIGHT).status is Status.OK

    alerts, _ = await evaluate(settings, NIGHT + 5 * MIN)  # the same state: no new alert
    assert alerts == []
    summary = [line for line in settings.log_path.read_text().splitlines() if "verify_restore FAIL" in line][-1]
    assert ".INFO:" in summary
    result = check_ops_log(settings, NIGHT + 5 * MIN)
    assert result.status is Status.OK, result.detail
