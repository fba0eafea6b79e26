"""Legacy migration (runbook §6): old dumps (uncompressed *.sql, other names, *.sql.gz without a
checksum) in the base dir, in db/ and in OPS_LEGACY_PATHS become db/full-YYYYmmdd-HHMM.sql.gz
with a .sha256.

Nothing is lost: the new file is written under a hidden temp name, checked by decompressing it and
comparing the content's sha256 with the original's, published with link() (which never
overwrites), and only then is the original removed. A journal in db/ lets a re-run after an
interruption finish the job instead of reporting a conflict; re-running is idempotent.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import stat
import subprocess
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from ..artefacts import journal
from ..artefacts.dumps import (
    DUMP_RE,
    MIGRATING_SUFFIX,
    SHA_SUFFIX,
    dump_name,
    hash_file,
    publish,
    read_sha256_file,
    remove_leftovers,
    write_checksum,
    write_note,
)
from ..artefacts.stamps import parse_stamp
from ..artefacts.tree import BackupTree
from ..atomic import fsync_dir
from ..events import Progress
from ..fmt import printable, size_words
from ..proc import CHUNK, Child, compressor, run_blocking, write_all
from ..settings import Settings
from ..sqlstream import TRAILER, TruncatedDump
from .base import Job, JobContext, JobError, Outcome, Rate

TEMP_SUFFIX = MIGRATING_SUFFIX
# A legacy file written to within this many seconds may still be growing (a cron dump, a copy):
# it is left alone until a later run.
SETTLE_S = 60
HEAD_BYTES = 64 * 1024
SQL_MARKERS = (b"-- MySQL dump", b"-- MariaDB dump", b"CREATE TABLE", b"INSERT INTO", b"DROP TABLE",
               b"/*!40101 SET", b"SET NAMES", b"CREATE DATABASE", b"LOCK TABLES")
UNTRUSTED_DAYS = 7

_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})[-_T]?(\d{2})(\d{2})(\d{2})?(?!\d)", re.ASCII)
_DASHED = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})[-_T ](\d{2})[:\-.]?(\d{2})(?!\d)", re.ASCII)
_DATE = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)", re.ASCII)


def time_from_name(name: str) -> tuple[datetime | None, str]:
    """(time, how): 'name', 'name (date only, 00:00)', or (None, why not)."""
    for pattern in (_COMPACT, _DASHED):
        for match in pattern.finditer(name):
            try:
                return datetime(*(int(g) for g in match.groups()[:5])), "name"
            except ValueError:
                return None, "the name holds an impossible date"
    for match in _DATE.finditer(name):
        try:
            return datetime(*(int(g) for g in match.groups())), "name (date only, 00:00)"
        except ValueError:
            return None, "the name holds an impossible date"
    return None, "no date in the name"


@dataclass
class Candidate:
    source: str
    size: int
    mtime: float
    compressed: bool
    action: str  # "compress+move", "move", "checksum only", "finish", "skip"
    target: str | None
    time_source: str
    problems: list[str] = field(default_factory=list)
    truncated: bool | None = None  # None: known only after decompressing (during the run)
    result: str = ""  # what the run did
    inode: int = 0  # with size and mtime_ns: the file as the plan saw it (the run takes only that file)
    mtime_ns: int = 0

    @property
    def runnable(self) -> bool:
        return self.action != "skip"


@dataclass
class MigrationPlan:
    candidates: list[Candidate]
    folders: list[str]
    dumps_before: int
    missing_checksums: int

    def to_json(self) -> dict:
        return {"folders": self.folders, "dumps_before": self.dumps_before,
                "missing_checksums": self.missing_checksums, "candidates": [asdict(c) for c in self.candidates]}


def _head(path: Path, compressed: bool) -> bytes:
    with open(path, "rb") as handle:
        raw = handle.read(HEAD_BYTES if not compressed else 1024 * 1024)
    if not compressed:
        return raw
    decoder = zlib.decompressobj(wbits=31)
    try:
        return decoder.decompress(raw, HEAD_BYTES)
    except zlib.error:
        return b""


def _sql_trailer(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(max(0, os.fstat(handle.fileno()).st_size - 4096))
        return TRAILER in handle.read()


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns


def _changed(candidate: Candidate) -> str | None:
    """Why the source is no longer the file the plan saw (grown, rewritten, replaced), or None."""
    try:
        st = os.lstat(candidate.source)
    except FileNotFoundError:
        return "it disappeared since the plan"
    if _identity(st) != (candidate.inode, candidate.size, candidate.mtime_ns):
        return "it changed while it was migrated (a writer may still be appending to it)"
    return None


def open_for_writing(keys: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """(st_dev, st_ino) of these files -> a process that holds it open for writing ("pid 42 (mysqldump)")."""
    found: dict[tuple[int, int], str] = {}
    if not keys:
        return found
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"{fd_dir}/{fd}")
            except OSError:
                continue
            key = (st.st_dev, st.st_ino)
            if key not in keys or key in found:
                continue
            try:
                with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as handle:
                    flags = int(handle.read().split("flags:", 1)[1].split()[0], 8)
                with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
                    comm = handle.read().strip()
            except (OSError, IndexError, ValueError):
                continue
            if flags & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR):
                found[key] = f"pid {pid} ({printable(comm)})"
    return found


def _count_dumps(db: Path) -> tuple[int, int]:
    """(canonical dumps, of them without a .sha256)."""
    try:
        names = set(os.listdir(db))
    except OSError:
        return 0, 0
    dumps = [n for n in names if DUMP_RE.fullmatch(n)]
    return len(dumps), sum(1 for n in dumps if n + SHA_SUFFIX not in names)


def plan_migration(settings: Settings, now: float | None = None) -> MigrationPlan:
    """The dry run: every legacy file found, its target, its action and its problems. `now` (epoch
    seconds, default the real time) is the caller's clock: what counts as "in the future"."""
    current = datetime.fromtimestamp(time.time() if now is None else now)
    db = settings.db_dir
    folders = list(dict.fromkeys([settings.backup_base, db, *settings.legacy_paths]))
    entries = journal.load(db)
    latest = BackupTree(settings.backup_base).newest_valid_dump()
    newest = latest.name if latest else ""
    candidates: list[Candidate] = []
    taken: set[str] = set()
    for folder in folders:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            lower = name.lower()
            if name.startswith(".") or not (lower.endswith(".sql") or lower.endswith(".sql.gz")):
                continue
            path = folder / name
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if folder == db and DUMP_RE.fullmatch(name) and (db / (name + SHA_SUFFIX)).is_file():
                continue  # already migrated and valid
            candidates.append(_candidate(path, st, db, entries, taken, newest, current))
    _unsettled(candidates)
    before, missing = _count_dumps(db)
    return MigrationPlan(candidates, [str(f) for f in folders], before, missing)


