"""The DR drill (runbook §11): restore the newest valid dump into a scratch database, verify it as
the DR wizard's step 4 does, drop it, and report the measured recovery time (RTO) and its parts.

Like a real recovery, DEFINER clauses are kept: a drill that passes only because definers were
stripped would promise a recovery the DR user cannot do.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from datetime import datetime

from .. import opslog
from ..artefacts import reports
from ..importer import Restored, restore_into_scratch, restore_plan
from ..recovery import compare
from .base import Job, JobContext, JobError, Outcome


@dataclass
class DrillResult:
    dump: str
    database: str | None
    host: str
    started: str  # local time, YYYY-mm-dd HH:MM:SS
    result: str  # OK or FAIL
    rto_s: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    tables: int = 0
    rows: dict[str, int | None] = field(default_factory=dict)
    lines: int = 0
    verify_log: str | None = None
    checks: list[str] = field(default_factory=list)
    error: str | None = None
    report: str | None = None


class DrillJob(Job):
    kind = "drill"
    next_step = "a real recovery would fail the same way: fix it now (runbook §3), then run `opsbackup drill` again"

    def plan(self, tree=None) -> list[str]:
        from ..artefacts.tree import BackupTree

        dump = (tree or BackupTree(self.settings.backup_base)).newest_valid_dump()
        return restore_plan(self.settings, self.server, dump, "drill", False) + [
            "table and row counts against the verify log of that dump",
            f"writes {self.settings.reports_dir}/drill-YYYYmmdd-HHMM.md"]

    async def execute(self, ctx: JobContext) -> Outcome:
        started = time.monotonic()
        when = datetime.fromtimestamp(ctx.clock())
        dump, skipped = ctx.tree.newest_valid_with_skipped()
        if dump is None:
            why = f" ({'; '.join(skipped[:3])})" if skipped else ""
            raise JobError(f"no valid dump in {self.settings.db_dir}{why}: there is nothing to recover from",
                           next_step="run a DB backup now (`opsbackup run db_backup`) and find why none exists")
        restored = Restored(dump)
        result = DrillResult(dump.name, None, socket.gethostname(), f"{when:%Y-%m-%d %H:%M:%S}", "FAIL",
                             parts=restored.parts)
        try:
            try:
                await restore_into_scratch(ctx, self.server, restored, "drill", strip_definer=False)
            finally:
                result.database = restored.database
            ctx.phase("verifying", "table count and critical rows against the verify log of this dump")
            log = ctx.tree.verify_log_for(dump, restored.digest)
            comparison = compare(log, restored.tables, restored.rows)
            result.tables, result.rows = restored.tables, restored.rows
            result.lines = restored.stats.lines if restored.stats else 0
            result.verify_log = str(log.path) if log else None
            result.checks = [c.text for c in comparison]
            bad = [c for c in comparison if not c.ok]
            if bad:
                raise JobError("the restored database differs from the verify log: " + "; ".join(c.text for c in bad),
                               next_step="compare the dump with its verify log; take a fresh dump and verify it")
        except JobError as exc:
            result.error = str(exc)
            self._finish(ctx, when, result, started)
            exc.result = result
            raise
        result.result = "OK"
        report = self._finish(ctx, when, result, started)
        note = "" if result.verify_log else " (no verify log for this dump: counts not compared)"
        return Outcome(f"recovered {dump.name} in {result.rto_s} s (RTO): {result.tables} tables{note}; report {report}",
                       result)

    def _finish(self, ctx: JobContext, when: datetime, result: DrillResult, started: float):
        result.rto_s = round(time.monotonic() - started, 2)
        path = reports.drill_path(self.settings.reports_dir, when)
        lines = [f"# DR drill — {result.host} — {when:%Y-%m-%d %H:%M}", "",
                 f"Result: **{result.result}** · measured recovery time (RTO): **{result.rto_s} s**", "",
                 f"- dump: `{result.dump}`", f"- scratch database: `{result.database or '-'}` (dropped)"]
        if result.error:
            lines.append(f"- error: {result.error}")
        lines += ["", "| part | seconds |", "|---|---|"] + [f"| {k[:-2]} | {v} |" for k, v in result.parts.items()]
        if result.checks:
            lines += ["", "## Step 4 checks", ""] + [f"- {c}" for c in result.checks]
            lines.append("" if result.verify_log else "\nNo verify log exists for this dump: counts were not compared.")
        try:
            reports.write(path, "\n".join(lines))
            result.report = str(path)
        except OSError as exc:
            ctx.warn(f"could not write {path}: {exc.strerror}")
        try:
            opslog.append(self.settings.log_path, "INFO" if result.result == "OK" else "ERROR",
                          f"drill {result.result}: RTO {result.rto_s} s for {result.dump}",
                          {"job": "drill", "event": "rto", "rto_s": result.rto_s, **result.parts})
        except OSError:
            pass
        return path
