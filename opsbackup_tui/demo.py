"""The demo: a realistic backup tree, ops.log, restic repo, uploads and a private MariaDB.

A tool beside the product, not part of core: it writes its tree through the same artefact writers
as the jobs (core.artefacts), so what the demo shows is what the product makes.

Everything lives under one folder (default: the platformdirs data dir). Generation is keyed by
day and idempotent, so a second `opsbackup demo` days later tops the tree up to today instead of
showing a month of stale backups. The private MariaDB listens on a unix socket inside the demo
folder only (--skip-networking) and never touches a system server.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Callable

from .core.artefacts import dumps, markers, verifylogs
from .core.atomic import write_atomic
from .core.opslog import format_line
from .core.settings import APP_NAME, Secret

DATABASE = "crm"
CRITICAL = ("users", "contacts", "opportunities")
HISTORY_DAYS = 30
LOG_HISTORY_DAYS = 90
SNAPSHOT_DAYS = 4
DUMP_TIME = (2, 0)
SNAPSHOT_TIME = (1, 30)
VERIFY_TIME = (4, 0)
_EPOCH = date(2026, 1, 1)

Say = Callable[[str], None]


def default_demo_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME)) / "demo"


@dataclass(frozen=True)
class DemoPaths:
    root: Path

    @property
    def base(self) -> Path: return self.root / "backups"
    @property
    def crm(self) -> Path: return self.root / "crm"
    @property
    def crm_env(self) -> Path: return self.crm / ".env"
    @property
    def ops_log(self) -> Path: return self.crm / "storage" / "logs" / "ops.log"
    @property
    def uploads(self) -> Path: return self.root / "uploads"
    @property
    def restic_repo(self) -> Path: return self.root / "restic-repo"
    @property
    def restic_password(self) -> Path: return self.root / "restic-password"
    @property
    def db_password(self) -> Path: return self.root / "db-password"
    @property
    def datadir(self) -> Path: return self.root / "mysql"
    @property
    def run(self) -> Path: return self.root / "run"
    @property
    def socket(self) -> Path: return self.run / "mysqld.sock"
    @property
    def pidfile(self) -> Path: return self.run / "mysqld.pid"
    @property
    def server_log(self) -> Path: return self.root / "mysqld.err"
    @property
    def state(self) -> Path: return self.root / "state"
    @property
    def config(self) -> Path: return self.root / "opsbackup.toml"
    @property
    def meta(self) -> Path: return self.root / "demo.json"


# --- the CRM data: deterministic rows, so every day's dump is the previous one plus growth ---

_FIRST = ["Jan", "Petra", "Tomáš", "Eva", "Lukáš", "Jana", "Martin", "Lucie", "Jiří", "Kateřina",
          "Anna", "David", "Zuzana", "Pavel", "Markéta", "Ondřej", "Tereza", "Michal", "Olga", "Radek"]
_LAST = ["Novák", "Svobodová", "Dvořák", "Černá", "Procházka", "Kučerová", "Veselý", "Horáková",
         "Němec", "Marková", "Pokorný", "O'Brien", "Müller", "Král", "Beneš", "Fialová"]
_COMPANY = ["Alfa Logistika s.r.o.", "Bohemia Steel a.s.", "Czech Dental", "Delta \"Plus\" s.r.o.",
            "Elektro Vltava", "Fénix Travel", "Grand Hotel Brno", "Hruška & syn", "Ikaros IT",
            "Jadran Foods", "Kovo Písek", "Lesy Šumava", "Moravia Wine", "Nordic Parts",
            "Orion Media", "Praha Print"]
_STAGES = ["lead", "qualified", "proposal", "negotiation", "won", "lost"]
_NOTES = ["Called back, wants a demo next week.", "Sent the price list\n(2026 edition).",
          "Asked about the API; forwarded to IT.", "Budget approved by the board.",
          "Prefers e-mail; do not call before 10:00.", "Contract draft: 'Smlouva o dílo' v2."]


def _sql_str(text: str) -> str:
    return "'" + (text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
                  .replace("\r", "\\r").replace("\0", "\\0")) + "'"


def _day_no(day: date) -> int:
    return max(0, (day - _EPOCH).days)


def row_counts(day: date) -> dict[str, int]:
    """Rows of each table in the dump of `day`: steady growth, and once a month a table half gone
    (someone's bulk delete) so the monthly size-trend audit has something to find."""
    n = _day_no(day)
    counts = {"users": 12 + n // 30, "companies": 40 + n // 5, "contacts": 900 + 6 * n,
              "opportunities": 300 + 3 * n, "notes": 1200 + 9 * n}
    if day.day == 13:
        counts["notes"] = counts["notes"] // 10
        counts["contacts"] = counts["contacts"] // 2
    return counts


def _rows(table: str, first: int, last: int) -> list[str]:
    """Rows first..last (1-based, inclusive) of a table; row i is the same on every day."""
    out = []
    for i in range(first, last + 1):
        rnd = random.Random(f"{table}:{i}")
        created = datetime(2025, 6, 1) + timedelta(minutes=97 * i)
        if table == "users":
            first, last = rnd.choice(_FIRST), rnd.choice(_LAST)
            out.append(f"({i},{_sql_str(f'{first} {last}')},{_sql_str(f'user{i}@crm.example.com')},"
                       f"{_sql_str(rnd.choice(['admin', 'sales', 'sales', 'support']))},'{created:%Y-%m-%d %H:%M:%S}')")
        elif table == "companies":
            out.append(f"({i},{_sql_str(rnd.choice(_COMPANY) + ('' if i <= 16 else f' {i}'))},"
                       f"{_sql_str(rnd.choice(['CZ', 'SK', 'DE', 'AT']))},'{created:%Y-%m-%d %H:%M:%S}')")
        elif table == "contacts":
            first, last = rnd.choice(_FIRST), rnd.choice(_LAST)
            out.append(f"({i},{rnd.randint(1, 40)},{_sql_str(first)},{_sql_str(last)},"
                       f"{_sql_str(f'{first}.{i}@example.cz'.lower())},{_sql_str(f'+420 6{rnd.randint(10000000, 99999999)}')},"
                       f"'{created:%Y-%m-%d %H:%M:%S}')")
        elif table == "opportunities":
            out.append(f"({i},{rnd.randint(1, 900)},{rnd.randint(1, 12)},{_sql_str(f'Deal #{i}')},"
                       f"{_sql_str(rnd.choice(_STAGES))},{rnd.randint(5, 900) * 1000}.00,'{created:%Y-%m-%d %H:%M:%S}')")
        else:
            out.append(f"({i},{rnd.randint(1, 900)},{rnd.randint(1, 12)},{_sql_str(rnd.choice(_NOTES))},"
                       f"'{created:%Y-%m-%d %H:%M:%S}')")
    return out


_SCHEMA = {
    "users": "  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,\n  `name` varchar(120) NOT NULL,\n"
             "  `email` varchar(190) NOT NULL,\n  `role` varchar(20) NOT NULL,\n  `created_at` datetime NOT NULL,\n"
             "  PRIMARY KEY (`id`),\n  UNIQUE KEY `users_email_unique` (`email`)",
    "companies": "  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,\n  `name` varchar(190) NOT NULL,\n"
                 "  `country` char(2) NOT NULL,\n  `created_at` datetime NOT NULL,\n  PRIMARY KEY (`id`)",
    "contacts": "  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,\n  `company_id` int(10) unsigned NOT NULL,\n"
                "  `first_name` varchar(80) NOT NULL,\n  `last_name` varchar(80) NOT NULL,\n"
                "  `email` varchar(190) NOT NULL,\n  `phone` varchar(40) DEFAULT NULL,\n  `created_at` datetime NOT NULL,\n"
                "  PRIMARY KEY (`id`),\n  KEY `contacts_company_id_index` (`company_id`)",
    "opportunities": "  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,\n  `contact_id` int(10) unsigned NOT NULL,\n"
                     "  `owner_id` int(10) unsigned NOT NULL,\n  `title` varchar(190) NOT NULL,\n"
                     "  `stage` varchar(20) NOT NULL,\n  `amount` decimal(12,2) NOT NULL,\n  `created_at` datetime NOT NULL,\n"
                     "  PRIMARY KEY (`id`),\n  KEY `opportunities_stage_index` (`stage`)",
    "notes": "  `id` int(10) unsigned NOT NULL AUTO_INCREMENT,\n  `contact_id` int(10) unsigned NOT NULL,\n"
             "  `author_id` int(10) unsigned NOT NULL,\n  `body` text NOT NULL,\n  `created_at` datetime NOT NULL,\n"
             "  PRIMARY KEY (`id`)",
}


class _RowCache:
    def __init__(self) -> None:
        self._rows: dict[str, list[str]] = {}

    def get(self, table: str, count: int) -> list[str]:
        have = self._rows.setdefault(table, [])
        if len(have) < count:
            have.extend(_rows(table, len(have) + 1, count))
        return have[:count]


def dump_sql(day: date, finished: datetime, cache: _RowCache) -> str:
    """A dump of the demo CRM in mariadb-dump's shape, ending with its `-- Dump completed` trailer."""
    out = io.StringIO()
    out.write("/*M!999999\\- enable the sandbox mode */ \n"
              "-- MariaDB dump 10.19-10.11.19-MariaDB, for debian-linux-gnu (x86_64)\n--\n"
              f"-- Host: localhost    Database: {DATABASE}\n"
              "-- ------------------------------------------------------\n"
              "-- Server version\t10.11.19-MariaDB-0+deb12u1\n\n"
              "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
              "/*!40101 SET NAMES utf8mb4 */;\n"
              "/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;\n/*!40103 SET TIME_ZONE='+00:00' */;\n"
              "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n"
              "/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;\n"
              "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;\n\n")
    for table, count in row_counts(day).items():
        out.write(f"--\n-- Table structure for table `{table}`\n--\n\n"
                  f"DROP TABLE IF EXISTS `{table}`;\n"
                  f"CREATE TABLE `{table}` (\n{_SCHEMA[table]}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
                  "COLLATE=utf8mb4_unicode_ci;\n\n"
                  f"--\n-- Dumping data for table `{table}`\n--\n\n"
                  f"LOCK TABLES `{table}` WRITE;\n/*!40000 ALTER TABLE `{table}` DISABLE KEYS */;\n")
        rows = cache.get(table, count)
        for start in range(0, len(rows), 500):
            out.write(f"INSERT INTO `{table}` VALUES " + ",".join(rows[start:start + 500]) + ";\n")
        out.write(f"/*!40000 ALTER TABLE `{table}` ENABLE KEYS */;\nUNLOCK TABLES;\n\n")
    out.write("/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n\n"
              "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;\n"
              "/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;\n"
              "/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;\n"
              "/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;\n\n"
              f"-- Dump completed on {finished:%Y-%m-%d} {finished.hour:2d}:{finished:%M:%S}\n")
    return out.getvalue()


def _at(day: date, hm: tuple[int, int], seconds: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hm[0], hm[1]) + timedelta(seconds=seconds)


def _set_mtime(path: Path, when: datetime) -> None:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))