def _unsettled(candidates: list[Candidate]) -> None:
    """Leave alone the files that may still be growing: written to within SETTLE_S (in real time,
    whatever the caller's clock), or open for writing by a process."""
    runnable = [c for c in candidates if c.runnable and c.action != "finish"]
    keys = {}
    for candidate in runnable:
        try:
            st = os.lstat(candidate.source)
        except OSError:
            continue
        keys[(st.st_dev, st.st_ino)] = candidate
    writers = open_for_writing(set(keys))
    real_now = time.time()
    for key, candidate in keys.items():
        age = real_now - candidate.mtime
        if key in writers:
            reason = f"open for writing by {writers[key]}"
        elif 0 <= age < SETTLE_S:
            reason = f"written {age:.0f} s ago"
        else:
            continue
        candidate.problems.append(f"{reason}: it may still be growing; left alone (run the migration again later)")
        candidate.action = "skip"


def _candidate(path: Path, st: os.stat_result, db: Path, entries: dict, taken: set[str], newest: str,
               now: datetime) -> Candidate:
    compressed = path.name.lower().endswith(".gz")
    canonical = DUMP_RE.fullmatch(path.name)
    problems: list[str] = []
    candidate = Candidate(str(path), st.st_size, st.st_mtime, compressed, "skip", None, "", problems,
                          inode=st.st_ino, mtime_ns=st.st_mtime_ns)

    head = _head(path, compressed)
    if compressed and not head and st.st_size > 0:
        problems.append("not a gzip file (or its start is corrupt)")
        return candidate
    if not any(marker in head for marker in SQL_MARKERS):
        problems.append("not a SQL dump (no SQL statement or dump header in its first bytes)")
        return candidate

    mtime = datetime.fromtimestamp(st.st_mtime)
    when, how = (parse_stamp(canonical.group(1)), "name") if canonical else time_from_name(path.name)
    if when is None:
        problems.append(f"{how}: time taken from the mtime")
        when, how = mtime.replace(second=0, microsecond=0), "mtime"
    elif abs((when - mtime).total_seconds()) > UNTRUSTED_DAYS * 86400:
        days = abs((when - mtime).total_seconds()) / 86400
        problems.append(f"time not trusted: the name says {when:%Y-%m-%d %H:%M}, the mtime "
                        f"{mtime:%Y-%m-%d %H:%M} ({days:.0f} days apart); the name is used")
    if when > now:
        problems.append(f"time not trusted: {when:%Y-%m-%d %H:%M} is in the future")
    candidate.time_source = how

    if not compressed:
        candidate.truncated = not _sql_trailer(path)
        if candidate.truncated:
            problems.append("truncated: no `-- Dump completed` trailer (migrated, and flagged in a .note file)")

    target = db / dump_name(when)
    candidate.target = str(target)
    if how == "mtime" and target.name > newest:
        # A copy's fresh mtime would make an old dump look like tonight's: that would fake a backup.
        problems.append(f"its only time is the mtime, which would make it the newest dump ({target.name}); "
                        "skipped: rename it with its real date and run the migration again")
        return candidate
    in_db = path.parent == db
    if in_db and canonical and path == target:
        candidate.action = "checksum only"
    elif target.exists() or (target.with_name(target.name + SHA_SUFFIX)).exists():
        entry = entries.get(target.name)
        if entry and entry.get("source") == str(path) and entry.get("size") == st.st_size:
            candidate.action = "finish"
            problems.append("an interrupted run already published it: the target is checked, then the original removed")
        else:
            problems.append(f"conflict: {target.name} already exists; never overwritten")
            return candidate
    elif str(target) in taken:
        problems.append(f"conflict: another legacy file also maps to {target.name}; this one is left alone")
        return candidate
    else:
        candidate.action = "move" if compressed else "compress+move"
    taken.add(str(target))
    return candidate


