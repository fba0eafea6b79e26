"""Bench: `opsbackup drill` (whole process) against `gunzip -c f | mysql db`, on the dump bench/dump.py made.

bench/verify.py's approach and helpers (its get_dump, counts, settle, fresh, drop; _common's
run_timed and opsbackup_env), on the same dump (≈ 235 MB of SQL, ≈ 100 MB gzip'd):
  drill  `opsbackup drill --json` as a whole process, on a backup tree holding the dump (hard link),
         its .sha256 and a verify log of that dump (verify/verify-YYYYmmdd-HHMM.log with the
         source database's table count and critical-table rows, as the verify job writes it):
         sha256, CREATE DATABASE drill_<stamp>, guarded streamed import (DEFINERs kept), table
         and row counts against the verify log, DROP, report and ops.log line;
  peer   `bash -o pipefail -c 'gunzip -c f | mysql -h127.0.0.1 -uroot db'` into a database created
         just before (not timed) and dropped after.
One warm-up per side, checked: the drill exits 0 with result OK, compared the counts with the verify
log (all checks OK, none "–"), restored the source's rows, dropped its database; the peer's database
holds the source's rows. Then timed runs rotate ABBA; each starts from the same state (verify.settle:
sync, InnoDB dirty pages flushed). Prints medians, `ratio = X.XX (target <= 1.1)`, the drill's own
parts (checksum/create/import/verify/drop, from its JSON), import ÷ peer, and peak RSS (VmHWM of the
opsbackup interpreter, and of its children).

Drills drop leftovers named drill_YYYYmmdd_HHMMSS only when older than 6 h, so drills of tests
running on the same server do not disturb these runs (nor these theirs); a drop of someone's old
leftover shows in the drill's output and is reported. `--private-server` runs both sides against a
throwaway mariadbd (as bench/verify.py does) when the shared server is busy.

    .venv/bin/python bench/drill.py [--runs 3] [--private-server] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import verify as v  # noqa: E402  (bench/verify.py: its helpers)

TARGET_RATIO = 1.1
PEER_DB = "bench_drill_peer"
DRILL_RE = re.compile(r"drill_\d{8}_\d{6}")
CRITICAL = ("users", "contacts", "opportunities")  # the default critical_tables


def table_count(database: str) -> int:
    """What the drill counts: every name in information_schema.tables (tables and views)."""
    return int(c.scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s", (database,)))


def drill_dbs() -> list[str]:
    conn = c.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            return [name for (name,) in cur.fetchall() if DRILL_RE.fullmatch(name)]
    finally:
        conn.close()


def write_verify_log(base: Path, dump: Path, tables: int, rows: dict[str, int]) -> Path:
    """A verify log of `dump`, in the shape VerifyJob._write_log gives it."""
    digest = dump.with_name(dump.name + ".sha256").read_text().split()[0]
    when = datetime.fromtimestamp(dump.stat().st_mtime)
    record = {"dump": dump.name, "dump_sha256": digest, "database": f"verify_{when:%Y%m%d_%H%M%S}",
              "started": f"{when:%Y-%m-%d %H:%M:%S}", "tables": tables,
              **{f"rows.{t}": rows[t] for t in CRITICAL}, "duration_s": "30.0", "result": "OK"}
    path = base / "verify" / f"verify-{when:%Y%m%d-%H%M}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}: {val}\n" for k, val in record.items()))
    return path


def bench(database: str, dump: Path, expected: dict[str, int], tables: int, runs: int, keep: bool) -> dict:
    root = Path(tempfile.mkdtemp(prefix="opsbench-drill-"))
    base = root / "tree"
    (base / "db").mkdir(parents=True)
    for path in (dump, dump.with_name(dump.name + ".sha256")):
        os.link(path, base / "db" / path.name)
    vlog = write_verify_log(base, base / "db" / dump.name, tables, expected)
    peer_dir = root / "peer"
    peer_dir.mkdir()
    os.link(dump, peer_dir / "f")
    env = c.opsbackup_env(root, base)
    drill_argv = [str(c.OPSBACKUP), "drill", "--json"]
    peer_argv = ["bash", "-o", "pipefail", "-c", f"gunzip -c f | mysql -h{c.HOST} -P{c.PORT} -u{c.USER} {PEER_DB}"]
    print(f"\n== {database}: dump {dump.name}, {dump.stat().st_size / 1e6:.1f} MB gzip'd; {tables} tables; "
          f"rows {expected}; verify log {vlog.name}")
    ok = True
    foreign_drops: list[str] = []

    def run_side(side: str, check: bool = False) -> tuple[float, c.Run, dict | None]:
        nonlocal ok
        v.settle()
        if side == "drill":
            before = set(drill_dbs())
            run = c.run_timed(drill_argv, env)
            foreign_drops.extend(re.findall(r"dropped (drill_\d{8}_\d{6})", run.stdout + run.stderr))
            info = None
            try:
                info = json.loads(run.stdout[run.stdout.index("{"):])
            except ValueError:
                pass
            left = sorted(set(drill_dbs()) - before)
            if left:
                print(f"  the drill left its database behind: {left}")
                ok = False
            if run.rc != 0 or info is None or not info.get("ok"):
                print(f"  opsbackup drill failed (exit {run.rc}):\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
                ok = False
            elif check:
                problems = []
                if info.get("tables") != tables:
                    problems.append(f"tables {info.get('tables')} != {tables}")
                if info.get("rows") != {t: expected[t] for t in CRITICAL}:
                    problems.append(f"rows {info.get('rows')} differ from the source's")
                if info.get("verify_log") is None or Path(info["verify_log"]).name != vlog.name:
                    problems.append(f"did not compare with {vlog.name} (verify_log {info.get('verify_log')})")
                checks = info.get("checks") or []
                if not checks or any("✗" in x or "expected –" in x for x in checks):
                    problems.append(f"checks {checks}")
                if problems:
                    print("  the drill's result is wrong: " + "; ".join(problems))
                    ok = False
                else:
                    print(f"  checked drill: OK, RTO {info['rto_s']} s, {info['tables']} tables, "
                          f"{'; '.join(checks)}; {info['database']} dropped")
            return run.seconds, run, info
        v.fresh(PEER_DB)
        try:
            run = c.run_timed(peer_argv, env, cwd=str(peer_dir))
            if run.rc != 0:
                print(f"  peer import failed (exit {run.rc}):\n{run.stderr[-3000:]}")
                ok = False
            elif check:
                got = v.counts(PEER_DB)
                if got != expected:
                    print(f"  peer: rows {got} differ from the source's {expected}")
                    ok = False
                else:
                    print(f"  checked peer: same rows as the source in all {len(got)} tables")
        finally:
            v.drop(PEER_DB)
        return run.seconds, run, None

    times: dict[str, list[float]] = {"drill": [], "peer": []}
    parts: dict[str, list[float]] = {}
    runs_of: dict[str, list[c.Run]] = {"drill": [], "peer": []}
    try:
        for side in ("drill", "peer"):  # warm-up and checks
            run_side(side, check=True)
        if not ok:
            return {"ok": False}
        print(f"load average before timing: {c.load_avg()}{c.busy_note()}")
        for i in range(runs):
            order = ("drill", "peer") if i % 2 == 0 else ("peer", "drill")
            for side in order:
                seconds, run, info = run_side(side)
                times[side].append(seconds)
                runs_of[side].append(run)
                if info:
                    for name, value in (info.get("parts") or {}).items():
                        parts.setdefault(name, []).append(float(value))
                    parts.setdefault("rto_s", []).append(float(info.get("rto_s", 0)))
    finally:
        v.drop(PEER_DB)
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    med = {k: c.median(x) for k, x in times.items()}
    ratio = med["drill"] / med["peer"]
    print(f"opsbackup drill (whole process): median {med['drill']:.2f} s  [{c.spread(times['drill'])}]")
    print(f"gunzip -c f | mysql db:          median {med['peer']:.2f} s  [{c.spread(times['peer'])}]")
    print(f"ratio = {ratio:.2f} (target <= {TARGET_RATIO})  {'OK' if ratio <= TARGET_RATIO else 'MISSED'}")
    if parts:
        print("drill parts (its JSON, median s): " + ", ".join(f"{k[:-2]} {c.median(x):.2f}" for k, x in parts.items()))
        if "import_s" in parts:
            print(f"  import alone ÷ peer = {c.median(parts['import_s']) / med['peer']:.2f}; outside the RTO "
                  f"(interpreter start, settings, report): {med['drill'] - c.median(parts['rto_s']):.2f} s")
    cpu_d = c.median([r.cpu_s or 0 for r in runs_of["drill"]])
    cpu_p = c.median([r.cpu_s or 0 for r in runs_of["peer"]])
    print(f"CPU (user+sys of the tree, median): drill {cpu_d:.2f} s, peer {cpu_p:.2f} s")

    ours, peer = c.peaks(runs_of["drill"]), c.peaks(runs_of["peer"])
    top = ours.top_kb
    print(f"peak RSS, opsbackup interpreter (VmHWM): {c.mb(top)}; largest process (/usr/bin/time -v) "
          f"{c.mb(ours.largest_kb)}; tree peak {c.mb(ours.tree_kb)}; children: {ours.children_text()}")
    print(f"  peer: largest process {c.mb(peer.largest_kb)}, tree peak {c.mb(peer.tree_kb)}; "
          f"children: {peer.children_text()}")
    if foreign_drops:
        print(f"the drills dropped someone's old leftovers (> 6 h): {', '.join(sorted(set(foreign_drops)))}")
    print(f"load average after: {c.load_avg()}")
    return {"ok": ok, "ratio": ratio}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (>= 3, default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temp tree")
    parser.add_argument("--private-server", action="store_true",
                        help="import into a throwaway mariadbd (same InnoDB settings as 127.0.0.1:3306)")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be >= 3")
    database = "bench_crm"
    dump, expected = v.get_dump(database, 1), v.counts(database)
    tables = table_count(database)
    if args.private_server:
        shared = (c.HOST, c.PORT)
        with c.PrivateServer() as server:
            c.set_server("127.0.0.1", server.port)
            try:
                result = bench(database, dump, expected, tables, args.runs, args.keep)
            finally:
                c.set_server(*shared)
    else:
        result = bench(database, dump, expected, tables, args.runs, args.keep)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
