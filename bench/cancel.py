"""Bench: cancel a running job from the UI; how long until its children's process groups are gone.

The app runs in this process as in bench/tui_keys.py (bench/_tui.py: the DB backup of bench_crm,
the verify import of the dump it made, the restic snapshot of a ≥ 1 GB uploads dir). For each kind
the bench starts the job by its key and `y`, waits until it streams progress, notes the process
groups its children lead (core.proc.Child starts each child in its own session: mariadb-dump and
pigz, the mariadb client, restic), then cancels it by keys: `x` (the only job running) asks, and
`y` answers; the press timed is that `y`. Timed from it: until no process is left in any of those
groups (/proc polled every 2 ms), and until the job ended cancelled (its own cleanup done:
a partial dump removed, the scratch database dropped, the lock released). Target: the groups are
gone within 1 s of the press. Checked after each run: nothing half-written is left (no dump, no
.partial, no verify log, no marker) and the lock is free.

    .venv/bin/python bench/cancel.py [--runs 5] [--jobs db_backup,verify,snapshot] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import _tui as t  # noqa: E402

TARGET_S = 1.0
ORDER = ("verify", "snapshot", "db_backup")  # the verify imports a dump made first; the cancels remove theirs


async def bench(root: Path, kinds: list[str], runs: int) -> dict:
    from opsbackup_tui.core.events import Finished
    from opsbackup_tui.core.locks import peek

    app, uploads, watch = t.app_for(root, kinds)
    base = app.settings.backup_base
    out: dict[str, list[tuple[float, float, list[str]]]] = {kind: [] for kind in kinds}

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        if "verify" in kinds and not list((base / "db").glob("full-*.sql.gz")):
            t.clean_before("db_backup", base, uploads)
            await t.start_job(pilot, watch, "db_backup")  # the dump the verify imports
            while watch.running is not None:
                await asyncio.sleep(0.1)
            if not watch.finished[-1].ok:
                raise RuntimeError(f"the DB backup for the verify failed: {watch.finished[-1].error}")
        for kind in kinds:
            for _ in range(runs):
                t.clean_before(kind, base, uploads)
                if kind == "db_backup":
                    before = set()
                else:
                    before = {p.name for p in (base / "db").iterdir()}
                await t.start_job(pilot, watch, kind)
                await asyncio.sleep(0.5)  # well inside the job: every child of its pipeline started
                groups = t.child_groups()
                if not groups:
                    raise RuntimeError(f"{kind}: no child process found while it runs")
                await pilot.press("x")  # the only job running: x asks to cancel it
                for _ in range(500):
                    if type(app.screen).__name__ == "ConfirmScreen":
                        break
                    await pilot.pause(0.01)
                else:
                    raise RuntimeError("x did not ask to cancel the job")
                t0 = time.perf_counter()
                press = asyncio.ensure_future(pilot.press("y"))
                gone = None
                while gone is None:
                    if not t.alive_in(groups):
                        gone = time.perf_counter() - t0
                    else:
                        await asyncio.sleep(0.002)
                while not (watch.finished and isinstance(watch.finished[-1], Finished)
                           and watch.finished[-1].job == kind and watch.running is None):
                    await asyncio.sleep(0.005)
                ended = time.perf_counter() - t0
                try:
                    await press
                except Exception:  # noqa: BLE001 - only its idle wait
                    pass
                problems = []
                event = watch.finished[-1]
                if not event.cancelled:
                    problems.append(f"not cancelled: {event.summary}")
                left = {p.name for p in (base / "db").iterdir()} - before
                if left:
                    problems.append(f"left in db/: {sorted(left)}")
                if kind == "verify" and list((base / "verify").glob("verify-*")):
                    problems.append("a verify log was written")
                if kind == "snapshot" and list((base / "snapshots").glob("snapshot-*")):
                    problems.append("a marker was written")
                if peek(base, kind) is not None:
                    problems.append("the lock is still held")
                out[kind].append((gone, ended, problems))
                await pilot.pause(0.5)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="cancels per job kind (default 5)")
    parser.add_argument("--jobs", default=",".join(ORDER), help="the jobs to cancel (default all three)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    kinds = [k for k in ORDER if k in args.jobs.split(",")]
    out = t.run_bench("opsbench-cancel-", lambda root: bench(root, kinds, args.runs), args.keep,
                      "imported before any timing")
    ok = True
    for kind, samples in out.items():
        gone = [g for g, _, _ in samples]
        ended = [e for _, e, _ in samples]
        problems = [p for _, _, ps in samples for p in ps]
        fine = not problems and max(gone) <= TARGET_S
        print(f"{kind:<9} x, y → children's groups gone after the y: n={len(gone)} median {c.median(gone) * 1000:.0f} ms, "
              f"max {max(gone) * 1000:.0f} ms (target {TARGET_S * 1000:.0f} ms); → job ended: median "
              f"{c.median(ended) * 1000:.0f} ms, max {max(ended) * 1000:.0f} ms  {'OK' if fine else 'MISSED'}")
        for problem in problems:
            print(f"  {problem}")
        ok = ok and not problems
    print(f"load average after: {c.load_avg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
