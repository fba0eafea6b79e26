"""The real Prometheus for the tests: promtool, and one server started once per test session that
scrapes local HTTP servers serving backup hosts' textfiles.

The hosts (each its own HTTP server, so its own `instance`):
- crm-alpha: a healthy tree, its textfile from a real `opsbackup status --prom`, with job records;
- crm-bravo: the same tree kind 23 hours older: a stale dump and a stale snapshot marker;
- crm-charlie: healthy, but its textfile was last written 3 hours ago (`faketime -f -3h`) and never
  again: "the textfile stopped updating";
- crm-delta: healthy, plus the binlog, offsite and disk checks being built elsewhere, as constructed
  CheckResults rendered by the real render_prom (the only way to see those columns filled today).
The files are rewritten (as the timer would) when older than REWRITE_AFTER_S, so a long suite never
makes the fresh hosts look stopped; `current()` waits until Prometheus has scraped what was written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from jobs_support import free_port, pid_alive
from ui_support import DAY, HOUR, build_tree

from opsbackup_tui.core.artefacts import jobrecords
from opsbackup_tui.core.checks import CheckResult, Status, run_checks
from opsbackup_tui.core.events import Finished
from opsbackup_tui.core.jobs.drill import DrillResult
from opsbackup_tui.core.prom import render_prom
from opsbackup_tui.core.settings import Settings, load_settings

WAIT_S = 60.0  # a safety net against hangs, never a performance limit
REWRITE_AFTER_S = 300.0
STOPPED_S = 3 * HOUR
DRILL_RTO_S = 42.5
RPO_S = 70.0
SITES = ("crm-alpha", "crm-bravo", "crm-charlie", "crm-delta")


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing: run ./scripts/test.sh (it installs Debian's prometheus)")
    return subprocess.run(["promtool", *args], input=stdin, capture_output=True, text=True, check=False)


def host_env(root: Path, site: str) -> dict[str, str]:
    """The environment of `opsbackup` on the host whose tree is at root; never the operator's settings
    (the session fixtures start before the per-test isolation)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPS_", "RESTIC_", "CRM_"))}
    env.update(OPS_BACKUP_BASE=str(root / "backups"), OPS_STATE_DIR=str(root / "state"),
               OPS_LOG_PATH=str(root / "ops.log"), OPS_SITE=site, XDG_CONFIG_HOME=str(root / "config"))
    return env


def host_settings(root: Path, site: str) -> Settings:
    empty = root / "config.toml"  # explicit: the default path would be the operator's
    empty.touch()
    return load_settings({}, environ=host_env(root, site), config_path=empty)


def status_prom(root: Path, site: str, faketime: str | None = None) -> str:
    """A real `opsbackup status --prom` over the tree at root (optionally at a shifted clock)."""
    env = host_env(root, site)
    argv = [sys.executable, "-m", "opsbackup_tui", "status", "--prom"]
    if faketime is not None:
        if shutil.which("faketime") is None:
            pytest.fail("faketime is missing: run ./scripts/test.sh (it installs Debian's faketime)")
        argv = ["faketime", "-f", faketime, *argv]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode in (0, 1, 2), done.stderr
    return done.stdout


def write_records(base: Path, now: float, drill: bool = True) -> None:
    """Job records as run_job leaves them (written by their real writer)."""
    runs = [("db_backup", 7 * HOUR, 12.3, "full-x.sql.gz"), ("snapshot", 6 * HOUR, 4.0, "snapshot 1a2b3c4d"),
            ("verify", 2 * DAY, 30.0, "verify OK")]
    for kind, ago, took, summary in runs:
        jobrecords.save(base, Finished(kind, True, summary, duration_s=took), now - ago - took, now - ago)
    if drill:
        jobrecords.save(base, Finished("drill", True, "recovered", duration_s=DRILL_RTO_S,
                                      result=DrillResult("full-x.sql.gz", None, "crm-host", "2026-11-25 02:00:00", "OK",
                                                         rto_s=DRILL_RTO_S)),
                       now - DAY - DRILL_RTO_S, now - DAY)


def future_checks(now: float) -> list[CheckResult]:
    """The checks other issues are building, as their CheckResults will look."""
    return [CheckResult("binlog", Status.OK, RPO_S, "/b/binlog", "binlog.000042, 70 s old", 900.0,
                        {"rpo_seconds": RPO_S}),
            CheckResult("offsite", Status.STALE, 30 * HOUR, "rest:http://offsite/repo", "30 h old", 26 * HOUR),
            CheckResult("disk", Status.WARN, None, "/b", "9 days left", None, {"days_left": 9.5})]


