"""Bench: `opsbackup run db_backup` (whole process) against the shell pipeline it replaces,
`bash -o pipefail -c 'mysqldump … | gzip > f && sha256sum f > f.sha256'`, on a ≥ 200 MB CRM database.

The database `bench_crm` (≈ 300 MB in information_schema) is built once on 127.0.0.1:3306 and
reused; `--double` also builds `bench_crm2` (twice the rows) and runs the same bench on it, to show
that peak RSS stays flat as the dump grows. One warm-up per side checks the results (opsbackup's
dump has its trailer, its .sha256 matches, and it holds the same SQL as the peer's, less the
date line), then timed runs alternate ABBA. Prints medians, `ratio = X.XX (target <= 0.8)` and
peak RSS (target <= 80 MB). The last opsbackup dump is kept in /tmp/opsbackup-bench/<db>/db/ for
bench/verify.py. Exit 0 whatever the ratio; exit 1 when a run fails or the dump is wrong.

    .venv/bin/python bench/dump.py [--runs 5] [--double] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

FLAGS = ("--single-transaction --quick --routines --triggers --events --hex-blob "
         "--default-character-set=utf8mb4 --no-tablespaces")
TARGET_RATIO = 0.8
TARGET_RSS_MB = 80


def peer_argv(database: str) -> list[str]:
    return ["bash", "-o", "pipefail", "-c",
            f"mysqldump -h{c.HOST} -P{c.PORT} -u{c.USER} {FLAGS} {database} | gzip > f && sha256sum f > f.sha256"]


def sql_digest(path: Path) -> tuple[str, int, bytes]:
    """sha256 of the decompressed SQL without its `-- Dump completed on …` line, size, tail."""
    digest = hashlib.sha256()
    decoder = zlib.decompressobj(wbits=31)
    size = 0
    tail = b""
    carry = b""
    with open(path, "rb") as handle:
        while raw := handle.read(1 << 20):
            data = carry + decoder.decompress(raw)
            cut = data.rfind(b"\n") + 1
            body, carry = data[:cut], data[cut:]
            size += len(body)
            tail = (tail + body[-4096:])[-4096:]
            digest.update(b"".join(line for line in body.splitlines(keepends=True)
                                   if not line.startswith(b"-- Dump completed on")))
    return digest.hexdigest(), size + len(carry), tail + carry


def file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def keep_for_verify(base: Path, database: str) -> None:
    """Move opsbackup's dump (and .sha256) to the store bench/verify.py reads, replacing the last."""
    made = sorted((base / "db").glob("full-*"))
    if not made:
        return
    store = c.dump_store(database) / "db"
    store.mkdir(parents=True, exist_ok=True)
    for old in store.glob("full-*"):
        old.unlink()
    for path in made:
        shutil.move(str(path), store / path.name)


def clean(base: Path, peer: Path) -> None:
    for path in list((base / "db").glob("full-*")) + list(peer.glob("f*")):
        path.unlink()
    os.sync()  # no writeback of the previous run's output lands in the next timed run


