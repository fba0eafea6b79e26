"""The DR wizard's import (step 3) as a job: locked, logged, cancellable, alerting on failure."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..artefacts.dumps import Dump
from ..importer import import_dump, planned_argv
from ..mysql import ServerConfig
from ..parallel import SectionTiming
from ..proc import shown
from .base import Job, JobContext, Outcome


@dataclass
class RestoreResult:
    database: str
    tables: int
    lines: int
    clients: int = 0  # mysql clients the import started
    sections: list[SectionTiming] = field(default_factory=list)  # per table: its client and timings


class RestoreJob(Job):
    kind = "dr_import"
    next_step = ("drop the half-imported database and import again; if the dump is at fault, pick an older "
                 "one (runbook §3)")

    def __init__(self, settings, server: ServerConfig, dump: Dump, database: str, strip_definer: bool = False) -> None:
        super().__init__(settings)
        # The DR target, not the configured server: set over the cached default.
        self.server, self.dump, self.database, self.strip_definer = server, dump, database, strip_definer

    def plan(self) -> list[str]:
        return [f"gunzip {self.dump.path} (in-process) → guard (refuses USE/CREATE DATABASE and client commands"
                + (", removes DEFINER clauses" if self.strip_definer else "") + ")",
                "→ " + shown(planned_argv(self.database)),
                *([f"the tables on up to {self.settings.import_jobs} such clients at once, then views, routines, "
                   "triggers and events on one more (OPS_IMPORT_JOBS)"] if self.settings.import_jobs > 1 else []),
                f"as {self.server.describe()}"]

    async def execute(self, ctx: JobContext) -> Outcome:
        stats = await import_dump(ctx, self.server, self.dump.path, self.database, strip_definer=self.strip_definer)
        return Outcome(f"{self.dump.name} imported into {self.database}: {stats.tables} tables, {stats.lines} lines",
                       RestoreResult(self.database, stats.tables, stats.lines, stats.clients, stats.timings))
