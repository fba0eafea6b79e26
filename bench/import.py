"""Bench: the parallel import (issue 12) — the whole verify job and the DR import against
`gunzip -c f | mariadb db`, on the same dump, in one run.

Two dumps, each made once by `opsbackup run db_backup` of a database built for it on
127.0.0.1:3306 and kept in /tmp/opsbackup-bench/<db>/ (the database is dropped once its dump, row
counts and CHECKSUM TABLE results are kept; `--rebuild` makes them again):
  even  four comparable tables (the CRM's contacts shape, 190k rows each, ≈ 220 MB of SQL),
        target ratio <= 0.6;
  skew  one table (activities) holding over 90 % of the rows, three small ones, target <= 1.05.
Both carry a view and a trigger, so the part that runs after the tables is there too.

Sides, each a whole process, rotated through every order, median of --runs (>= 3):
  verify   `opsbackup run verify` on a tree holding the dump (sha256, CREATE DATABASE, import with
           OPS_IMPORT_JOBS at its default, counts, verify log, DROP);
  restore  the DR wizard's import: a harness process runs RestoreJob (run_job: lock, ops.log,
           events) into a database created just before (not timed, as the wizard's step 2 does it);
  peer     `bash -o pipefail -c 'gunzip -c f | mariadb -h… db'` into a database created just before.
One warm-up per side checks the result: verify says OK with the source's rows, the DR import's and
the peer's databases hold the source's rows and CHECKSUM TABLE results. Each timed run starts from
the same state (bench/verify.py's settle: sync, InnoDB's dirty pages flushed). Prints medians,
ratios against the peer, peak RSS (VmHWM of the opsbackup interpreter; target <= 100 MB), CPU, the
per-table timings of the last DR import (so the next bottleneck shows), and the load average: the
ratios depend on free cores, and the machine may be shared. Bytecode: cached (PYTHONPYCACHEPREFIX
in the temp dir, filled by the warm-up, as an installed package has its .pyc files).

    .venv/bin/python bench/import.py [--runs 3] [--only even|skew] [--jobs N] [--rebuild] [--keep]

Exit 0 whatever the figures; 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import verify as v  # noqa: E402  (bench/verify.py: settle, fresh, drop, job_run_ok, wait_no_foreign_verify)

GENERATOR_VERSION = 1
TARGETS = {"even": 0.6, "skew": 1.05}
TARGET_RSS_MB = 100
SHAPES = {
    "even": [(f"contacts_{i}", "contacts", 190_000) for i in range(1, 5)],
    "skew": [("activities", "activities", 720_000), ("contacts", "contacts", 40_000),
             ("companies", "companies", 15_000), ("users", "users", 500)],
}
RESTORE_DB = "bench_imp_restore"
PEER_DB = "bench_imp_peer"
DDL = {re.search(r"CREATE TABLE (\w+)", s).group(1): s for s in c.SCHEMA if s.startswith("CREATE TABLE")}

HARNESS = r"""
import asyncio, json, sys, time
from pathlib import Path

from opsbackup_tui.core.artefacts.tree import BackupTree
from opsbackup_tui.core.jobs.base import result_dict, run_job
from opsbackup_tui.core.jobs.restore import RestoreJob
from opsbackup_tui.core.mysql import ServerConfig
from opsbackup_tui.core.settings import load_settings


async def main(database: str) -> None:
    settings = load_settings()
    dump = BackupTree(settings.backup_base).newest_valid_dump()
    finished = await run_job(RestoreJob(settings, ServerConfig.from_settings(settings), dump, database),
                             lambda event: None)
    print(json.dumps({"ok": finished.ok, "error": finished.error, "seconds": finished.duration_s,
                      **result_dict(finished.result)}))


