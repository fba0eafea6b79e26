"""The textfile metrics for a fleet: last success per job kind, RPO, drill RTO, offsite age, disk time
left, the site label; `promtool check metrics` has nothing to say about any of it."""

from __future__ import annotations

import math
import socket

from prom_support import future_checks, promtool, status_prom, write_records
from test_status_cli import _prom_samples, run_status
from ui_support import build_tree

from opsbackup_tui.core.artefacts import jobrecords
from opsbackup_tui.core.checks import CheckResult, Status
from opsbackup_tui.core.events import Finished
from opsbackup_tui.core.jobs.drill import DrillResult
from opsbackup_tui.core.prom import render_prom
from opsbackup_tui.core.promtext import count_samples

NOW = 1_795_685_400.0


def samples(text: str) -> dict[tuple[str, str], float]:
    """(name, the kind or check label) -> value."""
    return {(name, labels.get("kind") or labels.get("check") or ""): value
            for name, labels, value in _prom_samples(text)}


def assert_promtool_is_silent(text: str) -> None:
    done = promtool("check", "metrics", stdin=text)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), text


def base_checks() -> list[CheckResult]:
    return [CheckResult("db_dump", Status.OK, 3600.0, "/b/db/full-20261126-0200.sql.gz", "ok", 93600,
                        {"size_bytes": 7_500_000, "mtime": NOW - 3600}),
            CheckResult("uploads_snapshot", Status.OK, 7200.0, "/b/snapshots", "ok", 93600),
            CheckResult("verify_restore", Status.OK, 86400.0, "/b/verify", "ok", 691200),
            CheckResult("metrics", Status.SKIPPED, None, None, "unset", 3.0),
            CheckResult("ops_log", Status.OK, None, "/b/ops.log", "calm")]


def test_every_fleet_series_from_constructed_checks_and_records(make_settings, tmp_path):
    settings = make_settings(site='crm "eu"\\1')
    write_records(settings.backup_base, NOW)
    jobrecords.save(settings.backup_base, Finished("monthly", False, "Monthly checklist failed", error="x"),
                   NOW - 50, NOW - 40)
    text = render_prom(base_checks() + future_checks(NOW), settings, NOW, jobrecords.read_all(settings.backup_base))
    assert_promtool_is_silent(text)
    values = samples(text)
    assert values[("opsbackup_last_success_timestamp_seconds", "db_backup")] == NOW - 7 * 3600
    assert values[("opsbackup_last_success_timestamp_seconds", "monthly")] == 0  # ran, never succeeded
    assert values[("opsbackup_last_run_timestamp_seconds", "monthly")] == NOW - 40
    assert values[("opsbackup_last_run_success", "monthly")] == 0
    assert values[("opsbackup_last_run_success", "verify")] == 1
    assert values[("opsbackup_last_run_duration_seconds", "snapshot")] == 4.0
    assert values[("opsbackup_rpo_seconds", "")] == 70.0
    assert values[("opsbackup_drill_rto_seconds", "")] == 42.5
    assert values[("opsbackup_drill_timestamp_seconds", "")] == NOW - 86400
    assert values[("opsbackup_offsite_age_seconds", "")] == 30 * 3600
    assert values[("opsbackup_disk_time_left_seconds", "")] == 9.5 * 86400
    assert values[("opsbackup_status_timestamp_seconds", "")] == NOW
    assert values[("opsbackup_check_status", "offsite")] == 1
    # Every series names its site and tree; label values are escaped.
    assert count_samples(text) == text.count('site="crm \\"eu\\"\\\\1"')
    assert 'kind="' in text and 'job="' not in text  # Prometheus owns `job` (see core/prom.py)


def test_series_of_missing_checks_and_records_are_left_out(make_settings):
    settings = make_settings()
    text = render_prom(base_checks(), settings, NOW, {})
    names = {name for name, _ in samples(text)}
    for absent in ("opsbackup_rpo_seconds", "opsbackup_drill_rto_seconds", "opsbackup_drill_timestamp_seconds",
                   "opsbackup_offsite_age_seconds", "opsbackup_disk_time_left_seconds",
                   "opsbackup_last_success_timestamp_seconds", "opsbackup_last_run_success"):
        assert absent not in names
        assert f"# HELP {absent} " not in text  # no family without samples
    assert {"opsbackup_check_status", "opsbackup_overall_status", "opsbackup_status_timestamp_seconds"} <= names
    assert_promtool_is_silent(text)


def test_odd_facts_do_not_break_the_exposition(make_settings):
    settings = make_settings()
    odd = [CheckResult("binlog", Status.UNKNOWN, None, None, "x", None, {"rpo_seconds": float("nan")}),
           CheckResult("disk", Status.OK, None, None, "not filling", None, {"days_left": math.inf}),
           CheckResult("offsite", Status.SKIPPED, None, None, "not configured")]
    failed_drill = {"drill": jobrecords.record_of(Finished("drill", False, "DR drill failed", error="x",
                                                          result=DrillResult("full-x.sql.gz", None, "h", "2026-11-26 02:00:00",
                                                                             "FAIL", rto_s=3.0)),
                                              NOW - 10, NOW, None)}
    text = render_prom(base_checks() + odd, settings, NOW, failed_drill)
    values = samples(text)
    assert ("opsbackup_rpo_seconds", "") not in values
    assert values[("opsbackup_disk_time_left_seconds", "")] == math.inf
    assert ("opsbackup_offsite_age_seconds", "") not in values
    assert ("opsbackup_drill_rto_seconds", "") not in values  # a failed drill measured no recovery
    assert values[("opsbackup_last_run_success", "drill")] == 0
    assert_promtool_is_silent(text)


def test_promtool_is_silent_on_the_real_status_prom_of_a_real_tree(tmp_path):
    root = tmp_path / "host"
    build_tree(root, "failing")
    write_records(root / "backups", NOW)
    # One more record by a real job run: the report, which needs neither MariaDB nor restic.
    env = {"OPS_BACKUP_BASE": str(root / "backups"), "OPS_STATE_DIR": str(root / "state"),
           "OPS_LOG_PATH": str(root / "ops.log")}
    assert run_status("run", "report", env=env).returncode == 0
    text = status_prom(root, "crm-eu-1")
    assert_promtool_is_silent(text)
    values = samples(text)
    assert values[("opsbackup_last_run_success", "report")] == 1
    assert values[("opsbackup_drill_rto_seconds", "")] == 42.5
    assert values[("opsbackup_check_status", "db_dump")] == 2
    assert 'site="crm-eu-1"' in text


def test_the_site_defaults_to_the_host_name(tmp_path):
    root = tmp_path / "host"
    build_tree(root, "healthy")
    proc = run_status("status", "--prom", env={"OPS_BACKUP_BASE": str(root / "backups"),
                                               "OPS_STATE_DIR": str(root / "state")})
    assert f'site="{socket.gethostname()}"' in proc.stdout
    proc = run_status("status", "--prom", env={"OPS_BACKUP_BASE": str(root / "backups"), "OPS_SITE": "a\nb"})
    assert proc.returncode == 3 and "OPS_SITE" in proc.stderr
