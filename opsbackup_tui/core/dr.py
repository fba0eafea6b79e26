"""Disaster recovery of the database (runbook §3): the DR session — its state, its decisions and its
audit transcript — and the steps it runs. The wizard's screens display a session and call it;
every method here is blocking (call it from a thread) unless it says otherwise, and writes what it
did to the transcript.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import laravel_env
from .artefacts.dumps import Dump, hash_file
from .artefacts.reports import Transcript
from .artefacts.tree import BackupTree
from .artefacts.verifylogs import VerifyLog
from .atomic import write_atomic
from .events import Finished
from .mysql import DatabaseError, ServerConfig, connect, count_tables, execute, quote_ident
from .proc import child_env, shown
from .recovery import Comparison, compare
from .settings import Settings

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
    for log in tree.parsed_verify_logs():
        if log.dump and log.dump not in logs:
            logs[log.dump] = log
    cache = ShaCache(settings.state_dir)
    return [DumpRow(dump, logs.get(dump.name), dump.note(), cache.get(dump) or "unchecked")
            for dump in tree.valid_dumps()]


def check_dump(settings: Settings, row: DumpRow, on_read=None) -> str:
    """Verify the sha256 of one dump (cached by path+size+mtime); returns the new status."""
    expected = row.dump.expected_sha256()
    if expected is None:
        status = "missing .sha256"
    else:
        try:
            status = "OK" if hash_file(row.dump.path, on_read) == expected else "MISMATCH"
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

    @property
    def summary(self) -> str:
        if not self.reachable:
            return f"unreachable: {self.error}"
        state = f"exists with {self.tables} tables" if self.exists else "does not exist"
        privileges = {True: "grants cover the import", False: "grants do not show the privileges an import needs",
                      None: "grants unknown"}[self.privileges_ok]
        production = "; it is the PRODUCTION database (OPS_DB_NAME)" if self.production else ""
        return f"`{self.database}` {state}, {self.sessions} other session(s); {privileges}{production}"


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


def create_sql(database: str) -> str:
    return f"CREATE DATABASE {quote_ident(database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"


def drop_sql(database: str) -> str:
    return f"DROP DATABASE {quote_ident(database)}"


# --- step 5: point the application at the new database ---


@dataclass
class EnvSwitch:
    path: Path
    old: str
    new: str
    changes: dict[str, tuple[str | None, str]]

    @property
    def diff(self) -> str:
        """The change as a unified diff, the values of secret keys masked."""
        return laravel_env.masked_diff(self.old, self.new, self.path)


def plan_env_switch(env_path: Path, values: dict[str, str]) -> EnvSwitch:
    """The CRM .env with these keys set: other lines, comments, quotes and line ends untouched."""
    old = laravel_env.read_text(env_path)
    new, changes = laravel_env.with_values(old, values)
    return EnvSwitch(env_path, old, new, changes)


def apply_env_switch(switch: EnvSwitch, now: datetime) -> Path:
    """Keep a timestamped copy of the old file beside it, then write the new one atomically with
    the old file's mode and owner. Refuses when the file changed since the diff was shown."""
    if laravel_env.read_text(switch.path) != switch.old:
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


# --- the session ---


@dataclass
class Verification:
    comparison: list[Comparison]
    source: str  # what the counts were compared with, in words

    @property
    def differences(self) -> list[Comparison]:
        return [c for c in self.comparison if not c.ok]


