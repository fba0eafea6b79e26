"""Bench: the verify job's import against `gunzip -c f | mysql db`, on the dump bench/dump.py made.

Three sides, timed in rotating order on the same dump (≈ 235 MB of SQL, ≈ 100 MB gzip'd):
  job     `opsbackup run verify` as a whole process: sha256 of the dump, CREATE DATABASE
          verify_<stamp>, guarded streamed import, table/row counts, verify log, DROP;
  import  opsbackup_tui.core.jobs.verify.import_dump alone (gunzip in-process → guard →
          `mariadb --binary-mode --sandbox`), awaited from a small harness process with a real
          JobContext; its own timer covers the import only;
  peer    `bash -o pipefail -c 'gunzip -c f | mysql -h127.0.0.1 -uroot db'` into a database
          created just before (not timed) and dropped after.
Ratios: job ÷ peer and import ÷ peer (target <= 1.0); peak RSS of the opsbackup interpreter
(target <= 80 MB). The warm-up checks the results: the job reports the source's row counts,
and the peer's and the harness's databases hold the same rows as the source.

The dump is the one bench/dump.py kept in /tmp/opsbackup-bench/<db>/db/; when there is none,
`opsbackup run db_backup` makes one there (building the database first if needed).
`--double` also runs the bench on bench_crm2 (twice the rows) to show peak RSS stays flat.

Before each whole-job run the bench waits while a foreign verify_YYYYmmdd_HHMMSS database exists
on the server: the job drops such "leftovers" on start, and one may belong to a test that is
running right now on the same server.

With --private-server the three sides import into a throwaway mariadbd started for the bench
(fresh datadir under /tmp, the InnoDB settings of the shared server copied, removed at the end):
use it when tests run on the shared server.

    .venv/bin/python bench/verify.py [--runs 3] [--double] [--private-server] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

TARGET_RATIO = 1.0
TARGET_RSS_MB = 80
PEER_DB = "bench_restore_peer"
IMPORT_DB = "bench_restore_import"
VERIFY_RE = re.compile(r"verify_\d{8}_\d{6}")
CRITICAL = ("users", "contacts", "opportunities")
TABLES = ("users", "companies", "contacts", "opportunities", "activities")

HARNESS = r"""
import asyncio, json, sys, time
from pathlib import Path

from opsbackup_tui.core.jobs.base import JobContext
from opsbackup_tui.core.jobs.verify import import_dump
from opsbackup_tui.core.mysql import ServerConfig
from opsbackup_tui.core.proc import Redactor
from opsbackup_tui.core.settings import load_settings


async def main(path: str, database: str) -> None:
    settings = load_settings()
    events = {}

    def emit(event) -> None:
        name = type(event).__name__
        events[name] = events.get(name, 0) + 1

    ctx = JobContext(settings, "verify", emit, time.time, Redactor.from_settings(settings),
                     asyncio.get_running_loop())
    t0 = time.monotonic()
    stats = await import_dump(ctx, ServerConfig.from_settings(settings), Path(path), database, strip_definer=True)
    seconds = time.monotonic() - t0
    print(json.dumps({"seconds": seconds, "lines": stats.lines, "tables": stats.tables, "read": stats.read,
                      "events": events}))


asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def newest_dump(folder: Path) -> Path | None:
    dumps = sorted(p for p in folder.glob("full-*.sql.gz") if p.with_name(p.name + ".sha256").exists())
    return dumps[-1] if dumps else None


def get_dump(database: str, scale: float) -> Path:
    store = c.dump_store(database)
    found = newest_dump(store / "db")
    if found is not None:
        print(f"using {found} ({found.stat().st_size / 1e6:.1f} MB), kept by bench/dump.py")
        return found
    c.ensure_crm(database, scale)
    print(f"no dump of {database} kept by bench/dump.py: making one with opsbackup run db_backup")
    (store / "db").mkdir(parents=True, exist_ok=True)
    env = c.opsbackup_env(store, store, OPS_DB_NAME=database)
    run = c.run_timed([str(c.OPSBACKUP), "run", "db_backup"], env, sample=False)
    found = newest_dump(store / "db")
    if run.rc != 0 or found is None:
        sys.exit(f"opsbackup run db_backup failed (exit {run.rc}):\n{run.stdout}{run.stderr}")
    return found


def counts(database: str, tables=TABLES) -> dict[str, int]:
    conn = c.connect(database)
    try:
        with conn.cursor() as cur:
            result = {}
            for table in tables:
                cur.execute(f"SELECT COUNT(*) FROM `{table}`")
                result[table] = int(cur.fetchone()[0])
            return result
    finally:
        conn.close()


def verify_dbs() -> list[str]:
    conn = c.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            return [name for (name,) in cur.fetchall() if VERIFY_RE.fullmatch(name)]
    finally:
        conn.close()


def wait_no_foreign_verify(limit: float = 300.0) -> float:
    """Wait while someone else's verify_* database exists; return the seconds waited."""
    t0 = time.monotonic()
    while (found := verify_dbs()) and time.monotonic() - t0 < limit:
        time.sleep(1.0)
    if found:
        print(f"  note: {', '.join(found)} still exist after {limit:.0f} s; this run will drop them")
    return time.monotonic() - t0