def bench(database: str, runs: int, keep: bool) -> dict:
    size, data, rows = c.db_size(database)
    print(f"\n== {database}: {size / 1e6:.0f} MB in information_schema (data {data / 1e6:.0f} MB, "
          f"{sum(rows.values())} rows), on disk {c.datadir_size(database) / 1e6:.0f} MB")
    root = Path(tempfile.mkdtemp(prefix="opsbench-dump-"))
    base, peer = root / "tree", root / "peer"
    (base / "db").mkdir(parents=True)
    peer.mkdir()
    env = c.opsbackup_env(root, base, OPS_DB_NAME=database)
    side_a = [str(c.OPSBACKUP), "run", "db_backup"]
    side_b = peer_argv(database)
    ok = True
    try:
        # Warm-up, and the checks that keep a broken job from looking fast.
        a = c.run_timed(side_a, env)
        if a.rc != 0:
            print(f"opsbackup run db_backup failed (exit {a.rc}):\n{a.stdout}{a.stderr}")
            return {"ok": False}
        b = c.run_timed(side_b, env, cwd=str(peer))
        if b.rc != 0:
            print(f"peer pipeline failed (exit {b.rc}):\n{b.stderr}")
            return {"ok": False}
        dumps = sorted((base / "db").glob("full-*.sql.gz"))
        if len(dumps) != 1 or not dumps[0].with_name(dumps[0].name + ".sha256").exists():
            print(f"expected one full-*.sql.gz and its .sha256 in {base / 'db'}, found {os.listdir(base / 'db')}")
            return {"ok": False}
        ours = dumps[0]
        named = ours.with_name(ours.name + ".sha256").read_text().split()
        problems = []
        if named != [file_sha(ours), ours.name]:
            problems.append(f".sha256 does not match the file ({named})")
        ours_sql, ours_size, ours_tail = sql_digest(ours)
        peer_sql, peer_size, _ = sql_digest(peer / "f")
        if b"\n-- Dump completed on" not in ours_tail:
            problems.append("no `-- Dump completed` trailer")
        if ours_sql != peer_sql:
            problems.append(f"its SQL differs from mysqldump's ({ours_size} vs {peer_size} bytes)")
        if problems:
            print("opsbackup's dump is wrong: " + "; ".join(problems))
            return {"ok": False}
        print(f"checked: {ours.name} {ours.stat().st_size / 1e6:.1f} MB gzip'd, {ours_size / 1e6:.1f} MB of SQL, "
              f"same SQL as mysqldump's, trailer present, .sha256 matches; peer's f {(peer / 'f').stat().st_size / 1e6:.1f} MB")
        print(f"load average before timing: {c.load_avg()}{c.busy_note()}")

        times = {"a": [], "b": []}
        server = {"a": [], "b": []}
        runs_of = {"a": [], "b": []}
        for i in range(runs):
            order = ("a", "b") if i % 2 == 0 else ("b", "a")
            for side in order:
                keep_for_verify(base, database)
                clean(base, peer)
                before = c.server_cpu()
                run = c.run_timed(side_a, env) if side == "a" else c.run_timed(side_b, env, cwd=str(peer))
                server[side].append(c.server_cpu() - before)
                if run.rc != 0:
                    print(f"run {i} side {side} failed (exit {run.rc}): {run.stdout[-2000:]}{run.stderr[-2000:]}")
                    ok = False
                times[side].append(run.seconds)
                runs_of[side].append(run)
        keep_for_verify(base, database)  # the last opsbackup dump, for bench/verify.py
    finally:
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    med_a, med_b = c.median(times["a"]), c.median(times["b"])
    ratio = med_a / med_b
    ours, peer = c.peaks(runs_of["a"]), c.peaks(runs_of["b"])
    ours_top, ours_max, ours_tree = ours.top_kb, ours.largest_kb, ours.tree_kb
    print(f"opsbackup run db_backup: median {med_a:.2f} s  [{c.spread(times['a'])}]")
    print(f"mysqldump | gzip + sha256sum: median {med_b:.2f} s  [{c.spread(times['b'])}]")
    print(f"ratio = {ratio:.2f} (target <= {TARGET_RATIO})  {'OK' if ratio <= TARGET_RATIO else 'MISSED'}")
    cpu_a = c.median([r.cpu_s or 0 for r in runs_of["a"]])
    cpu_b = c.median([r.cpu_s or 0 for r in runs_of["b"]])
    print(f"CPU (user+sys, median): opsbackup tree {cpu_a:.2f} s, peer tree {cpu_b:.2f} s; "
          f"server {c.median(server['a']):.2f} s / {c.median(server['b']):.2f} s")
    print(f"peak RSS, opsbackup interpreter (VmHWM): {c.mb(ours_top)} (target <= {TARGET_RSS_MB} MB)  "
          f"{'OK' if ours_top / 1024 <= TARGET_RSS_MB else 'MISSED'}")
    print(f"  largest process of its tree (/usr/bin/time -v max RSS): {c.mb(ours_max)}; "
          f"children: {ours.children_text()}; "
          f"whole tree at its peak: {c.mb(ours_tree)}")
    print(f"  peer: largest process {c.mb(peer.largest_kb)}, whole tree at its peak {c.mb(peer.tree_kb)}")
    print(f"load average after: {c.load_avg()}")
    return {"ok": ok, "db": database, "size": size, "a": med_a, "b": med_b, "ratio": ratio, "rss_top": ours_top,
            "rss_max": ours_max, "rss_tree": ours_tree, "sql": ours_size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per side (>= 3, default 5)")
    parser.add_argument("--double", action="store_true",
                        help="also bench bench_crm2 (twice the rows) to show peak RSS stays flat")
    parser.add_argument("--only-double", action="store_true", help="bench bench_crm2 only")
    parser.add_argument("--keep", action="store_true", help="keep the temp trees")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be >= 3")
    if not c.OPSBACKUP.exists():
        print(f"no console script at {c.OPSBACKUP}; run with the project's venv", file=sys.stderr)
        return 1
    targets = [] if args.only_double else [("bench_crm", 1)]
    if args.double or args.only_double:
        targets.append(("bench_crm2", 2))
    results = []
    for database, scale in targets:
        c.ensure_crm(database, scale)
        results.append(bench(database, args.runs, args.keep))
    if not all(r["ok"] for r in results):
        return 1
    if len(results) > 1:
        print("\n== RSS against dump size")
        for r in results:
            print(f"{r['db']:<11} {r['size'] / 1e6:5.0f} MB db, {r['sql'] / 1e6:5.0f} MB SQL: "
                  f"ratio {r['ratio']:.2f}, opsbackup VmHWM {c.mb(r['rss_top'])}, "
                  f"largest process {c.mb(r['rss_max'])}, tree peak {c.mb(r['rss_tree'])}")
        growth = results[-1]["rss_top"] / results[0]["rss_top"] - 1
        print(f"opsbackup VmHWM change for {results[-1]['sql'] / results[0]['sql']:.1f}x the SQL: {100 * growth:+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
