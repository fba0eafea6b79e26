"""Shared fixtures: an isolated environment, the real MariaDB, throwaway databases, HTTP servers."""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pymysql
import pytest

from opsbackup_tui.core.mysql import ServerConfig
from opsbackup_tui.core.settings import Secret, Settings, load_settings


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No test sees the operator's settings, state or secrets."""
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith(("OPS_", "RESTIC_", "CRM_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    return home


def _test_server() -> ServerConfig:
    password = None
    pw_file = os.environ.get("OPSBACKUP_TEST_DB_PASSWORD_FILE")
    if pw_file:
        password = Secret(Path(pw_file).read_text().strip())
    return ServerConfig(
        host=os.environ.get("OPSBACKUP_TEST_DB_HOST", "127.0.0.1"),
        port=int(os.environ.get("OPSBACKUP_TEST_DB_PORT", "3306")),
        user=os.environ.get("OPSBACKUP_TEST_DB_USER", "root"),
        password=password,
    )


@pytest.fixture(scope="session")
def mysql_server() -> ServerConfig:
    """The real MariaDB the test command started (127.0.0.1:3306)."""
    server = _test_server()
    try:
        pymysql.connect(host=server.host, port=server.port, user=server.user,
                        password=server.password.reveal() if server.password else "", connect_timeout=5).close()
    except pymysql.err.OperationalError as exc:
        pytest.fail(f"the test MariaDB at {server.describe()} does not answer ({exc}); run ./scripts/test.sh")
    return server


def admin_connection(server: ServerConfig, database: str | None = None):
    return pymysql.connect(host=server.host, port=server.port, user=server.user,
                           password=server.password.reveal() if server.password else "",
                           database=database, autocommit=True, charset="utf8mb4")


@pytest.fixture
def scratch_db(mysql_server):
    """A throwaway database on the real server, dropped after the test."""
    name = f"opsb_test_{secrets.token_hex(4)}"
    conn = admin_connection(mysql_server)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture
def make_settings(tmp_path) -> Callable[..., Settings]:
    """Settings for a temp backup tree: make_settings(name=value, ...) with values as text."""

    def build(environ: dict[str, str] | None = None, **flags: object) -> Settings:
        values = {"backup_base": str(tmp_path / "backups"), "state_dir": str(tmp_path / "state"),
                  "log_path": str(tmp_path / "ops.log")}
        values.update({key: str(value) for key, value in flags.items()})
        return load_settings(values, environ=environ or {}, config_path=None)

    return build


class HTTPStub:
    """A real HTTP server on 127.0.0.1 whose answers a test scripts: (status, body, delay, headers)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, bytes, float, dict[str, str]]] = []
        self.default = (200, b"", 0.0, {})
        self.requests: list[tuple[str, str, bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append((self.command, self.path, body))
                status, payload, delay, headers = stub.answers.pop(0) if stub.answers else stub.default
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_stub():
    stub = HTTPStub()
    yield stub
    stub.close()


@pytest.fixture
def own_tmp(tmp_path, monkeypatch) -> Path:
    """tempfile's folder for this test alone: a job must leave nothing in it (no option file, no
    temp file)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def short_tmp():
    """A temp folder with a short path (pytest's, under xdist, runs long): for paths shown whole."""
    import shutil

    path = Path(tempfile.mkdtemp(prefix="ob-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def public_tmp():
    """A temp folder another user (nobody) can reach: pytest's own tmp_path sits under a 0700 folder."""
    import shutil
    import stat
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="opsb-public-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for root, dirs, _ in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(root, name), stat.S_IRWXU, follow_symlinks=False)
        shutil.rmtree(path, ignore_errors=True)


from prom_support import fleet, fleet_prometheus  # noqa: E402,F401 - the session's Prometheus, for every module