def _write_dump(base: Path, day: date, cache: _RowCache) -> tuple[Path, str]:
    started = _at(day, DUMP_TIME)
    finished = started + timedelta(seconds=5 + day.day % 4)
    path = base / "db" / dumps.dump_name(started)
    sql = dump_sql(day, finished, cache).encode("utf-8")
    data = gzip.compress(sql, compresslevel=6, mtime=0)
    digest = hashlib.sha256(data).hexdigest()
    partial = path.with_name(path.name + dumps.PARTIAL_SUFFIX)
    write_atomic(partial, data, 0o600)
    dumps.publish(partial, path, digest, mtime=finished.timestamp())
    return path, digest


def _write_verify(base: Path, day: date, dump: Path, digest: str, fail: bool) -> None:
    started = _at(day, VERIFY_TIME)
    counts = row_counts(day)
    lines = [f"dump: {dump.name}", f"dump_sha256: {digest}",
             f"database: verify_{started:%Y%m%d_%H%M%S}", f"started: {started:%Y-%m-%d %H:%M:%S}"]
    if fail:
        lines += ["tables: 2", "rows.users: " + str(counts["users"]), "rows.contacts: 0", "rows.opportunities: 0",
                  "duration_s: 2.4", "result: FAIL",
                  "error: import failed: gzip reported 'unexpected end of file' (dump truncated on disk); "
                  "the dump of that night was re-taken the next night"]
    else:
        lines += [f"tables: {len(counts)}"] + [f"rows.{t}: {counts[t]}" for t in CRITICAL] + \
                 [f"duration_s: {3.1 + _day_no(day) / 200:.1f}", "result: OK"]
    values = dict(line.split(": ", 1) for line in lines)
    path = verifylogs.LOGS.write(base / "verify", started, values)
    _set_mtime(path, started + timedelta(seconds=4))


