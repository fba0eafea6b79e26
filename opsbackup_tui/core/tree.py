"""The backup tree: dumps and their checksums, snapshot markers, verify logs, reports.

One os.scandir pass per folder. Names sort chronologically (fixed-width stamps), so the newest
valid entry is found by walking names from the end and only that entry is stat'ed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

# re.ASCII: `\d` would also take other scripts' digits ("full-２0261126-…"), which int() accepts.
DUMP_RE = re.compile(r"full-(\d{8}-\d{4})\.sql\.gz", re.ASCII)
MARKER_RE = re.compile(r"snapshot-(\d{8}-\d{4})\.txt", re.ASCII)
VERIFY_RE = re.compile(r"verify-(\d{8}-\d{4})\.log", re.ASCII)
SHA_SUFFIX = ".sha256"
NOTE_SUFFIX = ".note"  # a migration's remark on a dump, e.g. "truncated: no trailer"
_TEMP_RE = re.compile(r"\.(partial|tmp)(\.|$)")
SHA_LINE_RE = re.compile(r"([0-9a-f]{64}) [ *](\S.*)")
STAMP_FORMAT = "%Y%m%d-%H%M"

# Small text files of the tree (markers, verify logs, .sha256) are read at most this far.
SMALL_FILE_LIMIT = 64 * 1024


def parse_stamp(stamp: str) -> datetime | None:
    """'YYYYmmdd-HHMM' -> naive local datetime, None for impossible dates such as 20241332-2561."""
    try:
        return datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]), int(stamp[11:13]))
    except ValueError:
        return None


def format_stamp(when: datetime) -> str:
    return when.strftime(STAMP_FORMAT)


@dataclass
class TreeFile:
    """A file of the tree whose name carries a valid stamp."""

    path: Path
    stamp: datetime
    _entry: os.DirEntry | None = field(default=None, repr=False, compare=False)
    _stat: os.stat_result | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.path.name

    def stat(self) -> os.stat_result:
        if self._stat is None:
            self._stat = self._entry.stat(follow_symlinks=False) if self._entry else os.lstat(self.path)
        return self._stat

    @property
    def mtime(self) -> float:
        return self.stat().st_mtime

    @property
    def size(self) -> int:
        return self.stat().st_size


@dataclass
class Dump(TreeFile):
    sha_path: Path | None = None

    def expected_sha256(self) -> str | None:
        """The hex digest its .sha256 names for it, None when the file is missing or malformed."""
        if self.sha_path is None:
            return None
        return read_sha256_file(self.sha_path, self.name)


def read_sha256_file(path: Path, name: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            text = handle.read(SMALL_FILE_LIMIT)
    except OSError:
        return None
    for line in text.splitlines():
        match = SHA_LINE_RE.fullmatch(line.strip())
        if match and os.path.basename(match.group(2)) == name:
            return match.group(1)
    return None


@dataclass
class Folder:
    """One scandir of one folder: the entries whose names can matter, or why it could not be read."""

    path: Path
    entries: dict[str, os.DirEntry] = field(default_factory=dict)
    error: str | None = None


def scan_folder(path: Path, prefix: str) -> Folder:
    folder = Folder(path)
    try:
        with os.scandir(path) as it:
            for entry in it:
                if entry.name.startswith(prefix):
                    folder.entries[entry.name] = entry
    except FileNotFoundError:
        folder.error = f"{path} does not exist"
    except NotADirectoryError:
        folder.error = f"{path} is not a directory"
    except PermissionError:
        folder.error = f"cannot read {path}: permission denied"
    except OSError as exc:
        folder.error = f"cannot read {path}: {exc.strerror}"
    return folder


def _newest_first(names: list[str]) -> Iterator[str]:
    """Names in reverse order, lazily: the newest costs one max(); the full sort happens only
    when the caller goes past it (it was invalid, or a history is wanted)."""
    if not names:
        return
    top = max(names)
    yield top
    yield from sorted((name for name in names if name != top), reverse=True)


def _is_plain_file(entry: os.DirEntry) -> bool:
    # d_type answers both without a stat; symlinks are never followed.
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


class BackupTree:
    """A scan of OPS_BACKUP_BASE. Cheap to build; only what is asked for is stat'ed or read."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.db = scan_folder(self.base / "db", "full-")
        self.snapshots = scan_folder(self.base / "snapshots", "snapshot-")
        self.verify = scan_folder(self.base / "verify", "verify-")
        self._dump_names = [name for name in self.db.entries if name.endswith(".sql.gz")]

    # --- dumps ---

    def iter_dumps(self, *, with_checksum_only: bool = True) -> Iterator[Dump]:
        """Valid dumps newest first (by the stamp in the name)."""
        for name in _newest_first(self._dump_names):
            dump = self._dump(name)
            if dump is not None and (dump.sha_path is not None or not with_checksum_only):
                yield dump

    def _dump(self, name: str) -> Dump | None:
        match = DUMP_RE.fullmatch(name)
        if not match:
            return None
        entry = self.db.entries[name]
        stamp = parse_stamp(match.group(1))
        if stamp is None or not _is_plain_file(entry):
            return None
        sha_entry = self.db.entries.get(name + SHA_SUFFIX)
        sha_path = Path(sha_entry.path) if sha_entry is not None and _is_plain_file(sha_entry) else None
        return Dump(Path(entry.path), stamp, entry, sha_path=sha_path)

    def latest_dump(self) -> Dump | None:
        return next(self.iter_dumps(), None)

    def ignored_dumps(self) -> list[tuple[str, str]]:
        """Names in db/ that look like dumps but never count, each with the reason."""
        ignored = []
        for name, entry in sorted(self.db.entries.items()):
            sidecar = next((s for s in (SHA_SUFFIX, NOTE_SUFFIX) if name.endswith(s)), None)
            if sidecar:
                if name[: -len(sidecar)] not in self.db.entries:
                    what = "checksum" if sidecar == SHA_SUFFIX else "note"
                    ignored.append((name, f"{what} without its dump"))
                continue
            match = DUMP_RE.fullmatch(name)
            if not match:
                reason = "temporary or partial file" if _TEMP_RE.search(name) \
                    else "name does not match full-YYYYmmdd-HHMM.sql.gz"
            elif parse_stamp(match.group(1)) is None:
                reason = "impossible date in the name"
            elif entry.is_symlink():
                reason = "symlink (not followed)"
            elif not _is_plain_file(entry):
                reason = "not a regular file"
            else:
                sha_entry = self.db.entries.get(name + SHA_SUFFIX)
                if sha_entry is not None and _is_plain_file(sha_entry):
                    continue
                reason = "no .sha256 beside it"
            ignored.append((name, reason))
        return ignored

    # --- markers and verify logs ---

    def _iter_dated(self, folder: Folder, pattern: re.Pattern[str], suffix: str) -> Iterator[TreeFile]:
        for name in _newest_first([name for name in folder.entries if name.endswith(suffix)]):
            match = pattern.fullmatch(name)
            if not match:
                continue
            entry = folder.entries[name]
            stamp = parse_stamp(match.group(1))
            if stamp is not None and _is_plain_file(entry):
                yield TreeFile(Path(entry.path), stamp, entry)

    def iter_markers(self) -> Iterator[TreeFile]:
        return self._iter_dated(self.snapshots, MARKER_RE, ".txt")

    def iter_verify_logs(self) -> Iterator[TreeFile]:
        return self._iter_dated(self.verify, VERIFY_RE, ".log")

    def latest_marker(self) -> TreeFile | None:
        return next(self.iter_markers(), None)

    def latest_verify_log(self) -> TreeFile | None:
        return next(self.iter_verify_logs(), None)

    def reports(self) -> list[Path]:
        try:
            with os.scandir(self.base / "reports") as it:
                return sorted((Path(e.path) for e in it if _is_plain_file(e)), reverse=True)
        except OSError:
            return []


