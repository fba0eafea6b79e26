"""The health checklist of the runbook (§1, §7): five checks, each a CheckResult."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable

from .artefacts.markers import Marker
from .artefacts.tree import BackupTree
from .artefacts.verifylogs import VerifyLog
from .fmt import age_words, mask_credentials, one_line, size_words
from .settings import Settings

# A file this far in the future is clock skew, not "fresh".
SKEW_TOLERANCE_S = 120
METRICS_BODY_LIMIT = 8 * 1024 * 1024

CHECK_IDS = ("db_dump", "uploads_snapshot", "verify_restore", "metrics", "ops_log")


class Status(str, Enum):
    OK = "OK"
    SKIPPED = "SKIPPED"
    STALE = "STALE"
    OVERDUE = "OVERDUE"
    WARN = "WARN"
    FAIL = "FAIL"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"

    @property
    def rank(self) -> int:
        """0 fine, 1 warning, 2 unknown, 3 failure: the order used to pick the overall state."""
        return _RANK[self]

    @property
    def exit_code(self) -> int:
        """Monitoring-plugin convention: 0 OK, 1 warning, 2 critical, 3 unknown."""
        return (0, 1, 3, 2)[self.rank]


_RANK = {
    Status.OK: 0, Status.SKIPPED: 0,
    Status.STALE: 1, Status.OVERDUE: 1, Status.WARN: 1,
    Status.UNKNOWN: 2,
    Status.FAIL: 3, Status.FAILED: 3,
}


# What fixes a check that is not OK: a job kind, or "acknowledge" (the ops.log alerts). Each face
# says it its own way: the UI as a key, the CLI as a command (fix_command).
ACKNOWLEDGE = "acknowledge"
FIXES = {"db_dump": "db_backup", "uploads_snapshot": "snapshot", "verify_restore": "verify", "ops_log": ACKNOWLEDGE}


def fix_command(fix: str | None) -> str | None:
    """The shell command of a fix."""
    if fix is None:
        return None
    if fix == ACKNOWLEDGE:
        return "opsbackup ack"
    from .jobs import BY_NAME

    kind = BY_NAME.get(fix)
    return kind.command if kind else None


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: Status
    age_seconds: float | None
    path: str | None
    detail: str
    threshold_seconds: float | None = None
    facts: dict = field(default_factory=dict, compare=False)  # numbers for --prom and the UI

    @property
    def fix(self) -> str | None:
        """What fixes this result (a job kind or ACKNOWLEDGE), None when it is fine or nothing we run does."""
        return FIXES.get(self.id) if self.status.rank else None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "status": self.status.value,
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "path": self.path,
            "detail": self.detail,
            "threshold_seconds": self.threshold_seconds,
            "fix": None if self.fix is None else {"job": self.fix, "command": fix_command(self.fix)},
            **self.facts,
        }


def overall(results: Iterable[CheckResult]) -> Status:
    worst = Status.OK
    for result in results:
        if result.status.rank > worst.rank:
            worst = result.status
    return worst


def _aged(check_id: str, age: float, path: Path, what: str, threshold: float, facts: dict | None = None, *,
          late: Status, advice: str) -> CheckResult:
    """OK while younger than `threshold`, else `late` with the threshold and what to do."""
    if age < threshold:
        return CheckResult(check_id, Status.OK, age, str(path), what, threshold, facts or {})
    return CheckResult(check_id, late, age, str(path), f"{what}; {late.value} after {age_words(threshold)}: {advice}",
                       threshold, facts or {})


def _skewed(check_id: str, age: float, path: Path, threshold: float) -> CheckResult:
    return CheckResult(check_id, Status.WARN, age, str(path),
                       f"clock skew: {path.name} has an mtime {age_words(-age)} in the future; "
                       "check the host clock (timedatectl) before trusting this check", threshold)


def check_db_dump(settings: Settings, tree: BackupTree, now: float) -> CheckResult:
    stale, fail = settings.db_dump_stale_min * 60, settings.db_dump_fail_min * 60
    folder = settings.db_dir
    if tree.db.error:
        return CheckResult("db_dump", Status.FAIL, None, str(folder), tree.db.error, stale)
    latest, skipped = tree.newest_valid_with_skipped()
    note = f" (newer {skipped[0]}: ignored)" if skipped else ""
    note += _leftovers(settings, tree)
    if latest is None:
        return CheckResult("db_dump", Status.FAIL, None, str(folder),
                           f"no valid dump in {folder}{note}; run a DB backup", stale)
    try:
        age = now - latest.mtime
    except OSError as exc:
        return CheckResult("db_dump", Status.FAIL, None, str(latest.path), f"cannot stat {latest.name}: {exc.strerror}", stale)
    if age < -SKEW_TOLERANCE_S:
        return _skewed("db_dump", age, latest.path, stale)
    what = f"{latest.name} ({size_words(latest.size)}), {age_words(max(age, 0))} old{note}"
    facts = {"size_bytes": latest.size, "mtime": latest.mtime}
    if age < fail:
        return _aged("db_dump", age, latest.path, what, stale, facts, late=Status.STALE,
                     advice="check the cron, run a DB backup")
    result = _aged("db_dump", age, latest.path, what, fail, facts, late=Status.FAIL,
                   advice="run a DB backup now and find why the nightly one stopped")
    return replace(result, threshold_seconds=stale)


def _leftovers(settings: Settings, tree: BackupTree) -> str:
    """'; leftover of a killed run: …' for partial and temp files no running job writes."""
    from .locks import peek

    items = tree.leftovers()
    if not items:
        return ""
    running = {kind for kind in ("db_backup", "migrate") if peek(settings.backup_base, kind) is not None}
    writer = {"partial": "db_backup", "temp": "db_backup", "migrating": "migrate"}
    items = [item for item in items if writer[item.kind] not in running]
    if not items:
        return ""
    shown = ", ".join(f"{item.name} ({size_words(item.size)})" for item in items[:3])
    more = f" and {len(items) - 3} more" if len(items) > 3 else ""
    return f"; leftover of a killed run: {shown}{more} (the next run removes it)"


def _newest_file(check_id: str, folder, folder_path, entry, threshold: float, missing: str, read, now: float,
                 judge: Callable) -> CheckResult:
    """What the marker and verify-log checks share: the folder's error, no file, a file that cannot
    be read, clock skew — each a finding of its own — else judge(age, what `read` made of the file)."""
    if folder.error:
        return CheckResult(check_id, Status.FAIL, None, str(folder_path), folder.error, threshold)
    if entry is None:
        return CheckResult(check_id, Status.FAIL, None, str(folder_path), missing, threshold)
    try:
        age = now - entry.mtime
        parsed = read(entry.path)
    except OSError as exc:
        return CheckResult(check_id, Status.FAIL, None, str(entry.path), f"cannot read {entry.name}: {exc.strerror}",
                           threshold)
    if age < -SKEW_TOLERANCE_S:
        return _skewed(check_id, age, entry.path, threshold)
    return judge(age, parsed)


def check_uploads_snapshot(settings: Settings, tree: BackupTree, now: float) -> CheckResult:
    stale = settings.snapshot_stale_min * 60
    marker = tree.newest_marker()

    def judge(age: float, parsed: Marker) -> CheckResult:
        what = f"snapshot {parsed.snapshot_id} ({marker.name}), {age_words(max(age, 0))} old"
        return _aged("uploads_snapshot", age, marker.path, what, stale, late=Status.STALE,
                     advice="run the snapshot job")

    return _newest_file("uploads_snapshot", tree.snapshots, settings.snapshots_dir, marker, stale,
                        f"no snapshot marker in {settings.snapshots_dir}; run an uploads snapshot", Marker.read, now,
                        judge)


def check_verify_restore(settings: Settings, tree: BackupTree, now: float) -> CheckResult:
    overdue = settings.verify_overdue_hours * 3600
    entry = tree.newest_verify_log()
    return _newest_file("verify_restore", tree.verify, settings.verify_dir, entry, overdue,
                        f"no verify log in {settings.verify_dir}; run a verify restore", VerifyLog.read, now,
                        lambda age, log: _judge_verify_log(entry, age, log, overdue))


def _judge_verify_log(entry, age: float, log: VerifyLog, overdue: float) -> CheckResult:
    dump = log.dump or "?"
    if log.result == "FAIL":
        reason = one_line(log.error or "no error recorded")
        return CheckResult("verify_restore", Status.FAILED, age, str(entry.path),
                           f"verify of {dump} FAILED {age_words(max(age, 0))} ago: {reason}; check the dump's integrity and the logs",
                           overdue)
    if not log.ok:
        return CheckResult("verify_restore", Status.FAILED, age, str(entry.path),
                           f"{entry.name} has no valid result line (result: {log.result}); run a verify restore", overdue)
    what = f"{dump}: {log.tables if log.tables is not None else '?'} tables OK, {age_words(max(age, 0))} ago"
    return _aged("verify_restore", age, entry.path, what, overdue, late=Status.OVERDUE, advice="run a verify restore")


def check_metrics(settings: Settings) -> CheckResult:
    url = settings.metrics_url
    timeout = settings.metrics_timeout_s
    if url is None:
        return CheckResult("metrics", Status.SKIPPED, None, None, "OPS_METRICS_URL is not set", timeout)
    import httpx

    where = mask_credentials(url)  # basic-auth credentials in the URL are never shown

    from .promtext import PromParseError, count_samples

    started = time.monotonic()
    try:
        # No TLS context for plain http: building one costs more than the whole request.
        verify = not url.startswith("http://")
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, verify=verify) as client:
            with client.stream("GET", url, headers={"Accept": "text/plain"}) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if time.monotonic() - started > timeout:
                        # httpx's timeouts are per read: a server that dribbles bytes needs a total deadline.
                        return CheckResult("metrics", Status.FAIL, None, where, f"timeout after {timeout:g} s", timeout)
                    if len(body) > METRICS_BODY_LIMIT:
                        return CheckResult("metrics", Status.FAIL, None, where,
                                           f"body larger than {size_words(METRICS_BODY_LIMIT)}", timeout)
    except httpx.TimeoutException:
        return CheckResult("metrics", Status.FAIL, None, where, f"timeout after {timeout:g} s", timeout)
    except httpx.ConnectError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else one_line(str(exc) or "cannot connect")
        return CheckResult("metrics", Status.FAIL, None, where, reason, timeout)
    except httpx.HTTPError as exc:
        return CheckResult("metrics", Status.FAIL, None, where, one_line(f"{type(exc).__name__}: {exc}"), timeout)
    took = (time.monotonic() - started) * 1000
    if response.status_code != 200:
        return CheckResult("metrics", Status.FAIL, None, where, f"HTTP {response.status_code} (expected 200)", timeout)
    try:
        samples = count_samples(bytes(body).decode("utf-8"))
    except UnicodeDecodeError:
        return CheckResult("metrics", Status.FAIL, None, where, "parse error: body is not UTF-8 text", timeout)
    except PromParseError as exc:
        return CheckResult("metrics", Status.FAIL, None, where, one_line(f"parse error: {exc}"), timeout)
    return CheckResult("metrics", Status.OK, None, where, f"HTTP 200, {samples} samples in {took:.0f} ms", timeout)


def check_ops_log(settings: Settings, now: float) -> CheckResult:
    from .opslog import scan_alerts

    path = settings.log_path
    try:
        scan = scan_alerts(path, settings.state_dir, settings.log_window_kib * 1024)
    except FileNotFoundError:
        return CheckResult("ops_log", Status.WARN, None, str(path),
                           f"no ops.log at {path} yet; check OPS_LOG_PATH if jobs have run")
    except OSError as exc:
        return CheckResult("ops_log", Status.WARN, None, str(path), f"cannot read {path}: {exc.strerror}")
    scope = "since acknowledged" if scan.acknowledged else "never acknowledged"
    if scan.window_cut:
        scope += f", last {size_words(settings.log_window_kib * 1024)} read"
    if scan.count == 0:
        return CheckResult("ops_log", Status.OK, None, str(path), f"no FAIL/alert lines ({scope})")
    newest = scan.newest
    age = None
    if newest is not None and newest.time is not None:
        age = now - newest.time.timestamp()
    text = one_line(newest.raw if newest else "", 160)
    return CheckResult("ops_log", Status.WARN, age, str(path),
                       f"{scan.count} FAIL/alert line{'s' if scan.count != 1 else ''} ({scope}); newest: {text}",
                       facts={"alerts": scan.count, "since_offset": scan.start, "end_offset": scan.end})


class MetricsProbe:
    """The metrics check in a forked child, started before the scan: httpx's imports then run on
    the other core instead of holding our GIL. Only for a process without threads (the CLI)."""

    def __init__(self, settings: Settings) -> None:
        import json
        import os

        self._settings = settings
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe and never returns
            try:
                os.close(read_fd)
                try:
                    payload = check_metrics(settings).to_json()
                except BaseException as exc:  # noqa: BLE001
                    payload = {"status": "UNKNOWN", "detail": one_line(f"internal error: {exc!r}")}
                os.write(write_fd, json.dumps(payload).encode())
            finally:
                os._exit(0)
        os.close(write_fd)
        self._pid, self._fd = pid, read_fd

    def result(self) -> CheckResult:
        import json
        import os

        chunks = []
        try:
            while chunk := os.read(self._fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(self._fd)
            os.waitpid(self._pid, 0)
        try:
            data = json.loads(b"".join(chunks))
            return CheckResult("metrics", Status(data["status"]), data.get("age_seconds"), data.get("path"),
                               data["detail"], data.get("threshold_seconds"))
        except (ValueError, KeyError):
            return CheckResult("metrics", Status.UNKNOWN, None, mask_credentials(self._settings.metrics_url or ""),
                               "the metrics probe ended without a result")


def run_checks(settings: Settings, now: float | None = None, clock: Callable[[], float] = time.time,
               metrics: MetricsProbe | None = None, tree: BackupTree | None = None) -> list[CheckResult]:
    """All five checks. The metrics request runs in a thread while the tree is scanned, or in the
    forked `metrics` probe the caller started."""
    now = clock() if now is None else now
    box: list[CheckResult] = []

    def probe_in_thread() -> None:
        try:
            box.append(check_metrics(settings))
        except Exception as exc:  # noqa: BLE001 - a check never takes the checklist down
            box.append(CheckResult("metrics", Status.UNKNOWN, None, mask_credentials(settings.metrics_url or ""),
                                   one_line(f"internal error: {exc!r}")))

    thread = None
    if metrics is not None:
        pass
    elif settings.metrics_url is not None:
        thread = threading.Thread(target=probe_in_thread, name="metrics-check", daemon=True)
        thread.start()
    else:
        probe_in_thread()
    tree = tree or BackupTree(settings.backup_base)
    results = [
        _guard("db_dump", lambda: check_db_dump(settings, tree, now)),
        _guard("uploads_snapshot", lambda: check_uploads_snapshot(settings, tree, now)),
        _guard("verify_restore", lambda: check_verify_restore(settings, tree, now)),
    ]
    if thread is not None:
        thread.join()
    results.append(metrics.result() if metrics is not None else box[0])
    results.append(_guard("ops_log", lambda: check_ops_log(settings, now)))
    return results


def _guard(check_id: str, run: Callable[[], CheckResult]) -> CheckResult:
    try:
        return run()
    except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
        return CheckResult(check_id, Status.UNKNOWN, None, None, one_line(f"internal error: {exc!r}"))