asyncio.run(main(sys.argv[1]))
"""


def checksums(database: str, tables: list[str]) -> dict[str, int]:
    conn = c.connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables))
            return {row[0].split(".", 1)[1]: int(row[1]) for row in cur.fetchall()}
    finally:
        conn.close()


def sql_size(path: Path) -> int:
    decoder = zlib.decompressobj(wbits=31)
    size = 0
    with open(path, "rb") as handle:
        while raw := handle.read(1 << 20):
            size += len(decoder.decompress(raw))
    return size


def build(shape: str, database: str) -> None:
    """The shape's tables filled by LOAD DATA (bench/_common.py's CRM generator), a view, a trigger."""
    tables = SHAPES[shape]
    refs = {"users": 500, "companies": 22_000, "contacts": 280_000, "opportunities": 90_000}
    rng = random.Random(f"{database}-{GENERATOR_VERSION}")
    pools = c._make_pools(rng)
    c.execute(f"DROP DATABASE IF EXISTS `{database}`",
              f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn = c.connect(database, local_infile=True)
    tmp = Path(tempfile.mkdtemp(prefix="opsbench-imp-"))
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
            for name, template, rows in tables:
                t0 = time.monotonic()
                cur.execute(DDL[template].replace(f"CREATE TABLE {template}", f"CREATE TABLE `{name}`", 1))
                columns, setters = c.LOAD[template]
                done = 0
                while done < rows:
                    n = min(100_000, rows - done)
                    path = tmp / "rows.tsv"
                    path.write_text("\n".join(c._rows(template, done + 1, n, refs, pools, rng)) + "\n", encoding="utf-8")
                    cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE `{name}` CHARACTER SET utf8mb4 "
                                f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                                f"{columns} SET {setters}", (str(path),))
                    done += n
                print(f"  {name}: {rows} rows in {time.monotonic() - t0:.1f} s")
            first = next(name for name, template, _ in tables if template == "contacts")
            cur.execute(f"CREATE VIEW contact_status AS SELECT status, COUNT(*) AS n FROM `{first}` GROUP BY status")
            cur.execute(f"CREATE TRIGGER {first}_touch BEFORE UPDATE ON `{first}` FOR EACH ROW "
                        "SET NEW.updated_at = NOW()")
    finally:
        conn.close()
        shutil.rmtree(tmp, ignore_errors=True)


def prepare(shape: str, rebuild: bool) -> tuple[Path, dict]:
    """The shape's dump (made by `opsbackup run db_backup`) and what it must restore to."""
    database = f"bench_imp_{shape}"
    store = c.dump_store(database)
    meta_path = store / "expected.json"
    want = f"v{GENERATOR_VERSION} {SHAPES[shape]}"
    if not rebuild and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        dump = store / "db" / meta["dump"]
        if meta.get("built") == want and dump.exists():
            print(f"using {dump} ({dump.stat().st_size / 1e6:.1f} MB gzip'd, {meta['sql'] / 1e6:.0f} MB of SQL)")
            return dump, meta
    print(f"building {database} (done once, kept in {store})")
    build(shape, database)
    shutil.rmtree(store, ignore_errors=True)
    (store / "db").mkdir(parents=True)
    env = c.opsbackup_env(store, store, OPS_DB_NAME=database)
    run = c.run_timed([str(c.OPSBACKUP), "run", "db_backup"], env, sample=False)
    dumps = sorted((store / "db").glob("full-*.sql.gz"))
    if run.rc != 0 or not dumps:
        sys.exit(f"opsbackup run db_backup failed (exit {run.rc}):\n{run.stdout}{run.stderr}")
    tables = [name for name, _, _ in SHAPES[shape]]
    meta = {"built": want, "dump": dumps[-1].name, "sql": sql_size(dumps[-1]), "tables": tables,
            "rows": v.counts(database, tables), "checksums": checksums(database, tables)}
    meta_path.write_text(json.dumps(meta, indent=1))
    c.execute(f"DROP DATABASE IF EXISTS `{database}`")
    print(f"made {dumps[-1].name}: {dumps[-1].stat().st_size / 1e6:.1f} MB gzip'd, {meta['sql'] / 1e6:.0f} MB of SQL; "
          f"{database} dropped")
    return dumps[-1], meta


