"""`opsbackup status` as a real process: exit codes, --json, --prom, --output, config errors, secrets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from treeutil import make_dump, make_marker, make_verify_log

from opsbackup_tui.core.checks import CHECK_IDS
from opsbackup_tui.core.opslog import format_line
from opsbackup_tui.core.promtext import count_samples

HOUR = 3600
CONSOLE_SCRIPT = Path(sys.executable).parent / "opsbackup"

DB_SECRET = "db-Secret-in-env-7731"
RESTIC_SECRET = "restic-Secret-in-env-0815"
WEBHOOK = "https://hooks.slack.com/services/T0/B0/webhookSecretToken4242"
PW_FILE_SECRET = "pw-file-Secret-1234"


def run_status(*args: str, env: dict[str, str] | None = None, script: bool = False) -> subprocess.CompletedProcess:
    command = [str(CONSOLE_SCRIPT)] if script else [sys.executable, "-m", "opsbackup_tui"]
    environ = dict(os.environ)  # the isolated XDG dirs of the fixture, no OPS_* of the operator
    environ.update(env or {})
    return subprocess.run([*command, *args], env=environ, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)


def healthy_tree(base: Path) -> dict[str, str]:
    """A tree where every check is OK (metrics unset: SKIPPED); returns the env pointing at it."""
    make_dump(base, "20261126-0200", age_s=HOUR, data=b"d" * 4321)
    make_marker(base, "20261126-0130", age_s=HOUR)
    make_verify_log(base, "20261122-0400", age_s=3 * 24 * HOUR)
    log = base / "ops.log"
    log.write_text(format_line("INFO", "job db_backup finished OK in 6.8 s", {"job": "db_backup"}))
    return {"OPS_BACKUP_BASE": str(base), "OPS_STATE_DIR": str(base.parent / "state")}


def status_json(proc: subprocess.CompletedProcess) -> dict:
    data = json.loads(proc.stdout)
    assert data["exit_code"] == proc.returncode
    return data


def by_id(data: dict) -> dict[str, dict]:
    return {check["id"]: check for check in data["checks"]}


# --- exit codes ---


def test_exit_0_when_everything_is_ok(tmp_path):
    env = healthy_tree(tmp_path / "backups")
    proc = run_status("status", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data = status_json(proc)
    assert data["overall"] == "OK"
    assert [c["status"] for c in data["checks"]] == ["OK", "OK", "OK", "SKIPPED", "OK"]


def test_exit_1_on_a_stale_dump(tmp_path):
    base = tmp_path / "backups"
    env = healthy_tree(base)
    make_dump(base, "20261126-0300", age_s=30 * HOUR)  # newest by name, 30 h old: STALE (26 h .. 48 h)
    proc = run_status("status", "--json", env=env)
    assert proc.returncode == 1, proc.stderr
    data = status_json(proc)
    assert data["overall"] == "STALE"
    assert by_id(data)["db_dump"]["status"] == "STALE"


def test_exit_1_on_unacknowledged_alerts(tmp_path):
    base = tmp_path / "backups"
    env = healthy_tree(base)
    with open(base / "ops.log", "a") as handle:
        handle.write(format_line("ALERT", "ALERT verify FAILED on crm-backup-01", {"job": "verify"}))
    proc = run_status("status", "--json", env=env)
    assert proc.returncode == 1
    assert by_id(status_json(proc))["ops_log"]["status"] == "WARN"


def test_exit_2_when_there_is_no_dump(tmp_path):
    base = tmp_path / "backups"
    env = healthy_tree(base)
    for path in (base / "db").iterdir():
        path.unlink()
    proc = run_status("status", "--json", env=env)
    assert proc.returncode == 2
    data = status_json(proc)
    assert data["overall"] == "FAIL" and by_id(data)["db_dump"]["status"] == "FAIL"


def test_exit_2_on_a_failed_verify(tmp_path):
    base = tmp_path / "backups"
    env = healthy_tree(base)
    make_verify_log(base, "20261123-0400", result="FAIL", error="import failed", age_s=2 * HOUR)
    proc = run_status("status", "--json", env=env)
    assert proc.returncode == 2
    assert by_id(status_json(proc))["verify_restore"]["status"] == "FAILED"


def test_exit_2_on_an_empty_base(tmp_path):
    proc = run_status("--base", str(tmp_path / "nothing-here"), "status", env={"OPS_STATE_DIR": str(tmp_path / "st")})
    assert proc.returncode == 2
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines[:5]] == list(CHECK_IDS)
    assert lines[-1] == "overall: FAIL"


@pytest.mark.parametrize("env,named", [
    ({"OPS_DB_DUMP_STALE_MIN": "abc"}, "OPS_DB_DUMP_STALE_MIN"),
    ({"OPS_DB_DUMP_STALE_MIN": "-5"}, "OPS_DB_DUMP_STALE_MIN"),
    ({"OPS_DB_DUMP_STALE_MIN": "3000"}, "OPS_DB_DUMP_STALE_MIN"),
    ({"OPS_DB_PORT": "99999"}, "OPS_DB_PORT"),
    ({"OPS_METRICS_URL": "crm.example.com/metrics"}, "OPS_METRICS_URL"),
    ({"OPS_DB_PASSWORD_FILE": "/nonexistent/pw"}, "OPS_DB_PASSWORD_FILE"),
    ({"OPS_CONFIG": "/nonexistent/config.toml"}, "OPS_CONFIG"),
])
def test_exit_3_on_a_config_error_naming_the_variable(tmp_path, env, named):
    base_env = healthy_tree(tmp_path / "backups")
    proc = run_status("status", "--json", env=base_env | env)
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert named in proc.stderr
    assert "configuration error" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_exit_3_on_bad_flags_and_config_file(tmp_path):
    env = healthy_tree(tmp_path / "backups")
    proc = run_status("--set", "db_port=0", "status", env=env)
    assert proc.returncode == 3 and "--set db_port" in proc.stderr
    proc = run_status("--set", "nonsense", "status", env=env)
    assert proc.returncode == 3 and "--set nonsense" in proc.stderr
    proc = run_status("--config", str(tmp_path / "missing.toml"), "status", env=env)
    assert proc.returncode == 3 and "--config" in proc.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("unknown_key = 1\n")
    proc = run_status("--config", str(bad), "status", env=env)
    assert proc.returncode == 3 and "unknown_key" in proc.stderr and str(bad) in proc.stderr


def test_flags_and_config_file_are_applied(tmp_path):
    base = tmp_path / "backups"
    env = healthy_tree(base)
    config = tmp_path / "c.toml"
    config.write_text("db_dump_stale_min = 30\ndb_dump_fail_min = 45\n")  # the 1 h old dump is FAIL
    proc = run_status("--config", str(config), "status", "--json", env=env)
    assert proc.returncode == 2
    assert by_id(status_json(proc))["db_dump"]["status"] == "FAIL"
    proc = run_status("--config", str(config), "--set", "db_dump_fail_min=120", "status", "--json", env=env)
    assert proc.returncode == 1  # the flag beats the file: STALE now
    proc = run_status("--base", str(tmp_path / "elsewhere"), "status", "--json", env=env)  # --base beats the env
    assert by_id(status_json(proc))["db_dump"]["path"] == str(tmp_path / "elsewhere" / "db")


# --- output formats ---


def test_json_schema(tmp_path):
    env = healthy_tree(tmp_path / "backups")
    proc = run_status("status", "--json", env=env)
    data = status_json(proc)
    assert set(data) == {"overall", "exit_code", "checks"}
    assert data["overall"] in {"OK", "SKIPPED", "STALE", "OVERDUE", "WARN", "FAIL", "FAILED", "UNKNOWN"}
    assert [c["id"] for c in data["checks"]] == list(CHECK_IDS)
    for check in data["checks"]:
        assert {"id", "status", "age_seconds", "path", "detail", "threshold_seconds"} <= set(check)
        assert isinstance(check["status"], str)
        assert check["age_seconds"] is None or isinstance(check["age_seconds"], (int, float))
        assert check["path"] is None or isinstance(check["path"], str)
        assert isinstance(check["detail"], str) and check["detail"] and "\n" not in check["detail"]
    dump = by_id(data)["db_dump"]
    assert dump["path"] == str(tmp_path / "backups" / "db" / "full-20261126-0200.sql.gz")
    assert HOUR - 60 < dump["age_seconds"] < HOUR + 600
    assert dump["size_bytes"] == 4321
    assert dump["threshold_seconds"] == 1560 * 60
    assert by_id(data)["metrics"]["path"] is None
    assert by_id(data)["ops_log"]["path"] == str(tmp_path / "backups" / "ops.log")


def test_json_with_metrics_from_a_real_server(tmp_path, http_stub):
    http_stub.default = (200, b"# TYPE crm_up gauge\ncrm_up 1\n", 0.0, {})
    env = healthy_tree(tmp_path / "backups") | {"OPS_METRICS_URL": http_stub.url + "/crm/ops/metrics"}
    proc = run_status("status", "--json", env=env)
    assert proc.returncode == 0, proc.stdout
    metrics = by_id(status_json(proc))["metrics"]
    assert metrics["status"] == "OK" and "1 samples" in metrics["detail"]
    http_stub.default = (500, b"oops", 0.0, {})
    proc = run_status("status", "--json", env=env)
    assert proc.returncode == 2
    assert by_id(status_json(proc))["metrics"]["detail"] == "HTTP 500 (expected 200)"


def _prom_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([a-z_]+)\{(.*)\} (\S+)", line)
        assert match, line
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2)))
        samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def test_prom_output(tmp_path):
    base = tmp_path / "backups"
    env = healthy_tree(base)
    make_dump(base, "20261126-0300", age_s=30 * HOUR, data=b"s" * 5000)
    proc = run_status("status", "--prom", env=env)
    assert proc.returncode == 1
    text = proc.stdout
    assert count_samples(text) == len(_prom_samples(text))
    samples = _prom_samples(text)
    status = {labels["check"]: (labels["status"], value) for name, labels, value in samples
              if name == "opsbackup_check_status"}
    assert set(status) == set(CHECK_IDS)
    assert status["db_dump"] == ("STALE", 1.0)
    assert status["metrics"] == ("SKIPPED", 0.0)
    ages = {labels["check"]: value for name, labels, value in samples if name == "opsbackup_check_age_seconds"}
    assert {"db_dump", "uploads_snapshot", "verify_restore"} <= set(ages)
    assert 30 * HOUR - 60 < ages["db_dump"] < 30 * HOUR + 600
    values = {name: value for name, _, value in samples}
    assert values["opsbackup_last_dump_size_bytes"] == 5000
    dump_mtime = (base / "db" / "full-20261126-0300.sql.gz").stat().st_mtime
    assert abs(values["opsbackup_last_dump_timestamp_seconds"] - dump_mtime) <= 1
    assert values["opsbackup_overall_status"] == 1
    assert "opsbackup_status_timestamp_seconds" in values
    assert all(labels.get("base") == str(base) for _, labels, _ in samples)
    assert "# TYPE opsbackup_check_status gauge" in text


def test_output_writes_the_file_atomically(tmp_path):
    base = tmp_path / "backups"
    env = healthy_tree(base)
    out_dir = tmp_path / "textfile"
    out_dir.mkdir()
    target = out_dir / "opsbackup.prom"
    target.write_text("old content\n")
    proc = run_status("status", "--prom", "--output", str(target), env=env)
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert count_samples(target.read_text()) >= 5
    assert "old content" not in target.read_text()
    assert sorted(p.name for p in out_dir.iterdir()) == ["opsbackup.prom"]  # no temp file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644 & ~umask  # readable by node_exporter

    json_target = out_dir / "status.json"
    proc = run_status("status", "--json", "--output", str(json_target), env=env)
    assert proc.returncode == 0 and proc.stdout == ""
    assert json.loads(json_target.read_text())["overall"] == "OK"


def test_plain_output_when_not_a_terminal(tmp_path):
    env = healthy_tree(tmp_path / "backups")
    proc = run_status("status", env=env)
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:5]] == [
        ["db_dump", "OK"], ["uploads_snapshot", "OK"], ["verify_restore", "OK"], ["metrics", "SKIPPED"], ["ops_log", "OK"]]
    assert lines[5] == "overall: OK"
    assert "full-20261126-0200.sql.gz" in lines[0]


def test_console_script(tmp_path):
    env = healthy_tree(tmp_path / "backups")
    assert CONSOLE_SCRIPT.exists()
    proc = run_status("status", "--json", env=env, script=True)
    assert proc.returncode == 0
    assert status_json(proc)["overall"] == "OK"
    proc = run_status("--help", script=True)
    assert proc.returncode == 0 and "status" in proc.stdout


# --- secrets ---


def test_secrets_are_never_printed(tmp_path):
    base = tmp_path / "backups"
    env = healthy_tree(base)
    pw = tmp_path / "restic-pw"
    pw.write_text(PW_FILE_SECRET + "\n")
    env |= {"OPS_DB_PASSWORD": DB_SECRET, "RESTIC_PASSWORD_FILE": str(pw), "RESTIC_PASSWORD": RESTIC_SECRET,
            "OPS_SLACK_WEBHOOK_URL": WEBHOOK, "OPS_DB_USER": "backup", "RESTIC_REPOSITORY": str(tmp_path / "repo")}
    secrets = (DB_SECRET, RESTIC_SECRET, WEBHOOK, "webhookSecretToken4242", PW_FILE_SECRET)
    for args in (["status"], ["status", "--json"], ["status", "--prom"]):
        proc = run_status(*args, env=env)
        assert proc.returncode == 0, proc.stderr
        for secret in secrets:
            assert secret not in proc.stdout and secret not in proc.stderr

    # config errors: another variable bad, and the secret itself bad
    for extra in ({"OPS_DB_PORT": "x"}, {"OPS_SLACK_WEBHOOK_URL": "webhookSecretToken4242"},
                  {"OPS_DB_DUMP_STALE_MIN": "99999"}):
        proc = run_status("status", "--json", env=env | extra)
        assert proc.returncode == 3
        for secret in secrets:
            assert secret not in proc.stdout and secret not in proc.stderr


# --- what files and children write never drives the terminal ---

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x9b0m\x08"


def hostile_tree(base: Path) -> dict[str, str]:
    env = healthy_tree(base)
    with open(base / "ops.log", "a") as log:
        log.write(format_line("ERROR", f"job db_backup finished FAIL: {HOSTILE}", {"job": "db_backup"}))
        log.write(f"[2026-11-26 03:00:00] production.ERROR: cron mail said {HOSTILE}\n")
    return env


def test_control_characters_from_the_log_never_reach_the_terminal_as_such(tmp_path):
    env = hostile_tree(tmp_path / "backups")
    for args in (("status",), ("status", "--json")):
        proc = run_status(*args, env=env)
        assert proc.returncode == 1
        assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout and "\x9b" not in proc.stdout
        assert "\x08" not in proc.stdout
    assert "␛]0;pwned\\x07␛[2J" in run_status("status", env=env).stdout


def test_control_characters_never_reach_a_real_terminal_in_the_table(tmp_path):
    """On a terminal the table is Rich's: its own colours, never the log's escape sequences."""
    import pty

    env = hostile_tree(tmp_path / "backups") | {"COLUMNS": "400", "LINES": "50"}
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "opsbackup_tui", "status"], stdin=subprocess.DEVNULL,
                            stdout=child, stderr=child, env=dict(os.environ) | env)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait()
    os.close(main)
    text = out.decode("utf-8", errors="replace")
    assert proc.returncode == 1 and "ops_log" in text
    assert "\x1b]0;pwned" not in text and "\x1b[2J" not in text and "\x07" not in text
    assert "␛]0;pwned" in text


def test_the_fix_is_a_command_never_a_key(tmp_path):
    env = {"OPS_BACKUP_BASE": str(tmp_path / "backups"), "OPS_STATE_DIR": str(tmp_path / "state")}
    (tmp_path / "backups").mkdir()
    proc = run_status("status", env=env)
    assert "fix: opsbackup run db_backup" in proc.stdout and "fix: opsbackup run verify" in proc.stdout
    assert "press" not in proc.stdout
    checks = by_id(status_json(run_status("status", "--json", env=env)))
    assert checks["db_dump"]["fix"] == {"job": "db_backup", "command": "opsbackup run db_backup"}
    assert checks["metrics"]["fix"] is None


@pytest.mark.parametrize("what", ["backup base is a file", "state dir is a file", "toml is not utf-8"])
def test_exit_3_on_paths_of_the_wrong_kind_and_a_toml_that_is_not_utf8(tmp_path, what):
    env = healthy_tree(tmp_path / "backups")
    file = tmp_path / "a-file"
    file.write_text("x")
    if what == "backup base is a file":
        env["OPS_BACKUP_BASE"], named = str(file), "OPS_BACKUP_BASE"
    elif what == "state dir is a file":
        env["OPS_STATE_DIR"], named = str(file), "OPS_STATE_DIR"
    else:
        file.write_bytes("backup_base = 'záloha'\n".encode("latin-1"))
        env["OPS_CONFIG"], named = str(file), str(file)
    proc = run_status("status", env=env)
    assert proc.returncode == 3 and named in proc.stderr and "configuration error" in proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_ack_says_what_it_acknowledged_and_can_be_undone(tmp_path):
    env = healthy_tree(tmp_path / "backups")
    log = tmp_path / "backups" / "ops.log"
    with open(log, "a") as handle:
        handle.write("[2026-11-26 09:14:00] production.ERROR: first {} []\n")
        handle.write("[2026-11-26 14:02:00] production.ERROR: second {} []\n")
    assert run_status("status", env=env).returncode == 1
    proc = run_status("ack", env=env)
    assert proc.returncode == 0 and proc.stdout == "acknowledged 2 alerts from 09:14 to 14:02\n"
    assert run_status("status", env=env).returncode == 0
    assert run_status("ack", "--undo", env=env).stdout == "the last acknowledgement is taken back\n"
    assert run_status("status", env=env).returncode == 1
    assert run_status("ack", "--undo", env=env).stdout == "nothing to take back\n"


def test_credentials_in_a_url_are_never_shown(tmp_path, http_stub):
    """A metrics endpoint behind basic auth (https://user:pw@host/…) and a bad Prometheus URL with
    credentials: the password appears in no output and no error."""
    http_stub.default = (200, b"up 1\n", 0.0, {})
    env = healthy_tree(tmp_path / "backups")
    url = http_stub.url.replace("http://", "http://ops:metricsPw-S3cret@") + "/crm/ops/metrics"
    for args in (("status",), ("status", "--json"), ("status", "--prom")):
        proc = run_status(*args, env=env | {"OPS_METRICS_URL": url})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "metricsPw-S3cret" not in proc.stdout + proc.stderr
    proc = run_status("status", env=env | {"OPS_PROMETHEUS_URL": "http://admin:promPw-S3cret@prom:9090"})
    assert proc.returncode == 3 and "OPS_PROMETHEUS_URL" in proc.stderr
    assert "promPw-S3cret" not in proc.stderr and "admin:***@prom" in proc.stderr
