"""Bench: process start to the first painted checklist of `opsbackup demo --dir D`, divided by a
bare Textual app's process start to its first paint, measured the same way in the same run.

Both run in panes of a private tmux server (its own socket in the temp dir, no config file,
status line off, 120×40). A pane starts `bash launch.sh STAMP CMD…`: bash writes $EPOCHREALTIME
(a builtin, no fork) to STAMP and execs CMD, so the start is the exec of the measured process.
The bench polls the pane through one tmux control-mode client (`tmux -C`: a command and its
answer over a pipe, ≈ 0.1 ms, no process spawned per poll) every `--poll-ms` (default 2) until
  opsbackup  all five check ids (db_dump, uploads_snapshot, verify_restore, metrics, ops_log) and
             `overall: OK|WARN|FAIL|…` are on screen (the headline says `overall: checking…` until
             the first refresh of the checklist has painted);
  bare       the one Static's text is on screen.
The paint is seen at most one poll interval + one answer after it happened (both sides alike).
The warm-up run of opsbackup is checked: every row shows the status `opsbackup status --json`
reports for the demo tree, and the headline's overall matches (a broken UI cannot look fast).

Sides, alternated ABBA after one warm-up each (the warm-up also fills the bytecode cache that
PYTHONPYCACHEPREFIX points at, as an installed package has its .pyc files):
  demo   `opsbackup demo --dir D` (the command of the brief: it tops up the demo tree and checks
         its MariaDB before the UI starts)
  bare   a minimal App with one Static, same interpreter, same environment
  tui    `opsbackup --config D/opsbackup.toml` (the UI alone, no demo top-up; for the diagnosis:
         `--no-tui` leaves it out)
Ratio = median(demo) ÷ median(bare), target <= 1.5; also tui ÷ bare.

The demo is prepared first with `opsbackup demo --no-ui --dir D` (D defaults to
/tmp/opsbackup-bench/demo, reused) and its private MariaDB stopped at the end with
`opsbackup demo --stop --dir D` (`--keep-server` leaves it running).

    .venv/bin/python bench/tui_start.py [--runs 7] [--poll-ms 2] [--dir D] [--no-tui] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

TARGET_RATIO = 1.5
CHECK_IDS = ("db_dump", "uploads_snapshot", "verify_restore", "metrics", "ops_log")
OVERALL_RE = re.compile(r"overall: (OK|WARN|FAIL|FAILED|STALE|OVERDUE|UNKNOWN|SKIPPED)\b")
BARE_TEXT = "bare textual app: first paint"

BARE_APP = f'''
from textual.app import App, ComposeResult
from textual.widgets import Static


class Bare(App):
    def compose(self) -> ComposeResult:
        yield Static("{BARE_TEXT}")


Bare().run()
'''

LAUNCH = 'echo "$EPOCHREALTIME" > "$1"\nshift\nexec "$@"\n'


class Tmux:
    """A private tmux server and one control-mode client to talk to it."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.sock = str(root / "tmux.sock")
        self.env = env
        self.base = ["tmux", "-S", self.sock, "-f", "/dev/null"]
        self.buf = b""
        # The server takes its environment (and so the panes' one) from the first client.
        subprocess.run([*self.base, "new-session", "-d", "-s", "keep", "-x", "120", "-y", "40", "sleep 86400"],
                       env=env, check=True)
        self.proc = subprocess.Popen([*self.base, "-C", "attach", "-t", "keep"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self._answer()  # the attach itself answers with one empty block
        self.cmd("refresh-client -f no-output")  # no %output stream of the panes' bytes
        self.cmd("set-option -g status off")
        self.cmd("set-option -g remain-on-exit off")

    def _line(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                raise RuntimeError("tmux control client exited")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def _answer(self) -> tuple[bool, list[str]]:
        out: list[str] = []
        inside = False
        while True:
            line = self._line()
            if line.startswith(b"%begin"):
                inside, out = True, []
            elif inside and line.startswith((b"%end", b"%error")):
                return line.startswith(b"%end"), out
            elif inside:
                out.append(line.decode("utf-8", "replace"))
            # notifications (%session-changed, %exit, …) outside a block are skipped

    def cmd(self, text: str) -> list[str]:
        self.proc.stdin.write(text.encode() + b"\n")
        ok, out = self._answer()
        if not ok:
            raise RuntimeError(f"tmux: {text}: {' '.join(out)}")
        return out

    def try_cmd(self, text: str) -> tuple[bool, list[str]]:
        self.proc.stdin.write(text.encode() + b"\n")
        return self._answer()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        subprocess.run([*self.base, "kill-server"], stderr=subprocess.DEVNULL, env=self.env)


def _quote(argv: list[str]) -> str:
    # tmux's parser takes single-quoted words literally ($ and ~ are not expanded inside them)
    return " ".join("'" + a.replace("'", "'\\''") + "'" if a else "''" for a in argv)


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        if state == "Z":
            return True
        time.sleep(0.01)
    return False


class Measure:
    def __init__(self, tmux: Tmux, root: Path, poll_s: float) -> None:
        self.tmux = tmux
        self.root = root
        self.poll_s = poll_s
        self.launch = root / "launch.sh"
        self.launch.write_text(LAUNCH)
        self.n = 0
        self.polls: list[int] = []

    def run(self, argv: list[str], ready, timeout: float = 60.0) -> tuple[float, float | None, list[str]]:
        """(seconds from exec to `ready(screen)`, seconds to the first non-blank screen, the screen)."""
        self.n += 1
        name = f"r{self.n}"
        stamp = self.root / f"start-{self.n}"
        out = self.tmux.cmd(f"new-session -d -s {name} -x 120 -y 40 -P -F '#{{pane_pid}}' "
                            + _quote(["/bin/bash", str(self.launch), str(stamp), *argv]))
        pid = int(out[0])
        first_ink = None
        polls = 0
        deadline = time.monotonic() + timeout
        screen: list[str] = []
        seen = None
        while time.monotonic() < deadline:
            t_poll = time.monotonic()
            ok, screen = self.tmux.try_cmd(f"capture-pane -p -t {name}")
            now = time.time()
            polls += 1
            if not ok:  # the process died and took its session with it
                break
            if first_ink is None and any(line.strip() for line in screen):
                first_ink = now
            if ready(screen):
                seen = now
                break
            rest = self.poll_s - (time.monotonic() - t_poll)
            if rest > 0:
                time.sleep(rest)
        self.tmux.try_cmd(f"kill-session -t {name}")
        if not _gone(pid):
            os.kill(pid, 9)
            _gone(pid)
        self.polls.append(polls)
        try:
            started = float(stamp.read_text().strip())
        except (OSError, ValueError):
            raise RuntimeError(f"{argv[0]}: no start stamp written") from None
        if seen is None:
            raise RuntimeError(f"{' '.join(argv)}: not ready within {timeout:.0f} s; last screen:\n" + "\n".join(screen))
        return seen - started, (first_ink - started) if first_ink else None, screen


def checklist_ready(screen: list[str]) -> bool:
    text = "\n".join(screen)
    return all(cid in text for cid in CHECK_IDS) and OVERALL_RE.search(text) is not None


def bare_ready(screen: list[str]) -> bool:
    return any(BARE_TEXT in line for line in screen)


def check_screen(screen: list[str], expected: dict) -> list[str]:
    problems = []
    text = "\n".join(screen)
    found = OVERALL_RE.search(text)
    if not found or found.group(1) != expected["overall"]:
        problems.append(f"headline overall {found.group(1) if found else None!r}, status --json says "
                        f"{expected['overall']!r}")
    for check in expected["checks"]:
        row = next((line for line in screen if re.search(rf"(^|[\s│┃|]){check['id']}\b", line)), None)
        if row is None:
            problems.append(f"no row for {check['id']}")
        elif not re.search(rf"\b{check['status']}\b", row.split(check["id"], 1)[1]):
            problems.append(f"row {check['id']} does not show {check['status']}: {row.strip()!r}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per side (>= 7, default 7)")
    parser.add_argument("--poll-ms", type=float, default=2.0, help="pane poll interval (default 2 ms)")
    parser.add_argument("--dir", type=Path, default=c.BENCH_HOME / "demo", help="demo folder (reused)")
    parser.add_argument("--no-tui", action="store_true", help="leave out the `opsbackup --config` side")
    parser.add_argument("--keep-server", action="store_true", help="leave the demo's MariaDB running")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (launch stamps, bare app)")
    args = parser.parse_args()
    if args.runs < 7:
        parser.error("--runs must be >= 7")
    if shutil.which("tmux") is None:
        print("tmux is not installed", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="opsbench-tuistart-"))
    demo = args.dir.expanduser().resolve()
    # opsbackup_env's private bytecode cache and config dir, without its OPS_* settings: the demo
    # command brings its own settings file, and settings from the environment would override it.
    env = {k: v for k, v in c.opsbackup_env(root, root).items() if not k.startswith("OPS_")}
    env.pop("TMUX", None)
    bare_py = root / "bare_app.py"
    bare_py.write_text(BARE_APP)
    sides = {"demo": [str(c.OPSBACKUP), "demo", "--dir", str(demo)],
             "bare": [sys.executable, str(bare_py)]}
    if not args.no_tui:
        sides["tui"] = [str(c.OPSBACKUP), "--config", str(demo / "opsbackup.toml")]
    ready = {"demo": checklist_ready, "bare": bare_ready, "tui": checklist_ready}
    tmux = None
    ok = True
    try:
        t0 = time.monotonic()
        prep = subprocess.run([str(c.OPSBACKUP), "demo", "--no-ui", "--dir", str(demo)], env=env,
                              capture_output=True, text=True)
        if prep.returncode != 0:
            print(f"opsbackup demo --no-ui failed ({prep.returncode}):\n{prep.stdout}{prep.stderr}")
            return 1
        print(f"demo prepared in {time.monotonic() - t0:.1f} s: {demo} "
              f"({' / '.join(line for line in prep.stderr.splitlines()[-2:]) or 'reused'})")
        status = subprocess.run([str(c.OPSBACKUP), "--config", str(demo / "opsbackup.toml"), "status", "--json"],
                                env=env, capture_output=True, text=True)
        expected = json.loads(status.stdout)
        print("status --json: " + ", ".join(f"{ch['id']} {ch['status']}" for ch in expected["checks"])
              + f"; overall {expected['overall']}")

        tmux = Tmux(root, env)
        m = Measure(tmux, root, args.poll_ms / 1000)
        # Warm-up (and the bytecode cache), with the check of what the UI shows.
        for side, argv in sides.items():
            seconds, ink, screen = m.run(argv, ready[side])
            print(f"warm-up {side}: {seconds * 1000:.0f} ms")
            if side in ("demo", "tui"):
                problems = check_screen(screen, expected)
                if problems:
                    print(f"  the {side} checklist is wrong: " + "; ".join(problems) + "\n" + "\n".join(screen))
                    ok = False
                else:
                    print(f"  checked {side}: all five rows show the statuses of status --json, "
                          f"overall {expected['overall']}")
        if not ok:
            return 1
        print(f"load average before timing: {c.load_avg()}{c.busy_note()}")
        times: dict[str, list[float]] = {s: [] for s in sides}
        inks: dict[str, list[float]] = {s: [] for s in sides}
        names = list(sides)
        for i in range(args.runs):
            order = names if i % 2 == 0 else names[::-1]
            for side in order:
                seconds, ink, _ = m.run(sides[side], ready[side])
                times[side].append(seconds)
                if ink is not None:
                    inks[side].append(ink)
        med = {s: c.median(v) for s, v in times.items()}
        for side in names:
            label = {"demo": "opsbackup demo --dir D", "bare": "bare Textual app (one Static)",
                     "tui": "opsbackup --config D/opsbackup.toml"}[side]
            what = "checklist painted" if side != "bare" else "first paint"
            print(f"{label:<36} {what}: median {med[side] * 1000:6.0f} ms  "
                  f"[{' '.join(f'{v * 1000:.0f}' for v in times[side])}]"
                  + (f"; first non-blank screen {c.median(inks[side]) * 1000:.0f} ms" if inks[side] else ""))
        ratio = med["demo"] / med["bare"]
        print(f"ratio = {ratio:.2f} (demo ÷ bare; target <= {TARGET_RATIO})  "
              f"{'OK' if ratio <= TARGET_RATIO else 'MISSED'}")
        if "tui" in med:
            print(f"ratio without the demo top-up = {med['tui'] / med['bare']:.2f} (tui ÷ bare); "
                  f"the demo top-up costs {(med['demo'] - med['tui']) * 1000:.0f} ms")
        print(f"pane polls per run: median {c.median(m.polls):.0f} at {args.poll_ms:g} ms")
        print(f"load average after: {c.load_avg()}")
    finally:
        if tmux is not None:
            tmux.close()
        if not args.keep_server:
            subprocess.run([str(c.OPSBACKUP), "demo", "--stop", "--dir", str(demo)], env=env,
                           capture_output=True, text=True)
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
