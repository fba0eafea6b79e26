"""A dump: `db/full-YYYYmmdd-HHMM.sql.gz`, its `.sha256` (GNU sha256sum format), its `.note` (a
migration's remark) and, while it is written, its partial file.

A dump counts as valid only when its name is exact, it is a regular file, and its `.sha256` (a
regular file too) names it with a well-formed digest: one definition for the checklist, verify,
drill, DR, monthly, prune and the report (`BackupTree.valid_dumps`).

Publishing never overwrites: the finished temp file is hard-linked to its final name (link() fails
on an existing name), the `.sha256` is written atomically next to it, then the folder is fsynced.
A dump whose `.sha256` could not be written is removed again: without it, it never counts anyway.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..atomic import fsync_dir, write_atomic
from .folder import Folder, Names, TreeFile
from .kvfile import SMALL_FILE_LIMIT, read_head

DUMPS = Names("full-", ".sql.gz")
DUMP_RE, PREFIX, SUFFIX = DUMPS.pattern, DUMPS.prefix, DUMPS.suffix
SHA_SUFFIX = ".sha256"
NOTE_SUFFIX = ".note"
PARTIAL_SUFFIX = ".partial"  # the dump job's file while it writes (under the db_backup lock)
MIGRATING_SUFFIX = ".migrating"  # the migration's temp copy (under the migrate lock)
HASH_CHUNK = 1024 * 1024


dump_name = DUMPS.name


# --- the .sha256 file: exactly what GNU `sha256sum -c` accepts ---

# `<hex>  name` (text) or `<hex> *name` (binary); the digest in either case.
_GNU_LINE = re.compile(r"([0-9a-fA-F]{64})[ \t]([ *])(.+)", re.ASCII | re.S)
# The BSD/`--tag` form: `SHA256 (name) = <hex>`.
_TAG_LINE = re.compile(r"SHA256 \((.+)\) = ([0-9a-fA-F]{64})", re.ASCII | re.S)


def parse_sha256_line(line: str) -> tuple[str, str] | None:
    """(lower-case digest, file name) of one checksum line, None for a comment, a blank or a line
    sha256sum would reject. Like coreutils: leading blanks are skipped, a trailing CR is dropped, a
    leading backslash marks a name with \\\\ and \\n escapes."""
    line = line.rstrip("\n")
    if line.endswith("\r"):
        line = line[:-1]
    line = line.lstrip(" \t")
    if not line or line.startswith("#"):
        return None
    escaped = line.startswith("\\")
    if escaped:
        line = line[1:]
    gnu = _GNU_LINE.fullmatch(line)
    if gnu:
        digest, name = gnu.group(1), gnu.group(3)
    else:
        tag = _TAG_LINE.fullmatch(line)
        if not tag:
            return None
        name, digest = tag.group(1), tag.group(2)
    if escaped:
        name = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), name)
    return digest.lower(), name


def read_sha256_file(path: Path, name: str) -> str | None:
    """The digest the checksum file `path` gives for `name` (matched by its last path part)."""
    try:
        text = read_head(path, SMALL_FILE_LIMIT)
    except OSError:
        return None
    for line in text.split("\n"):
        parsed = parse_sha256_line(line)
        if parsed and os.path.basename(parsed[1]) == name:
            return parsed[0]
    return None


def sha256_line(digest: str, name: str) -> str:
    return f"{digest}  {name}\n"


def hash_file(path: Path, on_read: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            if on_read is not None:
                on_read(len(chunk))
    return digest.hexdigest()


# --- the dump ---


@dataclass
class Dump(TreeFile):
    sha_path: Path | None = None
    _expected: str | None = field(default=None, repr=False, compare=False)

    def expected_sha256(self) -> str | None:
        """The digest its .sha256 names for it, None when the file is missing or malformed."""
        if self.sha_path is None:
            return None
        if self._expected is None:
            self._expected = read_sha256_file(self.sha_path, self.name) or ""
        return self._expected or None

    @property
    def valid(self) -> bool:
        return self.expected_sha256() is not None

    @property
    def note_path(self) -> Path:
        return self.path.with_name(self.name + NOTE_SUFFIX)

    def note(self) -> str | None:
        """A migration's remark on this dump ("truncated: …"), if it has one."""
        try:
            return read_head(self.note_path).strip() or None
        except OSError:
            return None

    def why_invalid(self) -> str | None:
        if self.sha_path is None:
            return f"{self.name} has no .sha256"
        if self.expected_sha256() is None:
            return f"{self.name}.sha256 is malformed"
        return None


