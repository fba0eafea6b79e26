"""`opsbackup schedule` (systemd units and timers for the crontab's jobs, verified by systemd-analyze)
and `opsbackup alert --unit`, which their OnFailure= runs."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from test_status_cli import CONSOLE_SCRIPT, run_status

from opsbackup_tui.core import schedule

README = Path(__file__).resolve().parent.parent / "README.md"


def verify(directory: Path, user: bool = False, runtime: Path | None = None) -> subprocess.CompletedProcess:
    """systemd-analyze verify on every file, and on an instance of the alert template."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing (Debian's systemd package)")
    files = sorted(str(p) for p in directory.iterdir())
    files.append(str(directory / "opsbackup-alert@opsbackup-db-backup.service.service"))
    env = dict(os.environ)
    if user:
        env["XDG_RUNTIME_DIR"] = str(runtime)  # the user manager needs one; there is no session here
    argv = ["systemd-analyze", *(["--user"] if user else []), "verify", *files]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=directory, check=False)


def exec_args(text: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    return shlex.split(line[len("ExecStart="):].replace("%%", "%").replace("$$", "$"))


def crontab_commands() -> list[list[str]]:
    block = re.search(r"```cron\n(.*?)```", README.read_text(), re.S).group(1)
    return [shlex.split(line)[5:] for line in block.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_installed_units_pass_systemd_analyze_verify(tmp_path, user):
    units = tmp_path / "units"
    proc = run_status("schedule", "--install", *(["--user"] if user else []), "--unit-dir", str(units),
                      script=True)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in units.iterdir())
    assert len(names) == 16 and "opsbackup-alert@.service" in names and schedule.FOLLOW in names
    assert proc.stdout.count("new ") == 16
    systemctl = "systemctl --user" if user else "systemctl"
    assert f"{systemctl} daemon-reload" in proc.stdout
    assert f"{systemctl} enable --now opsbackup-snapshot.timer opsbackup-db-backup.timer" in proc.stdout
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    done = verify(units, user, runtime)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    for name in names:
        assert (units / name).stat().st_mode & 0o777 == 0o644


def test_verify_would_see_a_broken_unit(tmp_path):
    """The verify above can fail: a wrong key or a missing program is reported."""
    units = tmp_path / "units"
    schedule.install(schedule.render_units([str(CONSOLE_SCRIPT)]), units)
    broken = units / "opsbackup-drill.service"
    broken.write_text(broken.read_text().replace("Type=oneshot", "Type=oneshoot"))
    done = verify(units)
    assert "oneshoot" in done.stderr
    schedule.install(schedule.render_units(["/nonexistent/opsbackup"]), units)
    assert verify(units).returncode != 0


def test_every_crontab_job_has_its_timer_and_the_follow_service_exists():
    units = schedule.render_units(["/usr/bin/opsbackup"])
    services = {name: exec_args(text)[1:] for name, text in units.items() if name.endswith(".service")}
    for command in crontab_commands():
        assert command[0] == "opsbackup"
        args = command[1:]
        name = next((n for n, a in services.items() if a == args), None)
        if args[:2] == ["status", "--prom"]:
            name = next(n for n, a in services.items() if a[:2] == ["status", "--prom"])
            assert services[name][-1] == str(schedule.TEXTFILE)
        assert name is not None, f"no unit runs {args}"
        assert name.replace(".service", ".timer") in units
    assert services[schedule.FOLLOW] == ["binlog", "follow"]
    follow = units[schedule.FOLLOW]
    assert "Type=simple" in follow and "Restart=on-failure" in follow and "WantedBy=multi-user.target" in follow


def test_timers_services_and_their_failure_path():
    units = schedule.render_units(["/usr/bin/opsbackup"], config=Path("/etc/opsbackup/config.toml"))
    for name, text in units.items():
        if name.endswith(".timer"):
            assert "Persistent=true" in text and "WantedBy=timers.target" in text
            assert "OnCalendar=" in text
        elif name != schedule.ALERT_TEMPLATE:
            assert "OnFailure=opsbackup-alert@%n.service" in text
            assert "KillMode=mixed" in text  # opsbackup cancels its children itself (SIGINT to restic)
            assert exec_args(text)[1:3] == ["--config", "/etc/opsbackup/config.toml"]
    assert "RandomizedDelaySec=" in units["opsbackup-snapshot.timer"]
    assert "RandomizedDelaySec=" not in units["opsbackup-db-backup.timer"]
    assert "RandomizedDelaySec=" not in units["opsbackup-evaluate.timer"]
    assert "SuccessExitStatus=1 2 75" in units["opsbackup-status.service"]  # health, not a failure
    assert "SuccessExitStatus=75" in units["opsbackup-db-backup.service"]  # running elsewhere
    alert = units[schedule.ALERT_TEMPLATE]
    assert "OnFailure" not in alert  # an alert that fails must not start another
    assert exec_args(alert)[-3:] == ["alert", "--unit", "%i"]


def test_odd_paths_are_quoted_for_systemd(tmp_path):
    odd = tmp_path / "odd dir 100%"
    odd.mkdir()
    (odd / "opsbackup").symlink_to(CONSOLE_SCRIPT)
    config = odd / "my $HOME config.toml"
    units = tmp_path / "units"
    schedule.install(schedule.render_units([str(odd / "opsbackup")], config=config, textfile=odd / "t.prom"), units)
    done = verify(units)
    assert (done.returncode, done.stderr) == (0, "")
    args = exec_args((units / "opsbackup-status.service").read_text())
    assert args == [str(odd / "opsbackup"), "--config", str(config), "status", "--prom", "--output",
                    str(odd / "t.prom")]
    assert "$$HOME" in (units / "opsbackup-status.service").read_text()


def test_reinstall_says_what_changed(tmp_path):
    units = tmp_path / "units"
    first = run_status("schedule", "--install", "--unit-dir", str(units), script=True)
    assert first.returncode == 0
    (units / "opsbackup-drill.timer").write_text("edited by hand\n")
    again = run_status("schedule", "--install", "--unit-dir", str(units), script=True)
    assert again.returncode == 0
    assert f"updated   {units / 'opsbackup-drill.timer'}" in again.stdout
    assert again.stdout.count("unchanged ") == 15
    assert "Persistent=true" in (units / "opsbackup-drill.timer").read_text()
    assert sorted(p.name for p in units.iterdir() if p.name.startswith(".")) == []  # no temp file left


def test_print_changes_nothing_and_install_refuses_clearly(tmp_path):
    proc = run_status("schedule", "--print", "--unit-dir", str(tmp_path / "units"), script=True)
    assert proc.returncode == 0
    assert proc.stdout.count("### ") == 16 and "[Timer]" in proc.stdout
    assert not (tmp_path / "units").exists()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder\n")
    proc = run_status("schedule", "--install", "--unit-dir", str(blocker / "units"), script=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"opsbackup: cannot write {blocker / 'units'}")
    proc = run_status("schedule", script=True)
    assert proc.returncode == 2 and "--print" in proc.stderr


def test_alert_for_a_failed_unit_reaches_ops_log_and_slack(tmp_path, http_stub):
    log = tmp_path / "ops.log"
    env = {"OPS_BACKUP_BASE": str(tmp_path / "b"), "OPS_LOG_PATH": str(log),
           "OPS_SLACK_WEBHOOK_URL": f"{http_stub.url}/hook"}
    proc = run_status("alert", "--unit", "opsbackup-db-backup.service", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "opsbackup-db-backup.service failed" in proc.stdout
    line = log.read_text().splitlines()[-1]
    assert "ALERT systemd unit opsbackup-db-backup.service failed" in line
    assert "journalctl -u opsbackup-db-backup.service" in line
    [(method, _, body)] = http_stub.requests
    assert method == "POST" and "opsbackup-db-backup.service failed" in json.loads(body)["text"]

    http_stub.default = (404, b"no such hook", 0.0, {})
    proc = run_status("alert", "--unit", "x.service", "--user", env=env)
    assert proc.returncode == 1 and "Slack not reached" in proc.stderr
    assert "journalctl --user -u x.service" in log.read_text()

    proc = run_status("alert", "--unit", "bad name; rm -rf /", env=env)
    assert proc.returncode == 2 and "not a systemd unit name" in proc.stderr
