"""Slack alerts against a real HTTP server on 127.0.0.1: retries, Retry-After, no retry on 4xx,
timeouts; a failed alert never changes a job's result; the webhook URL is never logged."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from jobs_support import NIGHT, clock_at, db_flags, free_port, run
from treeutil import TRAILER, make_dump

from opsbackup_tui.core import alerts, opslog
from opsbackup_tui.core.alerts import raise_alert, send_slack
from opsbackup_tui.core.jobs.dump import DumpJob
from opsbackup_tui.core.jobs.verify import VerifyJob

HOOK_PATH = "/services/T0000/B0000/" + "s3cr3tW3bh00kT0k3n"


def hook(stub) -> str:
    return stub.url + HOOK_PATH


class Sleeps(list):
    """Records the waits send_slack asks for instead of sleeping them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def texts(stub) -> list[str]:
    return [json.loads(body)["text"] for _, _, body in stub.requests]


def test_delivered_on_first_attempt(make_settings, http_stub):
    settings = make_settings(slack_webhook_url=hook(http_stub))
    sleeps = Sleeps()
    result = send_slack(settings, "db_backup FAILED on host: x", sleep=sleeps)
    assert result.sent and result.attempts == 1 and result.error is None
    [(method, path, body)] = http_stub.requests
    assert method == "POST" and path == HOOK_PATH
    assert json.loads(body) == {"text": "db_backup FAILED on host: x"}
    assert sleeps == []


def test_500_then_200_takes_two_attempts(make_settings, http_stub):
    http_stub.answers += [(500, b"oops", 0, {}), (200, b"ok", 0, {})]
    sleeps = Sleeps()
    result = send_slack(make_settings(slack_webhook_url=hook(http_stub)), "t", sleep=sleeps)
    assert result.sent and result.attempts == 2
    assert len(http_stub.requests) == 2 and sleeps == [alerts.BACKOFF_S[0]]


def test_three_5xx_give_up_after_three_attempts(make_settings, http_stub):
    http_stub.answers += [(502, b"", 0, {}), (503, b"", 0, {}), (500, b"", 0, {}), (200, b"", 0, {})]
    sleeps = Sleeps()
    result = send_slack(make_settings(slack_webhook_url=hook(http_stub)), "t", sleep=sleeps)
    assert not result.sent and result.attempts == 3
    assert result.error == "the webhook answered HTTP 500"
    assert len(http_stub.requests) == 3 and sleeps == list(alerts.BACKOFF_S)


@pytest.mark.parametrize("header,wait", [("1", 1.0), ("2.5", 2.5), ("0", 0.0), ("9999", alerts.RETRY_AFTER_CAP_S),
                                         ("soon", alerts.BACKOFF_S[0]), (None, alerts.BACKOFF_S[0])])
def test_429_honours_retry_after_up_to_the_cap(make_settings, http_stub, header, wait):
    headers = {"Retry-After": header} if header is not None else {}
    http_stub.answers += [(429, b"rate limited", 0, headers), (200, b"ok", 0, {})]
    sleeps = Sleeps()
    result = send_slack(make_settings(slack_webhook_url=hook(http_stub)), "t", sleep=sleeps)
    assert result.sent and result.attempts == 2
    assert sleeps == [wait]


def test_429_waits_for_real_when_no_sleep_is_injected(make_settings, http_stub):
    http_stub.answers += [(429, b"", 0, {"Retry-After": "1"}), (200, b"ok", 0, {})]
    result = send_slack(make_settings(slack_webhook_url=hook(http_stub)), "t")
    assert result.sent and result.attempts == 2


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_other_4xx_are_not_retried(make_settings, http_stub, status):
    http_stub.answers += [(status, b"no_service", 0, {}), (200, b"ok", 0, {})]
    sleeps = Sleeps()
    result = send_slack(make_settings(slack_webhook_url=hook(http_stub)), "t", sleep=sleeps)
    assert not result.sent and result.attempts == 1
    assert result.error == f"the webhook answered HTTP {status} (not retried)"
    assert len(http_stub.requests) == 1 and sleeps == []


def test_timeout_is_retried(make_settings, http_stub, monkeypatch):
    monkeypatch.setattr(alerts, "TOTAL_TIMEOUT_S", 0.5)
    http_stub.answers += [(200, b"late", 3.0, {}), (200, b"ok", 0, {})]
    sleeps = Sleeps()
    result = send_slack(make_settings(slack_webhook_url=hook(http_stub)), "t", sleep=sleeps)
    assert result.sent and result.attempts == 2 and sleeps == [alerts.BACKOFF_S[0]]


