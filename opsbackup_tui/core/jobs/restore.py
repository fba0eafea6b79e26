"""The DR wizard's import (step 3) as a job: locked, logged, cancellable, alerting on failure."""

from __future__ import annotations

from dataclasses import asdict

from ..mysql import ServerConfig
from ..proc import shown
from ..tree import Dump
from .base import Job, JobContext, Outcome
from .verify import import_dump


class RestoreJob(Job):
    kind = "dr_import"
    title = "DR import"
    next_step = ("drop the half-imported database and import again; if the dump is at fault, pick an older "
                 "one (runbook §3)")

    def __init__(self, settings, server: ServerConfig, dump: Dump, database: str, strip_definer: bool = False) -> None:
        super().__init__(settings)
        self.server, self.dump, self.database, self.strip_definer = server, dump, database, strip_definer

    def plan(self) -> list[str]:
        return [f"gunzip {self.dump.path} (in-process) → guard (refuses USE/CREATE DATABASE and client commands"
                + (", removes DEFINER clauses" if self.strip_definer else "") + ")",
                "→ " + shown(["mariadb", "--defaults-extra-file=/dev/fd/N", "--binary-mode", "--batch",
                              "--sandbox", f"--database={self.database}"]),
                *([f"the tables on up to {self.settings.import_jobs} such clients at once, then views, routines, "
                   "triggers and events on one more (OPS_IMPORT_JOBS)"] if self.settings.import_jobs > 1 else []),
                f"as {self.server.describe()}"]

    async def execute(self, ctx: JobContext) -> Outcome:
        stats = await import_dump(ctx, self.server, self.dump.path, self.database, strip_definer=self.strip_definer)
        return Outcome(f"{self.dump.name} imported into {self.database}: {stats.tables} tables, {stats.lines} lines",
                       {"tables": stats.tables, "lines": stats.lines, "database": self.database,
                        "clients": stats.clients, "sections": [asdict(t) for t in stats.timings]})
