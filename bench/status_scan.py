"""Bench: `opsbackup status --json` (whole process) against the runbook's §10 debug commands.

Builds a backup tree of 50k files in a temp dir (20k dumps + their .sha256, 5k snapshot markers,
5k verify logs) plus noise, serves a Prometheus body from a local HTTP server in its own process,
then times, alternating, the whole `opsbackup status --json` process and the runbook's three
debug commands run as one `bash -c` on the same tree. Prints both medians and their ratio
(target <= 1.0). Exit 0 whatever the ratio; exit 1 when opsbackup does not report the newest
dump, marker and verify log the tree holds (a broken scan must not look fast).

    .venv/bin/python bench/status_scan.py [--runs 7] [--noise 2000] [--keep]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

STAMP = "%Y%m%d-%H%M"

# The runbook's §10, with $B for its (broken) `$(echo $OPS_BACKUP_BASE:/srv/backups/crm)`.
RUNBOOK = r"""
ls -1t $B/db/full-*.sql.gz 2>/dev/null | head -1
find $B/snapshots -type f -name 'snapshot-*.txt' -printf '%T@ %f\n' 2>/dev/null | sort -nr | head -1
find $B/verify -type f -name 'verify-*.log' -printf '%T@ %f\n' 2>/dev/null | sort -nr | head -1 | cut -d' ' -f2-
"""

# A metrics endpoint in its own interpreter, so it never competes for our GIL. Prints its port.
SERVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = open(sys.argv[1], "rb").read()

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@dataclass
class Tree:
    base: Path
    newest_dump: str
    newest_marker: str
    newest_verify: str
    files: int
    noise: int


def _write(path: Path, data: bytes, mtime: float) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
    os.utime(path, (mtime, mtime))


def _sql(when: datetime) -> bytes:
    return (
        f"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n-- Host: 127.0.0.1    Database: crm\n"
        f"CREATE TABLE `users` (`id` int NOT NULL, PRIMARY KEY (`id`));\n"
        f"INSERT INTO `users` VALUES (1),(2),(3);\n"
        f"-- Dump completed on {when:%Y-%m-%d %H:%M:%S}\n"
    ).encode()


def build_tree(root: Path, *, dumps: int, markers: int, verify_logs: int, noise: int, seed: int = 7) -> Tree:
    """The tree, stepping back from now in local wall-clock time so names are unique and mtimes match them."""
    rng = random.Random(seed)
    base = root / "crm"
    db, snaps, verify = base / "db", base / "snapshots", base / "verify"
    for folder in (db, snaps, verify, base / "reports"):
        folder.mkdir(parents=True)
    now = datetime.now().replace(second=0, microsecond=0)
    files = 0

    # Hourly dumps; the newest 40 minutes ago, each file finished 90 s after its stamp.
    first = now - timedelta(minutes=40)
    for i in range(dumps):
        when = first - timedelta(hours=i)
        name = f"full-{when.strftime(STAMP)}.sql.gz"
        data = gzip.compress(_sql(when), mtime=0)
        mtime = when.timestamp() + 90
        _write(db / name, data, mtime)
        _write(db / f"{name}.sha256", f"{hashlib.sha256(data).hexdigest()}  {name}\n".encode(), mtime + 1)
        files += 2
    newest_dump = f"full-{first.strftime(STAMP)}.sql.gz"

    # Snapshot markers every 4 h, the newest 2 h ago.
    first_marker = now - timedelta(hours=2)
    for i in range(markers):
        when = first_marker - timedelta(hours=4 * i)
        body = (f"snapshot_id: {rng.getrandbits(32):08x}\ntag: uploads\nfiles_new: {rng.randrange(50)}\n"
                f"data_added: {rng.randrange(10**7)}\n").encode()
        _write(snaps / f"snapshot-{when.strftime(STAMP)}.txt", body, when.timestamp() + 30)
        files += 1
    newest_marker = f"snapshot-{first_marker.strftime(STAMP)}.txt"

    # Verify logs every 4 h, the newest a day ago; a FAIL now and then in the history.
    first_verify = now - timedelta(days=1)
    for i in range(verify_logs):
        when = first_verify - timedelta(hours=4 * i)
        failed = i > 0 and i % 97 == 0
        dump_name = f"full-{(when - timedelta(hours=2)).strftime(STAMP)}.sql.gz"
        lines = [f"dump: {dump_name}", f"dump_sha256: {rng.getrandbits(256):064x}",
                 f"database: verify_{when:%Y%m%d_%H%M%S}", "tables: 42", "rows.users: 118",
                 "rows.contacts: 25410", "rows.opportunities: 3977", f"duration_s: {rng.uniform(20, 90):.1f}",
                 f"result: {'FAIL' if failed else 'OK'}"]
        if failed:
            lines.append("error: ERROR 1062 (23000) at line 8812: Duplicate entry")
        _write(verify / f"verify-{when.strftime(STAMP)}.log", ("\n".join(lines) + "\n").encode(),
               when.timestamp() + 120)
        files += 1
    newest_verify = f"verify-{first_verify.strftime(STAMP)}.log"

    # Noise: names that must never count, several newer (by name and by mtime) than the real ones.
    latest = now.timestamp()
    special = [
        (db, f"full-{(now - timedelta(minutes=10)).strftime(STAMP)}.sql.gz", latest - 300),  # no .sha256
        (db, "full-20991332-2561.sql.gz", latest - 4000),  # impossible date, sorts last
        (db, "full-20991332-2561.sql.gz.sha256", latest - 4000),
        (db, f"full-{now.strftime(STAMP)}.sql.gz.partial", latest - 30),
        (db, f"full-{now.strftime(STAMP)}.sql.gz.tmp", latest - 30),
        (snaps, "snapshot-20991399-9999.txt", latest - 9000),
        (snaps, f"snapshot-{now.strftime(STAMP)}.txt.tmp", latest - 20),
        (verify, "verify-20990230-0000.log", latest - 90000),
        (verify, f"verify-{now.strftime(STAMP)}.log.partial", latest - 20),
    ]
    kinds = [
        (db, lambda w: f"full-{w.strftime(STAMP)}.sql.gz.partial"),
        (db, lambda w: f"full-{w.strftime(STAMP)}.sql.gz.tmp"),
        (db, lambda w: f"full-{w.strftime('%Y%m%d')}-{rng.randrange(2400, 9999)}.sql.gz"),  # bad time
        (db, lambda w: f"full-{w.strftime(STAMP)}.sql"),  # legacy, uncompressed
        (db, lambda w: f"crm-{w.strftime('%Y-%m-%d')}.sql.gz"),
        (db, lambda w: f"full-{w.strftime(STAMP)}-old.sha256"),
        (snaps, lambda w: f"snapshot-{w.strftime(STAMP)}.txt.tmp"),
        (snaps, lambda w: f"snapshot-{w.strftime('%Y%m%d')}.txt"),
        (snaps, lambda w: f"restic-{w.strftime(STAMP)}.json"),
        (verify, lambda w: f"verify-{w.strftime(STAMP)}.log.partial"),
        (verify, lambda w: f"verify-{w.strftime('%Y%m%d')}-99.log"),
        (verify, lambda w: f"import-{w.strftime(STAMP)}.err"),
    ]
    made = 0
    for folder, name, mtime in special:
        _write(folder / name, b"noise\n", mtime)
        made += 1
    while made < noise:
        folder, namer = kinds[made % len(kinds)]
        when = first - timedelta(minutes=rng.randrange(60 * 24 * 365))
        path = folder / namer(when)
        if path.exists():
            when -= timedelta(minutes=1)
            path = folder / namer(when)
            if path.exists():
                continue
        _write(path, b"noise\n", when.timestamp() + rng.randrange(600))
        made += 1
    return Tree(base, newest_dump, newest_marker, newest_verify, files + made, made)


def write_ops_log(path: Path, days: int = 90) -> None:
    """A few months of Laravel-shaped ops.log lines, a few FAIL alerts among them."""
    start = datetime.now() - timedelta(days=days)
    lines = []
    for day in range(days):
        d = start + timedelta(days=day)
        for job, hour in (("db_backup", 2), ("snapshot", 3), ("evaluate", 6), ("evaluate", 12), ("evaluate", 18)):
            t = d.replace(hour=hour, minute=0, second=11)
            lines.append(f'[{t:%Y-%m-%d %H:%M:%S}] production.INFO: ops:activity {job} started {{"job":"{job}"}} []')
            level, word = ("ERROR", "FAIL") if day % 29 == 5 and job == "db_backup" else ("INFO", "OK")
            lines.append(f'[{t + timedelta(minutes=4):%Y-%m-%d %H:%M:%S}] production.{level}: '
                         f'ops:activity {job} {word} {{"job":"{job}","duration_s":241}} []')
    path.write_text("\n".join(lines) + "\n")


def prom_body() -> bytes:
    out = []
    out += ["# HELP crm_backup_last_success_timestamp_seconds Last successful backup per kind.",
            "# TYPE crm_backup_last_success_timestamp_seconds gauge"]
    for kind in ("db_dump", "uploads_snapshot", "verify_restore"):
        out.append(f'crm_backup_last_success_timestamp_seconds{{kind="{kind}"}} {time.time() - 3600:.3f}')
    out += ["# HELP http_requests_total Requests by route and status.", "# TYPE http_requests_total counter"]
    for route in ("/", "/contacts", "/opportunities", "/api/v1/contacts", "/login", "/crm/ops/metrics"):
        for code in ("200", "302", "404", "500"):
            out.append(f'http_requests_total{{route="{route}",code="{code}"}} {random.randrange(10**6)}')
    out += ["# HELP http_request_duration_seconds Request latency.", "# TYPE http_request_duration_seconds histogram"]
    for le in ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"):
        out.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {random.randrange(10**5)}')
    out += ["http_request_duration_seconds_sum 8123.5", "http_request_duration_seconds_count 99811",
            "# TYPE crm_queue_jobs gauge", 'crm_queue_jobs{queue="default"} 3', 'crm_queue_jobs{queue="mail"} 0']
    return ("\n".join(out) + "\n").encode()


def start_server(body_path: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(body_path)], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    port = proc.stdout.readline().strip()
    if not port.isdigit():
        proc.kill()
        raise SystemExit(f"metrics server did not start (said {port!r})")
    return proc, f"http://127.0.0.1:{port}/crm/ops/metrics"


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return time.perf_counter() - started, done


def check_status(done: subprocess.CompletedProcess, tree: Tree) -> list[str]:
    """What is wrong with one `status --json` run; empty when it reported the tree's newest files."""
    if done.returncode not in (0, 1):
        return [f"exit {done.returncode}: {done.stderr.strip()[-300:]}"]
    try:
        checks = {c["id"]: c for c in json.loads(done.stdout)["checks"]}
    except (ValueError, KeyError, TypeError) as exc:
        return [f"output is not the expected JSON ({exc}): {done.stdout[:200]!r}"]
    problems = []
    for check_id, folder, expected in (("db_dump", "db", tree.newest_dump),
                                       ("uploads_snapshot", "snapshots", tree.newest_marker),
                                       ("verify_restore", "verify", tree.newest_verify)):
        got = (checks.get(check_id) or {}).get("path")
        want = str(tree.base / folder / expected)
        if got != want or checks[check_id]["status"] != "OK":
            problems.append(f"{check_id}: got {got} ({(checks.get(check_id) or {}).get('status')}), want {want} (OK)")
    metrics = checks.get("metrics") or {}
    if metrics.get("status") != "OK":
        problems.append(f"metrics: {metrics.get('status')} {metrics.get('detail')} (the HTTP request must be real)")
    return problems


