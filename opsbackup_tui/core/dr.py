"""Disaster recovery of the database (runbook §3): the pieces the DR wizard runs, step by step.

Every step is a plain function (blocking: call from threads) so the wizard shows what it will do,
runs it, and writes it to the audit transcript.
"""

from __future__ import annotations

import difflib
import getpass
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .atomic import write_atomic
from .jobs.verify import sha256_file
from .mysql import DatabaseError, ServerConfig, connect, execute, quote_ident
from .proc import child_env, shown
from .settings import Settings
from .tree import NOTE_SUFFIX, BackupTree, Dump, VerifyLog

# --- step 1: the dump ---


@dataclass
class DumpRow:
    dump: Dump
    verify: VerifyLog | None  # the newest verify log of this dump, if any
    note: str | None  # a migration's remark ("truncated: …")
    sha: str = "unchecked"  # "unchecked", "OK", "MISMATCH", "missing .sha256", "unreadable"


class ShaCache:
    """Checksums already verified, keyed by path + size + mtime (a changed file is checked again)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "sha-cache.json"
        try:
            self.data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}

    @staticmethod
    def _key(dump: Dump) -> str:
        return f"{dump.path}|{dump.size}|{dump.mtime}"

    def get(self, dump: Dump) -> str | None:
        return self.data.get(self._key(dump))

    def put(self, dump: Dump, status: str) -> None:
        self.data[self._key(dump)] = status
        try:
            write_atomic(self.path, json.dumps(self.data), 0o600)
        except OSError:
            pass


def list_dumps(settings: Settings) -> list[DumpRow]:
    tree = BackupTree(settings.backup_base)
    logs: dict[str, VerifyLog] = {}
    for entry in tree.iter_verify_logs():
        try:
            log = VerifyLog.read(entry.path)
        except OSError:
            continue
        if log.dump and log.dump not in logs:
            logs[log.dump] = log
    cache = ShaCache(settings.state_dir)
    rows = []
    for dump in tree.iter_dumps():
        note_path = dump.path.with_name(dump.name + NOTE_SUFFIX)
        note = note_path.read_text(errors="replace").strip() if note_path.is_file() else None
        rows.append(DumpRow(dump, logs.get(dump.name), note, cache.get(dump) or "unchecked"))
    return rows


def check_dump(settings: Settings, row: DumpRow, on_read=None) -> str:
    """Verify the sha256 of one dump (cached by path+size+mtime); returns the new status."""
    expected = row.dump.expected_sha256()
    if expected is None:
        status = "missing .sha256"
    else:
        try:
            status = "OK" if sha256_file(row.dump.path, on_read) == expected else "MISMATCH"
        except OSError:
            status = "unreadable"
    row.sha = status
    ShaCache(settings.state_dir).put(row.dump, status)
    return status


# --- step 2: the target ---


@dataclass
class TargetReport:
    server: str
    database: str
    reachable: bool = False
    error: str | None = None
    exists: bool = False
    tables: int = 0
    sessions: int = 0
    grants: list[str] = field(default_factory=list)
    privileges_ok: bool | None = None  # None: could not tell from the grants
    production: bool = False

    @property
    def refused(self) -> str | None:
        """Why the wizard cannot go on, whatever the operator types."""
        if not self.reachable:
            return f"cannot use {self.server}: {self.error}"
        if self.sessions:
            return (f"{self.sessions} other session(s) use `{self.database}`: restoring under running "
                    "clients would mix old and new data; stop them first")
        return None

    @property
    def needs_typed_name(self) -> bool:
        return self.tables > 0 or self.production


_IDENT = re.compile(r"[A-Za-z0-9_$]{1,64}")


def check_target(server: ServerConfig, database: str, production_name: str | None) -> TargetReport:
    report = TargetReport(server.describe(), database, production=bool(production_name) and database == production_name)
    if not _IDENT.fullmatch(database):
        report.error = "the database name must be a plain MySQL name (letters, digits, _ and $)"
        return report
    try:
        conn = connect(server, timeout=5)
    except DatabaseError as exc:
        report.error = str(exc)
        return report
    report.reachable = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
            report.exists = cur.fetchone() is not None
            if report.exists:
                cur.execute("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s", (database,))
                report.tables = int(cur.fetchone()[0])
                cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
                            (database,))
                report.sessions = int(cur.fetchone()[0])
            cur.execute("SHOW GRANTS FOR CURRENT_USER()")
            report.grants = [row[0] for row in cur.fetchall()]
    except Exception as exc:  # noqa: BLE001 - any server error makes the target unusable, said plainly
        report.reachable = False
        report.error = f"checking the target failed: {exc}"
    finally:
        conn.close()
    report.privileges_ok = _grants_cover(report.grants, database)
    return report


def _grants_cover(grants: list[str], database: str) -> bool | None:
    needed = ("CREATE", "INSERT", "DROP", "ALTER", "INDEX")
    for grant in grants:
        upper = grant.upper()
        scope = re.search(r" ON (\S+) TO ", upper)
        if not scope:
            continue
        target = scope.group(1).replace("`", "")
        applies = target in ("*.*", f"{database.upper()}.*") or (
            "%" in target and re.fullmatch(target.split(".")[0].replace("%", ".*").replace("\\_", "_"), database.upper()))
        if applies and ("ALL PRIVILEGES" in upper or all(p in upper for p in needed)):
            return True
    return False if grants else None


def create_database(server: ServerConfig, database: str) -> str:
    return execute(server, f"CREATE DATABASE {quote_ident(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")


def drop_database(server: ServerConfig, database: str) -> str:
    """DROP the database the operator named and confirmed (a half-imported target)."""
    return execute(server, f"DROP DATABASE {quote_ident(database)}")


# --- step 5: point the application at the new database ---


@dataclass
class EnvSwitch:
    path: Path
    old: str
    new: str
    changes: dict[str, tuple[str | None, str]]

    @property
    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.old.splitlines(True), self.new.splitlines(True),
                                            f"{self.path} (now)", f"{self.path} (after)"))


_ENV_LINE = re.compile(r"^(\s*(?:export\s+)?)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)(.*)$")


def plan_env_switch(env_path: Path, values: dict[str, str]) -> EnvSwitch:
    """The CRM .env with DB_* keys set to `values`: other lines, comments and order untouched."""
    with open(env_path, encoding="utf-8") as handle:
        old = handle.read()
    remaining = dict(values)
    changes: dict[str, tuple[str | None, str]] = {}
    lines = []
    for line in old.splitlines(True):
        match = _ENV_LINE.match(line.rstrip("\n"))
        if match and match.group(2) in remaining:
            key = match.group(2)
            value = remaining.pop(key)
            current = match.group(4).strip().strip("\"'")
            if current != value:
                changes[key] = (current, value)
                line = f"{match.group(1)}{key}{match.group(3)}{_env_quote(value)}\n"
        lines.append(line)
    if remaining:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        for key, value in remaining.items():
            lines.append(f"{key}={_env_quote(value)}\n")
            changes[key] = (None, value)
    return EnvSwitch(env_path, old, "".join(lines), changes)


def _env_quote(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z0-9_./:@%+-]*", value) else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def apply_env_switch(switch: EnvSwitch, now: datetime) -> Path:
    """Keep a timestamped copy of the old file beside it, then write the new one atomically with
    the old file's mode and owner. Refuses when the file changed since the diff was shown."""
    with open(switch.path, encoding="utf-8") as handle:
        if handle.read() != switch.old:
            raise RuntimeError(f"{switch.path} changed since the diff was shown; look at it again")
    st = os.stat(switch.path)
    backup = switch.path.with_name(f"{switch.path.name}.bak-{now:%Y%m%d-%H%M%S}")
    shutil.copy2(switch.path, backup)
    write_atomic(switch.path, switch.new, st.st_mode & 0o7777)
    try:
        os.chown(switch.path, st.st_uid, st.st_gid)
    except PermissionError:
        pass
    return backup