def job_run_ok(run: c.Run, expected: dict[str, int], tables, check: bool) -> bool:
    """`opsbackup run verify` exited 0, left no verify database and (with `check`) reported the
    source's rows of `tables`; says what is wrong."""
    ok = True
    made = re.findall(r"CREATE DATABASE (verify_\d{8}_\d{6})", run.stdout)
    left = [name for name in made if name in verify_dbs()]
    if left:
        print(f"  the job left its verify database behind: {left}")
        ok = False
    if run.rc != 0:
        print(f"  opsbackup run verify failed (exit {run.rc}):\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
        ok = False
    elif check:
        summary = next((line for line in run.stdout.splitlines() if " OK in " in line), "")
        want = ", ".join(f"{t} {expected[t]}" for t in tables)
        if want not in summary:
            print(f"  the job's summary does not report the source's rows ({want}): {summary!r}")
            ok = False
        else:
            print(f"  checked job: {summary.split(' OK in ', 1)[1][:160]}")
    return ok


def settle() -> None:
    """Start each timed run from the same state: page cache written back, InnoDB's dirty pages
    of the previous import flushed (bounded wait)."""
    os.sync()
    t0 = time.monotonic()
    conn = c.connect()
    try:
        with conn.cursor() as cur:
            while time.monotonic() - t0 < 60:
                cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
                if int(cur.fetchone()[1]) < 200:
                    break
                time.sleep(0.5)
    finally:
        conn.close()


def fresh(database: str) -> None:
    c.execute(f"DROP DATABASE IF EXISTS `{database}`", f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")


def drop(database: str) -> None:
    c.execute(f"DROP DATABASE IF EXISTS `{database}`")


def bench(database: str, dump: Path, expected: dict[str, int], runs: int, keep: bool) -> dict:
    root = Path(tempfile.mkdtemp(prefix="opsbench-verify-"))
    base = root / "tree"
    (base / "db").mkdir(parents=True)
    for path in (dump, dump.with_name(dump.name + ".sha256")):
        os.link(path, base / "db" / path.name)
    harness = root / "harness.py"
    harness.write_text(HARNESS)
    peer_dir = root / "peer"
    peer_dir.mkdir()
    os.link(dump, peer_dir / "f")
    env = c.opsbackup_env(root, base)
    job_argv = [str(c.OPSBACKUP), "run", "verify"]
    import_argv = [sys.executable, str(harness), str(dump), IMPORT_DB]
    peer_argv = ["bash", "-o", "pipefail", "-c", f"gunzip -c f | mysql -h{c.HOST} -P{c.PORT} -u{c.USER} {PEER_DB}"]
    print(f"\n== {database}: dump {dump.name}, {dump.stat().st_size / 1e6:.1f} MB gzip'd; rows {expected}")
    waited = 0.0
    interfered = 0
    ok = True

    def run_side(side: str, check: bool = False) -> tuple[float, c.Run, dict | None]:
        nonlocal waited, ok, interfered
        settle()
        if side == "job":
            for _ in range(4):
                waited += wait_no_foreign_verify()
                run = c.run_timed(job_argv, env)
                if run.rc == 0 or "Unknown database 'verify_" not in run.stdout + run.stderr:
                    break
                # Another verify on this server (a test run) dropped ours as a "leftover".
                print("  our verify database was dropped by someone else during the run; run again")
                interfered += 1
                settle()
            ok = job_run_ok(run, expected, CRITICAL, check) and ok
            return run.seconds, run, None
        target = IMPORT_DB if side == "import" else PEER_DB
        fresh(target)
        try:
            if side == "import":
                run = c.run_timed(import_argv, env)
                info = None
                if run.rc == 0:
                    info = json.loads(run.stdout.strip().splitlines()[-1])
                else:
                    print(f"  import harness failed (exit {run.rc}):\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
                    ok = False
            else:
                run = c.run_timed(peer_argv, env, cwd=str(peer_dir))
                info = None
                if run.rc != 0:
                    print(f"  peer import failed (exit {run.rc}):\n{run.stderr[-3000:]}")
                    ok = False
            if check and run.rc == 0:
                got = counts(target)
                if got != expected:
                    print(f"  {side}: rows {got} differ from the source's {expected}")
                    ok = False
                else:
                    print(f"  checked {side}: same rows as the source in all {len(TABLES)} tables")
        finally:
            drop(target)
        seconds = info["seconds"] if info else run.seconds
        return seconds, run, info

    times: dict[str, list[float]] = {"job": [], "import": [], "import_proc": [], "peer": []}
    server: dict[str, list[float]] = {"job": [], "import": [], "peer": []}
    result_runs: dict[str, list[c.Run]] = {"job": [], "import": [], "peer": []}
    try:
        for side in ("job", "import", "peer"):  # warm-up and checks
            run_side(side, check=True)
        if not ok:
            return {"ok": False}
        print(f"load average before timing: {c.load_avg()}{c.busy_note()}")
        orders = (("job", "import", "peer"), ("peer", "import", "job"), ("import", "job", "peer"),
                  ("peer", "job", "import"))
        for i in range(runs):
            for side in orders[i % len(orders)]:
                before = c.server_cpu()
                seconds, run, info = run_side(side)
                server[side].append(c.server_cpu() - before)
                times[side].append(seconds)
                if side == "import":
                    times["import_proc"].append(run.seconds)
                result_runs[side].append(run)
    finally:
        drop(PEER_DB)
        drop(IMPORT_DB)
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    med = {k: c.median(v) for k, v in times.items()}
    job_ratio = med["job"] / med["peer"]
    imp_ratio = med["import"] / med["peer"]
    print(f"opsbackup run verify (whole job): median {med['job']:.2f} s  [{c.spread(times['job'])}]")
    print(f"import_dump only:                 median {med['import']:.2f} s  [{c.spread(times['import'])}]"
          f"  (harness process {med['import_proc']:.2f} s)")
    print(f"gunzip -c f | mysql db:           median {med['peer']:.2f} s  [{c.spread(times['peer'])}]")
    print(f"ratio (whole job)   = {job_ratio:.2f} (target <= {TARGET_RATIO})  "
          f"{'OK' if job_ratio <= TARGET_RATIO else 'MISSED'}")
    print(f"ratio (import only) = {imp_ratio:.2f} (target <= {TARGET_RATIO})  "
          f"{'OK' if imp_ratio <= TARGET_RATIO else 'MISSED'}")

    print("CPU (user+sys, median): " + ", ".join(
        f"{side} tree {c.median([r.cpu_s or 0 for r in result_runs[side]]):.2f} s" for side in result_runs)
        + "; server during it (incl. create/drop, other clients): " + ", ".join(
        f"{side} {c.median(server[side]):.2f} s" for side in server))

    job, peer = c.peaks(result_runs["job"]), c.peaks(result_runs["peer"])
    job_top, imp_top = job.top_kb, c.peaks(result_runs["import"]).top_kb
    print(f"peak RSS, opsbackup interpreter (VmHWM): job {c.mb(job_top)}, import harness {c.mb(imp_top)} "
          f"(target <= {TARGET_RSS_MB} MB)  {'OK' if max(job_top, imp_top) / 1024 <= TARGET_RSS_MB else 'MISSED'}")
    print(f"  job: largest process (/usr/bin/time -v) {c.mb(job.largest_kb)}, tree peak {c.mb(job.tree_kb)}; "
          f"children: {job.children_text()}")
    print(f"  peer: largest process {c.mb(peer.largest_kb)}, tree peak {c.mb(peer.tree_kb)}; "
          f"children: {peer.children_text()}")
    if interfered:
        print(f"{interfered} job run(s) were repeated: another verify on this server dropped our database "
              "(use --private-server while tests run)")
    if waited > 1:
        print(f"waited {waited:.0f} s in all for other verify_* databases to go away (not timed)")
    print(f"load average after: {c.load_avg()}")
    return {"ok": ok, "db": database, "gz": dump.stat().st_size, "job": med["job"], "import": med["import"],
            "peer": med["peer"], "job_ratio": job_ratio, "imp_ratio": imp_ratio, "job_top": job_top,
            "imp_top": imp_top}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (>= 3, default 3)")
    parser.add_argument("--double", action="store_true", help="also bench bench_crm2's dump (twice the rows)")
    parser.add_argument("--only-double", action="store_true", help="bench bench_crm2's dump only")
    parser.add_argument("--keep", action="store_true", help="keep the temp tree")
    parser.add_argument("--private-server", action="store_true",
                        help="import into a throwaway mariadbd (same InnoDB settings as 127.0.0.1:3306) instead "
                             "of the shared server, where tests that run verify drop our verify_* database as "
                             "a leftover and we could drop theirs")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be >= 3")
    targets = [] if args.only_double else [("bench_crm", 1)]
    if args.double or args.only_double:
        targets.append(("bench_crm2", 2))
    results = []
    for db, scale in targets:
        dump, expected = get_dump(db, scale), counts(db)  # on the shared server, where bench_crm lives
        if args.private_server:
            shared = (c.HOST, c.PORT)
            with c.PrivateServer() as server:
                c.set_server("127.0.0.1", server.port)
                try:
                    results.append(bench(db, dump, expected, args.runs, args.keep))
                finally:
                    c.set_server(*shared)
        else:
            results.append(bench(db, dump, expected, args.runs, args.keep))
    if not all(r["ok"] for r in results):
        return 1
    if len(results) > 1:
        print("\n== RSS against dump size")
        for r in results:
            print(f"{r['db']:<11} {r['gz'] / 1e6:6.1f} MB gzip'd: job ratio {r['job_ratio']:.2f}, import ratio "
                  f"{r['imp_ratio']:.2f}, VmHWM job {c.mb(r['job_top'])}, import harness {c.mb(r['imp_top'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