def read_kv_file(path: Path) -> dict[str, str]:
    """`key: value` lines (verify logs, snapshot markers); later keys win, other lines are skipped."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read(SMALL_FILE_LIMIT)
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key and " " not in key:
            values[key] = value.strip()
    return values


@dataclass
class VerifyLog:
    """A parsed verify log (SPEC: dump, dump_sha256, database, tables, rows.<t>, duration_s, result, error)."""

    path: Path
    values: dict[str, str]

    @classmethod
    def read(cls, path: Path) -> "VerifyLog":
        return cls(path, read_kv_file(path))

    @property
    def result(self) -> str:
        return self.values.get("result", "").upper() or "UNKNOWN"

    @property
    def ok(self) -> bool:
        return self.result == "OK"

    @property
    def dump(self) -> str | None:
        return self.values.get("dump")

    @property
    def dump_sha256(self) -> str | None:
        return self.values.get("dump_sha256")

    @property
    def tables(self) -> int | None:
        return _int_or_none(self.values.get("tables"))

    @property
    def rows(self) -> dict[str, int | None]:
        return {key[5:]: _int_or_none(value) for key, value in self.values.items() if key.startswith("rows.")}

    @property
    def error(self) -> str | None:
        return self.values.get("error")

    @property
    def duration_s(self) -> float | None:
        try:
            return float(self.values["duration_s"])
        except (KeyError, ValueError):
            return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
