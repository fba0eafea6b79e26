"""`opsbackup demo` as a real process: the tree, the private MariaDB, reuse, --stop, and no mariadbd.

One demo is built per module (it takes seconds) and its server is always stopped at the end.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path

import pymysql
import pytest

from opsbackup_tui import demo
from opsbackup_tui.core.artefacts.kvfile import read_kv as read_kv_file
from opsbackup_tui.core.artefacts.tree import BackupTree
from opsbackup_tui.core.artefacts.verifylogs import VerifyLog
from opsbackup_tui.core.opslog import parse_line
from opsbackup_tui.core.settings import load_settings

needs_mariadbd = pytest.mark.skipif(
    not (shutil.which("mariadbd") and shutil.which("mariadb-install-db")),
    reason="mariadbd is not installed (scripts/test.sh installs mariadb-server)")


def demo_env(home: Path, path: str | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPS_", "RESTIC_", "CRM_"))}
    env.update(XDG_CONFIG_HOME=str(home / "config"), XDG_STATE_HOME=str(home / "state"),
               XDG_DATA_HOME=str(home / "data"))
    if path is not None:
        env["PATH"] = path
    return env


def opsbackup(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opsbackup_tui", *args], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)


def expected_dump_count(now: datetime) -> int:
    """Nightly dumps (02:00) of the last 30 days that are due at `now`."""
    first = now.date() - timedelta(days=demo.HISTORY_DAYS - 1)
    return sum(datetime.combine(first + timedelta(days=i), datetime.min.time()).replace(hour=2) <= now
               for i in range(demo.HISTORY_DAYS))


def stop_demo(root: Path, env: dict[str, str]) -> None:
    """--stop, and make sure: a demo server must never outlive the tests."""
    pidfile = root / "run" / "mysqld.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        pid = None
    opsbackup("demo", "--stop", "--dir", str(root), env=env)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def built_demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo-home")
    root = tmp_path_factory.mktemp("demo") / "d"
    env = demo_env(home)
    before = datetime.now()
    try:
        proc = opsbackup("demo", "--no-ui", "--dir", str(root), env=env)
        after = datetime.now()
        assert proc.returncode == 0, proc.stderr
        yield {"root": root, "env": env, "proc": proc, "window": (before, after), "paths": demo.DemoPaths(root)}
    finally:
        stop_demo(root, env)


def test_demo_tree(built_demo):
    paths: demo.DemoPaths = built_demo["paths"]
    proc = built_demo["proc"]
    assert proc.stdout.strip() == str(paths.config)

    # 30 nightly dumps (fewer before 02:00), each with a .sha256 that verifies and the dump trailer
    dumps = sorted((paths.base / "db").glob("full-*.sql.gz"))
    before, after = built_demo["window"]
    assert len(dumps) in {expected_dump_count(before), expected_dump_count(after)}
    assert len(dumps) >= demo.HISTORY_DAYS - 1
    for dump in dumps:
        data = dump.read_bytes()
        sha = dump.with_name(dump.name + ".sha256").read_text()
        assert sha == f"{hashlib.sha256(data).hexdigest()}  {dump.name}\n"
        sql = gzip.decompress(data).decode("utf-8")
        last = sql.rstrip("\n").rsplit("\n", 1)[-1]
        assert last.startswith("-- Dump completed on ")
        assert sql.count("CREATE TABLE") == len(demo.row_counts(date.today()))
    tree = BackupTree(paths.base)
    assert tree.newest_valid_dump().path == dumps[-1]
    assert tree.ignored_dumps() == []

    # weekly verify logs, exactly one FAIL; the OK ones expect the rows of their day
    logs = [VerifyLog.read(entry.path) for entry in tree.verify_logs()]
    assert len(logs) >= 4
    assert [log.result for log in logs].count("FAIL") == 1
    assert all(log.result in ("OK", "FAIL") for log in logs)
    failed = next(log for log in logs if log.result == "FAIL")
    assert failed.error
    for log in logs:
        assert (paths.base / "db" / log.dump).is_file()
        assert log.dump_sha256 == hashlib.sha256((paths.base / "db" / log.dump).read_bytes()).hexdigest()
        if log.ok:
            day = datetime.strptime(log.dump, "full-%Y%m%d-%H%M.sql.gz").date()
            counts = demo.row_counts(day)
            assert log.tables == len(counts)
            assert log.rows == {table: counts[table] for table in demo.CRITICAL}

    # ops.log: months of lines in Laravel's shape, ours and the app's, with alerts among them
    lines = paths.ops_log.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 300
    parsed = [parse_line(line) for line in lines]
    assert all(line.level is not None or line.raw.startswith("#") for line in parsed)
    assert {line.channel for line in parsed if line.channel} >= {"opsbackup", "production"}
    assert sum(line.is_alert for line in parsed) >= 3
    assert any(line.level == "ALERT" for line in parsed)
    times = [line.time for line in parsed if line.time]
    assert times == sorted(times)
    assert times[0] < datetime.now() - timedelta(days=60)

    # the settings file points at all of it
    settings = load_settings({}, environ={}, config_path=paths.config)
    assert settings.backup_base == paths.base
    assert settings.log_path == paths.ops_log
    assert settings.crm_env == paths.crm_env
    assert settings.critical_tables == demo.CRITICAL
    if shutil.which("restic"):
        # a real restic repository: every marker names a snapshot that restic lists
        assert settings.restic_repository == str(paths.restic_repo)
        markers = [read_kv_file(entry.path)["snapshot_id"] for entry in tree.markers()]
        assert len(markers) in (demo.SNAPSHOT_DAYS - 1, demo.SNAPSHOT_DAYS)
        listed = subprocess.run(["restic", "snapshots", "--json", "--tag", "uploads"], capture_output=True, text=True,
                                env=built_demo["env"] | {"RESTIC_REPOSITORY": str(paths.restic_repo),
                                                         "RESTIC_PASSWORD_FILE": str(paths.restic_password),
                                                         "RESTIC_CACHE_DIR": str(paths.root / "restic-cache")},
                                check=True)
        assert set(markers) <= {snap["short_id"] for snap in json.loads(listed.stdout)}


def test_demo_status_is_healthy(built_demo):
    proc = opsbackup("--config", str(built_demo["paths"].config), "status", "--json", env=built_demo["env"])
    data = json.loads(proc.stdout)
    checks = {check["id"]: check["status"] for check in data["checks"]}
    assert checks["db_dump"] == "OK"
    assert checks["verify_restore"] == "OK"
    assert checks["metrics"] == "SKIPPED"
    assert checks["ops_log"] == "WARN"  # the history holds alerts nobody acknowledged yet
    if shutil.which("restic"):
        assert checks["uploads_snapshot"] == "OK"
    assert proc.returncode == data["exit_code"] == 1


@needs_mariadbd
def test_demo_database(built_demo):
    paths: demo.DemoPaths = built_demo["paths"]
    settings = load_settings({}, environ={}, config_path=paths.config)
    assert settings.db_socket == paths.socket
    assert settings.db_name == "crm" and settings.db_user == "root"
    newest = BackupTree(paths.base).newest_valid_dump()
    expected = demo.row_counts(newest.stamp.date())
    conn = pymysql.connect(unix_socket=str(settings.db_socket), user=settings.db_user,
                           password=settings.db_password.reveal(), database=settings.db_name)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'crm'")
            assert {row[0] for row in cur.fetchall()} == set(expected)
            for table, rows in expected.items():
                cur.execute(f"SELECT COUNT(*) FROM `{table}`")
                assert cur.fetchone()[0] == rows, table
            cur.execute("SELECT name FROM users WHERE id = 1")
            assert cur.fetchone()[0]
            cur.execute("SELECT @@skip_networking")
            assert cur.fetchone()[0] == 1  # never listens on TCP
    finally:
        conn.close()


@needs_mariadbd
def test_demo_second_run_reuses_then_stop_stops(built_demo):
    paths: demo.DemoPaths = built_demo["paths"]
    env = built_demo["env"]
    pid = int(paths.pidfile.read_text().strip())
    assert pid_alive(pid)
    files = {p.name: (p.stat().st_ino, p.stat().st_mtime) for p in (paths.base / "db").iterdir()}
    log_size = paths.ops_log.stat().st_size

    started = datetime.now()
    proc = opsbackup("demo", "--no-ui", "--dir", str(paths.root), env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(paths.config)
    now_files = {p.name: (p.stat().st_ino, p.stat().st_mtime) for p in (paths.base / "db").iterdir()}
    if expected_dump_count(started) == expected_dump_count(datetime.now()) and started.date() == datetime.now().date():
        assert now_files == files  # no new dump, nothing rewritten
        assert paths.ops_log.stat().st_size == log_size
    assert "initialising" not in proc.stderr and "loading" not in proc.stderr
    assert int(paths.pidfile.read_text().strip()) == pid and pid_alive(pid)  # the same server
    conn = pymysql.connect(unix_socket=str(paths.socket), user="root",
                           password=paths.db_password.read_text().strip(), database="crm")
    conn.close()

    proc = opsbackup("demo", "--stop", "--dir", str(paths.root), env=env)
    assert proc.returncode == 0
    assert f"stopped the demo's MariaDB (pid {pid})" in proc.stderr
    assert not pid_alive(pid)
    assert not demo.server_running(paths)
    proc = opsbackup("demo", "--stop", "--dir", str(paths.root), env=env)
    assert proc.returncode == 0 and "not running" in proc.stderr


def test_demo_without_mariadbd(tmp_path):
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and not p.rstrip("/").endswith("/sbin"))
    if shutil.which("mariadbd", path=path):
        pytest.skip(f"mariadbd is on the PATH outside any sbin folder: {shutil.which('mariadbd', path=path)}")
    root = tmp_path / "d"
    env = demo_env(tmp_path / "home", path=path)
    try:
        proc = opsbackup("demo", "--no-ui", "--dir", str(root), env=env)
        assert proc.returncode == 0, proc.stderr
        assert "mariadbd is not installed" in proc.stderr
        paths = demo.DemoPaths(root)
        assert not paths.pidfile.exists() and not paths.datadir.exists()
        config = tomllib.loads(paths.config.read_text())
        assert "db_socket" not in config and "db_password_file" not in config
        assert config["backup_base"] == str(paths.base)
        settings = load_settings({}, environ={}, config_path=paths.config)
        # Only the demo CRM's .env names a socket, and nothing listens there: DB actions can say so.
        assert settings.sources["db_socket"] == "crm .env"
        assert not settings.db_socket.exists()
        assert BackupTree(paths.base).newest_valid_dump() is not None
        proc = opsbackup("--config", str(paths.config), "status", "--json", env=env)
        assert {c["id"]: c["status"] for c in json.loads(proc.stdout)["checks"]}["db_dump"] == "OK"
    finally:
        stop_demo(root, env)
