"""Helpers for the job tests: settings for the real server, event collection, a CRM-like scratch
schema, programs on PATH, /proc watching, a restic repository, held table locks.

Nothing here imitates MySQL, restic or HTTP: every helper drives the real thing. Waits are
bounded by a generous safety net (SAFETY_S) so that a broken job fails its test instead of
hanging the suite; no test asserts on how long anything took.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import pymysql
import pytest

from opsbackup_tui.core.events import Event, Finished, Output, Phase, Started
from opsbackup_tui.core.jobs.base import Job, run_job
from opsbackup_tui.core.mysql import ServerConfig

SAFETY_S = 120.0  # a safety net against hangs, never a performance limit
REPO_ROOT = Path(__file__).resolve().parent.parent

# Fixed clocks: the job's file names and verify database names follow from them.
NIGHT = datetime(2026, 11, 26, 2, 0, 0).timestamp()


def clock_at(when: float) -> Callable[[], float]:
    return lambda: when


# --- settings ---


def db_flags(server: ServerConfig, folder: Path, *, user: str | None = None, password: str | None = None,
             port: int | None = None, **extra: object) -> dict[str, str]:
    """make_settings(**flags) values that point the jobs at `server` (as `user`/`password` if given)."""
    flags: dict[str, str] = {"db_host": server.host, "db_port": str(port or server.port),
                             "db_user": user or server.user or "root"}
    secret = password if user else (server.password.reveal() if server.password else None)
    if secret is not None:
        folder.mkdir(parents=True, exist_ok=True)
        pw_file = folder / f"db-password-{secrets.token_hex(3)}"
        pw_file.write_text(secret + "\n")
        pw_file.chmod(0o600)
        flags["db_password_file"] = str(pw_file)
    flags.update({key: str(value) for key, value in extra.items()})
    return flags


def admin(server: ServerConfig, database: str | None = None):
    return pymysql.connect(host=server.host, port=server.port, user=server.user,
                           password=server.password.reveal() if server.password else "",
                           database=database, autocommit=True, charset="utf8mb4")


def sql(server: ServerConfig, *statements: str, database: str | None = None) -> list[tuple]:
    """Run statements as the admin; the rows of the last one."""
    conn = admin(server, database)
    try:
        with conn.cursor() as cur:
            rows: list[tuple] = []
            for statement in statements:
                cur.execute(statement)
                rows = list(cur.fetchall())
            return rows
    finally:
        conn.close()


def databases(server: ServerConfig) -> set[str]:
    return {row[0] for row in sql(server, "SHOW DATABASES")}


def free_port() -> int:
    """A TCP port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- a CRM-like schema ---

CRM_ROWS = {"users": 3, "contacts": 5, "opportunities": 4}


def seed_crm(server: ServerConfig, database: str, *, big_rows: int = 0) -> None:
    """users/contacts/opportunities with rows, a view, a trigger, a procedure, a function, an event.
    `big_rows` adds a table `notes` with that many ~1 KiB rows (for a dump that takes a while)."""
    statements = [
        "CREATE TABLE users (id INT PRIMARY KEY AUTO_INCREMENT, email VARCHAR(190) NOT NULL, "
        "name VARCHAR(100), created_at DATETIME DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB",
        "CREATE TABLE contacts (id INT PRIMARY KEY AUTO_INCREMENT, user_id INT, name VARCHAR(100), "
        "note TEXT, photo BLOB, FOREIGN KEY (user_id) REFERENCES users(id)) ENGINE=InnoDB",
        "CREATE TABLE opportunities (id INT PRIMARY KEY AUTO_INCREMENT, contact_id INT, "
        "amount DECIMAL(10,2), stage VARCHAR(20)) ENGINE=InnoDB",
        "CREATE TABLE audit (id INT PRIMARY KEY AUTO_INCREMENT, what VARCHAR(200)) ENGINE=InnoDB",
        "INSERT INTO users (email, name) VALUES ('a@example.com', 'Alžběta'), ('b@example.com', 'Bob'), "
        "('c@example.com', 'Čeněk')",
        "INSERT INTO contacts (user_id, name, note, photo) VALUES (1, 'one', 'line1\\nline2', 0x00FF10), "
        "(1, 'two', 'it''s', NULL), (2, 'three', '-- Dump completed on 2020', NULL), "
        "(3, 'four', 'USE other_db;', NULL), (3, 'five', '\\\\! touch /tmp/never', NULL)",
        "INSERT INTO opportunities (contact_id, amount, stage) VALUES (1, 10.5, 'new'), (2, 20, 'won'), "
        "(3, 30, 'lost'), (4, 40, 'new')",
        "CREATE VIEW big_deals AS SELECT id, amount FROM opportunities WHERE amount > 15",
        "CREATE TRIGGER contacts_audit AFTER INSERT ON contacts FOR EACH ROW "
        "INSERT INTO audit (what) VALUES (CONCAT('contact ', NEW.id))",
        "CREATE PROCEDURE count_users(OUT n INT) BEGIN SELECT COUNT(*) INTO n FROM users; END",
        "CREATE FUNCTION deal_total() RETURNS DECIMAL(12,2) READS SQL DATA "
        "RETURN (SELECT COALESCE(SUM(amount), 0) FROM opportunities)",
        "CREATE EVENT nightly_cleanup ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE id < 0",
    ]
    sql(server, *statements, database=database)
    if big_rows:
        sql(server, "CREATE TABLE notes (id INT PRIMARY KEY AUTO_INCREMENT, body TEXT) ENGINE=InnoDB",
            database=database)
        conn = admin(server, database)
        try:
            with conn.cursor() as cur:
                batch = 500
                for start in range(0, big_rows, batch):
                    count = min(batch, big_rows - start)
                    cur.executemany("INSERT INTO notes (body) VALUES (%s)",
                                    [(secrets.token_hex(512),) for _ in range(count)])
        finally:
            conn.close()