class Textfile(ThreadingHTTPServer):
    """One host's node_exporter: serves the textfile's current content at /metrics."""

    def __init__(self) -> None:
        self.body = b""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = server.body
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@dataclass
class FleetPrometheus:
    url: str
    root: Path
    pid: int  # not our child (see start_fleet_prometheus)
    hosts: dict[str, Textfile] = field(default_factory=dict)
    built_at: float = 0.0
    written_at: float = 0.0
    stopped_at: float = 0.0  # what crm-charlie's textfile says

    def query(self, expr: str) -> list[dict]:
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(address, timeout=10) as answer:
            return json.load(answer)["data"]["result"]

    def write(self, everything: bool = False) -> None:
        """Rewrite the textfiles of the hosts that still update (all of them the first time, or when
        `everything`: crm-charlie's again as written STOPPED_S ago)."""
        now = time.time()
        everything = everything or not self.written_at
        for site in SITES:
            root = self.root / site
            if site == "crm-charlie":
                if everything:
                    self.hosts[site].body = status_prom(root, site, faketime=f"-{STOPPED_S:.0f}s").encode()
                    self.stopped_at = now - STOPPED_S
                continue
            if site == "crm-delta":
                settings = host_settings(root, site)
                text = render_prom(run_checks(settings, now=now) + future_checks(now), settings, now,
                                   jobrecords.read_all(settings.backup_base))
            else:
                text = status_prom(root, site)
            self.hosts[site].body = text.encode()
        self.written_at = now

    def as_built(self) -> "FleetPrometheus":
        """Every tree's mtimes moved forward to now and every textfile rewritten: the ages are the
        ones the trees were built with, to the second (for the snapshots), then scraped."""
        now = time.time()
        shift = now - self.built_at
        for site in SITES:
            for dirpath, _, names in os.walk(self.root / site):
                for name in names:
                    path = os.path.join(dirpath, name)
                    stat = os.stat(path, follow_symlinks=False)
                    os.utime(path, (stat.st_atime + shift, stat.st_mtime + shift), follow_symlinks=False)
        self.built_at = now
        self.write(everything=True)
        return self.current()

    def current(self) -> "FleetPrometheus":
        """Fresh textfiles, scraped: every updating host's newest timestamp is in Prometheus."""
        if time.time() - self.written_at > REWRITE_AFTER_S:
            self.write()
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                seen = {s["metric"].get("site"): float(s["value"][1])
                        for s in self.query("opsbackup_status_timestamp_seconds")}
            except OSError:
                seen = {}
            wanted = {s: self.stopped_at if s == "crm-charlie" else self.written_at for s in SITES}
            if set(seen) == set(SITES) and all(seen[s] >= wanted[s] - 1 for s in SITES):
                return self
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus did not scrape the hosts (it has {seen}); see {self.root}/prometheus.log")
            time.sleep(0.1)


def start_fleet_prometheus() -> FleetPrometheus:
    if shutil.which("prometheus") is None:
        pytest.fail("prometheus is missing: run ./scripts/test.sh (it installs Debian's prometheus)")
    root = Path(tempfile.mkdtemp(prefix="opsb-prom-"))
    now = time.time()
    hosts = {}
    for site in SITES:
        ages = {"crm-bravo": 23 * HOUR, "crm-charlie": STOPPED_S}.get(site, 0.0)
        build_tree(root / site, "healthy", now - ages)
        write_records(root / site / "backups", now - ages, drill=site != "crm-bravo")
        hosts[site] = Textfile()
    targets = "\n".join(f"      - targets: ['{hosts[s].target}']" for s in SITES)
    (root / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: node\n    static_configs:\n{targets}\n")
    port = free_port()
    # Started in the background of a shell that exits at once: the server is no child of pytest,
    # so the job tests that check this process leaves no descendants behind are not misled.
    launched = subprocess.run(
        ["sh", "-c", '"$@" >"$LOG" 2>&1 </dev/null & echo $!', "sh", "prometheus",
         f"--config.file={root / 'prometheus.yml'}", f"--storage.tsdb.path={root / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        env={**os.environ, "LOG": str(root / "prometheus.log")}, capture_output=True, text=True, check=True,
        start_new_session=True)
    fleet = FleetPrometheus(f"http://127.0.0.1:{port}", root, int(launched.stdout), hosts, built_at=now)
    fleet.write()
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            with urllib.request.urlopen(f"{fleet.url}/-/ready", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            pass
        if not pid_alive(fleet.pid) or time.monotonic() > deadline:
            stop_fleet_prometheus(fleet)
            raise AssertionError(f"Prometheus did not start: {(root / 'prometheus.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return fleet.current()


def stop_fleet_prometheus(fleet: FleetPrometheus) -> None:
    for sig, patience in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
        try:
            os.kill(fleet.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + patience
        while pid_alive(fleet.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not pid_alive(fleet.pid):
            break
    for host in fleet.hosts.values():
        host.shutdown()
        host.server_close()
    shutil.rmtree(fleet.root, ignore_errors=True)


@pytest.fixture(scope="session")
def fleet_prometheus():
    fleet = start_fleet_prometheus()
    try:
        yield fleet
    finally:
        stop_fleet_prometheus(fleet)


@pytest.fixture
def fleet(fleet_prometheus) -> FleetPrometheus:
    """The session's Prometheus with every updating host's textfile fresh and scraped."""
    return fleet_prometheus.current()
