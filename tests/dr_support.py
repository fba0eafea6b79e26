"""Helpers for the guided-recovery tests (DR wizard, uploads restore, drill): a real CRM backup made
by the real jobs, the CRM's Laravel .env, hand-made dumps with a true .sha256, databases dropped
after the test, and Pilot helpers for the wizard's step screens.

Nothing here imitates MariaDB, restic or rsync: every helper drives the real thing.
"""

from __future__ import annotations

import gzip
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from jobs_support import NIGHT, Recorder, clock_at, sql
from treeutil import TRAILER, make_dump
from ui_support import wait_for  # the wizard tests take it from here too

from opsbackup_tui.core.artefacts.verifylogs import VerifyLog
from opsbackup_tui.core.jobs.base import run_job
from opsbackup_tui.core.jobs.dump import DumpJob
from opsbackup_tui.core.jobs.verify import VerifyJob
from opsbackup_tui.core.mysql import ServerConfig

# The verify job's clock, between 03:10 and 04:00: its database verify_20261126_03MMSS is a name no other
# test module uses, and another run of these tests on the same server (another checkout) likely picks
# another one. (A verify job drops every verify_* database it takes for a crashed run's leftover.)
VERIFY_AT = NIGHT + 3600 + 600 + secrets.randbelow(3000)
WAIT_S = 60.0  # a safety net against hangs, never a performance limit


# --- the CRM's database, counted ---


def counts(server: ServerConfig, database: str) -> tuple[int, dict[str, int]]:
    """(tables and views in information_schema, rows of every base table)."""
    names = sql(server, "SELECT table_name, table_type FROM information_schema.tables "
                        f"WHERE table_schema = {quote_literal(database)}")
    rows = {}
    for name, kind in names:
        if kind == "BASE TABLE":
            rows[name] = sql(server, f"SELECT COUNT(*) FROM `{database}`.`{name}`")[0][0]
    return len(names), rows


def quote_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def routines(server: ServerConfig, database: str) -> set[tuple[str, str]]:
    return set(sql(server, "SELECT routine_type, routine_name FROM information_schema.routines "
                           f"WHERE routine_schema = {quote_literal(database)}"))


def triggers(server: ServerConfig, database: str) -> set[str]:
    return {row[0] for row in sql(server, "SELECT trigger_name FROM information_schema.triggers "
                                          f"WHERE trigger_schema = {quote_literal(database)}")}


def database_exists(server: ServerConfig, database: str) -> bool:
    return bool(sql(server, f"SELECT 1 FROM information_schema.schemata WHERE schema_name = {quote_literal(database)}"))


# --- a real backup: DumpJob then VerifyJob ---


@dataclass
class Backup:
    dump: Path
    verify_log: VerifyLog


async def real_backup(settings, dump_clock: float = NIGHT, verify_clock: float = VERIFY_AT) -> Backup:
    """The nightly dump (DumpJob) and a verify restore of it (VerifyJob), both real, both OK."""
    recorder = Recorder()
    finished = await run_job(DumpJob(settings), recorder, clock=clock_at(dump_clock))
    assert finished.ok, f"{finished.error}\n{finished.stderr_tail}"
    dumps = sorted(settings.db_dir.glob("full-*.sql.gz"))
    assert dumps, "the DB backup wrote no dump"
    for attempt in range(3):
        finished = await run_job(VerifyJob(settings), Recorder(), clock=clock_at(verify_clock + attempt))
        if finished.ok or not swept(finished.error):
            break
    assert finished.ok, f"{finished.error}\n{finished.stderr_tail}"
    log = VerifyLog.read(Path(finished.result.log))
    assert log.ok and log.dump == dumps[-1].name
    return Backup(dumps[-1], log)


def swept(error: str | None) -> bool:
    """The verify database vanished under the job: another process's verify job on the same server
    took it for a crashed run's leftover and dropped it (its sweep is by design; the tests share the
    server with other checkouts and benches). Such a run is tried again, never passed."""
    return bool(error) and ("Unknown database 'verify_" in error or
                            bool(re.search(r"Table 'verify_\d{8}_\d{6}\.\w+' doesn't exist", error)))


# --- hand-made dumps ---


def table_sql(name: str, rows: int) -> str:
    """One table in mariadb-dump's layout (the comments the import's progress reads)."""
    values = ",".join(f"({i},'{name} {i}')" for i in range(1, rows + 1))
    text = (f"--\n-- Table structure for table `{name}`\n--\n\nDROP TABLE IF EXISTS `{name}`;\n"
            f"CREATE TABLE `{name}` (\n  `id` int(11) NOT NULL,\n  `label` varchar(64) DEFAULT NULL,\n"
            f"  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\n"
            f"--\n-- Dumping data for table `{name}`\n--\n\n")
    if rows:
        text += f"INSERT INTO `{name}` VALUES {values};\n"
    return text + "\n"