@contextmanager
def held_table(server: ServerConfig, database: str, table: str) -> Iterator[None]:
    """LOCK TABLES … WRITE from another connection: a dump stops (alive) when it reaches `table`."""
    conn = admin(server, database)
    try:
        with conn.cursor() as cur:
            cur.execute(f"LOCK TABLES `{table}` WRITE")
        yield
    finally:
        try:
            with conn.cursor() as cur:
                cur.execute("UNLOCK TABLES")
        finally:
            conn.close()


# --- events ---


@dataclass
class Recorder:
    """An Emit that keeps every event."""

    events: list[Event] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def finished(self) -> Finished:
        done = self.of(Finished)
        assert len(done) == 1, f"expected one Finished event, got {done}"
        return done[0]

    @property
    def phases(self) -> list[str]:
        return [e.name for e in self.of(Phase)]

    @property
    def output(self) -> str:
        return "\n".join(e.line for e in self.of(Output))


async def run(job: Job, clock: Callable[[], float] | None = None) -> tuple[Finished, Recorder]:
    recorder = Recorder()
    finished = await run_job(job, recorder, **({"clock": clock} if clock else {}))
    assert recorder.finished == finished
    assert isinstance(recorder.events[0], (Started, Finished))
    return finished, recorder



# --- programs on PATH ---


def put_on_path(monkeypatch, folder: Path, name: str, script: str) -> Path:
    """An executable `name` in `folder`, with `folder` first on PATH for this test."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(script)
    path.chmod(0o755)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != str(folder):
        monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return path


def real_program(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed"
    return found


# --- /proc ---


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    # pid (comm) state ppid …: comm may hold spaces and parentheses
    return int(data[data.rindex(b")") + 2:].split()[1])


def descendants(root: int | None = None) -> list[int]:
    """Every live process below `root` (default: this test process)."""
    root = os.getpid() if root is None else root
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = _ppid(int(entry))
            if ppid is not None:
                parents[int(entry)] = ppid
    found: list[int] = []
    frontier = {root}
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in found]
        found.extend(children)
        frontier = set(children)
    return found


def read_proc(pid: int) -> tuple[list[str], dict[str, str]] | None:
    """(argv, environment) of a live process, None once it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = handle.read()
    except OSError:
        return None
    argv = [part.decode("utf-8", "replace") for part in cmdline.split(b"\0") if part]
    env = {}
    for item in environ.split(b"\0"):
        if item:
            key, _, value = item.decode("utf-8", "replace").partition("=")
            env[key] = value
    return argv, env


@dataclass(frozen=True)
class Seen:
    pid: int
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]

    @property
    def program(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else ""

    @property
    def environ(self) -> dict[str, str]:
        return dict(self.env)

    def text(self) -> str:
        return "\0".join(self.argv) + "\0" + "\0".join(f"{k}={v}" for k, v in self.env)


class ProcWatcher:
    """A thread that polls /proc for descendants of this process and records every (argv, env)
    it sees, for as long as the `with` block runs."""

    def __init__(self) -> None:
        self.seen: set[Seen] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True, name="proc-watcher")

    def _poll(self) -> None:
        while not self._stop.is_set():
            for pid in descendants():
                info = read_proc(pid)
                if info and info[0]:
                    self.seen.add(Seen(pid, tuple(info[0]), tuple(sorted(info[1].items()))))
            time.sleep(0.002)

    def __enter__(self) -> "ProcWatcher":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def programs(self) -> set[str]:
        return {s.program for s in self.seen}

    def of(self, program: str) -> list[Seen]:
        return [s for s in self.seen if s.program == program]


