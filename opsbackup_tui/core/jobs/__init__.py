"""The jobs of the runbook: dump, snapshot, verify, report, evaluate (and the ones built on them)."""

from __future__ import annotations

from importlib import import_module

# kind -> (module, class): imported on demand so `opsbackup run report` loads no DB code.
JOBS = {
    "db_backup": ("dump", "DumpJob"),
    "snapshot": ("snapshot", "SnapshotJob"),
    "verify": ("verify", "VerifyJob"),
    "report": ("report", "ReportJob"),
    "evaluate": ("evaluate", "EvaluateJob"),
    "drill": ("drill", "DrillJob"),
    "migrate": ("migrate", "MigrateJob"),
    "monthly": ("monthly", "MonthlyJob"),
}


# What the UI calls each kind.
TITLES = {"db_backup": "DB backup", "snapshot": "Uploads snapshot", "verify": "Verify restore",
          "report": "Report", "evaluate": "Health evaluation", "drill": "DR drill", "migrate": "Legacy migration",
          "monthly": "Monthly checklist", "dr_import": "DR import"}


def make_job(kind: str, settings):
    module, name = JOBS[kind]
    return getattr(import_module(f"{__name__}.{module}"), name)(settings)