def crm_sql(users: int = 3, contacts: int = 5, opportunities: int = 4, extra: str = "") -> str:
    return ("-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n\n"
            + table_sql("users", users) + table_sql("contacts", contacts)
            + table_sql("opportunities", opportunities) + extra)


def dump_data(body: str, trailer: bool = True) -> bytes:
    return gzip.compress((body + (TRAILER if trailer else "")).encode("utf-8"), mtime=0)


def hand_dump(base: Path, stamp: str, body: str, *, age_s: float = 3600, now: float | None = None,
              trailer: bool = True) -> Path:
    """db/full-<stamp>.sql.gz holding `body` (gzip'd, with the trailer) and a TRUE .sha256."""
    return make_dump(base, stamp, data=dump_data(body, trailer), age_s=age_s, now=now)


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Corrupt one byte in place (mtime kept, so only the checksum can tell)."""
    st = os.stat(path)
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def write_verify_log(base: Path, stamp: str, dump: str, tables: int, rows: dict[str, int], *,
                     result: str = "OK", digest: str = "0" * 64) -> Path:
    folder = base / "verify"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"verify-{stamp}.log"
    lines = [f"dump: {dump}", f"dump_sha256: {digest}", f"database: verify_{stamp.replace('-', '_')}00",
             f"tables: {tables}"] + [f"rows.{t}: {n}" for t, n in rows.items()] + ["duration_s: 0.4", f"result: {result}"]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the CRM's .env ---


def write_crm_env(path: Path, *, host: str, database: str, port: int = 3306, user: str = "root",
                  password: str = "") -> str:
    """A Laravel .env; its DB_USERNAME/DB_PASSWORD are what the settings fall back on: the test server's."""
    text = ("APP_NAME=CRM\nAPP_ENV=production\n# the database\nDB_CONNECTION=mysql\n"
            f"DB_HOST={host}\nDB_PORT={port}\nDB_DATABASE={database}\nDB_USERNAME={user}\n"
            f"DB_PASSWORD={password}\n\nMAIL_MAILER=smtp\nMAIL_PASSWORD=\"mail p#ss\"\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o640)
    return text


# --- fixtures ---


@pytest.fixture
def drop_later(mysql_server) -> Callable[[str], str]:
    """drop_later(name) -> name: the database is dropped after the test, whatever happened."""
    names: list[str] = []

    def register(name: str) -> str:
        names.append(name)
        return name

    yield register
    for name in names:
        sql(mysql_server, f"DROP DATABASE IF EXISTS `{name}`")


def new_db_name(prefix: str = "opsb_dr") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def option_dirs(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith("opsbackup-my-"))


# --- Pilot helpers for the wizard ---


def text_of(widget) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


def result(screen) -> str:
    """The step's verdict line (always on screen)."""
    return text_of(screen.query_one("#verdict"))


def hint(screen) -> str:
    """What Enter does now, as the step says it."""
    return text_of(screen.query_one("#hint"))


async def on_step(pilot, screen_type: type):
    """Wait until the wizard shows `screen_type` (mounted) and return it."""
    app = pilot.app
    return await wait_for(pilot, lambda: isinstance(app.screen, screen_type) and app.screen.is_mounted
                          and app.screen, f"the step {screen_type.__name__}")


async def result_says(pilot, screen, text: str, timeout: float = WAIT_S) -> str:
    return await wait_for(pilot, lambda: text in (r := result(screen)) and r, f"{text!r} in the result", timeout)


class Keys:
    """Presses keys as an operator does and counts them: a flow that needs a click, or a Tab to a
    button, cannot pass a test that says which keys it took."""

    def __init__(self, pilot) -> None:
        self.pilot = pilot
        self.pressed: list[str] = []

    async def __call__(self, *keys: str) -> None:
        for key in keys:
            self.pressed.append(key)
            await self.pilot.press(key)
        await self.pilot.pause()

    async def enter_when(self, screen, does: str, timeout: float = WAIT_S) -> None:
        """Enter, once the step says Enter does `does` (its work before that has finished)."""
        await wait_for(self.pilot, lambda: does in hint(screen), f"⏎ {does!r}; the hint says {hint(screen)!r}",
                       timeout)
        await self("enter")

    async def retype(self, text: str) -> None:
        """Replace the focused field's text: to its end, delete to its start, type."""
        await self("end", "ctrl+u", *text)

    def used(self) -> set[str]:
        return set(self.pressed)
