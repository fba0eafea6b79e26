"""What ships in contrib/: the Prometheus rules (promtool check and test rules) and the Grafana
dashboard, whose every query names metrics `opsbackup status --prom` exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prom_support import future_checks, promtool, write_records
from test_prom_metrics import NOW, base_checks

from opsbackup_tui.core.artefacts import jobrecords
from opsbackup_tui.core.prom import render_prom

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"
RULES = CONTRIB / "prometheus" / "opsbackup.rules.yml"
RULE_TESTS = CONTRIB / "prometheus" / "opsbackup.rules.test.yml"
DASHBOARD = CONTRIB / "grafana" / "opsbackup.json"
OURS = re.compile(r"\bopsbackup_[a-z_]+(?::[a-z_]+)?\b")
ALERTS = {"OpsbackupTextfileStale", "OpsbackupDumpStale", "OpsbackupDumpMissing", "OpsbackupDumpFailed",
          "OpsbackupSnapshotStale", "OpsbackupVerifyOverdue", "OpsbackupVerifyFailed", "OpsbackupRPOAboveTarget",
          "OpsbackupOffsiteStale", "OpsbackupDiskFillingUp", "OpsbackupDrillRTOAboveTarget", "OpsbackupDrillFailed"}


def uncommented(path: Path) -> str:
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in path.read_text().splitlines())


def exported_names(settings) -> set[str]:
    """Every metric name of a textfile in which every check and every record is there."""
    write_records(settings.backup_base, NOW)
    text = render_prom(base_checks() + future_checks(NOW), settings, NOW, jobrecords.read_all(settings.backup_base))
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_the_rules_are_valid():
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_rule_passes_its_promtool_test():
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_of_the_issue_exists_and_is_tested():
    rules = RULES.read_text()
    tests = RULE_TESTS.read_text()
    alerts = set(re.findall(r"^\s+- alert: (\w+)$", rules, re.M))
    assert alerts == ALERTS
    for name in ALERTS:
        # A case that expects it to fire (not only the healthy host's empty list).
        assert re.search(rf"alertname: {name}\n\s+exp_alerts:\n\s+- exp_labels", tests), name


def test_the_rules_use_only_metrics_we_export_or_their_own_targets(make_settings):
    exported = exported_names(make_settings())
    targets = set(re.findall(r"- record: (opsbackup_target:\w+)", RULES.read_text()))
    assert len(targets) == 8
    used = set(OURS.findall(uncommented(RULES)))
    assert used - exported - targets == set()
    assert "opsbackup_last_success_timestamp_seconds" in used


def test_every_dashboard_query_names_a_metric_we_export(make_settings):
    exported = exported_names(make_settings())
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len(panels) >= 10
    queries = []
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = set(OURS.findall(target["expr"]))
            assert names, f"{panel['title']}: {target['expr']} names no metric of ours"
            assert names <= exported, f"{panel['title']}: {names - exported} is not exported"
            queries.append(target["expr"])
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert set(OURS.findall(variables["site"]["definition"])) <= exported
    # Every figure of the fleet view has its panel.
    for name in ("opsbackup_rpo_seconds", "opsbackup_drill_rto_seconds", "opsbackup_offsite_age_seconds",
                 "opsbackup_disk_time_left_seconds", "opsbackup_last_dump_timestamp_seconds",
                 "opsbackup_status_timestamp_seconds", "opsbackup_last_success_timestamp_seconds"):
        assert any(name in q for q in queries), name
    assert all('site=~"$site"' in q for q in queries)