def _log_day(day: date, counts: dict[str, int], rnd: random.Random, events: dict[str, str]) -> list[str]:
    lines: list[tuple[datetime, str]] = []

    def add(when: datetime, level: str, message: str, context: dict) -> None:
        lines.append((when, format_line(level, message, context, when)))

    def app(when: datetime, level: str, message: str, context: dict) -> None:
        ctx = json.dumps(context, separators=(",", ":"), ensure_ascii=False)
        lines.append((when, f"[{when:%Y-%m-%d %H:%M:%S}] production.{level}: {message} {ctx} []\n"))

    event = events.get(day.isoformat())
    snap = _at(day, SNAPSHOT_TIME)
    add(snap, "INFO", "job snapshot started", {"job": "snapshot", "event": "start"})
    add(snap + timedelta(seconds=3), "INFO", "job snapshot finished OK in 2.7 s",
        {"job": "snapshot", "event": "end", "result": "OK", "duration_s": 2.7})
    dump = _at(day, DUMP_TIME)
    add(dump, "INFO", "job db_backup started", {"job": "db_backup", "event": "start"})
    if event == "dump_fail":
        add(dump + timedelta(seconds=1), "ERROR",
            "job db_backup finished FAIL in 0.4 s: mariadb-dump exited 2 (Lost connection to server during query)",
            {"job": "db_backup", "event": "end", "result": "FAIL", "duration_s": 0.4})
        add(dump + timedelta(seconds=2), "ALERT", "ALERT db_backup FAILED on crm-backup-01: mariadb-dump exited 2; "
            "next: check the DB server, then run `opsbackup run db_backup`", {"job": "db_backup", "event": "alert"})
    else:
        add(dump + timedelta(seconds=7), "INFO", "job db_backup finished OK in 6.8 s",
            {"job": "db_backup", "event": "end", "result": "OK", "duration_s": 6.8})
    if event == "dump_stale":
        when = _at(day, (9, 5))
        add(when, "ALERT", "ALERT db_dump STALE: newest dump 31 h old (STALE after 26 h); next: check the cron, "
            "run a DB backup", {"check": "db_dump", "event": "alert", "status": "STALE"})
        add(when + timedelta(hours=1), "NOTICE", "db_dump recovered: now OK",
            {"check": "db_dump", "event": "recovery", "status": "OK"})
    if day.weekday() == 6:
        verify = _at(day, VERIFY_TIME)
        add(verify, "INFO", "job verify started", {"job": "verify", "event": "start"})
        if event == "verify_fail":
            add(verify + timedelta(seconds=3), "ERROR", "job verify finished FAIL in 2.4 s: import failed",
                {"job": "verify", "event": "end", "result": "FAIL", "duration_s": 2.4})
            add(verify + timedelta(seconds=4), "ALERT", "ALERT verify FAILED on crm-backup-01: import failed; "
                "next: check the dump's integrity and the logs", {"job": "verify", "event": "alert"})
        else:
            add(verify + timedelta(seconds=4), "INFO",
                f"job verify finished OK in 3.4 s: {len(counts)} tables, {counts['users']} users",
                {"job": "verify", "event": "end", "result": "OK", "duration_s": 3.4})
    for _ in range(rnd.randint(2, 5)):
        when = _at(day, (rnd.randint(7, 18), rnd.randint(0, 59)), rnd.randint(0, 59))
        app(when, "INFO", "Ops dashboard viewed", {"user_id": rnd.randint(1, counts["users"])})
    if rnd.random() < 0.1:
        when = _at(day, (rnd.randint(7, 18), 30))
        app(when, "WARNING", "Metrics endpoint slow response", {"ms": rnd.randint(900, 2500)})
        lines.append((when, "#0 /var/www/crm/app/Http/Controllers/OpsMetricsController.php(41): collect()\n"))
    lines.sort(key=lambda item: item[0])
    return [text for _, text in lines]


