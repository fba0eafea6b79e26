"""Bench: key press to repaint in the dashboard while each long job runs — a DB backup, an uploads
snapshot (restic) and a verify import — and `?` to the help painted.

The app (opsbackup_tui.app.make_app, `app.run_test(size=(120, 40))`) runs in this process with a
backup tree in a temp dir and the three jobs configured for real (bench/_tui.py): the DB backup of
`bench_crm` (≈ 300 MB, built/reused by _common.ensure_crm) on 127.0.0.1:3306, the verify restore
of the dump that backup made (a guarded streamed import into verify_<stamp>, dropped after), and
`restic backup` of a ≥ 1 GB uploads dir made by the bench (cached under /tmp/opsbackup-bench;
every file touched before each run, so restic reads and hashes all of it each time) into a fresh
repository. The bench presses the job's key (`d`, `v`, `s`), then `y` in the confirmation, so the
real job runs (its children at the child priority of the settings: nice 10, idle I/O by default,
its relay threads and 4 Hz progress events in this same interpreter, as in the UI), and while it
streams it presses keys:
  cursor   `down` / `up` alternately on the checklist (the DataTable moves its cursor row);
  filter   `/` (the log filter Input appears and takes focus) / `escape` (it goes away);
  help     `?` until the help is painted whole (its Document rendered and on screen), then
           `escape` back (not timed). The help's rendering cache is emptied before every press:
           each sample renders the help anew, as the first `?` of a session does.

What is timed: from the call of `pilot.press(key)` to the end of the first screen refresh that
shows the key's effect. The refresh is hooked on the app instance: `App._display(screen, update)`
is called by Screen._compositor_refresh right after the compositor rendered the dirty regions;
the hook (bench code, not the app's) also encodes the update to terminal bytes as a real driver
does (`CompositorUpdate.render_segments`; the headless driver of run_test skips that step), then
checks the effect. The first refresh after which the effect holds ends the sample. `pilot.press`
itself then still waits for the process to go idle (its wait_for_idle): that tail is test
scaffolding, so once the repaint is seen the press task is cancelled and the next press follows
after a random 60–140 ms gap (so presses land at all phases of the progress ticks).

A sample counts for a job only when that job had sent progress before the press and still ran at
the repaint; jobs are started again until each series has `--samples` such samples (at most
`--max-jobs` runs per kind). The same series are also measured with no job running ("idle"). Each
run's result is checked: the backup left a full-*.sql.gz (≥ 90 % of bench/dump.py's kept dump
size, when there is one) with its .sha256; the verify log says OK; the snapshot wrote its marker.
Targets, per job: median ≤ 50 ms and p95 ≤ 150 ms over cursor and filter together; help ≤ 200 ms.

Bytecode: PYTHONDONTWRITEBYTECODE=1 in this environment, and the app runs in this interpreter,
so nothing is cached: the first `?` of the run also imports (compiles) the viewer, the Document
widget and markdown-it; it is reported apart ("first ?") and not among the help samples.

    .venv/bin/python bench/tui_keys.py [--samples 40] [--max-jobs 6] [--jobs db_backup,verify,snapshot] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import _tui as t  # noqa: E402

TARGET_MEDIAN_MS, TARGET_P95_MS, TARGET_HELP_MS = 50, 150, 200
SERIES = ("cursor", "filter", "help")
ORDER = ("db_backup", "verify", "snapshot")  # the verify imports the dump the backup made


async def bench(root: Path, kinds: list[str], samples: int, max_jobs: int) -> dict:
    from textual._compositor import CompositorUpdate
    from textual.widgets import Input

    from opsbackup_tui.screens.dashboard import DashboardScreen
    from opsbackup_tui.widgets import document
    from opsbackup_tui.widgets.checklist import ChecklistTable

    app, uploads, watch = t.app_for(root, kinds)
    base = app.settings.backup_base

    pending: list = []  # [(predicate, future)]
    orig_display = app._display

    def display(screen, renderable) -> None:
        orig_display(screen, renderable)
        if isinstance(renderable, CompositorUpdate):
            renderable.render_segments(app.console)  # what a terminal driver would write
        if pending:
            predicate, future = pending[0]
            if not future.done() and predicate():
                future.set_result((time.perf_counter(), time.thread_time()))

    app._display = display
    conditions = ["idle", *kinds]
    results = {cond: {series: [] for series in SERIES} for cond in conditions}
    cpu = {cond: {series: [] for series in SERIES} for cond in conditions}  # the UI thread's own work
    first_help: list[float] = []
    timeouts: dict[str, int] = {}
    cpu_ms = [0.0]
    rng = random.Random(1)
    runs: list[tuple[str, bool, str, float]] = []

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        table = app.screen.query_one(ChecklistTable)
        filt = app.screen.query_one("#log-filter", Input)
        for _ in range(100):
            if table.row_count >= 5:
                break
            await pilot.pause(0.05)

        async def measure(key: str, predicate) -> float | None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            pending[:] = [(predicate, future)]
            t0, cpu0 = time.perf_counter(), time.thread_time()
            press = asyncio.ensure_future(pilot.press(key))
            try:
                done = await asyncio.wait_for(asyncio.shield(future), 10.0)
            except asyncio.TimeoutError:
                timeouts[key] = timeouts.get(key, 0) + 1
                done = None
            finally:
                pending.clear()
                press.cancel()
                try:
                    await press
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - only its idle wait was cut
                    pass
            if done is None:
                return None
            cpu_ms[0] = (done[1] - cpu0) * 1000
            return (done[0] - t0) * 1000

        def help_painted() -> bool:
            screen = app.screen
            found = screen.query(document.Document) if type(screen).__name__ == "MarkdownScreen" else []
            return bool(found) and found.first().rendered is not None

        async def back_to_dashboard() -> None:
            while not isinstance(app.screen, DashboardScreen):
                await pilot.press("escape")
                await pilot.pause(0.05)

        async def one(series: str) -> float | None:
            if series == "cursor":
                if app.focused is not table:
                    table.focus()
                    await pilot.pause(0.05)
                row = table.cursor_row
                key, want = ("down", row + 1) if row < 2 else ("up", row - 1)
                return await measure(key, lambda: table.cursor_row == want)
            if series == "filter":
                if filt.region.height > 0 and app.focused is not filt:
                    filt.focus()  # a cursor press in between took the focus to the table
                    await pilot.pause(0.05)
                if filt.region.height == 0:
                    return await measure("slash", lambda: filt.region.height > 0 and app.focused is filt)
                return await measure("escape", lambda: filt.region.height == 0)
            if filt.region.height > 0:  # close the log filter first (escape acts where the focus is)
                filt.focus()
                await pilot.pause(0.05)
                await measure("escape", lambda: filt.region.height == 0)
            document._cache.clear()  # each sample renders the help anew
            ms = await measure("question_mark", help_painted)
            await pilot.pause(0.05)
            await back_to_dashboard()
            return ms

        async def sample(cond: str, series: str) -> None:
            before = watch.streaming if cond != "idle" else watch.running is None
            ms = await one(series)
            counts = (watch.running == cond) if cond != "idle" else watch.running is None
            if ms is not None and before and counts:
                results[cond][series].append(ms)
                cpu[cond][series].append(cpu_ms[0])
            await asyncio.sleep(rng.uniform(0.06, 0.14))

        first_help.append(await one("help") or float("nan"))  # imports the viewer: apart
        for series in SERIES:
            while len(results["idle"][series]) < samples:
                await sample("idle", series)
        if filt.region.height > 0:
            await one("filter")

        for kind in kinds:
            started = 0
            while any(len(results[kind][s]) < samples for s in SERIES) and started < max_jobs:
                t.clean_before(kind, base, uploads)
                await back_to_dashboard()
                table.focus()
                await t.start_job(pilot, watch, kind)
                started += 1
                while watch.running == kind:
                    need = [s for s in SERIES if len(results[kind][s]) < samples]
                    if not need:
                        break
                    await sample(kind, rng.choice(need))
                if filt.region.height > 0:
                    await one("filter")
                while watch.running is not None:
                    await asyncio.sleep(0.1)
                event = watch.finished[-1]
                runs.append((kind, *t.check_result(kind, event, base)))
                await pilot.pause(0.3)
    return {"results": results, "cpu": cpu, "timeouts": timeouts, "runs": runs, "first_help": first_help[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=40, help="samples per key series and condition (>= 30)")
    parser.add_argument("--max-jobs", type=int, default=6, help="at most this many runs per job kind (default 6)")
    parser.add_argument("--jobs", default=",".join(ORDER), help="the jobs to press keys under (default all three)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--switch-interval-ms", type=float, default=None,
                        help="sys.setswitchinterval for this run (Python's default: 5 ms), to see what the GIL costs")
    args = parser.parse_args()
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1000)
    print(f"GIL switch interval: {sys.getswitchinterval() * 1000:.1f} ms")
    if args.samples < 30:
        parser.error("--samples must be >= 30")
    kinds = [k for k in ORDER if k in args.jobs.split(",")]
    out = t.run_bench("opsbench-keys-", lambda root: bench(root, kinds, args.samples, args.max_jobs), args.keep,
                      "so only the first ? pays the imports")
    ok = True
    for kind, good, text, seconds in out["runs"]:
        print(f"{kind:<9} run: {'OK' if good else 'FAILED'} in {seconds:.1f} s, {text}")
        ok = ok and good
    res = out["results"]
    print(f"first ? of the process (imports the viewer and markdown-it): {out['first_help']:.1f} ms")
    for cond, series_values in res.items():
        for series, v in series_values.items():
            if v:
                what = {"cursor": "down/up", "filter": "/ and escape", "help": "? painted"}[series]
                u = out["cpu"][cond][series]
                print(f"{cond:<9} {series:<6} ({what}): n={len(v):3d}  median {c.median(v):6.1f} ms  "
                      f"p95 {t.pct(v, 0.95):6.1f} ms  max {max(v):6.1f} ms   UI thread CPU in it: median "
                      f"{c.median(u):5.1f} ms, p95 {t.pct(u, 0.95):5.1f} ms")
    for cond, series_values in res.items():
        keys = series_values["cursor"] + series_values["filter"]
        helps = series_values["help"]
        if len(keys) < 30 or len(helps) < 10:
            print(f"{cond}: only {len(keys)} key and {len(helps)} help samples")
            ok = False
            continue
        med, p95, help_med = c.median(keys), t.pct(keys, 0.95), c.median(helps)
        fine = med <= TARGET_MEDIAN_MS and p95 <= TARGET_P95_MS and help_med <= TARGET_HELP_MS
        print(f"{cond:<9} key press → repaint: median {med:.1f} ms, p95 {p95:.1f} ms (targets {TARGET_MEDIAN_MS}/"
              f"{TARGET_P95_MS}); ? → help painted: median {help_med:.1f} ms, p95 {t.pct(helps, 0.95):.1f} ms "
              f"(target {TARGET_HELP_MS})  {'OK' if fine else 'MISSED'}")
    print("  (UI thread CPU: time.thread_time() of the app's thread from the press to the repaint, i.e. its own "
          "work; the rest of the latency is waiting for the GIL (the job's relay threads share this "
          "interpreter), a free core, or the refresh tick)")
    for key, count in out["timeouts"].items():
        print(f"{count} presses of {key} showed no effect within 10 s (not counted)")
    print(f"load average after: {c.load_avg()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