def test_timeouts_give_up(make_settings, http_stub, monkeypatch):
    monkeypatch.setattr(alerts, "TOTAL_TIMEOUT_S", 0.3)
    http_stub.default = (200, b"late", 2.0, {})
    result = send_slack(make_settings(slack_webhook_url=hook(http_stub)), "t", sleep=Sleeps())
    assert not result.sent and result.attempts == 3
    assert result.error.startswith("the webhook timed out")


def test_connection_refused_is_retried_then_given_up(make_settings):
    url = f"http://127.0.0.1:{free_port()}{HOOK_PATH}"
    sleeps = Sleeps()
    result = send_slack(make_settings(slack_webhook_url=url), "t", sleep=sleeps)
    assert not result.sent and result.attempts == 3
    assert result.error == "network error (ConnectError)"
    assert sleeps == list(alerts.BACKOFF_S)


def test_no_webhook_configured(make_settings):
    result = send_slack(make_settings(), "t", sleep=Sleeps())
    assert not result.sent and result.attempts == 0 and "OPS_SLACK_WEBHOOK_URL" in result.error


def test_the_url_never_reaches_logs_or_errors(make_settings, http_stub, caplog):
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    logging.getLogger("httpcore").setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    http_stub.answers += [(500, b"", 0, {}), (404, b"", 0, {})]
    settings = make_settings(slack_webhook_url=hook(http_stub))
    result = raise_alert(settings, "verify FAILED", "the import failed", "use an older dump")
    assert not result.sent
    assert "s3cr3tW3bh00kT0k3n" not in caplog.text
    assert "s3cr3tW3bh00kT0k3n" not in (result.error or "")
    log = settings.log_path.read_text()
    assert "s3cr3tW3bh00kT0k3n" not in log and "127.0.0.1:" not in log
    lines = [opslog.parse_line(line) for line in log.splitlines()]
    assert lines[0].level == "ALERT" and lines[0].is_alert and lines[0].context == {"event": "alert"}
    assert lines[0].message.startswith(f"ALERT verify FAILED on {socket.gethostname()}: the import failed; "
                                       "next: use an older dump")
    assert lines[1].level == "WARNING"
    assert "Slack alert not delivered: the webhook answered HTTP 404" in lines[1].message
    assert lines[1].context == {"event": "alert_delivery", "attempts": 2}


def test_unreachable_webhook_never_raises_even_with_a_bad_url(make_settings):
    settings = make_settings(slack_webhook_url="http://[::1")  # accepted by the settings check, not by httpx
    result = send_slack(settings, "t", sleep=Sleeps())
    assert not result.sent and result.error


# --- alerts sent by jobs ---


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(alerts, "BACKOFF_S", (0.01, 0.01))
    monkeypatch.setattr(alerts, "TOTAL_TIMEOUT_S", 0.5)


@pytest.mark.parametrize("answers,delivered,requests", [
    ([(200, b"ok", 0, {})], True, 1),
    ([(500, b"", 0, {}), (200, b"ok", 0, {})], True, 2),
    ([(429, b"", 0, {"Retry-After": "0"}), (200, b"ok", 0, {})], True, 2),
    ([(404, b"", 0, {})], False, 1),
    ([(500, b"", 0, {})] * 3, False, 3),
    ([(200, b"", 2.0, {})] * 3, False, 3),
], ids=["200", "500-200", "429-200", "404", "500x3", "timeout"])
async def test_failed_job_alerts_and_its_result_never_depends_on_the_alert(
        mysql_server, make_settings, http_stub, tmp_path, fast_backoff, answers, delivered, requests):
    flags = db_flags(mysql_server, tmp_path / "secrets", db_name="opsb_no_such_db_x2")
    baseline, _ = await run(DumpJob(make_settings(log_path=str(tmp_path / "baseline.log"), **flags)), clock_at(NIGHT))
    assert not baseline.ok

    http_stub.answers += answers
    settings = make_settings(slack_webhook_url=hook(http_stub), **flags)
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))

    assert (finished.ok, finished.error, finished.next_step, finished.busy) == \
        (baseline.ok, baseline.error, baseline.next_step, baseline.busy)
    assert len(http_stub.requests) == requests
    text = texts(http_stub)[0]
    assert text.startswith(f"db_backup FAILED on {socket.gethostname()}: mariadb-dump exited 2")
    assert "next: check the DB server and credentials" in text
    log = [opslog.parse_line(line) for line in settings.log_path.read_text().splitlines()]
    assert [line.level for line in log if line.context and line.context.get("event") == "alert"] == ["ALERT"]
    undelivered = [line for line in log if line.context and line.context.get("event") == "alert_delivery"]
    assert bool(undelivered) is not delivered
    assert "s3cr3tW3bh00kT0k3n" not in settings.log_path.read_text()


