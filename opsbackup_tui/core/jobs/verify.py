"""Verify restore (runbook §5): newest valid dump → sha256 → verify_<stamp> database → guarded
streamed import → table and row counts → verify log → DROP, always.

The verify database is dropped on every path (error and cancel included), and leftovers of
crashed runs are dropped on start — strictly names matching verify_YYYYmmdd_HHMMSS.
DEFINER clauses are stripped from the stream: a verify database is thrown away, so who owns its
views and triggers does not matter, and a backup user rarely holds the privilege to set another
definer (ERROR 1227 would fail a good dump).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..atomic import write_atomic
from ..events import Progress
from ..fmt import size_words
from ..mysql import (
    DatabaseError,
    ServerConfig,
    client_program,
    connect,
    defaults_file,
    execute,
    explained,
    quote_ident,
)
from ..parallel import ClientFailed, Dispatcher, SectionTiming, Stopped
from ..proc import Child, child_env, run_blocking, shown
from ..sqlstream import DumpGuard, Refused, TruncatedDump, gunzip_chunks
from ..tree import BackupTree, Dump, format_stamp
from .base import Job, JobContext, JobError, Outcome, Rate

VERIFY_DB_RE = re.compile(r"verify_\d{8}_\d{6}")
SCRATCH_DB_RE = re.compile(r"(?:verify|drill|monthly)_\d{8}_\d{6}")
HASH_CHUNK = 1024 * 1024


def sha256_file(path: Path, on_read=None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            if on_read is not None:
                on_read(len(chunk))
    return digest.hexdigest()


_client_caps: dict[str, tuple[str, bool]] = {}


def client_capabilities(program: str) -> tuple[str, bool]:
    """(flavour, has --sandbox) of a mysql client, asked once."""
    if program not in _client_caps:
        # Like every child: no password in its environment (MYSQL_PWD, OPS_DB_PASSWORD…).
        out = subprocess.run([program, "--help"], capture_output=True, text=True, check=False,
                             stdin=subprocess.DEVNULL, errors="replace", env=child_env()).stdout
        version = subprocess.run([program, "--version"], capture_output=True, text=True, check=False,
                                 stdin=subprocess.DEVNULL, errors="replace", env=child_env()).stdout
        flavour = "mariadb" if "mariadb" in version.lower() else "mysql"
        _client_caps[program] = (flavour, "--sandbox" in out)
    return _client_caps[program]


def import_argv(program: str, cnf: str, database: str, sandbox: bool) -> list[str]:
    # --binary-mode: no client commands are parsed from the piped stream; --sandbox: none that
    # touch files or run programs even if one slipped through.
    argv = [program, f"--defaults-extra-file={cnf}", "--binary-mode", "--batch", "--max-allowed-packet=1073741824"]
    if sandbox:
        argv.append("--sandbox")
    return argv + [f"--database={database}"]


@dataclass
class ImportStats:
    read: int = 0  # compressed bytes read
    total: int = 0
    tables: int = 0
    current: str | None = None
    lines: int = 0
    refused: Refused | None = None
    errors: list[str] = field(default_factory=list)
    trailer_ok: bool = False
    jobs: int = 1  # clients allowed for the tables at once
    clients: int = 0  # client processes started
    peak_buffered: int = 0  # most bytes held in memory, waiting for a client
    after_tables: int = 0  # bytes run after the tables (views, routines, triggers, events)
    timings: list[SectionTiming] = field(default_factory=list)


async def import_dump(ctx: JobContext, server: ServerConfig, dump_path: Path, database: str, *,
                      strip_definer: bool, kind: str | None = None, jobs: int | None = None) -> ImportStats:
    """Stream a .sql.gz into `database` through the guard, the tables on up to `jobs` clients at
    once (default OPS_IMPORT_JOBS; see core/parallel.py); raise JobError on any failure.
    Shared by verify, the drill, the monthly checklist and the DR wizard."""
    try:
        program = client_program()
    except DatabaseError as exc:
        raise JobError(str(exc)) from None
    flavour, sandbox = await asyncio.to_thread(client_capabilities, program)
    jobs = ctx.settings.import_jobs if jobs is None else jobs
    stats = ImportStats(total=dump_path.stat().st_size, jobs=jobs)
    guard = DumpGuard(strip_definer=strip_definer, drop_sandbox_line=flavour == "mysql")
    rate = Rate()
    shown_argv = shown([program, "--defaults-extra-file=…", *import_argv(program, "", database, sandbox)[2:]])
    ctx.phase("importing", f"{dump_path.name} (gunzip in-process) → guard → {shown_argv}"
                           + (f" (tables on up to {jobs} clients at once; views, routines, triggers and events "
                              "after them on one more)" if jobs > 1 else ""))

    def launch(report: bool) -> Child:
        """A client; with `report`, its stdout tells the engine when a section has run."""
        with defaults_file(server) as cnf:  # a pipe is read once: one for each client
            argv = import_argv(program, str(cnf), database, sandbox)
            if report:
                argv.insert(-1, "--unbuffered")
            return Child(argv, redact=ctx.redact, on_line=ctx.output_threadsafe, stdin=subprocess.PIPE,
                         pass_fds=(cnf.fd,), stdout=subprocess.PIPE if report else subprocess.DEVNULL)

    dispatcher = Dispatcher(launch, jobs)
    stop_event = threading.Event()
    failed: list[ClientFailed] = []

    def stop() -> None:
        stop_event.set()
        dispatcher.stop()

    def feed() -> None:
        def on_read(n: int) -> None:
            stats.read += n

        try:
            with open(dump_path, "rb") as source:
                for chunk in gunzip_chunks(source, on_read):
                    if stop_event.is_set():
                        return
                    safe = guard.feed(chunk)
                    stats.tables, stats.current, stats.lines = guard.tables, guard.current_table, guard.lines
                    if safe:
                        dispatcher.feed(safe)
            dispatcher.feed(guard.finish())
            stats.trailer_ok = guard.trailer_ok
            if not stats.trailer_ok:
                dispatcher.abort()  # nothing after the tables runs from a dump cut short
                return
            dispatcher.finish()
        except Refused as exc:
            stats.refused = exc
        except TruncatedDump as exc:
            stats.errors.append(str(exc))
        except zlib.error as exc:
            stats.errors.append(f"the dump is not valid gzip ({exc})")
        except ClientFailed as exc:
            failed.append(exc)
        except Stopped:
            pass
        except OSError as exc:
            stats.errors.append(f"reading {dump_path.name} failed: {exc.strerror}")
        finally:
            if not failed and not stop_event.is_set() and dispatcher.phase != "done":
                dispatcher.abort()

    def sample() -> Progress:
        if dispatcher.serial:
            detail = f"{stats.tables} tables" + (f", current: {stats.current}" if stats.current else "")
        else:
            detail = f"{stats.tables} tables read; {dispatcher.describe()}"
        return Progress(kind or ctx.kind, stats.read, stats.total, "bytes", rate(stats.read), detail)

    try:
        async with ctx.ticker(sample):
            await run_blocking(feed, stop)
    finally:
        dispatcher.close()
    stats.clients, stats.peak_buffered = dispatcher.clients, dispatcher.peak_held
    stats.after_tables, stats.timings = dispatcher.deferred, dispatcher.timings
    if stats.refused is not None:
        raise JobError(f"import stopped: {stats.refused}; nothing after it reached the server",
                       next_step="inspect the dump: it was not made by the DB backup job",
                       public=f"import stopped: refused at line {stats.refused.line_no}: {stats.refused.reason}; "
                              "nothing after it reached the server")
    if stats.errors:
        raise JobError(f"import failed: {stats.errors[0]}",
                       next_step="use an older dump and check the disk holding the backups")
    if failed:
        error = failed[0]
        raise JobError(f"the mysql client failed: {error}", stderr_tail=error.tail,
                       public=f"the mysql client failed (exit code {error.code}; its error is in ops.log and the "
                              "verify log)")
    if not stats.trailer_ok:
        raise JobError("the dump has no `-- Dump completed` trailer: it was cut short",
                       next_step="use an older dump; check why the DB backup wrote an incomplete file")
    return stats


def count_tables(server: ServerConfig, database: str, critical: tuple[str, ...]) -> tuple[int, dict[str, int | None]]:
    """(tables in information_schema, rows per critical table; None where the table is missing)."""
    with explained(server):
        conn = connect(server)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (database,))
                names = {row[0] for row in cur.fetchall()}
                rows: dict[str, int | None] = {}
                for table in critical:
                    if table in names:
                        cur.execute(f"SELECT COUNT(*) FROM {quote_ident(database)}.{quote_ident(table)}")
                        rows[table] = int(cur.fetchone()[0])
                    else:
                        rows[table] = None
        finally:
            conn.close()
        return len(names), rows


def drop_database(server: ServerConfig, database: str) -> None:
    """DROP a scratch database this tool made; any other name is refused."""
    if not SCRATCH_DB_RE.fullmatch(database):
        raise ValueError(f"refusing to drop {database!r}: not a scratch database name")
    execute(server, f"DROP DATABASE IF EXISTS {quote_ident(database)}")


# A scratch database younger than this may belong to a run of another backup tree on the same
# server (the lock covers one tree): only older ones are taken for leftovers of a crash.
LEFTOVER_AGE_S = 6 * 3600


def drop_leftovers(server: ServerConfig, pattern: re.Pattern[str] = VERIFY_DB_RE,
                   now: float | None = None) -> list[str]:
    """Drop scratch databases left by crashed runs: names matching `pattern` exactly whose stamp is
    more than LEFTOVER_AGE_S old."""
    limit = (time.time() if now is None else now) - LEFTOVER_AGE_S
    with explained(server):
        conn = connect(server)
        dropped = []
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW DATABASES")
                for (name,) in cur.fetchall():
                    if pattern.fullmatch(name) and _stamp_epoch(name) < limit:
                        cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
                        dropped.append(name)
        finally:
            conn.close()
        return dropped


def _stamp_epoch(name: str) -> float:
    try:
        return datetime.strptime(name[-15:], "%Y%m%d_%H%M%S").timestamp()
    except ValueError:
        return 0.0  # an impossible stamp is no running job's


def create_database(server: ServerConfig, database: str) -> None:
    # Never IF NOT EXISTS: an existing database of that name is not ours to fill.
    execute(server, f"CREATE DATABASE {quote_ident(database)} CHARACTER SET utf8mb4")


async def verify_checksum(ctx: JobContext, dump: Dump) -> str:
    """sha256 of the dump against its .sha256, with progress; returns the digest."""
    expected = dump.expected_sha256()
    if expected is None:
        raise JobError(f"{dump.name}.sha256 is missing or malformed")
    size = dump.size
    read = 0
    rate = Rate()

    def on_read(n: int) -> None:
        nonlocal read
        read += n

    ctx.phase("checksum", f"sha256 of {dump.name} ({size_words(size)})")
    async with ctx.ticker(lambda: Progress(ctx.kind, read, size, "bytes", rate(read), "sha256")):
        actual = await asyncio.to_thread(sha256_file, dump.path, on_read)
    if actual != expected:
        raise JobError(f"sha256 mismatch for {dump.name}: the file is corrupt (expected {expected[:12]}…, "
                       f"got {actual[:12]}…)", next_step="use an older dump; run a DB backup now")
    return actual


class VerifyJob(Job):
    kind = "verify"
    title = "Verify restore"
    next_step = "check the logs and the dump's integrity (runbook §7: Verify restore FAILED)"

    def __init__(self, settings, dump: Dump | None = None) -> None:
        super().__init__(settings)
        self.server = ServerConfig.from_settings(settings)
        self.dump = dump

    def plan(self) -> list[str]:
        dump = self.dump or BackupTree(self.settings.backup_base).latest_dump()
        return [
            f"dump: {dump.path if dump else '(no valid dump found)'}",
            "sha256 check against its .sha256",
            f"CREATE DATABASE verify_YYYYmmdd_HHMMSS on {self.server.describe()}",
            "gunzip → guard (refuses USE/CREATE DATABASE and client commands) → "
            "mariadb --binary-mode --sandbox --database=verify_…",
            f"count tables and rows of {', '.join(self.settings.critical_tables)}",
            f"writes {self.settings.verify_dir}/verify-YYYYmmdd-HHMM.log, then DROP DATABASE verify_…",
        ]

    async def execute(self, ctx: JobContext) -> Outcome:
        started_at = ctx.clock()
        started = time.monotonic()
        dump = self.dump or BackupTree(self.settings.backup_base).latest_dump()
        if dump is None:
            raise JobError(f"no valid dump in {self.settings.db_dir} to verify",
                           next_step="run a DB backup (`opsbackup run db_backup`)")
        try:
            self.server.preflight()
        except DatabaseError as exc:
            raise JobError(str(exc)) from None
        when = datetime.fromtimestamp(started_at)
        database = f"verify_{when:%Y%m%d_%H%M%S}"
        record: dict[str, object] = {"dump": dump.name, "dump_sha256": dump.expected_sha256() or "?",
                                     "database": database, "started": f"{when:%Y-%m-%d %H:%M:%S}"}
        log_path = self.settings.verify_dir / f"verify-{format_stamp(when)}.log"
        created = False
        try:
            try:
                await verify_checksum(ctx, dump)
                dropped = await asyncio.to_thread(drop_leftovers, self.server)
                for name in dropped:
                    ctx.output(f"dropped {name}, left by a crashed run")
                ctx.phase("creating", f"CREATE DATABASE {database}")
                await asyncio.to_thread(create_database, self.server, database)
                created = True
                stats = await import_dump(ctx, self.server, dump.path, database, strip_definer=True)
                ctx.phase("counting", f"information_schema.tables and rows of {', '.join(self.settings.critical_tables)}")
                tables, rows = await asyncio.to_thread(count_tables, self.server, database, self.settings.critical_tables)
            except DatabaseError as exc:
                raise JobError(str(exc)) from None
            record["tables"] = tables
            for table, count in rows.items():
                record[f"rows.{table}"] = "missing" if count is None else count
            missing = [t for t, c in rows.items() if c is None]
            if missing:
                raise JobError(f"critical table{'s' if len(missing) > 1 else ''} missing after import: "
                               f"{', '.join(missing)}", next_step="check the dump: it does not hold the whole CRM")
            if tables == 0:
                raise JobError("the import created no tables", next_step="check the dump's contents")
        except JobError as exc:
            record["duration_s"] = f"{time.monotonic() - started:.1f}"
            record["result"] = "FAIL"
            record["error"] = " ".join(str(exc).split())
            self._write_log(log_path, record)
            exc.result = {"log": str(log_path), **exc.result}
            raise
        finally:
            if created:
                await _drop_always(ctx, self.server, database)
        record["duration_s"] = f"{time.monotonic() - started:.1f}"
        record["result"] = "OK"
        self._write_log(log_path, record)
        rows_text = ", ".join(f"{t} {c}" for t, c in rows.items())
        return Outcome(f"{dump.name}: {tables} tables, {rows_text} ({stats.lines} lines imported)",
                       {"log": str(log_path), "tables": tables, "rows": rows, "dump": str(dump.path),
                        "database": database})

    def _write_log(self, path: Path, record: dict[str, object]) -> None:
        text = "".join(f"{key}: {value}\n" for key, value in record.items())
        try:
            write_atomic(path, text, 0o640)
        except OSError:
            pass  # the job's result still says what happened; the checklist will show the gap


async def _drop_always(ctx: JobContext, server: ServerConfig, database: str) -> None:
    """DROP the scratch database, also while the task is being cancelled."""
    ctx.phase("cleanup", f"DROP DATABASE {database}")
    task = asyncio.ensure_future(asyncio.to_thread(drop_database, server, database))
    while True:
        try:
            await asyncio.shield(task)
            return
        except asyncio.CancelledError:
            if task.done():
                raise
            continue  # a second cancel must not skip the DROP
        except Exception as exc:  # noqa: BLE001 - report, the leftover is dropped by the next run
            ctx.output(f"could not drop {database}: {exc}; the next verify drops it")
            return
