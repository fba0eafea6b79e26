"""The DR drill (runbook §11): restore the newest valid dump into a scratch database, verify it as
the DR wizard's step 4 does, drop it, and report the measured recovery time (RTO) and its parts.

Like a real recovery, DEFINER clauses are kept: a drill that passes only because definers were
stripped would promise a recovery the DR user cannot do.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from datetime import datetime

from .. import opslog
from ..atomic import write_atomic
from ..mysql import DatabaseError, ServerConfig
from ..recovery import compare, find_verify_log
from ..tree import BackupTree, format_stamp
from .base import Job, JobContext, JobError, Outcome
from .verify import (
    count_tables,
    create_database,
    drop_database,
    drop_leftovers,
    import_dump,
    verify_checksum,
)

DRILL_DB_RE = re.compile(r"drill_\d{8}_\d{6}")


class DrillJob(Job):
    kind = "drill"
    title = "DR drill"
    next_step = "a real recovery would fail the same way: fix it now (runbook §3), then run `opsbackup drill` again"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.server = ServerConfig.from_settings(settings)

    def plan(self) -> list[str]:
        dump = BackupTree(self.settings.backup_base).latest_dump()
        return [f"dump: {dump.path if dump else '(no valid dump found)'}",
                f"sha256 check, CREATE DATABASE drill_YYYYmmdd_HHMMSS on {self.server.describe()}",
                "streamed import (guarded, DEFINERs kept), table and row counts against the verify log",
                f"DROP DATABASE drill_…; writes {self.settings.reports_dir}/drill-YYYYmmdd-HHMM.md"]

    async def execute(self, ctx: JobContext) -> Outcome:
        started = time.monotonic()
        when = datetime.fromtimestamp(ctx.clock())
        tree = BackupTree(self.settings.backup_base)
        dump = tree.latest_dump()
        if dump is None:
            raise JobError(f"no valid dump in {self.settings.db_dir}: there is nothing to recover from",
                           next_step="run a DB backup now (`opsbackup run db_backup`) and find why none exists")
        try:
            self.server.preflight()
        except DatabaseError as exc:
            raise JobError(str(exc)) from None
        database = f"drill_{when:%Y%m%d_%H%M%S}"
        parts: dict[str, float] = {}
        record: dict[str, object] = {"dump": dump.name, "database": database, "started": f"{when:%Y-%m-%d %H:%M:%S}",
                                     "host": socket.gethostname()}
        created = False

        def mark(name: str, since: float) -> float:
            now = time.monotonic()
            parts[name] = round(now - since, 2)
            return now

        try:
            try:
                step = time.monotonic()
                digest = await verify_checksum(ctx, dump)
                step = mark("checksum_s", step)
                for name in await asyncio.to_thread(drop_leftovers, self.server, DRILL_DB_RE):
                    ctx.output(f"dropped {name}, left by a crashed drill")
                ctx.phase("creating", f"CREATE DATABASE {database}")
                await asyncio.to_thread(create_database, self.server, database)
                created = True
                step = mark("create_s", step)
                stats = await import_dump(ctx, self.server, dump.path, database, strip_definer=False)
                step = mark("import_s", step)
                ctx.phase("verifying", "table count and critical rows against the verify log of this dump")
                tables, rows = await asyncio.to_thread(count_tables, self.server, database,
                                                       self.settings.critical_tables)
                log = await asyncio.to_thread(find_verify_log, tree, dump, digest)
                mark("verify_s", step)
            except DatabaseError as exc:
                raise JobError(str(exc)) from None
            comparison = compare(log, tables, rows)
            record.update(tables=tables, rows=rows, lines=stats.lines,
                          verify_log=str(log.path) if log else None,
                          checks=[c.text for c in comparison])
            bad = [c for c in comparison if not c.ok]
            if bad:
                raise JobError("the restored database differs from the verify log: " + "; ".join(c.text for c in bad),
                               next_step="compare the dump with its verify log; take a fresh dump and verify it")
        except JobError as exc:
            record.update(result="FAIL", error=str(exc))
            self._finish(ctx, when, record, parts, started)
            exc.result = {**record, "parts": parts}
            raise
        finally:
            if created:
                step = time.monotonic()
                ctx.phase("cleanup", f"DROP DATABASE {database}")
                await asyncio.shield(asyncio.to_thread(drop_database, self.server, database))
                mark("drop_s", step)
        record["result"] = "OK"
        report = self._finish(ctx, when, record, parts, started)
        note = "" if log is not None else " (no verify log for this dump: counts not compared)"
        return Outcome(f"recovered {dump.name} in {record['rto_s']} s (RTO): {tables} tables{note}; report {report}",
                       {**record, "parts": parts, "report": str(report)})

    def _finish(self, ctx: JobContext, when: datetime, record: dict, parts: dict, started: float):
        record["rto_s"] = round(time.monotonic() - started, 2)
        report = self.settings.reports_dir / f"drill-{format_stamp(when)}.md"
        lines = [f"# DR drill — {record['host']} — {when:%Y-%m-%d %H:%M}", "",
                 f"Result: **{record['result']}** · measured recovery time (RTO): **{record['rto_s']} s**", "",
                 f"- dump: `{record['dump']}`", f"- scratch database: `{record['database']}` (dropped)"]
        if record.get("error"):
            lines.append(f"- error: {record['error']}")
        lines += ["", "| part | seconds |", "|---|---|"] + [f"| {k[:-2]} | {v} |" for k, v in parts.items()]
        if record.get("checks"):
            lines += ["", "## Step 4 checks", ""] + [f"- {c}" for c in record["checks"]]
            lines.append("" if record.get("verify_log") else "\nNo verify log exists for this dump: counts were not compared.")
        try:
            write_atomic(report, "\n".join(lines) + "\n", 0o640)
        except OSError as exc:
            ctx.output(f"could not write {report}: {exc.strerror}")
        try:
            opslog.append(self.settings.log_path, "INFO" if record["result"] == "OK" else "ERROR",
                          f"drill {record['result']}: RTO {record['rto_s']} s for {record['dump']}",
                          {"job": "drill", "event": "rto", "rto_s": record["rto_s"], **parts})
        except OSError:
            pass
        return report