class DRSession:
    """One DR session: what was picked and decided, and the audit transcript of it all."""

    def __init__(self, settings: Settings, now: datetime) -> None:
        self.settings = settings
        self.transcript = Transcript(settings.reports_dir, now)
        self.row: DumpRow | None = None
        self.server: ServerConfig | None = None
        self.database: str | None = None
        self.report: TargetReport | None = None
        self.created_database = False
        self.import_attempted = False
        self.imported = False
        self.verification: Verification | None = None
        self.switch: EnvSwitch | None = None
        self.env_backup: str | None = None

    # step 1
    def check_dump(self, row: DumpRow, on_read=None, *, record: bool = True) -> str:
        import time

        started = time.monotonic()
        status = check_dump(self.settings, row, on_read)
        if record:
            self.transcript.command(f"sha256 {row.dump.path} ({time.monotonic() - started:.1f} s)")
            self.transcript.result(f"{row.dump.name}: sha256 {status}")
        return status

    def pick(self, row: DumpRow) -> None:
        if row.sha != "OK":
            raise ValueError(f"{row.dump.name}: sha256 {row.sha}: it cannot be picked")
        self.row = row
        self.transcript.step("step 1: dump picked")
        self.transcript.result(
            f"{row.dump.name} ({row.dump.size} bytes), sha256 OK against {row.dump.name}.sha256; verify log: "
            + (f"{row.verify.path.name} result {row.verify.result}" if row.verify else "none"))

    # step 2
    def check_target(self, server: ServerConfig, database: str) -> TargetReport:
        report = check_target(server, database, self.settings.db_name)
        self.transcript.step("step 2: target checked")
        self.transcript.command(f"connect {server.describe()}; information_schema; SHOW GRANTS")
        self.transcript.result(report.summary)
        self.report = report
        return report

    def create_target(self, server: ServerConfig, database: str) -> TargetReport:
        sql = execute(server, create_sql(database))
        self.transcript.command(sql)
        self.transcript.result("created")
        self.created_database = True
        return self.check_target(server, database)

    def use_target(self, server: ServerConfig, database: str, typed: str = "") -> None:
        """Go on with this target; a non-empty or production one only with its name typed exactly."""
        report = self.report
        if report is None or report.database != database or report.server != server.describe():
            raise ValueError("check the target first")
        if report.refused:
            raise ValueError(report.refused)
        if not report.exists:
            raise ValueError(f"`{database}` does not exist: create it first")
        if report.needs_typed_name and typed != database:
            raise ValueError(f"type `{database}` exactly to restore into it")
        self.server, self.database = server, database
        if report.needs_typed_name:
            self.transcript.result(f"operator typed `{database}` to restore into it")

    # step 3
    def import_job(self, strip_definer: bool):
        from .jobs.restore import RestoreJob

        return RestoreJob(self.settings, self.server, self.row.dump, self.database, strip_definer)

    def import_started(self, plan: list[str]) -> None:
        self.import_attempted = True
        self.transcript.step("step 3: import")
        for line in plan:
            self.transcript.command(line)

    def import_finished(self, event: Finished) -> None:
        if event.ok:
            self.imported = True
            self.transcript.result(event.summary)
        elif event.cancelled:
            self.transcript.result("cancelled by the operator")
        else:
            self.transcript.result(f"FAILED: {event.error}")

    @property
    def holds_partial_import(self) -> bool:
        return self.import_attempted and not self.imported and self.database is not None

    def drop_target(self) -> None:
        """DROP the database the operator named and confirmed (a half-imported target)."""
        sql = execute(self.server, drop_sql(self.database))
        self.transcript.command(sql)
        self.transcript.result("dropped")
        self.created_database = False
        self.import_attempted = False

    def keep_partial(self) -> None:
        self.transcript.result(f"operator kept the partial `{self.database}`")

    # step 4
    def verify_target(self) -> Verification:
        tables, rows = count_tables(self.server, self.database, self.settings.critical_tables)
        dump = self.row.dump
        log = BackupTree(self.settings.backup_base).verify_log_for(dump)
        if log is None:
            source = (f"No verify log exists for {dump.name}: the counts cannot be compared, only checked "
                      "(tables exist, critical tables present).")
        elif not log.ok:
            source = f"The only verify log of this dump ({log.path.name}) says {log.result}: counts not compared."
        else:
            source = f"Compared with {log.path.name} (result OK)."
        self.verification = Verification(compare(log, tables, rows), source)
        self.transcript.step("step 4: verify")
        self.transcript.result(source)
        for c in self.verification.comparison:
            self.transcript.result(c.text)
        return self.verification

    def accept_differences(self) -> None:
        self.transcript.result("operator went on despite the differences")

    # step 5
    def env_values(self) -> dict[str, str]:
        """Which .env keys change: the host (or socket), the port when it differs, the database."""
        current = laravel_env.read(self.settings.crm_env)
        values = {}
        if self.server.socket is not None:
            values["DB_SOCKET"] = str(self.server.socket)
        else:
            values["DB_HOST"] = self.server.host
            if current.get("DB_PORT", "3306") != str(self.server.port):
                values["DB_PORT"] = str(self.server.port)
        if current.get("DB_DATABASE") != self.database:
            values["DB_DATABASE"] = self.database
        return values

    def plan_switch(self) -> EnvSwitch | None:
        """The .env change, None when OPS_CRM_ENV is not set (the operator is told what to change)."""
        if self.settings.crm_env is None:
            self.transcript.step("step 5: switch the application")
            self.transcript.result("no OPS_CRM_ENV: the operator was told what to change")
            return None
        self.switch = plan_env_switch(self.settings.crm_env, self.env_values())
        return self.switch

    def manual_switch_text(self) -> str:
        target = f"socket {self.server.socket}" if self.server.socket else f"{self.server.host}:{self.server.port}"
        return (f"OPS_CRM_ENV is not set, so the wizard does not know the CRM's .env. Set DB_HOST to {target} and "
                f"DB_DATABASE to {self.database} in it yourself, then clear the config cache (php artisan config:clear).")

    def apply_switch(self, now: datetime) -> Path:
        backup = apply_env_switch(self.switch, now)
        self.env_backup = str(backup)
        self.transcript.step("step 5: switch the application")
        self.transcript.command(f"cp -p {self.switch.path} {backup}")
        self.transcript.result("changed: " + ", ".join(
            f"{k}={laravel_env.MASK if laravel_env.is_secret_key(k) else new}"
            for k, (_, new) in self.switch.changes.items()))
        return backup

    def reload(self) -> tuple[int, str]:
        """The reload command; its output redacted and printable (the CRM prints what it likes)."""
        from .fmt import printable
        from .proc import Redactor

        command = list(self.settings.reload_command)
        code, output = run_reload(command, self.settings.crm_env.parent)
        output = printable(Redactor.from_settings(self.settings)(output))
        self.transcript.command(shown(command))
        self.transcript.result(f"exit {code}: {output[-500:]}")
        return code, output

    # step 6
    def post_audit_job(self):
        from .jobs.verify import VerifyJob

        return VerifyJob(self.settings)

    def post_audit_finished(self, event: Finished) -> None:
        self.transcript.step("step 6: post-audit verify restore")
        self.transcript.result(event.summary if event.ok else f"FAILED: {event.error}")

    def close(self, state: str) -> None:
        self.transcript.step(f"session {state}")
        self.transcript.close()
