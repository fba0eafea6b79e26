"""MySQL/MariaDB access: connection settings, private option files, client detection, pymysql.

Passwords reach client programs only through an option file that is an inherited pipe
(`--defaults-extra-file=/dev/fd/N`): never argv or MYSQL_PWD, and never a file on disk that a
killed session (a dropped SSH connection) could leave behind. pymysql is blocking: threads only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .proc import child_env
from .settings import Secret, Settings


class DatabaseError(Exception):
    """A database problem explained for an operator (what failed, what to do); `code`: the server's
    error number, when it gave one."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 3306
    socket: Path | None = None
    user: str | None = None
    password: Secret | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "ServerConfig":
        return cls(settings.db_host, settings.db_port, settings.db_socket, settings.db_user, settings.db_password)

    def describe(self) -> str:
        where = f"socket {self.socket}" if self.socket else f"{self.host}:{self.port}"
        return f"{self.user or '(no user)'}@{where}"

    def preflight(self) -> None:
        """Say exactly what is missing before any client runs."""
        if not self.user:
            raise DatabaseError("no database user configured: set OPS_DB_USER (or DB_USERNAME in the CRM .env)")
        if self.socket is not None and not self.socket.exists():
            raise DatabaseError(
                f"the MySQL socket {self.socket} does not exist: is the server running? "
                "(OPS_DB_SOCKET; for the demo run `opsbackup demo` again, which needs mariadbd: apt install mariadb-server)"
            )


def _option_value(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


@dataclass(frozen=True)
class OptionFile:
    """The read end of a pipe holding a [client] option file: pass `fd` to the one child that
    reads `path` (pass_fds); a pipe is read once."""

    path: str
    fd: int

    def __str__(self) -> str:
        return self.path


@contextmanager
def defaults_file(server: ServerConfig) -> Iterator[OptionFile]:
    """A [client] option file for one child, in a pipe: nothing on disk, closed on exit."""
    lines = ["[client]"]
    if server.user:
        lines.append(f"user={_option_value(server.user)}")
    if server.password is not None:
        lines.append(f"password={_option_value(server.password.reveal())}")
    if server.socket is not None:
        lines.append(f"socket={_option_value(str(server.socket))}")
        lines.append("protocol=socket")
    else:
        lines.append(f"host={_option_value(server.host)}")
        lines.append(f"port={server.port}")
        lines.append("protocol=tcp")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    read_fd, write_fd = os.pipe()
    try:
        try:
            os.write(write_fd, data)  # a few hundred bytes: far below the pipe's buffer
        finally:
            os.close(write_fd)
        yield OptionFile(f"/dev/fd/{read_fd}", read_fd)
    finally:
        os.close(read_fd)


def find_program(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def client_program() -> str:
    found = find_program("mariadb", "mysql")
    if not found:
        raise DatabaseError("no MySQL client found: install mariadb-client (apt install mariadb-client)")
    return found


def dump_program() -> str:
    found = find_program("mariadb-dump", "mysqldump")
    if not found:
        raise DatabaseError("no mysqldump found: install mariadb-client (apt install mariadb-client)")
    return found


_answers: dict[tuple[str, str], str] = {}


def _ask(program: str, flag: str) -> str:
    """What `program flag` prints, asked once per process. Like every child: no password in its
    environment (MYSQL_PWD, OPS_DB_PASSWORD…)."""
    if (program, flag) not in _answers:
        result = subprocess.run([program, flag], capture_output=True, text=True, check=False,
                                stdin=subprocess.DEVNULL, errors="replace", env=child_env())
        _answers[program, flag] = result.stdout + result.stderr
    return _answers[program, flag]


def program_flavour(program: str) -> str:
    """'mariadb' or 'mysql', from `--version` (Debian's mysqldump is MariaDB's)."""
    return "mariadb" if "mariadb" in _ask(program, "--version").lower() else "mysql"


def client_capabilities(program: str) -> tuple[str, bool]:
    """(flavour, has --sandbox) of a mysql client."""
    return program_flavour(program), "--sandbox" in _ask(program, "--help")


def connect(server: ServerConfig, database: str | None = None, timeout: float = 10.0):
    """A pymysql connection (blocking: threads only). Errors become DatabaseError with a next step."""
    import pymysql

    server.preflight()
    kwargs = dict(
        user=server.user,
        password=server.password.reveal() if server.password else "",
        database=database,
        connect_timeout=timeout,
        read_timeout=None,
        charset="utf8mb4",
        autocommit=True,
    )
    if server.socket is not None:
        # A local socket needs no TLS; pymysql would otherwise build a TLS context for its
        # "preferred" mode, loading the system CA store (20 ms) for nothing.
        kwargs["unix_socket"], kwargs["ssl_disabled"] = str(server.socket), True
    else:
        kwargs["host"], kwargs["port"] = server.host, server.port
    try:
        return pymysql.connect(**kwargs)
    except pymysql.err.OperationalError as exc:
        raise DatabaseError(explain_error(exc, server), _code(exc)) from None


def _code(exc: Exception) -> int | None:
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def explain_error(exc: Exception, server: ServerConfig) -> str:
    code = _code(exc)
    if code in (1045, 1698):
        return (f"access denied for {server.describe()}: check OPS_DB_USER and the password "
                "(OPS_DB_PASSWORD_FILE)")
    if code in (2002, 2003, 2006, 2013):
        return f"cannot reach the MySQL server at {server.describe()}: is it running? (error {code})"
    if code == 1049:
        return f"unknown database ({exc.args[1] if len(exc.args) > 1 else ''}): check OPS_DB_NAME"
    if code == 1146:
        return (f"a table disappeared during the run ({exc.args[1] if len(exc.args) > 1 else ''}): was the "
                "database dropped by someone else?")
    message = exc.args[1] if len(exc.args) > 1 else str(exc)
    return f"MySQL error {code}: {message}" if code else f"MySQL error: {message}"


@contextmanager
def explained(server: ServerConfig) -> Iterator[None]:
    """Server errors inside the block become DatabaseError with an operator's message."""
    import pymysql

    try:
        yield
    except pymysql.err.MySQLError as exc:
        raise DatabaseError(explain_error(exc, server), _code(exc)) from None


def execute(server: ServerConfig, sql: str) -> str:
    """Run one statement on a fresh connection (blocking: threads only); returns the SQL run."""
    with explained(server):
        conn = connect(server)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
        finally:
            conn.close()
    return sql


def quote_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def count_tables(server: ServerConfig, database: str, critical: tuple[str, ...]) -> tuple[int, dict[str, int | None]]:
    """(tables in information_schema, rows per critical table; None where the table is missing)."""
    with explained(server):
        conn = connect(server)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (database,))
                names = {row[0] for row in cur.fetchall()}
                rows: dict[str, int | None] = {}
                for table in critical:
                    if table in names:
                        cur.execute(f"SELECT COUNT(*) FROM {quote_ident(database)}.{quote_ident(table)}")
                        rows[table] = int(cur.fetchone()[0])
                    else:
                        rows[table] = None
        finally:
            conn.close()
    return len(names), rows
