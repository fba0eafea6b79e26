"""Child processes: a clean environment, their own process group, a lower CPU and I/O priority,
stderr drained and redacted, stop by signal to the group (then SIGKILL), and blocking relays awaited
without blocking the loop.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shlex
import shutil
import signal
import subprocess
import threading
from collections import deque
from typing import Callable, Iterable, Sequence

from .fmt import printable
from .settings import child_priority

CHUNK = 1024 * 1024

# Never handed to a child: passwords travel by option files and pipes only.
SENSITIVE_ENV = frozenset({
    "MYSQL_PWD", "OPS_DB_PASSWORD", "OPS_SLACK_WEBHOOK_URL", "RESTIC_PASSWORD", "RESTIC_PASSWORD_COMMAND",
    "DB_PASSWORD",
})


class Redactor:
    """Replaces every known secret by *** in text bound for the screen, logs and alerts."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    @classmethod
    def from_settings(cls, settings) -> "Redactor":
        values = [getattr(settings, name) for name in ("db_password", "restic_password", "slack_webhook_url")]
        return cls(v.reveal() for v in values if v is not None)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in SENSITIVE_ENV and not key.startswith(("OPS_", "RESTIC_"))}
    env.setdefault("LC_ALL", "C.UTF-8")
    env.update(extra or {})
    return env


def priority_prefix(nice: int, ionice: str) -> list[str]:
    """The argv prefix that lowers a child's priority: `ionice -t -c 3 nice -n 10`, as set.

    Each helper sets its priority on itself and execs the next one, so the real program holds it
    from its first instruction, keeps the pid Popen returned (its process group and the signals
    of a cancel are unchanged) and hands it to everything it forks. Not `preexec_fn`: Python code
    between fork and exec is unsafe in a process with threads (the UI, the relays, the stderr
    drains): a lock another thread held at the fork stays held in the child forever. Not
    `os.setpriority` after Popen: the child would already run, and fork, at the app's priority.
    `nice -n` adds to the app's own niceness: the difference is asked for, so children run at
    `nice` (or at the app's niceness when that is higher already)."""
    prefix: list[str] = []
    if ionice != "off" and (program := shutil.which("ionice")):
        level = ["-c", "3"] if ionice == "idle" else ["-c", "2", "-n", ionice.partition(":")[2] or "7"]
        prefix += [program, "-t", *level]  # -t: where the class cannot be set, run the program anyway
    step = nice - os.getpriority(os.PRIO_PROCESS, 0)
    if nice and step > 0 and (program := shutil.which("nice")):
        prefix += [program, "-n", str(step)]
    return prefix


def lowered(argv: Sequence[str], env: dict[str, str] | None = None, cwd: str | None = None) -> list[str]:
    """argv behind the priority prefix of the settings in effect (OPS_CHILD_NICE, OPS_CHILD_IONICE).
    The program is looked up first, on the child's PATH, so a missing one still raises
    FileNotFoundError here (behind `nice` it would be an exit status 127)."""
    argv = [str(a) for a in argv]
    prefix = priority_prefix(*child_priority())
    if not prefix:
        return argv
    program = argv[0]
    if os.sep in program:
        place = os.path.join(cwd, program) if cwd else program
        if not os.path.exists(place):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
    else:
        found = shutil.which(program, path=(os.environ if env is None else env).get("PATH", os.defpath))
        if found is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
        program = found
    return [*prefix, program, *argv[1:]]


def compressor() -> list[str]:
    """pigz where it is installed (both cores), else gzip; level 6, to stdout."""
    pigz = shutil.which("pigz")
    return [pigz, "-c", "-6"] if pigz else [shutil.which("gzip") or "gzip", "-c", "-6"]


def shown(argv: Sequence[str]) -> str:
    """A command line for people: quoted as a shell would need it (it is never run by a shell)."""
    return shlex.join(str(arg) for arg in argv)


class LineCollector(threading.Thread):
    """Drains one pipe so the child never blocks on it; keeps a bounded, redacted, printable tail.
    `redact` may also drop a line (return None): a filter for output that can hold customer data."""

    def __init__(self, pipe, redact: Callable[[str], str | None], on_line: Callable[[str], None] | None = None,
                 keep: int = 200) -> None:
        super().__init__(daemon=True, name="stderr-drain")
        self._pipe = pipe
        self._redact = redact
        self._on_line = on_line
        self.lines: deque[str] = deque(maxlen=keep)
        self.start()

    def run(self) -> None:
        pending = b""
        fd = self._pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                self._add(raw)
            if len(pending) > 65536:  # a very long line: keep its start only
                self._add(pending[:4096])
                pending = b""
        if pending:
            self._add(pending)
        self._pipe.close()

    def _add(self, raw: bytes) -> None:
        line = self._redact(raw.decode("utf-8", errors="replace").rstrip("\r"))
        if line is None:
            return
        line = printable(line)
        self.lines.append(line)
        if self._on_line is not None:
            self._on_line(line)

    @property
    def tail(self) -> str:
        return "\n".join(self.lines)


class Child:
    """One subprocess in its own session (process group), never through a shell, at the lower
    priority the settings ask for (`lowered`)."""

    def __init__(self, argv: Sequence[str], *, redact: Callable[[str], str | None],
                 on_line: Callable[[str], None] | None = None, stdin=subprocess.DEVNULL,
                 stdout=subprocess.PIPE, env: dict[str, str] | None = None, pass_fds: Sequence[int] = (),
                 first_signal: int = signal.SIGTERM, cwd: str | None = None) -> None:
        self.argv = [str(a) for a in argv]
        self.first_signal = first_signal
        env = child_env() if env is None else env
        self.proc = subprocess.Popen(
            lowered(self.argv, env, cwd), stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
            env=env, start_new_session=True, close_fds=True, pass_fds=tuple(pass_fds), cwd=cwd,
        )
        self.stderr = LineCollector(self.proc.stderr, redact, on_line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self, grace: float = 5.0) -> None:
        """First signal to the whole group (SIGINT for restic), then SIGKILL after `grace` seconds."""
        if self.proc.poll() is not None:
            return
        self.signal(self.first_signal)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()

    def wait(self) -> int:
        code = self.proc.wait()
        self.stderr.join()
        return code


async def run_blocking(work: Callable[[], object], on_cancel: Callable[[], None]):
    """Run blocking `work` in a thread. On cancel: call on_cancel (kill the children so the
    thread's reads and writes end), wait for the thread to finish, then re-raise.

    on_cancel runs in a thread too: stopping a child can take seconds (restic removes its lock
    after SIGINT; a grace period before SIGKILL), and the event loop (the UI) must go on
    meanwhile. A second cancel while stopping does not cut the wait short."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        stopping = loop.run_in_executor(None, on_cancel)
        # The job's own error no longer matters: return_exceptions keeps it out of the way.
        both = asyncio.gather(stopping, future, return_exceptions=True)
        while not both.done():
            try:
                await asyncio.shield(both)
            except asyncio.CancelledError:
                continue
        raise


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Meter:
    """Counters shared by relay threads and the progress ticker (ints: atomic enough under the GIL)."""

    def __init__(self) -> None:
        self.done = 0
        self.detail = ""
        self.lock = threading.Lock()
