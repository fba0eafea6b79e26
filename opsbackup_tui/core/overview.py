"""What the dashboard shows besides the log: the checklist, the recent dump sizes and the jobs
running elsewhere. Collected in one go, and for the first frame in a child process forked before the
UI's imports (Prefetch), so the checklist is ready when the screen mounts."""

from __future__ import annotations

import itertools
import os
import pickle
import select
import signal
import threading
import time
from dataclasses import dataclass

from .artefacts.tree import BackupTree
from .checks import CheckResult, run_checks
from .jobs import KINDS
from .locks import LockBusy, peek
from .settings import Settings

SPARK_DUMPS = 30


@dataclass(frozen=True)
class Overview:
    results: list[CheckResult]
    sizes: list[int]  # the last SPARK_DUMPS valid dumps, oldest first
    busy: list[LockBusy]  # jobs whose lock another process holds


def collect_overview(settings: Settings, now: float) -> Overview:
    """One scan of the tree for all of it."""
    tree = BackupTree(settings.backup_base)
    results = run_checks(settings, now=now, tree=tree)
    sizes = [dump.size for dump in itertools.islice(tree.valid_dumps(), SPARK_DUMPS)]
    busy = [held for kind in KINDS if (held := peek(settings.backup_base, kind.name)) and held.pid != os.getpid()]
    return Overview(results, list(reversed(sizes)), busy)


class Prefetch:
    """collect_overview in a forked child, started before the UI's imports: the scan runs on another
    core instead of taking turns with them for the GIL, and the checklist is ready when the screen
    mounts. ready() says whether it is there yet, take() waits for it. Where fork is missing, a
    thread does the work. Any failure (the child dies, times out, sends garbage) gives None: the
    dashboard then refreshes on its own and reports the error there."""

    def __init__(self, settings: Settings, now: float) -> None:
        self._box: list[Overview] = []
        self._pid = self._fd = self._thread = None
        if not hasattr(os, "fork"):
            self._thread = threading.Thread(target=self._run, args=(settings, now), name="overview", daemon=True)
            self._thread.start()
            return
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe and never returns
            try:
                os.close(read_fd)
                data = pickle.dumps(collect_overview(settings, now))
                view = memoryview(data)
                while view:
                    view = view[os.write(write_fd, view):]
            finally:
                os._exit(0)
        os.close(write_fd)
        self._pid, self._fd = pid, read_fd

    def _run(self, settings: Settings, now: float) -> None:
        try:
            self._box.append(collect_overview(settings, now))
        except Exception:  # noqa: BLE001 - the dashboard refreshes on its own and reports errors there
            pass

    def ready(self, timeout: float) -> bool:
        """Whether take() would answer at once, after waiting up to `timeout` for it."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return self._pid is None or bool(select.select([self._fd], [], [], timeout)[0])

    def take(self, timeout: float = 5.0) -> Overview | None:
        if self._thread is not None:
            self._thread.join(timeout)
            return self._box[0] if self._box else None
        if self._pid is None:  # taken before
            return None
        deadline = time.monotonic() + timeout
        chunks = []
        try:
            while (left := deadline - time.monotonic()) > 0 and select.select([self._fd], [], [], left)[0]:
                chunk = os.read(self._fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
            else:
                os.kill(self._pid, signal.SIGKILL)  # too slow (a hung NFS mount): the UI goes on without it
        finally:
            os.close(self._fd)
            os.waitpid(self._pid, 0)
            self._pid = None
        try:
            overview = pickle.loads(b"".join(chunks))
        except Exception:  # noqa: BLE001 - a child that died half-way sent a truncated pickle or nothing
            return None
        return overview if isinstance(overview, Overview) else None
