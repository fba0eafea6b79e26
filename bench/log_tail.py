"""Bench: the ops.log tail panel on a 2 GB ops.log: time to the last 1000 lines on screen, peak RSS,
and following 10k appended lines/s.

The log (2 GiB of Laravel `production.*` lines with opsbackup's own `opsbackup.*` job lines mixed
in, ≈ 1 in 200 an ERROR/ALERT, some ERRORs followed by `#0 …` stack-trace lines, timestamps
rising over ~2 months) is generated once into /tmp/opsbackup-bench/logtail-<MiB>/ops.log and reused
while its meta file matches; its last line carries a unique marker. Part (c) appends to it and
cuts it back to its cached size at the end.

(a) time to the last 1000 lines on screen, each run in a fresh harness process:
    app      opsbackup_tui.app.make_app(settings) in `app.run_test(size=(120, 40))` (settings from
             load_settings({backup_base, log_path, state_dir}, environ={})): from just before
             run_test to the moment the LogTail's Log holds the file's last line (polled every
             1 ms on the app's loop), and to the screen refresh after it; also the app's own
             LogFollower.start() call, timed in place.
    follow   core.follow.LogFollower(path, 1000).start() alone, in this process (median of 20).
    peer     `tail -n 1000 FILE > /dev/null` (a process: fork/exec included, as a shell shows it).
    The first run checks that the panel holds exactly the file's last 1000 lines (as `tail -n 1000`
    prints them). Target: the tail read <= 50 ms.
(b) peak RSS (VmHWM) of the harness process of (a), and the same harness on a 1000-line log for
    comparison. Target <= 150 MB.
(c) the app runs (one harness process); an appender process writes 10k lines/s (100-line O_APPEND
    writes every 10 ms, 1 in 200 an ERROR) for 10 s. The harness hooks LogTail.add_lines (bench
    code, not the app's) and notes, for each batch the panel gets, when it got it and which
    sequence numbers it held; a 10 ms heartbeat task measures how long the app's loop stalls.
    Lag of an appended write = when the panel got its last line − when it was written (one
    clock, time.time(), for both processes). Checks: every appended line reached the panel once,
    in order; the last one within 1 s after the appender stopped. Reports max/p50 lag, the
    worst loop stall and the harness's VmHWM.

    .venv/bin/python bench/log_tail.py [--runs 5] [--size-mib 2048] [--rate 10000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

GENERATOR_VERSION = 1
TARGET_TAIL_MS = 50
TARGET_RSS_MB = 150
TARGET_FINAL_S = 1.0
TAIL_LINES = 1000

# ---- the log ---------------------------------------------------------------------------------

ROUTES = ("/api/contacts", "/api/contacts/{id}", "/api/companies", "/api/opportunities", "/api/activities",
          "/dashboard", "/login", "/api/search", "/reports/pipeline", "/api/opportunities/{id}/stage",
          "/settings/users", "/api/import/csv", "/webhooks/mailgun", "/ops/metrics")
TABLES = ("contacts", "companies", "opportunities", "activities", "users", "jobs", "sessions")
MAILS = ("invoice", "welcome", "password-reset", "weekly-digest", "deal-won", "task-reminder")
EXCEPTIONS = (
    ("Illuminate\\Database\\QueryException", "SQLSTATE[40001]: Serialization failure: 1213 Deadlock found when "
     "trying to get lock; try restarting transaction (SQL: update `opportunities` set `stage` = ? where `id` = ?)",
     "/var/www/crm/vendor/laravel/framework/src/Illuminate/Database/Connection.php:760"),
    ("Illuminate\\Database\\QueryException", "SQLSTATE[HY000] [2002] Connection refused (SQL: select * from "
     "`sessions` where `id` = ? limit 1)", "/var/www/crm/vendor/laravel/framework/src/Illuminate/Database/Connection.php:760"),
    ("GuzzleHttp\\Exception\\ConnectException", "cURL error 28: Operation timed out after 10001 milliseconds "
     "with 0 bytes received (see https://curl.haxx.se/libcurl/c/libcurl-errors.html) for https://api.mailgun.net/v3",
     "/var/www/crm/vendor/guzzlehttp/guzzle/src/Handler/CurlFactory.php:210"),
    ("ErrorException", "Undefined array key \"company_id\"", "/var/www/crm/app/Imports/ContactsImport.php:88"),
    ("Symfony\\Component\\HttpKernel\\Exception\\NotFoundHttpException", "The route api/contactz could not be found.",
     "/var/www/crm/vendor/laravel/framework/src/Illuminate/Routing/AbstractRouteCollection.php:44"),
)
TRACE = ("/var/www/crm/vendor/laravel/framework/src/Illuminate/Database/Connection.php(720): "
         "Illuminate\\Database\\Connection->runQueryCallback()",
         "/var/www/crm/vendor/laravel/framework/src/Illuminate/Database/Query/Builder.php(3011): "
         "Illuminate\\Database\\Connection->update()",
         "/var/www/crm/app/Http/Controllers/OpportunityController.php(142): Illuminate\\Database\\Eloquent\\Model->save()",
         "/var/www/crm/vendor/laravel/framework/src/Illuminate/Routing/Controller.php(54): "
         "App\\Http\\Controllers\\OpportunityController->updateStage()",
         "/var/www/crm/vendor/laravel/framework/src/Illuminate/Pipeline/Pipeline.php(183): "
         "Illuminate\\Routing\\Pipeline->Illuminate\\Routing\\{closure}()",
         "/var/www/crm/public/index.php(51): Illuminate\\Foundation\\Http\\Kernel->handle()")


def _stamp(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def _app_line(rng: random.Random, ts: str) -> str:
    r = rng.random()
    uid = rng.randint(1, 500)
    if r < 0.30:
        route = rng.choice(ROUTES).replace("{id}", str(rng.randint(1, 280_000)))
        return (f'[{ts}] production.INFO: Request handled {{"method":"{rng.choice(("GET", "GET", "GET", "POST", "PUT"))}",'
                f'"path":"{route}","status":200,"ms":{rng.randint(8, 900)},"user_id":{uid}}} []\n')
    if r < 0.50:
        table = rng.choice(TABLES)
        return (f'[{ts}] production.DEBUG: Query executed {{"sql":"select * from `{table}` where `owner_id` = ? '
                f'and `deleted_at` is null order by `updated_at` desc limit 50","bindings":[{uid}],'
                f'"time_ms":{rng.randint(1, 400) / 10}}} []\n')
    if r < 0.62:
        return (f'[{ts}] production.INFO: User logged in {{"user_id":{uid},"ip":"10.0.{rng.randint(0, 9)}.'
                f'{rng.randint(2, 254)}","guard":"web"}} []\n')
    if r < 0.72:
        return (f'[{ts}] production.INFO: Mail sent {{"template":"{rng.choice(MAILS)}","to":"user{uid}@example-crm.com",'
                f'"queue":"mail","attempt":1}} []\n')
    if r < 0.80:
        return (f'[{ts}] production.INFO: Job processed {{"job":"App\\\\Jobs\\\\SyncContactToMailchimp",'
                f'"contact_id":{rng.randint(1, 280_000)},"ms":{rng.randint(20, 3000)}}} []\n')
    if r < 0.88:
        return (f'[{ts}] production.NOTICE: Opportunity stage changed {{"opportunity_id":{rng.randint(1, 90_000)},'
                f'"from":"proposal","to":"{rng.choice(("negotiation", "won", "lost"))}","user_id":{uid}}} []\n')
    if r < 0.97:
        return (f'[{ts}] production.WARNING: Slow request {{"path":"{rng.choice(ROUTES)}","ms":{rng.randint(1500, 9000)},'
                f'"user_id":{uid}}} []\n')
    return f'[{ts}] production.INFO: Ops dashboard viewed {{"user_id":{uid}}} []\n'


def _ops_line(rng: random.Random, ts: str) -> str:
    job = rng.choice(("db_backup", "snapshot", "verify", "report"))
    if rng.random() < 0.5:
        return f'[{ts}] opsbackup.INFO: job {job} started {{"job":"{job}","event":"start"}} []\n'
    d = rng.randint(20, 900) / 10
    return (f'[{ts}] opsbackup.INFO: job {job} finished OK in {d} s {{"job":"{job}","event":"end","result":"OK",'
            f'"duration_s":{d}}} []\n')


def _bad_lines(rng: random.Random, ts: str) -> list[str]:
    if rng.random() < 0.25:
        job = rng.choice(("db_backup", "snapshot", "verify"))
        return [f'[{ts}] opsbackup.ERROR: job {job} finished FAIL in 0.4 s: mariadb-dump exited 2 (Lost connection '
                f'to server during query) {{"job":"{job}","event":"end","result":"FAIL","duration_s":0.4}} []\n',
                f'[{ts}] opsbackup.ALERT: ALERT {job} FAILED on crm-backup-01: mariadb-dump exited 2; next: check the '
                f'DB server, then run `opsbackup run {job}` {{"job":"{job}","event":"alert"}} []\n']
    cls, msg, where = rng.choice(EXCEPTIONS)
    cls_json = cls.replace("\\", "\\\\")
    lines = [f'[{ts}] production.ERROR: {msg} {{"userId":{rng.randint(1, 500)},"exception":"[object] ({cls_json}'
             f'(code: 0): {msg.replace(chr(34), chr(92) + chr(34))} at {where})"}} []\n']
    if rng.random() < 0.5:
        lines.append("[stacktrace]\n")
        lines.extend(f"#{i} {frame}\n" for i, frame in enumerate(TRACE[:rng.randint(3, len(TRACE))]))
        lines.append("#6 {main}\n\"} \n")
    return lines


def generate(path: Path, size: int, say=print) -> dict:
    rng = random.Random(f"ops.log-{size}")
    t = 1_788_220_800  # 2026-09-01 00:00:00 UTC
    step = max(1, int(86400 * 60 / (size / 170)))  # ~2 months of log
    written = 0
    lines = 0
    alerts = 0
    started = time.monotonic()
    tmp = path.with_suffix(".tmp")
    next_note = 256 * 2**20
    with open(tmp, "wb") as out:
        while written < size:
            chunk = []
            for _ in range(20_000):
                t += rng.randint(0, step)
                ts = _stamp(t)
                for _ in range(rng.randint(1, 3)):
                    if rng.random() < 0.005:
                        bad = _bad_lines(rng, ts)
                        alerts += 1
                        chunk.extend(bad)
                    elif rng.random() < 0.03:
                        chunk.append(_ops_line(rng, ts))
                    else:
                        chunk.append(_app_line(rng, ts))
            text = "".join(chunk)
            data = text.encode("utf-8")
            full = written + len(data) >= size
            if full:
                data = data[:data.rfind(b"\n", 0, size - written) + 1]
            out.write(data)
            written += len(data)
            lines += data.count(b"\n")
            if full:
                break
            if written >= next_note:
                say(f"  {written / 2**20:.0f} MiB in {time.monotonic() - started:.0f} s")
                next_note += 256 * 2**20
        marker = f"bench tail end {rng.getrandbits(64):016x}"
        t += 1
        last = (f'[{_stamp(t)}] opsbackup.INFO: job report finished OK in 1.2 s: {marker} '
                f'{{"job":"report","event":"end","result":"OK","duration_s":1.2}} []\n')
        out.write(last.encode("utf-8"))
        lines += 1
    os.replace(tmp, path)
    meta = {"version": GENERATOR_VERSION, "size": path.stat().st_size, "lines": lines, "alerts": alerts,
            "marker": marker, "last_time": t}
    say(f"generated {path}: {meta['size'] / 2**30:.2f} GiB, {lines} lines, {alerts} ERROR/ALERT events "
        f"in {time.monotonic() - started:.0f} s")
    return meta


def ensure_log(size_mib: int) -> tuple[Path, dict]:
    folder = c.BENCH_HOME / f"logtail-{size_mib}"
    folder.mkdir(parents=True, exist_ok=True)
    path, meta_path = folder / "ops.log", folder / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = {}
    if meta.get("version") == GENERATOR_VERSION and path.exists():
        have = path.stat().st_size
        if have > meta["size"]:
            os.truncate(path, meta["size"])  # appended to by an interrupted part (c)
            have = meta["size"]
        if have == meta["size"]:
            print(f"reusing {path} ({have / 2**30:.2f} GiB, {meta['lines']} lines, {meta['alerts']} ERROR/ALERT events)")
            return path, meta
    print(f"generating {path} ({size_mib} MiB), done once")
    meta = generate(path, size_mib * 2**20)
    meta_path.write_text(json.dumps(meta))
    return path, meta


# ---- the harness (a fresh interpreter per run) -------------------------------------------------

HARNESS = r'''
import asyncio, json, os, re, sys, time

args = json.loads(sys.argv[1])
from opsbackup_tui.app import make_app
from opsbackup_tui.core.settings import load_settings
from opsbackup_tui.core import follow as follow_mod
from opsbackup_tui.widgets.logtail import LogTail
from textual.widgets import Log

SEQ = re.compile(r"seq=(\d+)")
armed = False  # follow mode: batches count once the initial tail is on screen
result = {"batches": [], "start_calls": []}

orig_start = follow_mod.LogFollower.start
def timed_start(self):
    t = time.perf_counter()
    lines = orig_start(self)
    result["start_calls"].append({"ms": (time.perf_counter() - t) * 1000, "lines": len(lines), "at": t})
    return lines
follow_mod.LogFollower.start = timed_start

orig_add = LogTail.add_lines
def add_lines(self, raw_lines):
    orig_add(self, raw_lines)
    if raw_lines and armed:
        first = SEQ.search(raw_lines[0])
        last = SEQ.search(raw_lines[-1])
        result["batches"].append([time.time(), len(raw_lines), int(first.group(1)) if first else None,
                                  int(last.group(1)) if last else None])
LogTail.add_lines = add_lines


def shows(log, text):
    """The Log's last lines hold `text`."""
    return any(text in line for line in list(log.lines)[-8:])


def hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])


async def main():
    settings = load_settings({"backup_base": args["base"], "log_path": args["log"], "state_dir": args["state"]},
                             environ={})
    app = make_app(settings)
    marks = {}

    def rich_log():
        try:
            return app.screen.query_one(LogTail).query_one(Log)
        except Exception:
            return None

    async def watch_tail(t0):
        while True:
            log = rich_log()
            if log is not None and shows(log, args["marker"]):
                t_lines = time.perf_counter()
                marks["lines_ms"] = (t_lines - t0) * 1000
                if result["start_calls"]:
                    marks["from_follower_ms"] = (t_lines - result["start_calls"][0]["at"]) * 1000
                done = asyncio.get_running_loop().create_future()
                app.call_after_refresh(lambda: done.done() or done.set_result(time.perf_counter()))
                marks["refresh_ms"] = (await done - t0) * 1000
                return
            await asyncio.sleep(0.001)

    stalls = []

    async def heartbeat():
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            stalls.append(time.perf_counter() - t - 0.01)

    t0 = time.perf_counter()
    watcher = asyncio.ensure_future(watch_tail(t0))
    async with app.run_test(size=(120, 40)) as pilot:
        marks["ready_ms"] = (time.perf_counter() - t0) * 1000
        await asyncio.wait_for(watcher, 30)
        tail = app.screen.query_one(LogTail)
        result["shown_last"] = [line.raw for line in list(tail.lines)[-args["tail"]:]]
        result["shown_count"] = len(tail.lines)
        if args["mode"] == "follow":
            beat = asyncio.ensure_future(heartbeat())
            global armed
            armed = True
            print("READY", flush=True)
            deadline = None
            want = args["total"] - 1
            while True:
                last = result["batches"][-1][3] if result["batches"] else -1
                if last == want:
                    break
                if deadline is None and os.path.exists(args["done_file"]):
                    deadline = time.monotonic() + args["grace"]
                if deadline is not None and time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.01)
            log = rich_log()
            result["final_on_log"] = bool(log and shows(log, f"seq={want}"))
            beat.cancel()
            result["max_stall_ms"] = max(stalls) * 1000 if stalls else None
            result["p99_stall_ms"] = sorted(stalls)[int(len(stalls) * 0.99)] * 1000 if stalls else None
        else:
            await pilot.pause(0.5)
        result["hwm_kb"] = hwm_kb()
    result.update(marks)
    print("RESULT " + json.dumps(result), flush=True)


