"""One read of one folder of the backup tree, and the dated files in it.

A listdir, not a scandir: 40k names cost ~11 ms as strings, twice that as DirEntry objects. Names
sort chronologically (fixed-width stamps), so the newest entry of a kind is a max() over the names
of that kind, and only the entries a caller looks at are lstat'ed (symlinks are never followed).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from .stamps import STAMP_PATTERN, format_stamp, parse_stamp


class Folder:
    """The names in `path` (or why they could not be read), and lstat results on demand."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.error: str | None = None
        self._stats: dict[str, os.stat_result | None] = {}
        try:
            self.names = os.listdir(self.path)
        except FileNotFoundError:
            self.names, self.error = [], f"{self.path} does not exist"
        except NotADirectoryError:
            self.names, self.error = [], f"{self.path} is not a directory"
        except PermissionError:
            self.names, self.error = [], f"cannot read {self.path}: permission denied"
        except OSError as exc:
            self.names, self.error = [], f"cannot read {self.path}: {exc.strerror}"

    def lstat(self, name: str) -> os.stat_result | None:
        if name not in self._stats:
            try:
                self._stats[name] = os.lstat(self.path / name)
            except OSError:
                self._stats[name] = None
        return self._stats[name]

    def is_file(self, name: str) -> bool:
        """A regular file (not a symlink, a folder or a device)."""
        st = self.lstat(name)
        return st is not None and stat.S_ISREG(st.st_mode)

    def newest_first(self, prefix: str, suffix: str) -> Iterator[str]:
        """Names with this prefix and suffix, newest first, lazily: the newest costs one max(); the
        full sort happens only when the caller goes past it (it was invalid, or a history is wanted)."""
        names = [name for name in self.names if name.endswith(suffix) and name.startswith(prefix)]
        if not names:
            return
        top = max(names)
        yield top
        names.remove(top)
        names.sort(reverse=True)
        yield from names


@dataclass
class TreeFile:
    """A file of the tree whose name carries a valid stamp."""

    path: Path
    stamp: datetime
    _stat: os.stat_result | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.path.name

    def stat(self) -> os.stat_result:
        if self._stat is None:
            self._stat = os.lstat(self.path)
        return self._stat

    @property
    def mtime(self) -> float:
        return self.stat().st_mtime

    @property
    def size(self) -> int:
        return self.stat().st_size


class Names:
    """One kind of dated name: `<prefix>YYYYmmdd-HHMM<suffix>` (local time)."""

    def __init__(self, prefix: str, suffix: str) -> None:
        self.prefix, self.suffix = prefix, suffix
        self.pattern = re.compile(re.escape(prefix) + STAMP_PATTERN + re.escape(suffix), re.ASCII)

    def name(self, when: datetime) -> str:
        return f"{self.prefix}{format_stamp(when)}{self.suffix}"

    def path_for(self, folder: Path, when: datetime) -> Path:
        return folder / self.name(when)


def dated_files(folder: Folder, names: Names) -> Iterator[TreeFile]:
    """The regular files of `folder` whose whole name is one of `names` with a valid stamp, newest first."""
    for name in folder.newest_first(names.prefix, names.suffix):
        match = names.pattern.fullmatch(name)
        if not match:
            continue
        when = parse_stamp(match.group(1))
        if when is not None and folder.is_file(name):
            yield TreeFile(folder.path / name, when, folder.lstat(name))