def check_runbook(done: subprocess.CompletedProcess) -> list[str]:
    lines = done.stdout.splitlines()
    if len(lines) != 3 or not lines[0].endswith(".sql.gz") or "snapshot-" not in lines[1] or "verify-" not in lines[2]:
        return [f"runbook commands printed {done.stdout!r} (stderr {done.stderr[-200:]!r})"]
    return []


def _ms(times: list[float]) -> str:
    return " ".join(f"{t * 1000:.1f}" for t in times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each side (>= 5; default 7)")
    parser.add_argument("--dumps", type=int, default=20_000)
    parser.add_argument("--markers", type=int, default=5_000)
    parser.add_argument("--verify-logs", type=int, default=5_000)
    parser.add_argument("--noise", type=int, default=2_000, help="extra files that must never count")
    parser.add_argument("--keep", action="store_true", help="keep the temp tree and print how to rerun on it")
    parser.add_argument("--no-pyc-cache", action="store_true",
                        help="leave PYTHONDONTWRITEBYTECODE as the environment has it (the default caches bytecode "
                             "in the temp dir, as an installed package has its .pyc files)")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error("--runs must be at least 5")

    opsbackup = Path(sys.executable).parent / "opsbackup"
    if not os.access(opsbackup, os.X_OK):
        print(f"no console script at {opsbackup}; install the package into this venv", file=sys.stderr)
        return 1

    root = Path(tempfile.mkdtemp(prefix="opsbench-"))
    server = None
    try:
        started = time.perf_counter()
        tree = build_tree(root, dumps=args.dumps, markers=args.markers, verify_logs=args.verify_logs, noise=args.noise)
        log_path = root / "ops.log"
        write_ops_log(log_path)
        (root / "state").mkdir()
        (root / "config").mkdir()
        body = root / "metrics.prom"
        body.write_bytes(prom_body())
        server, url = start_server(body)
        print(f"tree: {tree.files} files in {tree.base} ({tree.noise} noise), built in "
              f"{time.perf_counter() - started:.1f} s; metrics at {url}")

        env = {k: v for k, v in os.environ.items() if not k.startswith("OPS_")}
        env.update(OPS_BACKUP_BASE=str(tree.base), OPS_METRICS_URL=url, OPS_LOG_PATH=str(log_path),
                   OPS_STATE_DIR=str(root / "state"),
                   XDG_CONFIG_HOME=str(root / "config"))  # no user config.toml leaks in
        if args.no_pyc_cache:
            bytecode = f"as the environment has it (PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE', '')!r})"
        else:
            # A dev checkout under PYTHONDONTWRITEBYTECODE recompiles the package on every start; an
            # installed one does not. Cache the bytecode outside the repo, filled by the warm-up run.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
            bytecode = "cached (PYTHONPYCACHEPREFIX in the temp dir, like an installed package)"
        print(f"bytecode: {bytecode}")
        shell_env = {**env, "B": str(tree.base)}
        side_a = [str(opsbackup), "status", "--json"]
        side_b = ["bash", "-c", RUNBOOK]

        # Warm up (page cache, bytecode), and check both sides once before any timing.
        _, done_a = timed(side_a, env)
        _, done_b = timed(side_b, shell_env)
        problems = check_status(done_a, tree) + check_runbook(done_b)
        if problems:
            print("CORRECTNESS FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 1
        print("runbook says:", " | ".join(done_b.stdout.splitlines()))
        print(f"opsbackup says: {tree.newest_dump}, {tree.newest_marker}, {tree.newest_verify} "
              "(the newest valid ones, as built)")

        times_a, times_b = [], []
        for i in range(args.runs):
            order = ((side_a, env, times_a), (side_b, shell_env, times_b))
            for argv, e, sink in (order if i % 2 == 0 else order[::-1]):  # ABBA: no side always goes first
                took, done = timed(argv, e)
                problems = check_status(done, tree) if argv is side_a else check_runbook(done)
                if problems:
                    print(f"CORRECTNESS FAILED in run {i + 1}:\n  " + "\n  ".join(problems), file=sys.stderr)
                    return 1
                sink.append(took)

        med_a, med_b = statistics.median(times_a), statistics.median(times_b)
        print(f"opsbackup status --json : median {med_a * 1000:7.1f} ms  (runs: {_ms(times_a)})")
        print(f"runbook §10 commands    : median {med_b * 1000:7.1f} ms  (runs: {_ms(times_b)})")
        print(f"ratio (opsbackup / runbook commands) = {med_a / med_b:.2f} (target <= 1.0)")
        if args.keep:
            print("kept; rerun by hand with:\n  " + " ".join(f"{k}={env[k]}" for k in
                  ("OPS_BACKUP_BASE", "OPS_LOG_PATH", "OPS_STATE_DIR", "XDG_CONFIG_HOME")) +
                  f" {opsbackup} status --json   (metrics server stopped; set OPS_METRICS_URL yourself)")
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=5)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
