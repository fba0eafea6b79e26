"""node_exporter textfile output of the checklist, for Prometheus/Alertmanager across a fleet.

Every series carries `site` (OPS_SITE) and `base` (the backup tree). Alerts are built on the time of
the last success (`opsbackup_last_success_timestamp_seconds{kind}`), never on a status value that
stays green when jobs stop running. Job kinds are the `kind` label, not `job`: Prometheus gives
every scraped series the `job` of its scrape config and would rename ours to `exported_job`.
"""

from __future__ import annotations

import math
import socket
import time

from .artefacts.jobrecords import JobRecord
from .checks import CheckResult, overall
from .settings import Settings

DAY_S = 86400


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(round(float(value), 3))


class _Exposition:
    """Families in order; a family without samples writes nothing (not even its HELP)."""

    def __init__(self, common: str) -> None:
        self.common = common
        self.lines: list[str] = []

    def family(self, name: str, help_text: str, samples: list[tuple[str, str]]) -> None:
        """samples: (extra labels, value text)."""
        if not samples:
            return
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for labels, value in samples:
            joined = ",".join(part for part in (labels, self.common) if part)
            self.lines.append(f"{name}{{{joined}}} {value}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _by_id(results: list[CheckResult], check_id: str) -> CheckResult | None:
    return next((r for r in results if r.id == check_id), None)


def _fact(results: list[CheckResult], check_id: str, key: str) -> float | None:
    result = _by_id(results, check_id)
    value = None if result is None else result.facts.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value) else None


def render_prom(results: list[CheckResult], settings: Settings, now: float | None = None,
                records: dict[str, JobRecord] | None = None) -> str:
    now = time.time() if now is None else now
    records = records or {}
    out = _Exposition(f'base="{_label(str(settings.backup_base))}",site="{_label(settings.site)}"')
    out.family("opsbackup_check_status", "State of one check: 0 OK or SKIPPED, 1 STALE/OVERDUE/WARN, "
               "2 FAIL/FAILED, 3 UNKNOWN.",
               [(f'check="{r.id}",status="{r.status.value}"', str(r.status.exit_code)) for r in results])
    out.family("opsbackup_check_age_seconds", "Age of what the check looked at (dump, marker, verify log).",
               [(f'check="{r.id}"', f"{r.age_seconds:.1f}") for r in results if r.age_seconds is not None])
    out.family("opsbackup_check_threshold_seconds", "Age at which the check stops being OK.",
               [(f'check="{r.id}"', f"{r.threshold_seconds:g}") for r in results
                if r.threshold_seconds is not None and r.age_seconds is not None])
    dump = next((r for r in results if r.id == "db_dump" and "size_bytes" in r.facts), None)
    if dump is not None:
        out.family("opsbackup_last_dump_size_bytes", "Size of the newest valid dump.",
                   [("", str(dump.facts["size_bytes"]))])
        out.family("opsbackup_last_dump_timestamp_seconds", "mtime of the newest valid dump.",
                   [("", f'{dump.facts["mtime"]:.0f}')])

    kinds = sorted(records)
    out.family("opsbackup_last_success_timestamp_seconds",
               "When a job of this kind last succeeded (0: it has run but never succeeded).",
               [(f'kind="{k}"', f"{records[k].last_success_at or 0:.0f}") for k in kinds])
    out.family("opsbackup_last_run_timestamp_seconds", "When the last job of this kind ended, whatever its result.",
               [(f'kind="{k}"', f"{records[k].finished_at:.0f}") for k in kinds])
    out.family("opsbackup_last_run_success", "1 if the last job of this kind succeeded, else 0 (failed or cancelled).",
               [(f'kind="{k}"', "1" if records[k].ok else "0") for k in kinds])
    out.family("opsbackup_last_run_duration_seconds", "How long the last job of this kind ran.",
               [(f'kind="{k}"', _number(records[k].duration_s)) for k in kinds])

    rpo = _fact(results, "binlog", "rpo_seconds")
    out.family("opsbackup_rpo_seconds", "Data an outage now would lose: the age of the newest archived binlog event.",
               [("", _number(rpo))] if rpo is not None else [])
    drill = records.get("drill")
    rto = drill.extra.get("rto_s") if drill is not None and drill.ok else None
    if isinstance(rto, (int, float)) and not isinstance(rto, bool):
        out.family("opsbackup_drill_rto_seconds", "Recovery time measured by the last DR drill (when it succeeded).",
                   [("", _number(rto))])
        out.family("opsbackup_drill_timestamp_seconds", "When the drill of opsbackup_drill_rto_seconds ended.",
                   [("", f"{drill.finished_at:.0f}")])
    offsite = _by_id(results, "offsite")
    out.family("opsbackup_offsite_age_seconds", "Age of the newest copy in the offsite repository.",
               [("", f"{offsite.age_seconds:.1f}")] if offsite is not None and offsite.age_seconds is not None else [])
    days = _fact(results, "disk", "days_left")
    # In seconds, a base unit (the convention; promtool flags `days`): days_left × 86400.
    out.family("opsbackup_disk_time_left_seconds", "Time until the backup volume is full at the recent growth rate.",
               [("", _number(days * DAY_S))] if days is not None else [])

    worst = overall(results)
    out.family("opsbackup_overall_status", "Worst state of all checks (exit code of `opsbackup status`).",
               [(f'host="{_label(socket.gethostname())}"', str(worst.exit_code))])
    out.family("opsbackup_status_timestamp_seconds", "When this file was written.", [("", f"{now:.0f}")])
    return out.text()