asyncio.run(main())
'''

APPENDER = r'''
import json, os, random, sys, time
path, rate, seconds, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
rng = random.Random(7)
batch = max(1, rate // 100)
interval = batch / rate
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
total = int(rate * seconds)
seq = 0
writes = []
t0 = time.monotonic()
k = 0
while seq < total:
    target = t0 + k * interval
    now = time.monotonic()
    if target > now:
        time.sleep(target - now)
    ts = time.strftime("%Y-%m-%d %H:%M:%S")
    n = min(batch, total - seq)
    parts = []
    for i in range(seq, seq + n):
        if rng.random() < 0.005:
            parts.append(f'[{ts}] production.ERROR: SQLSTATE[40001]: Serialization failure: 1213 Deadlock found seq={i} '
                         f'{{"userId":{rng.randint(1, 500)},"exception":"[object] (Illuminate\\\\Database\\\\QueryException(code: 40001))"}} []\n')
        else:
            parts.append(f'[{ts}] production.INFO: Request handled seq={i} {{"method":"GET","path":"/api/contacts",'
                         f'"status":200,"ms":{rng.randint(8, 900)},"user_id":{rng.randint(1, 500)}}} []\n')
    os.write(fd, "".join(parts).encode())
    writes.append([time.time(), seq + n - 1])
    seq += n
    k += 1
elapsed = time.monotonic() - t0
os.close(fd)
with open(out, "w") as f:
    json.dump({"writes": writes, "elapsed": elapsed, "total": total}, f)
'''


def run_harness(root: Path, env: dict[str, str], args: dict) -> dict:
    done = subprocess.run([sys.executable, str(root / "harness.py"), json.dumps(args)], env=env,
                          capture_output=True, text=True, timeout=300)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"harness failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(line[7:])


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="harness runs for (a) (>= 3, default 5)")
    parser.add_argument("--size-mib", type=int, default=2048, help="ops.log size (default 2048 MiB)")
    parser.add_argument("--rate", type=int, default=10_000, help="appended lines per second (default 10000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long the appender runs (default 10)")
    parser.add_argument("--skip-follow", action="store_true", help="leave out part (c)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = parser.parse_args()
    if args.runs < 3:
        parser.error("--runs must be >= 3")
    log, meta = ensure_log(args.size_mib)
    root = Path(tempfile.mkdtemp(prefix="opsbench-logtail-"))
    (root / "harness.py").write_text(HARNESS)
    (root / "appender.py").write_text(APPENDER)
    base = root / "tree"
    for sub in ("db", "snapshots", "verify"):
        (base / sub).mkdir(parents=True)
    env = c.opsbackup_env(root, base)
    env = {k: v for k, v in env.items() if not k.startswith("OPS_")}  # settings come from load_settings(environ={})
    ok = True
    try:
        # The file's last 1000 lines as tail prints them (and the page cache warm for both sides).
        expected = subprocess.run(["tail", "-n", str(TAIL_LINES), str(log)], capture_output=True,
                                  check=True).stdout.decode("utf-8", "replace").split("\n")[:-1]
        if meta["marker"] not in expected[-1]:
            print(f"the cached log does not end with its marker line: {expected[-1][:200]!r}")
            return 1

        # (a) the follower alone, in this process
        from opsbackup_tui.core.follow import LogFollower

        follow_ms = []
        for _ in range(20):
            t = time.perf_counter()
            f = LogFollower(log, TAIL_LINES)
            lines = f.start()
            follow_ms.append((time.perf_counter() - t) * 1000)
            f.close()
        if lines != expected:
            print(f"LogFollower.start() returned {len(lines)} lines that differ from tail -n {TAIL_LINES}")
            ok = False
        tail_ms = []
        for _ in range(20):
            t = time.perf_counter()
            subprocess.run(f"tail -n {TAIL_LINES} '{log}' > /dev/null", shell=True, check=True)
            tail_ms.append((time.perf_counter() - t) * 1000)
        tail_direct = []
        for _ in range(20):
            t = time.perf_counter()
            subprocess.run(["tail", "-n", str(TAIL_LINES), str(log)], stdout=subprocess.DEVNULL, check=True)
            tail_direct.append((time.perf_counter() - t) * 1000)
        true_ms = []
        for _ in range(20):
            t = time.perf_counter()
            subprocess.run(["true"], check=True)
            true_ms.append((time.perf_counter() - t) * 1000)

        # (a)/(b) the app in fresh harness processes; one small-log run for the RSS baseline
        print(f"load average before timing: {c.load_avg()}{c.busy_note()}")
        hargs = {"mode": "start", "base": str(base), "log": str(log), "state": str(root / "state"),
                 "marker": meta["marker"], "tail": TAIL_LINES}
        runs = []
        for i in range(args.runs + 1):
            r = run_harness(root, env, hargs)
            if i == 0:  # warm-up (bytecode cache), and the check
                if r["shown_last"] != expected:
                    diff = next((j for j, (a, b) in enumerate(zip(r["shown_last"], expected)) if a != b), None)
                    print(f"the panel does not hold the file's last {TAIL_LINES} lines "
                          f"({len(r['shown_last'])} lines, first difference at {diff})")
                    ok = False
                else:
                    print(f"checked: the panel holds exactly the file's last {TAIL_LINES} lines "
                          f"(the LogTail keeps {r['shown_count']})")
                continue
            runs.append(r)
        small = root / "small.log"
        small.write_text("".join(line + "\n" for line in expected))
        baseline = run_harness(root, env, {**hargs, "log": str(small)})

        lines_ms = [r["lines_ms"] for r in runs]
        refresh_ms = [r["refresh_ms"] for r in runs]
        ready_ms = [r["ready_ms"] for r in runs]
        in_app = [r["start_calls"][0]["ms"] for r in runs if r["start_calls"]]
        hwm = max(r["hwm_kb"] for r in runs)
        print(f"\n== (a) last {TAIL_LINES} lines of a {log.stat().st_size / 2**30:.2f} GiB ops.log")
        print(f"LogFollower(path, {TAIL_LINES}).start() alone:     median {c.median(follow_ms):6.2f} ms  "
              f"(min {min(follow_ms):.2f}, max {max(follow_ms):.2f}; 20 runs)  target <= {TARGET_TAIL_MS} ms  "
              f"{'OK' if c.median(follow_ms) <= TARGET_TAIL_MS else 'MISSED'}")
        print(f"  the same call inside the app:               median {c.median(in_app):6.2f} ms  "
              f"[{' '.join(f'{v:.1f}' for v in in_app)}]")
        print(f"peer `tail -n {TAIL_LINES} f > /dev/null` (sh -c):   median {c.median(tail_ms):6.2f} ms; "
              f"tail exec'd directly {c.median(tail_direct):.2f} ms; `true` exec'd {c.median(true_ms):.2f} ms "
              f"(process start alone)")
        print(f"app start (run_test) → Log holds the last line: median {c.median(lines_ms):6.0f} ms  "
              f"[{' '.join(f'{v:.0f}' for v in lines_ms)}]")
        handoff = [r["from_follower_ms"] for r in runs]
        print(f"follower start() called → Log holds the last line: median {c.median(handoff):6.0f} ms  "
              f"[{' '.join(f'{v:.0f}' for v in handoff)}]  (target <= {TARGET_TAIL_MS} ms)  "
              f"{'OK' if c.median(handoff) <= TARGET_TAIL_MS else 'MISSED'}")
        print(f"app start → screen refresh after that:          median {c.median(refresh_ms):6.0f} ms  "
              f"[{' '.join(f'{v:.0f}' for v in refresh_ms)}]")
        print(f"  (run_test ready, i.e. app mounted, at median {c.median(ready_ms):.0f} ms; "
              f"the same harness on a {TAIL_LINES}-line log: {baseline['lines_ms']:.0f} ms to the last line)")
        print(f"\n== (b) peak RSS (VmHWM) of the harness process: {c.mb(hwm)} on the 2 GiB log, "
              f"{c.mb(baseline['hwm_kb'])} on a {TAIL_LINES}-line log (target <= {TARGET_RSS_MB} MB)  "
              f"{'OK' if hwm / 1024 <= TARGET_RSS_MB else 'MISSED'}")

        if not args.skip_follow:
            ok = follow(root, env, log, meta, hargs, args) and ok
        print(f"\nload average after: {c.load_avg()}")
    finally:
        if log.stat().st_size > meta["size"]:
            os.truncate(log, meta["size"])
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


def follow(root: Path, env: dict[str, str], log: Path, meta: dict, hargs: dict, args) -> bool:
    total = int(args.rate * args.seconds)
    done_file = root / "appender.done"
    out = root / "appender.json"
    fargs = {**hargs, "mode": "follow", "total": total, "done_file": str(done_file), "grace": 10.0}
    print(f"\n== (c) {args.rate} appended lines/s for {args.seconds:g} s while the app runs "
          f"(load average {c.load_avg()})")
    app = subprocess.Popen([sys.executable, str(root / "harness.py"), json.dumps(fargs)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = app.stdout.readline()
        if line.strip() != "READY":
            app.kill()
            print(f"harness did not start: {line}{app.stderr.read()[-3000:]}")
            return False
        appender = subprocess.run([sys.executable, str(root / "appender.py"), str(log), str(args.rate),
                                   str(args.seconds), str(out)], env=env)
        done_file.write_text("done")
        stdout, stderr = app.communicate(timeout=120)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    if appender.returncode != 0:
        print("appender failed")
        return False
    line = next((x for x in stdout.splitlines() if x.startswith("RESULT ")), None)
    if app.returncode != 0 or line is None:
        print(f"follow harness failed ({app.returncode}):\n{stdout[-2000:]}\n{stderr[-4000:]}")
        return False
    r = json.loads(line[7:])
    w = json.loads(out.read_text())
    writes = w["writes"]
    batches = r["batches"]
    ok = True
    # Every appended line reached the panel once, in order.
    expect = 0
    for _, n, first, last in batches:
        if first != expect or last is None or last - first + 1 != n:
            print(f"  gap/duplicate: a batch of {n} lines held seq {first}..{last}, expected to start at {expect}")
            ok = False
            break
        expect = last + 1
    if ok and expect != total:
        print(f"  the panel got {expect} of {total} appended lines")
        ok = False
    # Lag per write: first batch whose last seq reaches the write's last seq.
    lags = []
    j = 0
    for t_write, last_seq in writes:
        while j < len(batches) and batches[j][3] is not None and batches[j][3] < last_seq:
            j += 1
        if j == len(batches):
            break
        lags.append(batches[j][0] - t_write)
    final_lag = (batches[-1][0] - writes[-1][0]) if batches and batches[-1][3] == total - 1 else None
    sizes = [b[1] for b in batches]
    print(f"appender: {total} lines in {w['elapsed']:.2f} s ({total / w['elapsed']:.0f} lines/s, "
          f"{len(writes)} writes)")
    print(f"panel: {len(batches)} batches ({c.median(sizes):.0f} lines median, max {max(sizes)}); "
          f"all {expect} lines arrived once and in order: {'yes' if ok else 'NO'}")
    if lags:
        print(f"lag appended → in the panel: median {c.median(lags) * 1000:.0f} ms, p95 {pct(lags, 0.95) * 1000:.0f} ms, "
              f"max {max(lags) * 1000:.0f} ms")
    if final_lag is None:
        print("last line NOT shown within the grace period  MISSED")
        ok = False
    else:
        print(f"last line shown {final_lag * 1000:.0f} ms after the appender wrote it (target <= "
              f"{TARGET_FINAL_S * 1000:.0f} ms)  {'OK' if final_lag <= TARGET_FINAL_S else 'MISSED'}; "
              f"on the Log at the end: {r.get('final_on_log')}")
    print(f"app loop stalls (10 ms heartbeat): max {r['max_stall_ms']:.0f} ms, p99 {r['p99_stall_ms']:.0f} ms")
    print(f"peak RSS (VmHWM) of the app process while following: {c.mb(r['hwm_kb'])} "
          f"(target <= {TARGET_RSS_MB} MB)  {'OK' if r['hwm_kb'] / 1024 <= TARGET_RSS_MB else 'MISSED'}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