class _Digests:
    def __init__(self) -> None:
        self.content = hashlib.sha256()  # the uncompressed SQL
        self.file = hashlib.sha256()  # the .sql.gz
        self.done = 0  # source bytes read


def _gunzip_hash(path: Path) -> tuple[str, bool]:
    """(sha256 of the decompressed content, trailer present); raises on a corrupt/truncated file."""
    from ..sqlstream import gunzip_chunks

    content = hashlib.sha256()
    tail = b""
    with open(path, "rb") as handle:
        for chunk in gunzip_chunks(handle):
            content.update(chunk)
            tail = (tail + chunk[-256:])[-256:]
    return content.hexdigest(), TRAILER in tail


@dataclass
class MigrateResult:
    plan: dict  # the plan as --dry-run --json shows it, with each candidate's result
    dumps_after: int
    missing_checksums_after: int
    bytes_saved: int


@dataclass(eq=False)
class MigrateJob(Job):
    kind = "migrate"
    next_step = "read the error, fix it (space, permissions), then run `opsbackup migrate` again: it resumes"

    plan_: MigrationPlan | None = None  # the dry run the operator saw; None: made when it runs

    def plan(self) -> list[str]:
        plan = self.plan_ or plan_migration(self.settings)
        todo = [c for c in plan.candidates if c.runnable]
        return [f"{len(todo)} of {len(plan.candidates)} legacy files, {size_words(sum(c.size for c in todo))}",
                f"each: {' '.join(compressor()[:1])} to a hidden temp name in {self.settings.db_dir}, decompress "
                "check + sha256 against the original, link() to full-YYYYmmdd-HHMM.sql.gz (never overwrites), "
                ".sha256, then the original is removed — only if it is still the file that was read"]

    async def execute(self, ctx: JobContext) -> Outcome:
        db = self.settings.db_dir
        db.mkdir(parents=True, exist_ok=True)
        for item in await asyncio.to_thread(remove_leftovers, db, {"migrating"}):
            # This run holds the migrate lock: a temp copy is a cancelled or crashed run's, never a dump.
            ctx.log("WARNING", f"removed {item.name} ({size_words(item.size)}), left by an interrupted migration")
        plan = await asyncio.to_thread(plan_migration, self.settings, ctx.clock())
        todo = [c for c in plan.candidates if c.runnable]
        total = sum(c.size for c in todo)
        done_before = 0
        rate = Rate()
        current: dict = {"digests": None, "index": 0, "name": ""}

        def sample() -> Progress:
            digests = current["digests"]
            done = done_before + (digests.done if digests else 0)
            return Progress(self.kind, done, total or None, "bytes", rate(done),
                            f"file {current['index']}/{len(todo)}: {current['name']}")

        saved = 0
        async with ctx.ticker(sample, interval=0.5):
            for index, candidate in enumerate(todo, start=1):
                current.update(index=index, name=Path(candidate.source).name, digests=_Digests())
                ctx.phase("migrating", f"{candidate.source} → {Path(candidate.target).name} ({candidate.action})")
                saved += await self._one(ctx, candidate, current["digests"])
                done_before += candidate.size
                current["digests"] = None
        await asyncio.to_thread(journal.forget_finished, db)
        after, missing = _count_dumps(db)
        failed = [c for c in todo if c.result.startswith("FAILED")]
        kept = [c for c in todo if c.result.startswith("left alone")]
        migrated = len(todo) - len(failed) - len(kept)
        summary = (f"{migrated} of {len(todo)} migrated; dumps in db/: {plan.dumps_before} → {after}; "
                   f"without .sha256: {missing}; {size_words(saved)} saved")
        if kept:
            summary += "; left alone while running: " + "; ".join(
                f"{Path(c.source).name}: {c.result}" for c in kept)
        left = len(plan.candidates) - len(todo)
        if left:
            summary += f"; {left} file(s) left alone (conflicts, not SQL, untrusted time, still growing: see the dry run)"
        result = MigrateResult(plan.to_json(), after, missing, saved)
        if failed:
            raise JobError(f"{len(failed)} file(s) not migrated: " + "; ".join(
                f"{Path(c.source).name}: {c.result}" for c in failed), result=result)
        return Outcome(summary, result)

    async def _one(self, ctx: JobContext, candidate: Candidate, digests: _Digests) -> int:
        source, target = Path(candidate.source), Path(candidate.target)
        db = target.parent
        try:
            if candidate.action == "checksum only":
                content, trailer = await asyncio.to_thread(_gunzip_hash, source)
                file_sha = await asyncio.to_thread(hash_file, source)
                candidate.truncated = not trailer
                note = self._note(candidate, target)
                if note is not None:
                    write_note(target, note)
                write_checksum(target, file_sha)
                candidate.result = "checksum written"
                return 0
            if candidate.action == "finish":
                await asyncio.to_thread(self._finish_interrupted, candidate, target)
                candidate.result = "finished an interrupted run"
                return 0
            changed = _changed(candidate)
            if changed:
                candidate.result = f"left alone: {changed}"
                return 0
            temp = db / f".{target.name}{TEMP_SUFFIX}"
            try:
                if candidate.compressed:
                    await run_blocking(lambda: _copy_hashing(source, temp, digests), lambda: None)
                else:
                    await self._compress(ctx, source, temp, digests)
                ctx.phase("checking", f"decompressing {temp.name} and comparing its sha256 with the original")
                content, trailer = await asyncio.to_thread(_gunzip_hash, temp)
                if content != digests.content.hexdigest():
                    raise JobError(f"the compressed copy of {source.name} does not match the original")
                candidate.truncated = not trailer
                # The hash covers what was read: only if the file is still exactly that file may the
                # copy stand for it (a writer appending meanwhile would lose its lines).
                changed = _changed(candidate)
                if changed:
                    candidate.result = f"left alone: {changed}"
                    return 0
                self._publish(candidate, source, temp, target, digests, content)
            finally:
                temp.unlink(missing_ok=True)
            return max(0, candidate.size - target.stat().st_size) if candidate.result == "migrated" else 0
        except asyncio.CancelledError:
            raise
        except (JobError, OSError, zlib.error, ValueError, TruncatedDump) as exc:  # this file only
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            candidate.result = f"FAILED: {text}"
            ctx.output(f"{source.name}: {candidate.result}; the original is untouched")
            return 0

    async def _compress(self, ctx: JobContext, source: Path, temp: Path, digests: _Digests) -> None:
        gz = Child(compressor(), redact=ctx.redact, stdin=subprocess.PIPE)
        out_fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        errors: list[str] = []

        def pump() -> None:
            try:
                with open(source, "rb") as handle:
                    while chunk := handle.read(CHUNK):
                        digests.content.update(chunk)
                        digests.done += len(chunk)
                        write_all(gz.proc.stdin.fileno(), chunk)
            except OSError as exc:
                errors.append(f"feeding the compressor failed: {exc.strerror}")
                gz.stop(1.0)
            finally:
                gz.proc.stdin.close()

        def collect() -> int:
            thread = threading.Thread(target=pump, daemon=True)
            thread.start()
            try:
                while chunk := os.read(gz.proc.stdout.fileno(), CHUNK):
                    digests.file.update(chunk)
                    write_all(out_fd, chunk)
                os.fsync(out_fd)
            except OSError as exc:
                errors.append("no space left in db/" if exc.errno == 28 else f"writing failed: {exc.strerror}")
                gz.stop(1.0)
            finally:
                thread.join()
                gz.proc.stdout.close()
                os.close(out_fd)
            return gz.wait()

        code = await run_blocking(collect, lambda: gz.stop(2.0))
        if errors:
            raise JobError(errors[0])
        if code != 0:
            raise JobError(f"{compressor()[0]} exited {code}: {gz.stderr.tail[-200:]}")

    def _publish(self, candidate: Candidate, source: Path, temp: Path, target: Path, digests: _Digests,
                 content: str) -> None:
        db = target.parent
        journal.record(db, target.name, {"source": str(source), "size": candidate.size, "content_sha256": content})
        # Ages come from mtimes: the dump keeps its own.
        publish(temp, target, digests.file.hexdigest(), mtime=candidate.mtime, note=self._note(candidate, target))
        changed = _changed(candidate)
        if changed:  # between the last check and now: the copy does not hold the whole file after all
            for path in (target.with_name(target.name + SHA_SUFFIX), target.with_name(target.name + ".note"), target):
                path.unlink(missing_ok=True)
            journal.forget(db, target.name)
            candidate.result = f"left alone: {changed}"
            return
        source.unlink()
        fsync_dir(source.parent)
        journal.forget(db, target.name)
        candidate.result = "migrated"

    def _finish_interrupted(self, candidate: Candidate, target: Path) -> None:
        db = target.parent
        entry = journal.load(db).get(target.name, {})
        content, trailer = _gunzip_hash(target)
        if content != entry.get("content_sha256"):
            raise JobError(f"{target.name} does not hold {Path(candidate.source).name}: left both alone")
        candidate.truncated = not trailer
        note = self._note(candidate, target)
        if note is not None:
            write_note(target, note, candidate.mtime)
        if read_sha256_file(target.with_name(target.name + SHA_SUFFIX), target.name) is None:
            write_checksum(target, hash_file(target), candidate.mtime)
        Path(candidate.source).unlink()
        journal.forget(db, target.name)

    @staticmethod
    def _note(candidate: Candidate, target: Path) -> str | None:
        if candidate.truncated:
            return f"truncated: no `-- Dump completed` trailer; migrated from {candidate.source}"
        return None


def _copy_hashing(source: Path, temp: Path, digests: _Digests) -> None:
    """Copy a .sql.gz, hashing the file and (decompressed) its content in the same pass."""
    decoder = zlib.decompressobj(wbits=31)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with open(source, "rb") as handle:
            while raw := handle.read(CHUNK):
                digests.file.update(raw)
                digests.done += len(raw)
                write_all(fd, raw)
                data = raw
                while data:
                    digests.content.update(decoder.decompress(data))
                    if decoder.eof:
                        data, decoder = decoder.unused_data, zlib.decompressobj(wbits=31)
                    else:
                        data = b""
        os.fsync(fd)
    finally:
        os.close(fd)