def wait_until(predicate: Callable[[], object], what: str, timeout: float = SAFETY_S, step: float = 0.01):
    """Poll `predicate` until it returns something truthy; fails the test past the safety net."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(step)


def option_file_is_a_pipe(pid: int) -> bool:
    """The process reads its [client] options from an inherited pipe, not from a file on disk."""
    argv = read_proc(pid)[0]
    path = next(a for a in argv if a.startswith("--defaults-extra-file=")).split("=", 1)[1]
    if not path.startswith("/dev/fd/"):
        return False
    return os.readlink(f"/proc/{pid}/fd/{path.rsplit('/', 1)[1]}").startswith("pipe:")


def find_child(program: str, root: int | None = None, with_arg: str | None = None) -> int | None:
    """The pid of a live descendant running `program` (by argv[0]'s basename), with `with_arg`
    among its arguments if given (a job runs `mariadb --version` before the real client)."""
    for pid in descendants(root):
        info = read_proc(pid)
        if info and info[0] and os.path.basename(info[0][0]) == program \
                and (with_arg is None or with_arg in info[0]):
            return pid
    return None


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2:][:1] != b"Z"


# --- restic ---


@dataclass
class ResticRepo:
    path: Path
    password_file: Path
    password: str

    def flags(self, uploads: Path) -> dict[str, str]:
        return {"restic_repository": str(self.path), "restic_password_file": str(self.password_file),
                "uploads_path": str(uploads)}

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env.update(RESTIC_REPOSITORY=str(self.path), RESTIC_PASSWORD_FILE=str(self.password_file))
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([real_program("restic"), *args], env=self.env(), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, check=False)

    def snapshots(self) -> list[dict]:
        import json

        out = self.run("snapshots", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def locks(self) -> list[str]:
        """Every file in the repository's locks/ (restic writes them as a temp file, then renames)."""
        folder = self.path / "locks"
        return sorted(os.listdir(folder)) if folder.is_dir() else []

    def held_locks(self) -> list[str]:
        """Lock files restic has finished writing: a lock that is really held."""
        return [name for name in self.locks() if len(name) == 64 and "-tmp-" not in name]


def init_restic_repo(folder: Path, template: ResticRepo | None = None) -> ResticRepo:
    """A fresh repository in `folder/repo` (`restic init`), or a copy of `template` (init derives
    its key slowly: one init per session is enough)."""
    folder.mkdir(parents=True, exist_ok=True)
    password = template.password if template else "restic-" + secrets.token_hex(8)
    pw_file = folder / "restic-password"
    pw_file.write_text(password + "\n")
    pw_file.chmod(0o600)
    repo = ResticRepo(folder / "repo", pw_file, password)
    if template is not None:
        shutil.copytree(template.path, repo.path, symlinks=True)
        return repo
    out = repo.run("init")
    assert out.returncode == 0, out.stderr
    return repo


@pytest.fixture(scope="session")
def restic_template(tmp_path_factory) -> ResticRepo:
    return init_restic_repo(tmp_path_factory.mktemp("restic-template"))


@pytest.fixture
def restic_repo(restic_template, tmp_path) -> ResticRepo:
    """An empty restic repository of its own for this test (a copy of the session's template)."""
    return init_restic_repo(tmp_path / "restic", restic_template)


def make_uploads(folder: Path, files: int = 5, big_bytes: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "2026" / "11").mkdir(parents=True, exist_ok=True)
    for index in range(files):
        (folder / "2026" / "11" / f"doc-{index}.pdf").write_bytes(f"%PDF-1.4 document {index}\n".encode() * 50)
    if big_bytes:
        with open(folder / "big.bin", "wb") as handle:
            left = big_bytes
            while left:
                chunk = min(left, 1 << 20)
                handle.write(os.urandom(chunk))
                left -= chunk
    return folder


# --- the command line ---


def cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """`opsbackup ARGS` as a real process (stdin /dev/null, output captured)."""
    return subprocess.Popen([sys.executable, "-m", "opsbackup_tui", *args], cwd=REPO_ROOT,
                            env=os.environ.copy() if env is None else env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def cli_flags(flags: dict[str, str]) -> list[str]:
    args: list[str] = []
    for key, value in flags.items():
        args += ["--set", f"{key}={value}"]
    return args


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def leftovers(folder: Path) -> list[str]:
    """Names in a backup folder that are temporary (partial, tmp)."""
    if not folder.is_dir():
        return []
    return sorted(n for n in os.listdir(folder) if n.endswith((".partial", ".tmp")) or ".partial" in n)


# --- fixtures (import them into a test module by name) ---


@pytest.fixture
def crm_db(mysql_server, scratch_db) -> str:
    """A scratch database holding the CRM-like schema of seed_crm."""
    seed_crm(mysql_server, scratch_db)
    return scratch_db


@dataclass
class DbUser:
    name: str
    password: str


@pytest.fixture
def make_db_user(mysql_server):
    """make_db_user(*grants) -> DbUser: a user with a password on the real server, dropped after.
    Each grant is the part after GRANT, e.g. "ALL ON `verify\\_%`.*"; the user is appended."""
    made: list[str] = []
    hosts = ("localhost", "127.0.0.1", "%")

    def build(*grants: str) -> DbUser:
        user = DbUser(f"opsb_u_{secrets.token_hex(4)}", "pw-" + secrets.token_urlsafe(12))
        made.append(user.name)
        statements = []
        for host in hosts:
            statements.append(f"CREATE USER '{user.name}'@'{host}' IDENTIFIED BY '{user.password}'")
            statements += [f"GRANT {grant} TO '{user.name}'@'{host}'" for grant in grants]
        sql(mysql_server, *statements)
        return user

    yield build
    for name in made:
        sql(mysql_server, *[f"DROP USER IF EXISTS '{name}'@'{host}'" for host in hosts])
