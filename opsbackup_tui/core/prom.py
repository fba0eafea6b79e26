"""node_exporter textfile output of the checklist, for Prometheus/Alertmanager across a fleet."""

from __future__ import annotations

import socket
import time

from .checks import CheckResult, overall
from .settings import Settings


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_prom(results: list[CheckResult], settings: Settings, now: float | None = None) -> str:
    now = time.time() if now is None else now
    base = _label(str(settings.backup_base))
    lines = [
        "# HELP opsbackup_check_status State of one check: 0 OK or SKIPPED, 1 STALE/OVERDUE/WARN, "
        "2 FAIL/FAILED, 3 UNKNOWN.",
        "# TYPE opsbackup_check_status gauge",
    ]
    for r in results:
        lines.append(f'opsbackup_check_status{{check="{r.id}",status="{r.status.value}",base="{base}"}} '
                     f"{r.status.exit_code}")
    lines += ["# HELP opsbackup_check_age_seconds Age of what the check looked at (dump, marker, verify log).",
              "# TYPE opsbackup_check_age_seconds gauge"]
    lines += [f'opsbackup_check_age_seconds{{check="{r.id}",base="{base}"}} {r.age_seconds:.1f}'
              for r in results if r.age_seconds is not None]
    lines += ["# HELP opsbackup_check_threshold_seconds Age at which the check stops being OK.",
              "# TYPE opsbackup_check_threshold_seconds gauge"]
    lines += [f'opsbackup_check_threshold_seconds{{check="{r.id}",base="{base}"}} {r.threshold_seconds:g}'
              for r in results if r.threshold_seconds is not None and r.age_seconds is not None]
    dump = next((r for r in results if r.id == "db_dump" and "size_bytes" in r.facts), None)
    if dump is not None:
        lines += ["# HELP opsbackup_last_dump_size_bytes Size of the newest valid dump.",
                  "# TYPE opsbackup_last_dump_size_bytes gauge",
                  f'opsbackup_last_dump_size_bytes{{base="{base}"}} {dump.facts["size_bytes"]}',
                  "# HELP opsbackup_last_dump_timestamp_seconds mtime of the newest valid dump.",
                  "# TYPE opsbackup_last_dump_timestamp_seconds gauge",
                  f'opsbackup_last_dump_timestamp_seconds{{base="{base}"}} {dump.facts["mtime"]:.0f}']
    worst = overall(results)
    lines += ["# HELP opsbackup_overall_status Worst state of all checks (exit code of `opsbackup status`).",
              "# TYPE opsbackup_overall_status gauge",
              f'opsbackup_overall_status{{host="{_label(socket.gethostname())}",base="{base}"}} {worst.exit_code}',
              "# HELP opsbackup_status_timestamp_seconds When this file was written.",
              "# TYPE opsbackup_status_timestamp_seconds gauge",
              f'opsbackup_status_timestamp_seconds{{base="{base}"}} {now:.0f}']
    return "\n".join(lines) + "\n"