# --- restic ---


def _restic_env(paths: DemoPaths) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RESTIC_")}
    env.update(RESTIC_REPOSITORY=str(paths.restic_repo), RESTIC_PASSWORD_FILE=str(paths.restic_password),
               RESTIC_CACHE_DIR=str(paths.root / "restic-cache"))
    return env


def _restic(paths: DemoPaths, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["restic", *args], env=_restic_env(paths), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace", check=False)


_UPLOADS = [
    "contracts/2026/Smlouva Alfa Logistika.pdf",
    "contracts/2026/smlouva-o-dílo-v2.pdf",
    "invoices/faktura 2026-0042.pdf",
    "avatars/user-1.png",
    "avatars/user-2.png",
    "imports/-leading-dash.csv",
    "imports/kontakty_ěščřžýáíé.csv",
    "notes/meeting 2026-05-01.txt",
]


def _touch_uploads(paths: DemoPaths, day: date) -> None:
    for rel in _UPLOADS:
        path = paths.uploads / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(hashlib.sha256(rel.encode()).digest() * 64)
    daily = paths.uploads / "scans" / f"{day:%Y}" / f"scan-{day:%Y%m%d}.pdf"
    daily.parent.mkdir(parents=True, exist_ok=True)
    if not daily.exists():
        daily.write_bytes(hashlib.sha256(day.isoformat().encode()).digest() * 128)


def _snapshot(paths: DemoPaths, base: Path, day: date, say: Say) -> bool:
    when = _at(day, SNAPSHOT_TIME)
    _touch_uploads(paths, day)
    started = time.monotonic()
    result = _restic(paths, "backup", "--tag", "uploads", "--host", "crm-backup-01", "--json",
                     "--time", f"{when:%Y-%m-%d %H:%M:%S}", str(paths.uploads))
    if result.returncode != 0:
        say(f"restic backup failed ({result.returncode}): {result.stderr.strip()[-300:]}")
        return False
    summary = {}
    for line in result.stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("message_type") == "summary":
            summary = event
    markers.MARKERS.write(base / "snapshots", when, {
        "snapshot_id": summary.get("snapshot_id", "?"), "tag": "uploads", "paths": paths.uploads,
        "files_new": summary.get("files_new", 0), "files_changed": summary.get("files_changed", 0),
        "files_unmodified": summary.get("files_unmodified", 0),
        "total_files_processed": summary.get("total_files_processed", 0),
        "data_added": summary.get("data_added", 0), "duration_s": f"{time.monotonic() - started:.1f}",
    }, mtime=(when + timedelta(seconds=3)).timestamp())
    return True


# --- the private MariaDB ---


def server_running(paths: DemoPaths) -> bool:
    try:
        pid = int(paths.pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return paths.socket.exists()


def _wait_for_socket(paths: DemoPaths, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    import pymysql

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mariadbd exited with {proc.returncode}; see {paths.server_log}")
        if paths.socket.exists():
            try:
                pymysql.connect(unix_socket=str(paths.socket), user="root",
                                password=_db_password(paths), connect_timeout=2).close()
                return
            except pymysql.err.OperationalError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"mariadbd did not answer on {paths.socket} within {timeout:.0f} s; see {paths.server_log}")


def _db_password(paths: DemoPaths) -> str:
    try:
        return paths.db_password.read_text().strip()
    except OSError:
        return ""


def start_server(paths: DemoPaths, say: Say) -> None:
    if server_running(paths):
        return
    if len(str(paths.socket)) > 100:
        raise RuntimeError(f"the demo folder path is too long for a unix socket ({paths.socket}); use --dir with a shorter path")
    user = ["--user=root"] if os.geteuid() == 0 else []
    paths.run.mkdir(parents=True, exist_ok=True)
    fresh = not (paths.datadir / "mysql").is_dir()
    if fresh:
        say("initialising the private MariaDB (mariadb-install-db)")
        shutil.rmtree(paths.datadir, ignore_errors=True)
        result = subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={paths.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db", *user],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed ({result.returncode}): {result.stderr.strip()[-400:]}")
    say(f"starting the private MariaDB on {paths.socket}")
    paths.socket.unlink(missing_ok=True)
    with open(paths.server_log, "ab") as log:
        proc = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={paths.datadir}", f"--socket={paths.socket}",
             f"--pid-file={paths.pidfile}", "--skip-networking", "--innodb-buffer-pool-size=32M",
             f"--log-error={paths.server_log}", *user],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    if fresh:
        _wait_for_socket_fresh(paths, proc)
    else:
        _wait_for_socket(paths, proc)


def _wait_for_socket_fresh(paths: DemoPaths, proc: subprocess.Popen) -> None:
    """A fresh server has root without a password: give it one, create the CRM database."""
    import pymysql

    saved = paths.db_password
    password = secrets.token_urlsafe(18)
    if saved.exists():
        saved.unlink()
    _wait_for_socket(paths, proc)
    conn = pymysql.connect(unix_socket=str(paths.socket), user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (password,))
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()
    write_atomic(saved, password + "\n", 0o600)


def stop_server(paths: DemoPaths, say: Say, timeout: float = 30.0) -> bool:
    try:
        pid = int(paths.pidfile.read_text().strip())
    except (OSError, ValueError):
        say("the demo's MariaDB is not running")
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        say("the demo's MariaDB is not running (stale pid file removed)")
        paths.pidfile.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            say(f"stopped the demo's MariaDB (pid {pid})")
            return True
        time.sleep(0.1)
    raise RuntimeError(f"mariadbd (pid {pid}) did not stop within {timeout:.0f} s")


def _crm_tables(paths: DemoPaths) -> int:
    import pymysql

    conn = pymysql.connect(unix_socket=str(paths.socket), user="root", password=_db_password(paths), ssl_disabled=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s", (DATABASE,))
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def _load_dump(paths: DemoPaths, dump: Path, say: Say) -> None:
    """Import the newest dump into the demo CRM with the real client, as an operator would."""
    from .core.mysql import ServerConfig, client_program, defaults_file

    say(f"loading {dump.name} into the demo database `{DATABASE}`")
    server = ServerConfig(socket=paths.socket, user="root", password=Secret(_db_password(paths)))
    with defaults_file(server) as cnf, gzip.open(dump, "rb") as source:
        proc = subprocess.Popen([client_program(), f"--defaults-extra-file={cnf}", "--binary-mode", DATABASE],
                                pass_fds=(cnf.fd,),
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stdin is not None
        try:
            shutil.copyfileobj(source, proc.stdin, 1024 * 1024)
        finally:
            proc.stdin.close()
        err = proc.stderr.read().decode("utf-8", errors="replace") if proc.stderr else ""
        if proc.wait() != 0:
            raise RuntimeError(f"loading the demo dump failed: {err.strip()[-400:]}")


# --- the whole demo ---


@dataclass
class DemoInfo:
    paths: DemoPaths
    database: bool  # a private MariaDB is running and holds the CRM
    restic: bool
    notes: list[str]


def _toml(value: object) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def _write_config(paths: DemoPaths, database: bool, restic: bool) -> None:
    lines = ["# Written by `opsbackup demo`: settings for the demo tree only.",
             f"backup_base = {_toml(paths.base)}",
             f"crm_env = {_toml(paths.crm_env)}",
             f"log_path = {_toml(paths.ops_log)}",
             f"state_dir = {_toml(paths.state)}",
             f"uploads_path = {_toml(paths.uploads)}",
             f"critical_tables = {_toml(','.join(CRITICAL))}",
             "verify_auto = true"]
    if restic:
        lines += [f"restic_repository = {_toml(paths.restic_repo)}",
                  f"restic_password_file = {_toml(paths.restic_password)}"]
    if database:
        lines += [f"db_socket = {_toml(paths.socket)}", 'db_user = "root"',
                  f"db_password_file = {_toml(paths.db_password)}", f"db_name = {_toml(DATABASE)}"]
    else:
        lines.append("# No database: mariadbd is not installed (apt install mariadb-server), so DB jobs cannot run.")
    write_atomic(paths.config, "\n".join(lines) + "\n", 0o600)


def _write_crm_env(paths: DemoPaths) -> None:
    if paths.crm_env.exists():
        return
    write_atomic(paths.crm_env, "\n".join([
        "APP_NAME=CRM", "APP_ENV=production", "APP_DEBUG=false", "",
        "DB_CONNECTION=mysql", "DB_HOST=localhost", "DB_PORT=3306", f"DB_SOCKET={paths.socket}",
        f"DB_DATABASE={DATABASE}", "DB_USERNAME=root", "DB_PASSWORD=see-the-demo-db-password-file", "",
        "LOG_CHANNEL=stack", "",
    ]), 0o640)


def ensure_demo(root: Path, now: datetime | None = None, say: Say = lambda _: None,
                with_server: bool = True) -> DemoInfo:
    """Create or top up the demo under `root`; start its private MariaDB when mariadbd exists."""
    now = now or datetime.now().replace(microsecond=0)
    paths = DemoPaths(Path(root).expanduser().resolve())
    notes: list[str] = []
    for folder in (paths.base / "db", paths.base / "snapshots", paths.base / "verify", paths.base / "reports",
                   paths.ops_log.parent, paths.state, paths.uploads):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(paths.root, 0o700)
    try:
        meta = json.loads(paths.meta.read_text())
    except (OSError, ValueError):
        meta = {}
    created = date.fromisoformat(meta.get("created", now.date().isoformat()))
    events = {
        (created - timedelta(days=40)).isoformat(): "dump_fail",
        (created - timedelta(days=39)).isoformat(): "dump_stale",
    }
    sundays = [created - timedelta(days=d) for d in range(1, 40) if (created - timedelta(days=d)).weekday() == 6]
    if len(sundays) >= 3:
        events[sundays[2].isoformat()] = "verify_fail"

    # Nightly dumps and weekly verify logs for the last HISTORY_DAYS days, each only once.
    cache = _RowCache()
    made = 0
    first = now.date() - timedelta(days=HISTORY_DAYS - 1)
    for offset in range(HISTORY_DAYS):
        day = first + timedelta(days=offset)
        if _at(day, DUMP_TIME) > now:
            continue
        dump = paths.base / "db" / dumps.dump_name(_at(day, DUMP_TIME))
        digest = dumps.read_sha256_file(dump.with_name(dump.name + dumps.SHA_SUFFIX), dump.name)
        if digest is None or not dump.exists():
            dump.unlink(missing_ok=True)  # a dump without its checksum never counts: made again
            dump, digest = _write_dump(paths.base, day, cache)
            made += 1
        verify = verifylogs.LOGS.path_for(paths.base / "verify", _at(day, VERIFY_TIME))
        if day.weekday() == 6 and _at(day, VERIFY_TIME) <= now and not verify.exists():
            _write_verify(paths.base, day, dump, digest, events.get(day.isoformat()) == "verify_fail")
    if made:
        say(f"wrote {made} nightly dump{'s' if made != 1 else ''} with .sha256 and the weekly verify logs")

    # ops.log: months of history on the first run, the missing days on later ones.
    last_logged = date.fromisoformat(meta["logged"]) if "logged" in meta else now.date() - timedelta(days=LOG_HISTORY_DAYS)
    day = last_logged + timedelta(days=1)
    chunks = []
    while day <= now.date():
        rnd = random.Random(day.isoformat())
        chunks.extend(line for line in _log_day(day, row_counts(day), rnd, events)
                      if line.startswith("#") or datetime.strptime(line[1:20], "%Y-%m-%d %H:%M:%S") <= now)
        day += timedelta(days=1)
    if chunks:
        with open(paths.ops_log, "a", encoding="utf-8") as handle:
            handle.writelines(chunks)
    _write_crm_env(paths)

    # restic: a real repository with a snapshot per night of the last week.
    restic = shutil.which("restic") is not None
    if restic:
        if not paths.restic_password.exists():
            write_atomic(paths.restic_password, secrets.token_urlsafe(24) + "\n", 0o600)
        if not (paths.restic_repo / "config").exists():
            say("creating the demo restic repository")
            result = _restic(paths, "init")
            if result.returncode != 0:
                raise RuntimeError(f"restic init failed: {result.stderr.strip()[-300:]}")
        made = 0
        for offset in range(SNAPSHOT_DAYS - 1, -1, -1):
            day = now.date() - timedelta(days=offset)
            marker = markers.MARKERS.path_for(paths.base / "snapshots", _at(day, SNAPSHOT_TIME))
            if _at(day, SNAPSHOT_TIME) <= now and not marker.exists():
                made += _snapshot(paths, paths.base, day, say)
        if made:
            say(f"took {made} restic snapshot{'s' if made != 1 else ''} of the demo uploads")
    else:
        notes.append("restic is not installed: no snapshots (apt install restic, then run `opsbackup demo` again)")

    database = False
    if with_server and shutil.which("mariadbd") and shutil.which("mariadb-install-db"):
        start_server(paths, say)
        if _crm_tables(paths) == 0:
            from .core.artefacts.tree import BackupTree

            found = BackupTree(paths.base).newest_valid_dump()
            newest = found.path if found else None
            if newest is not None:
                _load_dump(paths, newest, say)
        database = True
    elif with_server:
        notes.append("mariadbd is not installed: the demo has no database, DB jobs will say so "
                     "(apt install mariadb-server, then run `opsbackup demo` again)")

    meta.update(created=created.isoformat(), logged=now.date().isoformat())
    write_atomic(paths.meta, json.dumps(meta, indent=1) + "\n", 0o600)
    _write_config(paths, database, restic)
    return DemoInfo(paths, database, restic, notes)
