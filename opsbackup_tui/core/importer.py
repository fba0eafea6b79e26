"""The one import pipeline: a .sql.gz → gunzip in-process → the guard → the mysql client, with
progress, cancel and an operator's error. Verify, drill, monthly, the DR wizard and restore use it.

The client's stderr can hold customer data: with --binary-mode the client echoes the failing
statement (an INSERT with its rows) between dashes, and its error quotes values ("Duplicate entry
'jan@example.com'"). It is cut to the error line with the values elided before anything shows,
logs or mails it (SqlErrorFilter).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .artefacts.dumps import Dump, hash_file
from .events import Progress
from .fmt import size_words
from .jobs.base import JobContext, JobError, Rate
from .mysql import DatabaseError, ServerConfig, client_capabilities, client_program, defaults_file
from .parallel import ClientFailed, Dispatcher, SectionTiming, Stopped
from .proc import Child, run_blocking, shown
from .sqlstream import DumpGuard, Refused, TruncatedDump, gunzip_chunks

ECHO_RULE = "--------------"
# Quoted text the server puts in an error: kept after these words (names of things), elided
# elsewhere (values: rows, the statement "near '…'").
_QUOTED = re.compile(r"(\b(?:key|column|table|database|schema|constraint|index|user|procedure|function|view|"
                     r"trigger|event|in|for table)\s+)?'(?:[^'\\]|\\.|'')*'", re.I)


def elide_values(line: str) -> str:
    return _QUOTED.sub(lambda m: m.group(0) if m.group(1) else "'…'", line)


class SqlErrorFilter:
    """A stderr line filter for the mysql client: statement echoes dropped, values elided, then
    `redact` (known secrets). Returns None for a line that must not be kept."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        self._redact = redact
        self._in_echo = False

    def __call__(self, line: str) -> str | None:
        if line.strip() == ECHO_RULE:
            self._in_echo = not self._in_echo
            return None
        if self._in_echo or not line.strip():
            return None
        # The error runs on into the next echo's rule when the client prints no newline after it.
        head = line.split(ECHO_RULE, 1)[0]
        if head != line:
            self._in_echo = True
        return self._redact(elide_values(head))


def import_argv(program: str, cnf: str, database: str, sandbox: bool) -> list[str]:
    # --binary-mode: no client commands are parsed from the piped stream; --sandbox: none that
    # touch files or run programs even if one slipped through.
    argv = [program, f"--defaults-extra-file={cnf}", "--binary-mode", "--batch", "--max-allowed-packet=1073741824"]
    if sandbox:
        argv.append("--sandbox")
    return argv + [f"--database={database}"]


def planned_argv(database: str) -> list[str]:
    """The client command line as a plan shows it (the option file is made when it runs)."""
    return ["mariadb", "--defaults-extra-file=/dev/fd/N", "--binary-mode", "--batch", "--sandbox",
            f"--database={database}"]


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


async def check_sha256(ctx: JobContext, dump: Dump) -> str:
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
        actual = await asyncio.to_thread(hash_file, dump.path, on_read)
    if actual != expected:
        raise JobError(f"sha256 mismatch for {dump.name}: the file is corrupt (expected {expected[:12]}…, "
                       f"got {actual[:12]}…)", next_step="use an older dump; run a DB backup now")
    return actual


async def import_dump(ctx: JobContext, server: ServerConfig, dump_path: Path, database: str, *,
                      strip_definer: bool, kind: str | None = None, jobs: int | None = None) -> ImportStats:
    """Stream a .sql.gz into `database` through the guard, the tables on up to `jobs` clients at
    once (default OPS_IMPORT_JOBS; see core/parallel.py); raise JobError on any failure."""
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
            return Child(argv, redact=SqlErrorFilter(ctx.redact), on_line=ctx.output_threadsafe,
                         stdin=subprocess.PIPE, pass_fds=(cnf.fd,),
                         stdout=subprocess.PIPE if report else subprocess.DEVNULL)

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


@dataclass
class Restored:
    """What a restore into a scratch database found; filled as it goes, so a failure still tells
    how far it got."""

    dump: Dump
    digest: str | None = None
    database: str | None = None
    stats: ImportStats | None = None
    tables: int = 0
    rows: dict[str, int | None] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)  # seconds: checksum, create, import, verify (the counts), drop


async def restore_into_scratch(ctx: JobContext, server: ServerConfig, into: Restored, prefix: str, *,
                               strip_definer: bool) -> Restored:
    """The dump's sha256, a scratch database, the guarded import, the table and critical-row
    counts, the DROP: what verify, the drill and the monthly check share. Raises JobError."""
    import time

    from .mysql import count_tables
    from .scratch import scratch_database

    critical = ctx.settings.critical_tables
    step = time.monotonic()

    def mark(name: str) -> None:
        nonlocal step
        now = time.monotonic()
        into.parts[name] = round(now - step, 2)
        step = now

    try:
        server.preflight()
        into.digest = await check_sha256(ctx, into.dump)
        mark("checksum_s")
        try:
            async with scratch_database(ctx, server, prefix) as scratch:
                into.database = scratch.name
                mark("create_s")
                into.stats = await import_dump(ctx, server, into.dump.path, scratch.name, strip_definer=strip_definer)
                mark("import_s")
                ctx.phase("counting", f"information_schema.tables and rows of {', '.join(critical)}")
                into.tables, into.rows = await asyncio.to_thread(count_tables, server, scratch.name, critical)
                mark("verify_s")
        finally:
            if into.database is not None:
                mark("drop_s")
    except DatabaseError as exc:
        raise JobError(str(exc)) from None
    return into


def restore_plan(settings, server: ServerConfig, dump: Dump | None, prefix: str, strip_definer: bool) -> list[str]:
    """What restore_into_scratch runs, for a job's plan."""
    return [
        f"dump: {dump.path if dump else '(no valid dump found)'}",
        "sha256 check against its .sha256",
        f"CREATE DATABASE {prefix}_YYYYmmdd_HHMMSS on {server.describe()}",
        "gunzip → guard (refuses USE/CREATE DATABASE and client commands"
        + (", removes DEFINER clauses" if strip_definer else "; DEFINERs kept") + ") → "
        f"mariadb --binary-mode --sandbox --database={prefix}_…",
        f"count tables and rows of {', '.join(settings.critical_tables)}, then DROP DATABASE {prefix}_…",
    ]
