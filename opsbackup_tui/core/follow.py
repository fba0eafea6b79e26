"""Following a log file like `tail -F`: start at the end, read appends, survive rotation.

Rotation by rename (a new file at the path: another inode) finishes the old file first, then
reads the new one from its start; copytruncate (same inode, cut to 0) restarts at 0. A missing
file is not an error: `poll()` returns nothing until it appears.

Copytruncate followed by a write longer than what was read before leaves the file larger than
the read position, so its size cannot tell (`tail -F` loses the start of the new content there).
The follower keeps the last FINGERPRINT bytes it read and, before reading on, checks that the
bytes just before its position are still those; when they are not, the file was rewritten and
is read from its start. (Only new content identical to those bytes at that very place could
pass for the old file: ops.log lines carry their time.)
"""

from __future__ import annotations

import os
from pathlib import Path

from .opslog import tail_lines

READ_LIMIT = 8 * 1024 * 1024  # per poll: a burst larger than this is read over several polls
FINGERPRINT = 64  # bytes before the read position that must still be there to read on


class LogFollower:
    def __init__(self, path: Path, initial_lines: int = 1000) -> None:
        self.path = Path(path)
        self.initial_lines = initial_lines
        self._fd: int | None = None
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""
        self._seen = b""  # the last FINGERPRINT bytes before _offset, as read
        self.rotations = 0

    @property
    def exists(self) -> bool:
        return self._fd is not None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def start(self) -> list[str]:
        """The last `initial_lines` lines (read backwards, never the whole file)."""
        try:
            lines, end, inode = tail_lines(self.path, self.initial_lines)
        except FileNotFoundError:
            return []
        if not self._open(inode):
            return []
        if self._inode == inode:  # else rotated meanwhile: the new file is read from its start
            self._offset = end
            self._seen = os.pread(self._fd, min(FINGERPRINT, end), end - min(FINGERPRINT, end))
        return lines

    def _open(self, expected_inode: int | None = None) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        inode = os.fstat(fd).st_ino
        self.close()
        self._fd, self._inode = fd, inode
        if expected_inode is not None and inode != expected_inode:
            # Rotated between the tail read and the open: follow the new file from its start.
            self._restart()
        return True

    def _restart(self) -> None:
        self._offset = 0
        self._seen = b""

    def _rewritten(self) -> bool:
        """The bytes before the read position are no longer those read: truncated and written anew."""
        if not self._seen:
            return False
        return os.pread(self._fd, len(self._seen), self._offset - len(self._seen)) != self._seen

    def _read_new(self) -> bytes:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size < self._offset or self._rewritten():  # copytruncate: the same file, cut (and written again)
            self._restart()
            self._partial = b""
            self.rotations += 1
        if size == self._offset:
            return b""
        data = os.pread(self._fd, min(size - self._offset, READ_LIMIT), self._offset)
        self._offset += len(data)
        self._seen = (self._seen + data)[-FINGERPRINT:]
        return data

    def poll(self) -> list[str]:
        """New complete lines since the last call."""
        chunks = []
        if self._fd is None:
            if not self._open():
                return []
            self._restart()
            self._partial = b""
        chunks.append(self._read_new())
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = None
        if current is not None and current != self._inode:
            # Renamed away: drain the old file (already done above), then switch. Its last line
            # may lack a newline (read now or in an earlier poll): end it, never glue it to the new file.
            drained = chunks[-1] if chunks[-1] else self._partial
            if self._open():  # gone again in between: keep the old file until the next poll
                if drained and not drained.endswith(b"\n"):
                    chunks.append(b"\n")
                self._restart()
                self.rotations += 1
                chunks.append(self._read_new())
        data = self._partial + b"".join(chunks)
        if not data:
            return []
        *complete, self._partial = data.split(b"\n")
        return [line.decode("utf-8", errors="replace").rstrip("\r") for line in complete]
