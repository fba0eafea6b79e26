"""Verify restore (runbook §5): the newest valid dump → sha256 → a verify_<stamp> scratch database →
guarded streamed import → table and row counts → the verify log → DROP, always.

DEFINER clauses are stripped from the stream: a verify database is thrown away, so who owns its
views and triggers does not matter, and a backup user rarely holds the privilege to set another
definer (ERROR 1227 would fail a good dump).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from ..artefacts import verifylogs
from ..artefacts.dumps import Dump
from ..importer import Restored, restore_into_scratch, restore_plan
from .base import Job, JobContext, JobError, Outcome


@dataclass
class VerifyResult:
    log: str  # the verify log written
    dump: str  # the dump's path
    database: str | None
    tables: int = 0
    rows: dict[str, int | None] = field(default_factory=dict)
    lines: int = 0


@dataclass(eq=False)
class VerifyJob(Job):
    kind = "verify"
    next_step = "check the logs and the dump's integrity (runbook §7: Verify restore FAILED)"

    dump: Dump | None = None  # the newest valid dump when not given

    def plan(self, tree=None) -> list[str]:
        from ..artefacts.tree import BackupTree

        dump = self.dump or (tree or BackupTree(self.settings.backup_base)).newest_valid_dump()
        return restore_plan(self.settings, self.server, dump, "verify", True) + [
            f"writes {self.settings.verify_dir}/verify-YYYYmmdd-HHMM.log"]

    async def execute(self, ctx: JobContext) -> Outcome:
        when = datetime.fromtimestamp(ctx.clock())
        started = time.monotonic()
        dump, skipped = (self.dump, []) if self.dump else ctx.tree.newest_valid_with_skipped()
        if dump is None:
            why = f" ({'; '.join(skipped[:3])})" if skipped else ""
            raise JobError(f"no valid dump in {self.settings.db_dir} to verify{why}",
                           next_step="run a DB backup (`opsbackup run db_backup`)")
        restored = Restored(dump)
        # The database as planned, until the one made (a name taken on the server gets a suffix).
        record: dict[str, object] = {"dump": dump.name, "dump_sha256": dump.expected_sha256() or "?",
                                     "database": f"verify_{when:%Y%m%d_%H%M%S}", "started": f"{when:%Y-%m-%d %H:%M:%S}"}
        log_path = verifylogs.LOGS.path_for(self.settings.verify_dir, when)
        try:
            await restore_into_scratch(ctx, self.server, restored, "verify", strip_definer=True)
            record["database"] = restored.database
            record["tables"] = restored.tables
            for table, count in restored.rows.items():
                record[f"rows.{table}"] = "missing" if count is None else count
            missing = [t for t, c in restored.rows.items() if c is None]
            if missing:
                raise JobError(f"critical table{'s' if len(missing) > 1 else ''} missing after import: "
                               f"{', '.join(missing)}", next_step="check the dump: it does not hold the whole CRM")
            if restored.tables == 0:
                raise JobError("the import created no tables", next_step="check the dump's contents")
        except JobError as exc:
            record["database"] = restored.database or record["database"]
            record.update(duration_s=f"{time.monotonic() - started:.1f}", result="FAIL", error=str(exc))
            self._write_log(ctx, when, record)
            exc.result = VerifyResult(str(log_path), str(dump.path), restored.database)
            raise
        record.update(duration_s=f"{time.monotonic() - started:.1f}", result="OK")
        self._write_log(ctx, when, record)
        rows_text = ", ".join(f"{t} {c}" for t, c in restored.rows.items())
        lines = restored.stats.lines if restored.stats else 0
        return Outcome(f"{dump.name}: {restored.tables} tables, {rows_text} ({lines} lines imported)",
                       VerifyResult(str(log_path), str(dump.path), restored.database, restored.tables,
                                    restored.rows, lines))

    def _write_log(self, ctx: JobContext, when: datetime, record: dict[str, object]) -> None:
        try:
            verifylogs.LOGS.write(self.settings.verify_dir, when, record)
        except OSError as exc:
            # The job's result still says what happened; the checklist will show the gap.
            ctx.warn(f"the verify log could not be written: {exc.strerror}")
