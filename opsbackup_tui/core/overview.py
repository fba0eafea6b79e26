"""What the dashboard shows besides the log: the checklist, the recent dump sizes and the jobs
running elsewhere. Collected in one go, and for the first frame in a thread started before the
UI's imports, so the checklist is ready when the screen mounts."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from .checks import CheckResult, run_checks
from .locks import LockBusy, peek
from .settings import Settings
from .tree import BackupTree

JOB_KINDS = ("db_backup", "snapshot", "verify", "report")
SPARK_DUMPS = 30


@dataclass(frozen=True)
class Overview:
    results: list[CheckResult]
    sizes: list[int]  # the last SPARK_DUMPS valid dumps, oldest first
    busy: list[LockBusy]  # jobs whose lock another process holds


def collect_overview(settings: Settings, now: float) -> Overview:
    results = run_checks(settings, now=now)
    sizes = []
    for dump in BackupTree(settings.backup_base).iter_dumps():
        sizes.append(dump.size)
        if len(sizes) == SPARK_DUMPS:
            break
    busy = [held for kind in JOB_KINDS if (held := peek(settings.backup_base, kind)) and held.pid != os.getpid()]
    return Overview(results, list(reversed(sizes)), busy)


class Prefetch:
    """collect_overview in a thread; take() waits for it. A failure is left to the UI's own refresh."""

    def __init__(self, settings: Settings, now: float) -> None:
        self._box: list[Overview] = []
        self._thread = threading.Thread(target=self._run, args=(settings, now), name="overview", daemon=True)
        self._thread.start()

    def _run(self, settings: Settings, now: float) -> None:
        try:
            self._box.append(collect_overview(settings, now))
        except Exception:  # noqa: BLE001 - the dashboard refreshes on its own and reports errors there
            pass

    def take(self, timeout: float = 5.0) -> Overview | None:
        self._thread.join(timeout)
        return self._box[0] if self._box else None
