"""`key: value` text files (snapshot markers, verify logs): readable by people and by the tools."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Mapping

from ..atomic import write_atomic
from ..fmt import printable
from .folder import Names

# Small text files of the tree (markers, verify logs, .sha256, .note) are read at most this far.
SMALL_FILE_LIMIT = 64 * 1024


def read_head(path: Path, limit: int = SMALL_FILE_LIMIT) -> str:
    """The start of a small text file, decoded leniently, control characters made printable."""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        return printable(handle.read(limit).replace("\r\n", "\n"))


def read_kv(path: Path) -> dict[str, str]:
    """Later keys win; lines that are no `key: value` are skipped."""
    values: dict[str, str] = {}
    for line in read_head(path).splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key and " " not in key:
            values[key] = value.strip()
    return values


def format_kv(values: Mapping[str, object]) -> str:
    # One physical line per value, whatever it holds: a line break in an error message must not
    # start a key of its own.
    return "".join(f"{key}: {' '.join(str(value).split())}\n" for key, value in values.items())


def write_kv(path: Path, values: Mapping[str, object], mode: int = 0o640) -> Path:
    write_atomic(path, format_kv(values), mode)
    return path


@dataclass
class KvRecord:
    """One parsed `key: value` file."""

    path: Path
    values: dict[str, str]

    @classmethod
    def read(cls, path: Path):
        return cls(path, read_kv(path))


class DatedKvFiles(Names):
    """One kind of dated `key: value` file, written atomically."""

    def write(self, folder: Path, when: datetime, values: Mapping[str, object], mtime: float | None = None) -> Path:
        path = write_kv(self.path_for(folder, when), values)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path