def write_checksum(path: Path, digest: str, mtime: float | None = None) -> Path:
    sha_path = path.with_name(path.name + SHA_SUFFIX)
    write_atomic(sha_path, sha256_line(digest, path.name), 0o640)
    if mtime is not None:
        os.utime(sha_path, (mtime, mtime))
    return sha_path


def write_note(path: Path, text: str, mtime: float | None = None) -> None:
    note = path.with_name(path.name + NOTE_SUFFIX)
    write_atomic(note, text.rstrip("\n") + "\n", 0o640)
    if mtime is not None:
        os.utime(note, (mtime, mtime))


def publish(temp: Path, final: Path, digest: str, *, mtime: float | None = None, note: str | None = None) -> None:
    """`temp` (written and fsynced) becomes `final` with its .sha256 (and .note); never overwrites
    (FileExistsError). `mtime`: the dump's own time (a migrated dump keeps its age)."""
    if mtime is not None:
        os.utime(temp, (mtime, mtime))
    os.chmod(temp, 0o640)
    os.link(temp, final)
    try:
        if note:
            write_note(final, note, mtime)
        write_checksum(final, digest, mtime)
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(final.parent)


# --- leftovers of killed runs ---


@dataclass(frozen=True)
class Leftover:
    path: Path
    size: int
    kind: str  # "partial" (a dump job), "migrating" (the migration), "temp" (an atomic write)

    @property
    def name(self) -> str:
        return self.path.name


def _temp_owner_alive(name: str) -> bool:
    """Temp names carry the writer's pid (core.atomic.temp_name): a live pid may be writing it now."""
    match = re.search(r"\.(\d+)\.tmp$", name)
    if not match:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_LEFTOVER_KINDS = ((PARTIAL_SUFFIX, PREFIX, "partial"), (MIGRATING_SUFFIX, "." + PREFIX, "migrating"),
                   (".tmp", "." + PREFIX, "temp"))


def leftovers(folder: Folder) -> list[Leftover]:
    """Partial and temporary files of dumps in db/: what killed runs left behind. Found by C-level
    substring searches over all names at once: a tree of 40k dumps has none on most days."""
    found: list[Leftover] = []
    joined = "\n" + "\n".join(folder.names) + "\n"
    for suffix, prefix, kind in _LEFTOVER_KINDS:
        at = joined.find(suffix + "\n")
        while at >= 0:
            name = joined[joined.rfind("\n", 0, at) + 1:at + len(suffix)]
            at = joined.find(suffix + "\n", at + 1)
            if not name.startswith(prefix) or (kind == "temp" and (not re.search(r"\.\d+\.tmp$", name)
                                                                   or _temp_owner_alive(name))):
                continue
            st = folder.lstat(name)
            if st is not None and not stat.S_ISLNK(st.st_mode):
                found.append(Leftover(folder.path / name, st.st_size, kind))
    return sorted(found, key=lambda item: item.name)


def remove_leftovers(db: Path, kinds: set[str]) -> list[Leftover]:
    """Remove the leftovers of these kinds: only ever called by a job that holds the lock of the
    writer that makes them, so none of them is being written now."""
    removed = []
    for item in leftovers(Folder(db)):
        if item.kind in kinds:
            try:
                item.path.unlink()
            except FileNotFoundError:
                continue
            removed.append(item)
    return removed