def run_reload(argv: list[str], cwd: Path | None, timeout: float = 120.0) -> tuple[int, str]:
    """The app's reload command (e.g. php artisan config:clear), never through a shell."""
    try:
        result = subprocess.run(argv, cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, errors="replace", timeout=timeout, check=False)
    except FileNotFoundError:
        return 127, f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, f"{shown(argv)} did not finish within {timeout:.0f} s"
    return result.returncode, (result.stdout + result.stderr).strip()


# --- the audit transcript ---


class AuditTranscript:
    """Who, when, each step, each command, each result: appended and flushed as it happens, so an
    interrupted session still leaves its record."""

    def __init__(self, reports_dir: Path, now: datetime) -> None:
        reports_dir.mkdir(parents=True, exist_ok=True)
        self.path = reports_dir / f"dr-{now:%Y%m%d-%H%M%S}.md"
        who = getpass.getuser()
        if os.environ.get("SUDO_USER"):
            who += f" (sudo from {os.environ['SUDO_USER']})"
        if os.environ.get("SSH_CONNECTION"):
            who += f", ssh from {os.environ['SSH_CONNECTION'].split()[0]}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.write(f"# DR session {now:%Y-%m-%d %H:%M:%S}\n\noperator: {who}\n")

    def write(self, text: str) -> None:
        if self._fd < 0:
            return
        os.write(self._fd, (text.rstrip("\n") + "\n").encode("utf-8", errors="replace"))
        os.fsync(self._fd)

    def step(self, title: str, when: datetime | None = None) -> None:
        self.write(f"\n## {(when or datetime.now()):%H:%M:%S} {title}\n")

    def command(self, text: str) -> None:
        self.write(f"- run: `{text}`")

    def result(self, text: str) -> None:
        self.write(f"- result: {text}")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