async def test_successful_and_busy_jobs_send_no_alert(mysql_server, scratch_db, make_settings, http_stub, tmp_path):
    from opsbackup_tui.core.locks import JobLock

    settings = make_settings(slack_webhook_url=hook(http_stub),
                             **db_flags(mysql_server, tmp_path / "secrets", db_name=scratch_db))
    from jobs_support import sql

    sql(mysql_server, "CREATE TABLE t (id INT)", database=scratch_db)
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert finished.ok, finished.error
    with JobLock(settings.backup_base, "db_backup"):
        busy, _ = await run(DumpJob(settings), clock_at(NIGHT + 60))
    assert busy.busy
    assert http_stub.requests == []


async def test_alert_text_holds_no_sql_or_data_from_stderr(mysql_server, make_settings, http_stub, tmp_path):
    """A failing import's stderr quotes the dump (the client echoes the INSERT, the error quotes the
    value): cut to the error with its values elided before the screen, ops.log, the verify log, the
    job's output or Slack see it."""
    settings = make_settings(slack_webhook_url=hook(http_stub), **db_flags(mysql_server, tmp_path / "secrets"))
    sql_text = ("CREATE TABLE users (email VARCHAR(100) PRIMARY KEY);\n"
                "INSERT INTO users VALUES ('jana.novakova@example.com');\n"
                "INSERT INTO users VALUES ('jana.novakova@example.com');\n")
    import gzip

    make_dump(settings.backup_base, "20261126-0200", data=gzip.compress((sql_text + TRAILER).encode(), mtime=0))
    finished, rec = await run(VerifyJob(settings), clock_at(NIGHT + 3600))
    assert not finished.ok
    assert "ERROR 1062 (23000) at line 3: Duplicate entry '…' for key 'PRIMARY'" in finished.error
    everything = "\n".join([finished.error, finished.stderr_tail, rec.output, settings.log_path.read_text(),
                            *(p.read_text() for p in settings.verify_dir.iterdir())])
    assert "jana.novakova" not in everything and "INSERT" not in everything
    [text] = texts(http_stub)
    assert text.startswith(f"verify FAILED on {socket.gethostname()}: the mysql client failed")
    assert "jana.novakova" not in text and "INSERT" not in text and "ERROR 1062" not in text
    alert_lines = [line for line in settings.log_path.read_text().splitlines() if ".ALERT:" in line]
    assert alert_lines and "jana.novakova" not in alert_lines[0]


async def test_report_and_evaluate_do_not_alert_on_their_own_failure(make_settings, http_stub, tmp_path):
    from opsbackup_tui.core.jobs.report import ReportJob

    base = tmp_path / "backups"
    base.mkdir()
    (base / "reports").write_text("a file where the reports folder should be")
    settings = make_settings(backup_base=str(base), slack_webhook_url=hook(http_stub))
    finished, _ = await run(ReportJob(settings), clock_at(NIGHT))
    assert not finished.ok
    assert http_stub.requests == []


async def test_refused_dump_alert_names_the_line_not_its_text(mysql_server, make_settings, http_stub, tmp_path):
    import gzip

    settings = make_settings(slack_webhook_url=hook(http_stub), **db_flags(mysql_server, tmp_path / "secrets"))
    sql_text = "CREATE TABLE users (id INT);\nUSE `crm_production_7f3a`;\n"
    make_dump(settings.backup_base, "20261126-0200", data=gzip.compress((sql_text + TRAILER).encode(), mtime=0))
    finished, _ = await run(VerifyJob(settings), clock_at(NIGHT + 3600))
    assert not finished.ok and "crm_production_7f3a" in finished.error
    [text] = texts(http_stub)
    assert "import stopped: refused at line 2: the dump switches or creates a database" in text
    assert "crm_production_7f3a" not in text
