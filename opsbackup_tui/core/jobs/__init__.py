"""The jobs: the one list of job kinds, and the factory (each module imported only when its kind
runs, so `opsbackup run report` loads no DB code)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class Kind:
    name: str
    title: str  # what the UI and the messages call it
    module: str
    cls: str
    command: str  # how an operator runs it from the shell
    cli_run: bool = False  # one of `opsbackup run NAME`


KINDS = (
    Kind("db_backup", "DB backup", "dump", "DumpJob", "opsbackup run db_backup", True),
    Kind("snapshot", "Uploads snapshot", "snapshot", "SnapshotJob", "opsbackup run snapshot", True),
    Kind("verify", "Verify restore", "verify", "VerifyJob", "opsbackup run verify", True),
    Kind("report", "Report", "report", "ReportJob", "opsbackup run report", True),
    Kind("evaluate", "Health evaluation", "evaluate", "EvaluateJob", "opsbackup run evaluate", True),
    Kind("drill", "DR drill", "drill", "DrillJob", "opsbackup drill"),
    Kind("migrate", "Legacy migration", "migrate", "MigrateJob", "opsbackup migrate"),
    Kind("monthly", "Monthly checklist", "monthly", "MonthlyJob", "opsbackup monthly"),
    Kind("dr_import", "DR import", "restore", "RestoreJob", "the DR wizard (opsbackup, then R)"),
)
BY_NAME = {kind.name: kind for kind in KINDS}
TITLES = {kind.name: kind.title for kind in KINDS}
RUN_NAMES = tuple(kind.name for kind in KINDS if kind.cli_run)


def title(name: str) -> str:
    return TITLES.get(name, name)


def job_class(name: str):
    kind = BY_NAME[name]
    return getattr(import_module(f"{__name__}.{kind.module}"), kind.cls)


def make_job(name: str, settings):
    return job_class(name)(settings)
