"""DB backup: mysqldump/mariadb-dump | pigz into db/, sha256 while writing, atomic publish.

The dump's stdout passes through us (to see table names and the `-- Dump completed` trailer) into
the compressor; its output is hashed and written to `full-….sql.gz.partial` (0600). Only when both
programs exited 0 and the trailer is there is it published (core.artefacts.dumps.publish). Any
failure or cancel removes the partial file: no `full-*` file is left behind; the partial file of a
killed run (SIGKILL leaves no chance) is removed by the next run, which holds the lock, and logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..artefacts.dumps import PARTIAL_SUFFIX, SHA_SUFFIX, dump_name, publish, remove_leftovers
from ..events import Progress
from ..fmt import size_words
from ..mysql import DatabaseError, connect, defaults_file, dump_program, program_flavour
from ..proc import CHUNK, Child, compressor, run_blocking, shown, write_all
from ..sqlstream import ends_with_trailer
from .base import Job, JobContext, JobError, Outcome, Rate

DUMP_FLAGS = ("--single-transaction", "--quick", "--routines", "--triggers", "--events", "--hex-blob",
              "--default-character-set=utf8mb4", "--no-tablespaces")
_TABLE = re.compile(rb"\n-- Table structure for table `((?:[^`\n]|``)+)`")


@dataclass
class DumpResult:
    path: str
    sha256: str
    size: int
    tables: int
    flavour: str


class _Stream:
    """What the relay threads learn, read by the progress ticker."""

    def __init__(self) -> None:
        self.written = 0
        self.tables = 0
        self.current = ""
        self.tail = b""
        self.errors: list[str] = []
        self.sha = hashlib.sha256()

    def scan(self, chunk: bytes) -> None:
        # Table headers rarely straddle chunks; a missed one only makes the counter lag.
        names = _TABLE.findall(chunk)
        if names:
            self.tables += len(names)
            self.current = names[-1].decode("utf-8", errors="replace")
        self.tail = (self.tail + chunk[-256:])[-256:]


class DumpJob(Job):
    kind = "db_backup"
    next_step = "check the DB server and credentials (OPS_DB_*), then run `opsbackup run db_backup`"

    def _argv(self, program: str, cnf: str, extra: tuple[str, ...] = ()) -> list[str]:
        return [program, f"--defaults-extra-file={cnf}", *DUMP_FLAGS, *extra, self.settings.db_name or "?"]

    def plan(self) -> list[str]:
        program = shutil.which("mariadb-dump") or shutil.which("mysqldump") or "mysqldump"
        argv = self._argv(program, "/dev/fd/N (an inherited pipe)")
        return [
            f"{shown(argv)} | {shown(compressor())}",
            f"as {self.server.describe()}, database {self.settings.db_name or '(OPS_DB_NAME not set)'}",
            f"writes {self.settings.db_dir}/full-YYYYmmdd-HHMM.sql.gz and its .sha256",
        ]

    def _preflight(self, tree) -> tuple[Path, int | None]:
        if not self.settings.db_name:
            raise JobError("no database to dump: set OPS_DB_NAME (or DB_DATABASE in the CRM .env)",
                           next_step="set OPS_DB_NAME")
        try:
            self.server.preflight()
        except DatabaseError as exc:
            raise JobError(str(exc)) from None
        folder = self.settings.db_dir
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o750)
        except OSError as exc:
            raise JobError(f"cannot create {folder}: {exc.strerror}", next_step="check OPS_BACKUP_BASE") from None
        last = tree.newest_valid_dump()
        last_size = last.size if last else None
        if last_size:
            st = os.statvfs(folder)
            free = st.f_bavail * st.f_frsize
            need = int(last_size * self.settings.free_space_factor)
            if free < need:
                raise JobError(
                    f"not enough free space in {folder}: {size_words(free)} free, {size_words(need)} needed "
                    f"({self.settings.free_space_factor:g} × the last dump's {size_words(last_size)})",
                    next_step="free space in the backup volume (old dumps, reports), or lower OPS_FREE_SPACE_FACTOR")
        return folder, last_size

    def _gtid_flags(self, flavour: str) -> tuple[str, ...]:
        if flavour != "mysql":
            return ()
        conn = connect(self.server)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT @@GLOBAL.gtid_mode")
                mode = str(cur.fetchone()[0]).upper()
        finally:
            conn.close()
        return ("--set-gtid-purged=OFF",) if mode.startswith("ON") else ()

    async def execute(self, ctx: JobContext) -> Outcome:
        folder, last_size = self._preflight(ctx.tree)
        try:
            program = dump_program()
        except DatabaseError as exc:
            raise JobError(str(exc)) from None
        flavour = await asyncio.to_thread(program_flavour, program)
        try:
            extra = await asyncio.to_thread(self._gtid_flags, flavour)
        except DatabaseError as exc:
            raise JobError(str(exc)) from None

        for item in await asyncio.to_thread(remove_leftovers, folder, {"partial", "temp"}):
            # This run holds the db_backup lock: nobody else writes these. A killed run left them.
            ctx.log("WARNING", f"removed {item.name} ({size_words(item.size)}), left by a killed DB backup")
        final = folder / dump_name(datetime.fromtimestamp(ctx.clock()))
        if final.exists() or final.with_name(final.name + SHA_SUFFIX).exists():
            raise JobError(f"{final.name} already exists; dumps are never overwritten",
                           next_step="wait a minute and run the DB backup again")
        partial = final.with_name(final.name + PARTIAL_SUFFIX)
        out_fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with defaults_file(self.server) as cnf:
                argv = self._argv(program, str(cnf), extra)
                ctx.phase("dumping", f"{shown([program, '--defaults-extra-file=…', *argv[2:]])} | "
                                     f"{shown(compressor())} > {partial.name}")
                stream = await self._run_pipeline(ctx, argv, out_fd, last_size, cnf.fd)
            os.fsync(out_fd)
            os.close(out_fd)
            out_fd = -1
            digest = stream.sha.hexdigest()
            ctx.phase("publishing", f"{partial.name} → {final.name}, {final.name}{SHA_SUFFIX}")
            publish(partial, final, digest)
        except BaseException:
            if out_fd >= 0:
                os.close(out_fd)
            partial.unlink(missing_ok=True)
            raise
        change = ""
        if last_size:
            change = f", {100.0 * (stream.written - last_size) / last_size:+.1f} % against the last dump"
        return Outcome(f"{final.name}: {size_words(stream.written)}, {stream.tables} tables{change}",
                       DumpResult(str(final), digest, stream.written, stream.tables, flavour))

    async def _run_pipeline(self, ctx: JobContext, argv: list[str], out_fd: int, expected: int | None,
                            option_fd: int) -> _Stream:
        stream = _Stream()
        rate = Rate()
        dump = Child(argv, redact=ctx.redact, on_line=ctx.output_threadsafe, pass_fds=(option_fd,))
        try:
            gz = Child(compressor(), redact=ctx.redact, on_line=ctx.output_threadsafe, stdin=subprocess.PIPE)
        except BaseException:
            dump.stop(0)
            dump.wait()
            raise
        children = (dump, gz)

        def stop_all() -> None:
            for child in children:
                child.stop(grace=5.0)

        def pump() -> None:
            src, dst = dump.proc.stdout.fileno(), gz.proc.stdin.fileno()
            try:
                while chunk := os.read(src, CHUNK):
                    stream.scan(chunk)
                    write_all(dst, chunk)
            except OSError as exc:
                stream.errors.append(f"feeding the compressor failed: {exc.strerror}")
                stop_all()
            finally:
                gz.proc.stdin.close()
                dump.proc.stdout.close()

        def collect() -> None:
            src = gz.proc.stdout.fileno()
            try:
                while chunk := os.read(src, CHUNK):
                    stream.sha.update(chunk)
                    write_all(out_fd, chunk)
                    stream.written += len(chunk)
            except OSError as exc:
                where = "no space left in db/" if exc.errno == 28 else f"writing the dump failed: {exc.strerror}"
                stream.errors.append(where)
                stop_all()
            finally:
                gz.proc.stdout.close()

        def relay() -> tuple[int, int]:
            threads = [threading.Thread(target=pump, daemon=True), threading.Thread(target=collect, daemon=True)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return dump.wait(), gz.wait()

        def sample() -> Progress:
            detail = f"{stream.tables} tables" + (f", current: {stream.current}" if stream.current else "")
            return Progress(self.kind, stream.written, None, "bytes", rate(stream.written), detail)

        async with ctx.ticker(sample):
            dump_rc, gz_rc = await run_blocking(relay, stop_all)

        tail = "\n".join(dump.stderr.lines)
        if stream.errors:
            raise JobError(stream.errors[0], stderr_tail=tail,
                           next_step="free space in the backup volume, then run `opsbackup run db_backup`"
                           if "space" in stream.errors[0] else None)
        if dump_rc != 0:
            how = f"was killed by signal {-dump_rc}" if dump_rc < 0 else f"exited {dump_rc}"
            raise JobError(f"{Path(argv[0]).name} {how}: {_dump_failure(tail)}", stderr_tail=tail,
                           public=f"{Path(argv[0]).name} {how} (its error is in ops.log)")
        if gz_rc != 0:
            raise JobError(f"{compressor()[0]} exited {gz_rc}", stderr_tail="\n".join(gz.stderr.lines))
        if not ends_with_trailer(stream.tail):
            raise JobError("the dump has no `-- Dump completed` trailer: it was cut short", stderr_tail=tail)
        return stream


def _dump_failure(tail: str) -> str:
    lines = [line for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if "error" in line.lower() or "got" in line.lower():
            return line.strip()
    return lines[-1].strip() if lines else "no error message"
