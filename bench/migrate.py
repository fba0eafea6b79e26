"""Bench: `opsbackup migrate` (whole process) against the shell loop it replaces,
`for f in *.sql; do gzip -c "$f" > "$f.gz" && sha256sum "$f.gz" > "$f.gz.sha256"; done`,
on 2 GB of legacy `.sql` dumps (8 × 256 MB of mysqldump-like SQL: extended INSERT lines, UTF-8,
escaped quotes).

The legacy files are generated once into a cache folder (/tmp/opsbackup-bench/migrate-<size>/, reused
while its meta file matches) and copied fresh into a scratch tree before every run (not timed;
`sync` after the copy so its writeback does not land in the timed run). One warm-up per side; the
warm-up of opsbackup is checked: every file migrated to db/full-YYYYmmdd-HHMM.sql.gz, its .sha256
true, its decompressed content identical to the original. Then timed runs alternate ABBA. Prints
medians, `ratio = X.XX (target <= 0.8 with pigz)` and the peak RSS of the opsbackup interpreter and
of its compressor; `--double` runs the same on 8 × 512 MB (4 GB) to show the RSS stays flat.
Needs about 2× the data size free in /tmp (3× with --double while both caches exist); the scratch
trees are always removed, the caches with `--purge`.

    .venv/bin/python bench/migrate.py [--runs 3] [--double] [--purge]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
import zlib
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

TARGET_RATIO = 0.8
FILES = 8
MB = 1024 * 1024
GENERATOR_VERSION = 1
BLOCK = 8 * MB  # unique SQL blocks; each file is a different rotation of them
PEER_LOOP = 'for f in *.sql; do gzip -c "$f" > "$f.gz" && sha256sum "$f.gz" > "$f.gz.sha256"; done'

HEADER = (
    "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n--\n"
    "-- Host: localhost    Database: crm\n-- ------------------------------------------------------\n"
    "-- Server version\t10.11.6-MariaDB-0+deb12u1\n\n/*!40101 SET NAMES utf8mb4 */;\n\n"
    "DROP TABLE IF EXISTS `contacts`;\nCREATE TABLE `contacts` (\n  `id` int(10) unsigned NOT NULL,\n"
    "  `first_name` varchar(80) NOT NULL,\n  `last_name` varchar(80) NOT NULL,\n  `email` varchar(190) NOT NULL,\n"
    "  `phone` varchar(40) DEFAULT NULL,\n  `lead_score` smallint(6) NOT NULL DEFAULT 0,\n"
    "  `notes` text DEFAULT NULL,\n  `created_at` datetime NOT NULL,\n  PRIMARY KEY (`id`)\n"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;\n\nLOCK TABLES `contacts` WRITE;\n"
)
FOOTER = "UNLOCK TABLES;\n\n-- Dump completed on 2024-05-01  3:00:12\n"
FIRST = ("Jan", "Petr", "Eva", "Jana", "Tomáš", "Lucie", "Martin", "Kateřina", "Pavel", "Alžběta", "Bob", "Čeněk",
         "Zuzana", "Ondřej", "Veronika", "Jiří")
LAST = ("Novák", "Svoboda", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý", "Horák", "Smith", "O\\'Brien",
        "Marek", "Pokorný", "Růžička", "Beneš")
WORDS = ("call", "back", "next", "week", "offer", "sent", "meeting", "budget", "renewal", "demo", "pricing",
         "contract", "signed", "lost", "to", "the", "after", "Q3", "invoice", "support", "nabídka", "schůzka",
         "zavolat", "příští", "týden")


def sql_block(seed: int, size: int, first_id: int) -> bytes:
    """About `size` bytes of `INSERT INTO contacts VALUES (…),(…);` lines, ~60 KB each."""
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    row_id = first_id
    while total < size:
        values = []
        for _ in range(300):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            notes = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 16)))
            values.append(f"({row_id},'{first}','{last}','{first.lower()}.{row_id}@example.com',"
                          f"'+420 {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(100, 999)}',"
                          f"{rng.randint(0, 100)},'{notes}','20{rng.randint(15, 24)}-{rng.randint(1, 12):02d}-"
                          f"{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
                          f"{rng.randint(0, 59):02d}')")
            row_id += 1
        line = "INSERT INTO `contacts` VALUES " + ",".join(values) + ";\n"
        out.append(line)
        total += len(line.encode())
    return "".join(out).encode("utf-8")


def legacy_names() -> list[tuple[str, float]]:
    """Names in the old shapes, each with the time its name says (used as its mtime)."""
    out = []
    for i in range(FILES):
        when = datetime(2024, 5, 1 + i, 3, 0)
        name = (f"crm-{when:%Y-%m-%d_%H%M}.sql" if i % 2 == 0 else f"backup_{when:%Y%m%d%H%M%S}.sql")
        out.append((name, when.timestamp()))
    return out


def ensure_cache(file_mb: int, say=print) -> tuple[Path, dict[str, str]]:
    """The cached legacy files of `file_mb` MB each; returns (folder, name -> sha256 of the content)."""
    folder = c.BENCH_HOME / f"migrate-{file_mb}"
    meta_path = folder / "meta.json"
    wanted = {"version": GENERATOR_VERSION, "files": FILES, "file_mb": file_mb}
    try:
        meta = json.loads(meta_path.read_text())
        if {k: meta.get(k) for k in wanted} == wanted and all(
                (folder / name).stat().st_size == meta["sizes"][name] for name, _ in legacy_names()):
            return folder, meta["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    need = FILES * file_mb * MB
    free = shutil.disk_usage(c.BENCH_HOME.parent if not c.BENCH_HOME.exists() else c.BENCH_HOME).free
    if free < 2.5 * need:
        raise SystemExit(f"not enough space for the cache and a scratch copy: {need / 1e9:.1f} GB × 2.5 "
                         f"needed, {free / 1e9:.1f} GB free")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.monotonic()
    blocks_n = max(1, (file_mb * MB) // BLOCK)
    say(f"generating {FILES} × {file_mb} MB of legacy SQL into {folder} ({blocks_n} unique blocks of "
        f"{BLOCK // MB} MB, each file a different rotation) …")
    blocks = [sql_block(1000 + b, BLOCK, 1 + b * 100_000) for b in range(blocks_n)]
    sizes, digests = {}, {}
    for index, (name, when) in enumerate(legacy_names()):
        digest = hashlib.sha256()
        path = folder / name
        with open(path, "wb") as handle:
            for piece in [HEADER.encode()] + [blocks[(index + k) % blocks_n] for k in range(blocks_n)] + \
                         [FOOTER.encode()]:
                handle.write(piece)
                digest.update(piece)
        os.utime(path, (when, when))
        sizes[name], digests[name] = path.stat().st_size, digest.hexdigest()
    meta_path.write_text(json.dumps({**wanted, "sizes": sizes, "sha256": digests}, indent=1))
    say(f"generated in {time.monotonic() - t0:.0f} s")
    return folder, digests


def fresh_copy(cache: Path, into: Path) -> None:
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    for name, when in legacy_names():
        shutil.copyfile(cache / name, into / name)
        os.utime(into / name, (when, when))
    os.sync()


def content_sha(path: Path) -> str:
    digest = hashlib.sha256()
    decoder = zlib.decompressobj(wbits=31)
    with open(path, "rb") as handle:
        while raw := handle.read(MB):
            digest.update(decoder.decompress(raw))
    return digest.hexdigest()


def file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MB):
            digest.update(chunk)
    return digest.hexdigest()


def check_ours(base: Path, digests: dict[str, str]) -> list[str]:
    problems = []
    db = base / "db"
    leftover = sorted(p.name for p in base.glob("*.sql"))
    if leftover:
        problems.append(f"not migrated: {leftover}")
    for name, when in legacy_names():
        target = db / f"full-{datetime.fromtimestamp(when):%Y%m%d-%H%M}.sql.gz"
        if not target.exists():
            problems.append(f"{target.name} missing")
            continue
        if (db / (target.name + ".sha256")).read_text().split() != [file_sha(target), target.name]:
            problems.append(f"{target.name}.sha256 does not match")
        if content_sha(target) != digests[name]:
            problems.append(f"{target.name} does not hold {name}")
    return problems


def bench(file_mb: int, runs: int) -> dict:
    cache, digests = ensure_cache(file_mb)
    total = sum((cache / name).stat().st_size for name, _ in legacy_names())
    print(f"\n== {FILES} × {file_mb} MB = {total / 1e9:.2f} GB of legacy .sql ({cache}); "
          f"compressor: {shutil.which('pigz') or 'gzip (no pigz!)'}; df /tmp: "
          f"{shutil.disk_usage('/tmp').free / 1e9:.0f} GB free")
    # Everything of a run, /usr/bin/time's reports included, under a folder of its own: other
    # benches sweep /tmp/opsbench-* while they clean up.
    root = c.BENCH_HOME / f"migrate-run-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "tmp").mkdir(parents=True)
    tempfile.tempdir = str(root / "tmp")
    base, peer = root / "tree", root / "peer"
    env = c.opsbackup_env(root, base)
    side_a = [str(c.OPSBACKUP), "migrate"]
    side_b = ["bash", "-c", PEER_LOOP]
    times: dict[str, list[float]] = {"a": [], "b": []}
    runs_of: dict[str, list] = {"a": [], "b": []}

    def once(side: str):
        if side == "a":
            shutil.rmtree(peer, ignore_errors=True)
            fresh_copy(cache, base)
            return c.run_timed(side_a, env)
        shutil.rmtree(base, ignore_errors=True)
        fresh_copy(cache, peer)
        return c.run_timed(side_b, env, cwd=str(peer))

    try:
        a = once("a")
        if a.rc != 0:
            print(f"opsbackup migrate failed (exit {a.rc}):\n{a.stdout[-3000:]}{a.stderr[-3000:]}")
            return {"ok": False}
        problems = check_ours(base, digests)
        if problems:
            print("opsbackup's migration is wrong: " + "; ".join(problems))
            return {"ok": False}
        gz = sum(p.stat().st_size for p in (base / "db").glob("full-*.sql.gz"))
        print(f"checked: {FILES} dumps in db/, each .sha256 true, each decompresses to its original "
              f"({total / 1e9:.2f} GB → {gz / 1e9:.2f} GB); warm-up {a.seconds:.1f} s")
        b = once("b")
        if b.rc != 0 or len(list(peer.glob("*.sql.gz.sha256"))) != FILES:
            print(f"peer loop failed (exit {b.rc}): {b.stderr[-2000:]}")
            return {"ok": False}
        print(f"peer warm-up {b.seconds:.1f} s; load average before timing: {c.load_avg()}")
        for i in range(runs):
            for side in (("a", "b") if i % 2 == 0 else ("b", "a")):
                run = once(side)
                if run.rc != 0:
                    print(f"run {i} side {side} failed (exit {run.rc}): {run.stderr[-2000:]}")
                    return {"ok": False}
                times[side].append(run.seconds)
                runs_of[side].append(run)
                print(f"  run {i + 1} {'opsbackup' if side == 'a' else 'peer     '} {run.seconds:6.2f} s", flush=True)
    finally:
        tempfile.tempdir = None
        shutil.rmtree(root, ignore_errors=True)

    med_a, med_b = c.median(times["a"]), c.median(times["b"])
    ratio = med_a / med_b
    ours = c.peaks(runs_of["a"])
    top, largest, tree = ours.top_kb, ours.largest_kb, ours.tree_kb
    print(f"opsbackup migrate: median {med_a:.2f} s  [{c.spread(times['a'])}]  "
          f"({total / med_a / 1e6:.0f} MB/s of SQL)")
    print(f"gzip -c + sha256sum loop: median {med_b:.2f} s  [{c.spread(times['b'])}]  "
          f"({total / med_b / 1e6:.0f} MB/s)")
    print(f"ratio = {ratio:.2f} (target <= {TARGET_RATIO} with pigz)  {'OK' if ratio <= TARGET_RATIO else 'MISSED'}")
    cpu_a = [getattr(r, "cpu_s", None) for r in runs_of["a"]]
    cpu_b = [getattr(r, "cpu_s", None) for r in runs_of["b"]]
    if None not in cpu_a + cpu_b:  # pigz wins on idle cores only: on a saturated host wall time follows CPU
        print(f"CPU user+sys of the whole tree (median): opsbackup {c.median(cpu_a):.1f} s, "
              f"peer {c.median(cpu_b):.1f} s; {os.cpu_count()} CPUs, load average {c.load_avg()}")
    print(f"peak RSS: opsbackup interpreter (VmHWM) {c.mb(top)}; largest process (/usr/bin/time -v) {c.mb(largest)}; "
          f"children: {ours.children_text()}; "
          f"whole tree at its peak {c.mb(tree)}")
    print(f"load average after: {c.load_avg()}")
    return {"ok": True, "file_mb": file_mb, "total": total, "a": med_a, "b": med_b, "ratio": ratio,
            "rss_top": top, "rss_max": largest, "rss_tree": tree}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per side (>= 3, default 3)")
    parser.add_argument("--file-mb", type=int, default=256, help="size of each of the 8 files (default 256)")
    parser.add_argument("--double", action="store_true", help="also 8 files twice as big, to show RSS stays flat")
    parser.add_argument("--purge", action="store_true", help="remove the cached legacy files at the end")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be >= 3")
    if not c.OPSBACKUP.exists():
        print(f"no console script at {c.OPSBACKUP}; run with the project's venv", file=sys.stderr)
        return 1
    sizes = [args.file_mb] + ([args.file_mb * 2] if args.double else [])
    results = []
    try:
        for file_mb in sizes:
            results.append(bench(file_mb, args.runs))
            if not results[-1]["ok"]:
                return 1
    finally:
        if args.purge:
            for file_mb in sizes:
                shutil.rmtree(c.BENCH_HOME / f"migrate-{file_mb}", ignore_errors=True)
            print(f"purged the caches under {c.BENCH_HOME}")
    if len(results) > 1:
        print("\n== peak RSS against data size")
        for r in results:
            print(f"{r['total'] / 1e9:5.2f} GB: ratio {r['ratio']:.2f}, opsbackup VmHWM {c.mb(r['rss_top'])}, "
                  f"largest process {c.mb(r['rss_max'])}, tree peak {c.mb(r['rss_tree'])}")
        small, big = results[0]["rss_top"], results[-1]["rss_top"]
        print(f"RSS growth for {results[-1]['total'] / results[0]['total']:.0f}× the data: "
              f"{(big - small) / 1024:+.1f} MB ({'flat' if abs(big - small) < 0.1 * small else 'NOT flat'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
