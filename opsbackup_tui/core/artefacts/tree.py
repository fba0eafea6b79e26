"""The backup tree (OPS_BACKUP_BASE): each folder read once per tree object, on first use.

A checklist refresh and a job each build one BackupTree and pass it along: the folders are listed
once however many questions are asked.
"""

from __future__ import annotations

import re
import stat
from functools import cached_property
from pathlib import Path
from typing import Iterator

from . import dumps, markers, verifylogs
from .dumps import Dump, Leftover
from .folder import Folder, TreeFile, dated_files
from .stamps import parse_stamp
from .verifylogs import VerifyLog

_TEMP_RE = re.compile(r"\.(partial|tmp)(\.|$)")


class BackupTree:
    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self._logs: dict[Path, VerifyLog | None] = {}

    @classmethod
    def of(cls, settings) -> "BackupTree":
        return cls(settings.backup_base)

    @cached_property
    def db(self) -> Folder:
        return Folder(self.base / "db")

    @cached_property
    def snapshots(self) -> Folder:
        return Folder(self.base / "snapshots")

    @cached_property
    def verify(self) -> Folder:
        return Folder(self.base / "verify")

    # --- dumps ---

    def dumps(self) -> Iterator[Dump]:
        """Dumps with an exact name and a valid date that are regular files, newest first, valid or
        not (`Dump.valid`, `Dump.why_invalid`)."""
        folder = self.db
        for entry in dated_files(folder, dumps.DUMPS):
            sha = entry.name + dumps.SHA_SUFFIX
            sha_path = folder.path / sha if folder.is_file(sha) else None
            yield Dump(entry.path, entry.stamp, entry.stat(), sha_path=sha_path)

    def valid_dumps(self) -> Iterator[Dump]:
        """The dumps that count, newest first: the one definition of a valid dump."""
        return (dump for dump in self.dumps() if dump.valid)

    def newest_valid_dump(self) -> Dump | None:
        return next(self.valid_dumps(), None)

    def newest_valid_with_skipped(self) -> tuple[Dump | None, list[str]]:
        """The newest valid dump and why each newer one does not count."""
        skipped = []
        for dump in self.dumps():
            why = dump.why_invalid()
            if why is None:
                return dump, skipped
            skipped.append(why)
        return None, skipped

    def leftovers(self) -> list[Leftover]:
        return dumps.leftovers(self.db)

    def ignored_dumps(self) -> list[tuple[str, str]]:
        """Names in db/ that look like dumps (full-…) but never count, each with the reason."""
        folder = self.db
        names = sorted(name for name in folder.names if name.startswith(dumps.PREFIX))
        present = set(names)
        ignored = []
        for name in names:
            sidecar = next((s for s in (dumps.SHA_SUFFIX, dumps.NOTE_SUFFIX) if name.endswith(s)), None)
            if sidecar:
                if name[: -len(sidecar)] not in present:
                    what = "checksum" if sidecar == dumps.SHA_SUFFIX else "note"
                    ignored.append((name, f"{what} without its dump"))
                continue
            match = dumps.DUMP_RE.fullmatch(name)
            st = folder.lstat(name)
            if not match:
                reason = "temporary or partial file" if _TEMP_RE.search(name) \
                    else "name does not match full-YYYYmmdd-HHMM.sql.gz"
            elif parse_stamp(match.group(1)) is None:
                reason = "impossible date in the name"
            elif st is not None and stat.S_ISLNK(st.st_mode):
                reason = "symlink (not followed)"
            elif not folder.is_file(name):
                reason = "not a regular file"
            elif not folder.is_file(name + dumps.SHA_SUFFIX):
                reason = "no .sha256 beside it"
            else:
                continue
            ignored.append((name, reason))
        return ignored

    # --- markers and verify logs ---

    def markers(self) -> Iterator[TreeFile]:
        return dated_files(self.snapshots, markers.MARKERS)

    def newest_marker(self) -> TreeFile | None:
        return next(self.markers(), None)

    def verify_logs(self) -> Iterator[TreeFile]:
        return dated_files(self.verify, verifylogs.LOGS)

    def newest_verify_log(self) -> TreeFile | None:
        return next(self.verify_logs(), None)

    def read_verify_log(self, entry: TreeFile) -> VerifyLog | None:
        """The parsed log (read once per tree), None when it cannot be read."""
        if entry.path not in self._logs:
            try:
                self._logs[entry.path] = VerifyLog.read(entry.path)
            except OSError:
                self._logs[entry.path] = None
        return self._logs[entry.path]

    def parsed_verify_logs(self) -> Iterator[VerifyLog]:
        for entry in self.verify_logs():
            log = self.read_verify_log(entry)
            if log is not None:
                yield log

    def verify_log_for(self, dump: Dump, digest: str | None = None) -> VerifyLog | None:
        """The newest OK verify log of this dump (by name or by sha256), else its newest log."""
        digest = digest or dump.expected_sha256()
        fallback = None
        for log in self.parsed_verify_logs():
            if log.is_of(dump.name, digest):
                if log.ok:
                    return log
                fallback = fallback or log
        return fallback

    def newest_verified_dump(self) -> Dump | None:
        """The newest valid dump that an OK verify log vouches for."""
        verified = {(log.dump, log.dump_sha256) for log in self.parsed_verify_logs() if log.ok}
        names = {name for name, _ in verified}
        digests = {digest for _, digest in verified if digest}
        for dump in self.valid_dumps():
            if dump.name in names or dump.expected_sha256() in digests:
                return dump
        return None

    def reports(self) -> list[Path]:
        folder = Folder(self.base / "reports")
        return sorted((folder.path / name for name in folder.names if folder.is_file(name)), reverse=True)