def bench(shape: str, dump: Path, meta: dict, runs: int, jobs: int | None, keep: bool) -> dict:
    root = Path(tempfile.mkdtemp(prefix="opsbench-import-"))
    base = root / "tree"
    (base / "db").mkdir(parents=True)
    for path in (dump, dump.with_name(dump.name + ".sha256")):
        os.link(path, base / "db" / path.name)
    (root / "harness.py").write_text(HARNESS)
    peer_dir = root / "peer"
    peer_dir.mkdir()
    os.link(dump, peer_dir / "f")
    tables, expected, sums = meta["tables"], meta["rows"], meta["checksums"]
    extra = {"OPS_CRITICAL_TABLES": ",".join(tables)}
    if jobs:
        extra["OPS_IMPORT_JOBS"] = str(jobs)
    env = c.opsbackup_env(root, base, **extra)
    argv = {"verify": [str(c.OPSBACKUP), "run", "verify"],
            "restore": [sys.executable, str(root / "harness.py"), RESTORE_DB],
            "peer": ["bash", "-o", "pipefail", "-c", f"gunzip -c f | mariadb -h{c.HOST} -P{c.PORT} -u{c.USER} {PEER_DB}"]}
    share = max(expected.values()) / sum(expected.values())
    print(f"\n== {shape}: {dump.name}, {dump.stat().st_size / 1e6:.1f} MB gzip'd, {meta['sql'] / 1e6:.0f} MB of SQL; "
          f"rows {expected} (largest {share:.0%}); OPS_IMPORT_JOBS {jobs or f'default ({min(os.cpu_count() or 1, 8)})'}")
    ok = True
    last_sections: list[dict] = []

    def check_db(side: str, database: str) -> None:
        nonlocal ok
        got, got_sums = v.counts(database, tables), checksums(database, tables)
        if got != expected or got_sums != sums:
            print(f"  {side}: rows {got} / checksums {got_sums} differ from the source's {expected} / {sums}")
            ok = False
        else:
            print(f"  checked {side}: the source's rows and CHECKSUM TABLE results in all {len(tables)} tables")

    def run_side(side: str, check: bool = False) -> c.Run:
        nonlocal ok, last_sections
        v.settle()
        if side == "verify":
            v.wait_no_foreign_verify()
            run = c.run_timed(argv[side], env)
            ok = v.job_run_ok(run, expected, tables, check) and ok
            return run
        database = RESTORE_DB if side == "restore" else PEER_DB
        v.fresh(database)
        try:
            run = c.run_timed(argv[side], env, cwd=str(peer_dir))
            if run.rc != 0:
                print(f"  {side} failed (exit {run.rc}):\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
                ok = False
            elif side == "restore":
                info = json.loads(run.stdout.strip().splitlines()[-1])
                if not info["ok"]:
                    print(f"  the DR import failed: {info['error']}")
                    ok = False
                last_sections = info.get("sections") or []
            if check and run.rc == 0:
                check_db(side, database)
        finally:
            v.drop(database)
        return run

    sides = ("verify", "restore", "peer")
    orders = [("verify", "restore", "peer"), ("peer", "restore", "verify"), ("restore", "peer", "verify"),
              ("verify", "peer", "restore"), ("restore", "verify", "peer"), ("peer", "verify", "restore")]
    results: dict[str, list[c.Run]] = {side: [] for side in sides}
    try:
        for side in sides:  # warm-up (page cache, bytecode) and the checks
            run_side(side, check=True)
        if not ok:
            return {"ok": False}
        print(f"load average before timing: {c.load_avg()}{c.busy_note()}")
        for i in range(runs):
            for side in orders[i % len(orders)]:
                results[side].append(run_side(side))
    finally:
        v.drop(RESTORE_DB)
        v.drop(PEER_DB)
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    med = {side: c.median([r.seconds for r in results[side]]) for side in sides}
    target = TARGETS[shape]
    for side, label in (("verify", "opsbackup run verify (whole job)"), ("restore", "DR import (RestoreJob)  "),
                        ("peer", "gunzip -c f | mariadb db      ")):
        print(f"{label}: median {med[side]:.2f} s  [{c.spread([r.seconds for r in results[side]])}]")
    ratios = {side: med[side] / med["peer"] for side in ("verify", "restore")}
    for side, ratio in ratios.items():
        print(f"ratio {side:<7} = {ratio:.2f} (target <= {target})  {'OK' if ratio <= target else 'MISSED'}")
    print("CPU (user+sys of the process tree, median): " + ", ".join(
        f"{side} {c.median([r.cpu_s or 0 for r in results[side]]):.2f} s" for side in sides))
    peaks = {side: c.peaks(results[side]) for side in sides}
    top = max(peaks["verify"].top_kb, peaks["restore"].top_kb)
    print(f"peak RSS, opsbackup interpreter (VmHWM): verify {c.mb(peaks['verify'].top_kb)}, DR import "
          f"{c.mb(peaks['restore'].top_kb)} (target <= {TARGET_RSS_MB} MB)  "
          f"{'OK' if top / 1024 <= TARGET_RSS_MB else 'MISSED'}")
    for side in sides:
        p = peaks[side]
        print(f"  {side}: largest process {c.mb(p.largest_kb)}, tree peak {c.mb(p.tree_kb)}; "
              f"children: {p.children_text()}")
    if last_sections:
        start = min(s["started"] for s in last_sections)
        print("per-table timings of the last DR import (s from the first table; wait = read whole, waiting "
              "for a free client; run = given to its client until the server had run it):")
        for s in sorted(last_sections, key=lambda s: s["given"]):
            print(f"  {s['name']:<12} client {s['client']}  {s['size'] / 1e6:6.1f} MB  read {s['started'] - start:6.2f}"
                  f"–{s['read'] - start:6.2f}  given {s['given'] - start:6.2f}  done {s['done'] - start:6.2f}  "
                  f"(wait {max(0.0, s['given'] - s['read']):.2f}, run {s['done'] - s['given']:.2f})")
        end = max(s["done"] for s in last_sections)
        print(f"  after the last table: views, routines, triggers, events and the client exits; the job took "
              f"{results['restore'][-1].seconds:.2f} s in all, the tables {end - start:.2f} s")
    print(f"load average after: {c.load_avg()}")
    return {"ok": ok, "shape": shape, "ratios": ratios, "top": top}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (>= 3, default 3)")
    parser.add_argument("--only", choices=sorted(SHAPES), help="one dump only")
    parser.add_argument("--jobs", type=int, help="OPS_IMPORT_JOBS for verify and the DR import (default: theirs)")
    parser.add_argument("--rebuild", action="store_true", help="build the databases and dumps again")
    parser.add_argument("--keep", action="store_true", help="keep the temp tree")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be >= 3")
    print(f"load average at start: {c.load_avg()}; bytecode cached (PYTHONPYCACHEPREFIX in the temp dir)")
    results = []
    for shape in [args.only] if args.only else sorted(SHAPES):
        dump, meta = prepare(shape, args.rebuild)
        results.append(bench(shape, dump, meta, args.runs, args.jobs, args.keep))
    if len(results) > 1 and all(r["ok"] for r in results):
        print("\n== summary")
        for r in results:
            print(f"{r['shape']:<5} verify {r['ratios']['verify']:.2f}, DR import {r['ratios']['restore']:.2f} "
                  f"(target <= {TARGETS[r['shape']]}); VmHWM {c.mb(r['top'])}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
