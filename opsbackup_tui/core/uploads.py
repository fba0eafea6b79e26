"""Partial restore of uploaded files (runbook §4): list the uploads snapshots, browse one lazily,
search all of it by name, restore the chosen paths into a fresh staging dir, show rsync's
itemised dry run of copying them back into CRM_UPLOADS_PATH, then apply it.

Paths are never trusted: a chosen path must lie inside the snapshot's source folder, the staging
dir is made with mkdtemp (0700) under the restore root, everything restored must stay inside it
(no symlink leading out), and the copy only ever writes inside CRM_UPLOADS_PATH.

Every restic and rsync run is a core.proc Child (its own process group, the lower child priority)
that a Stopper can stop from another thread: leaving the screen never waits for one. A staging dir
in use is held with flock on the directory itself, so another session (or this one later) lists
only the staging dirs nobody holds as old, and removes only those.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

from .proc import Child, Redactor, child_env, shown
from .restic import ResticConfig, ResticError, explain, invocation
from .settings import Settings

SCAN_LIMIT = 100_000  # entries the name search reads (one `restic ls --recursive`) before it stops
STAGING_PREFIX = "uploads-"


class UploadsError(Exception):
    pass


class UploadsCancelled(UploadsError):
    """The operator stopped the run (leaving the screen)."""

    def __init__(self) -> None:
        super().__init__("stopped")


class Stopper:
    """Stops the restic or rsync process that a blocking call here is running, from any thread
    (the UI's leave, a timeout); the call then raises UploadsCancelled."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: Child | None = None
        self.stopped = False

    def _attach(self, child: Child) -> None:
        with self._lock:
            self._child = child
            stopped = self.stopped
        if stopped:
            child.stop()

    def _detach(self) -> None:
        with self._lock:
            self._child = None

    def stop_soon(self) -> None:
        """stop() in a thread of its own: for a caller that must not wait (the UI)."""
        threading.Thread(target=self.stop, args=(1.0,), daemon=True, name="uploads-stop").start()

    def stop(self, grace: float = 5.0) -> None:
        """SIGINT (restic) or SIGTERM (rsync) to the group, SIGKILL after `grace` s; blocks until
        the process is gone. Later runs on this Stopper are stopped as they start."""
        with self._lock:
            self.stopped = True
            child = self._child
        if child is not None:
            child.stop(grace)


def _run(settings: Settings, argv: Sequence[str], stopper: Stopper | None, *, env: dict[str, str] | None = None,
         pass_fds: Sequence[int] = (), first_signal: int = signal.SIGTERM,
         on_stdout_line: Callable[[bytes], bool] | None = None, timeout: float | None = None,
         what: str = "") -> tuple[int, bytes, str]:
    """Run one child to its end: (exit code, stdout, stderr tail). `on_stdout_line` takes stdout
    line by line instead (returning False stops the child: enough was read)."""
    stopper = stopper or Stopper()
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        stopper.stop()

    timer = threading.Timer(timeout, expire) if timeout else None
    child = Child(argv, redact=Redactor.from_settings(settings), env=env, pass_fds=pass_fds,
                  first_signal=first_signal)
    stopper._attach(child)
    enough = False
    try:
        if timer:
            timer.start()
        if on_stdout_line is None:
            out = child.proc.stdout.read()
        else:
            out = b""
            for line in child.proc.stdout:
                if not on_stdout_line(line):
                    enough = True
                    child.stop()
                    break
        child.proc.stdout.close()
        code = child.wait()
    finally:
        if timer:
            timer.cancel()
        stopper._detach()
    if timed_out.is_set():
        raise UploadsError(f"{what or argv[0]} did not answer within {timeout:.0f} s")
    if stopper.stopped and not enough:
        raise UploadsCancelled()
    return (0 if enough else code), out, child.stderr.tail


@dataclass(frozen=True)
class Snapshot:
    short_id: str
    id: str
    time: str
    hostname: str
    paths: tuple[str, ...]

    @property
    def root(self) -> str:
        return self.paths[0] if self.paths else "/"


@dataclass(frozen=True)
class Node:
    name: str
    path: str
    type: str  # "dir", "file", "symlink"
    size: int


def restore_root(settings: Settings) -> Path:
    return settings.restore_root or settings.state_dir / "restore"


def _restic(settings: Settings, *args: str, stopper: Stopper | None = None, timeout: float | None = 300.0,
            on_stdout_line: Callable[[bytes], bool] | None = None) -> list[str]:
    config = ResticConfig.from_settings(settings)
    try:
        with invocation(config, *args) as inv:
            code, out, stderr = _run(settings, inv.argv, stopper, env=inv.env, pass_fds=inv.pass_fds,
                                     first_signal=signal.SIGINT, on_stdout_line=on_stdout_line, timeout=timeout,
                                     what=f"restic {args[0]}")
    except ResticError as exc:
        raise UploadsError(str(exc)) from None
    if code != 0:
        raise UploadsError(explain(stderr, code, settings.restic_repository))
    return out.decode("utf-8", errors="replace").splitlines()


def list_snapshots(settings: Settings, stopper: Stopper | None = None) -> list[Snapshot]:
    """`restic snapshots --tag uploads --json`, newest first."""
    lines = _restic(settings, "snapshots", "--tag", "uploads", "--json", stopper=stopper)
    data = json.loads("".join(lines) or "[]")
    snapshots = [Snapshot(s.get("short_id", s["id"][:8]), s["id"], s.get("time", ""), s.get("hostname", ""),
                          tuple(s.get("paths") or ())) for s in data]
    return sorted(snapshots, key=lambda s: s.time, reverse=True)


def _node(line: str | bytes) -> Node | None:
    try:
        item = json.loads(line)
    except ValueError:
        return None
    if not isinstance(item, dict) or item.get("struct_type") != "node" or "path" not in item:
        return None
    return Node(item.get("name", ""), item["path"], item.get("type", "file"), int(item.get("size") or 0))


def _sorted(nodes: list[Node]) -> list[Node]:
    return sorted(nodes, key=lambda n: (n.type != "dir", n.name.lower()))


def list_dir(settings: Settings, snapshot: Snapshot, path: str, stopper: Stopper | None = None) -> list[Node]:
    """The entries directly inside `path` of the snapshot (`restic ls --json ID path`)."""
    inside(path, snapshot.root)
    nodes = []
    for line in _restic(settings, "ls", "--json", snapshot.id, path, stopper=stopper):
        node = _node(line)
        if node is None or node.path == path:
            continue
        if str(PurePosixPath(node.path).parent) != path.rstrip("/") and path != "/":
            continue
        nodes.append(node)
    return _sorted(nodes)


@dataclass(frozen=True)
class ScanResult:
    entries: int
    complete: bool  # False: stopped at SCAN_LIMIT entries


def scan(settings: Settings, snapshot: Snapshot, on_folder: Callable[[str, list[Node]], None],
         stopper: Stopper | None = None, limit: int | None = None) -> ScanResult:
    """Every entry of the snapshot, by one `restic ls --json --recursive ID root`, for the name search.

    restic walks the tree depth first, so a folder's entries are all known once a later entry lies
    outside it: `on_folder(path, entries)` is called then, once per folder, with all of them (the
    same list list_dir gives). It stops after `limit` entries (SCAN_LIMIT): the folders still open
    then are never reported, as their lists would be incomplete."""
    limit = SCAN_LIMIT if limit is None else limit
    root = snapshot.root.rstrip("/") or "/"
    children: dict[str, list[Node]] = {root: []}
    open_dirs: list[str] = [root]
    count = [0]

    def close_until(parent: str) -> None:
        while open_dirs and open_dirs[-1] != parent:
            done = open_dirs.pop()
            on_folder(done, _sorted(children.pop(done)))

    def take(line: bytes) -> bool:
        node = _node(line)
        if node is None or node.path.rstrip("/") == root:
            return True
        parent = str(PurePosixPath(node.path).parent)
        if parent not in children:
            return True  # outside the root (restic lists none; never trusted)
        close_until(parent)
        children[parent].append(node)
        if node.type == "dir":
            children[node.path] = []
            open_dirs.append(node.path)
        count[0] += 1
        return count[0] < limit

    _restic(settings, "ls", "--json", "--recursive", snapshot.id, root, stopper=stopper, timeout=None,
            on_stdout_line=take)
    complete = count[0] < limit
    if complete:
        close_until("")
    return ScanResult(count[0], complete)


def inside(path: str, root: str) -> str:
    """`path` normalised, refused unless it is absolute and inside `root` (no `..` tricks)."""
    if "\0" in path:
        raise UploadsError("a path with a NUL byte is refused")
    pure = PurePosixPath(path)
    if not pure.is_absolute():
        raise UploadsError(f"{path!r} is not an absolute path inside the snapshot")
    if ".." in pure.parts:
        raise UploadsError(f"{path!r} contains '..': refused")
    root_pure = PurePosixPath(root)
    if pure != root_pure and root_pure not in pure.parents:
        raise UploadsError(f"{path!r} is outside {root}: refused")
    return str(pure)


def _glob_escape(path: str) -> str:
    # restic's --include takes patterns: a file named "a*b" or "[draft]" must match only itself.
    return re.sub(r"([*?\[\]\\])", r"\\\1", path)


def make_staging(settings: Settings) -> Path:
    root = restore_root(settings)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    if root.is_symlink():
        raise UploadsError(f"the restore root {root} is a symlink: refused")
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))


class Staging:
    """A fresh staging dir held for this session (flock on the directory): others see it in use."""

    def __init__(self, settings: Settings) -> None:
        self.path = make_staging(settings)
        self._fd: int | None = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # just made by mkdtemp: nobody else has it
        self.copied_back = False

    def usage(self) -> tuple[int, int]:
        """(bytes, files) it holds."""
        return _usage(self.path)

    def remove(self) -> None:
        """The staging dir and all it holds, gone (then released); an OSError says why not."""
        if self._fd is None:
            return
        try:
            if self.path.exists():
                shutil.rmtree(self.path)
        finally:
            self.release()

    def release(self) -> None:
        """Kept, no longer held: another session (or the next visit) lists it as old."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(frozen=True)
class OldStaging:
    path: Path
    size: int  # bytes of the files in it
    files: int


def _held(path: Path) -> bool | None:
    """Whether another session holds the staging dir (None: it is gone or not a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _usage(path: Path) -> tuple[int, int]:
    size = files = 0
    for top, dirs, names in os.walk(path):
        for name in names + [d for d in dirs if (Path(top) / d).is_symlink()]:
            try:
                size += os.lstat(Path(top) / name).st_size
            except OSError:
                continue
            files += 1
    return size, files


def old_stagings(settings: Settings) -> list[OldStaging]:
    """Staging dirs under the restore root that no session holds: left by a session that ended
    (a crash, a closed terminal, "keep it"), oldest first."""
    root = restore_root(settings)
    try:
        entries = [entry for entry in os.scandir(root)
                   if entry.name.startswith(STAGING_PREFIX) and entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    entries.sort(key=lambda entry: entry.stat(follow_symlinks=False).st_mtime)
    found = []
    for entry in entries:
        if _held(Path(entry.path)) is False:
            found.append(OldStaging(Path(entry.path), *_usage(Path(entry.path))))
    return found


def remove_old_staging(settings: Settings, path: Path) -> None:
    """Remove one staging dir that no session holds; anything else is refused."""
    root = restore_root(settings).resolve()
    if path.parent.resolve() != root or not path.name.startswith(STAGING_PREFIX) or path.is_symlink():
        raise UploadsError(f"{path} is not a staging dir of {root}: refused")
    held = _held(path)
    if held is None:
        return  # gone already
    if held:
        raise UploadsError(f"{path} is in use by another uploads restore: kept")
    shutil.rmtree(path)


def restore_argv(snapshot: Snapshot, paths: list[str], staging: Path) -> list[str]:
    args = ["restore", snapshot.id, "--target", str(staging)]
    for path in paths:
        args += ["--include", _glob_escape(inside(path, snapshot.root))]
    return args


def restore(settings: Settings, snapshot: Snapshot, paths: list[str], staging: Path,
            stopper: Stopper | None = None) -> str:
    """Restore the chosen paths into `staging`; returns restic's output."""
    if not paths:
        raise UploadsError("nothing selected")
    staging = staging.resolve()
    _within(staging, restore_root(settings).resolve(), "the staging dir")
    lines = _restic(settings, *restore_argv(snapshot, paths, staging), stopper=stopper, timeout=None)
    check_staging(staging, staged_source(staging, snapshot))
    return "\n".join(lines)


def check_staging(staging: Path, root: Path | None = None) -> None:
    """Nothing restored may point outside `root`, the restored copy of the uploads (default: the
    staging dir): a symlink to /etc, or one whose `..` climbs out of CRM_UPLOADS_PATH once copied
    back (`../../../.env`), is refused. The staging dir alone is not enough: it holds the snapshot's
    full path, so a relative link can climb out of the uploads and still land inside it."""
    real_root = (root or staging).resolve()
    for folder, dirs, files in os.walk(staging):
        for name in dirs + files:
            path = Path(folder) / name
            if path.is_symlink():
                target = (path.parent / os.readlink(path)).resolve()
                if target != real_root and real_root not in target.parents:
                    raise UploadsError(f"{path} is a symlink to {os.readlink(path)}, outside the restored uploads: refused")


def _within(path: Path, root: Path, what: str) -> None:
    if path != root and root not in path.parents:
        raise UploadsError(f"{what} {path} is outside {root}: refused")


def staged_source(staging: Path, snapshot: Snapshot) -> Path:
    """restic restores full paths: the snapshot's root lies inside the staging dir."""
    return staging / snapshot.root.lstrip("/")


def rsync_argv(source: Path, destination: Path, dry_run: bool) -> list[str]:
    program = shutil.which("rsync")
    if not program:
        raise UploadsError("rsync is not installed (apt install rsync)")
    # -a keeps modes and times; never --delete: this puts files back, it removes nothing.
    argv = [program, "-a", "--itemize-changes", "--protect-args"]
    if dry_run:
        argv.append("--dry-run")
    return argv + ["--", f"{source}/", f"{destination}/"]


def copy_back(settings: Settings, staging: Path, snapshot: Snapshot, dry_run: bool,
              stopper: Stopper | None = None) -> tuple[list[str], str]:
    """rsync the restored files into CRM_UPLOADS_PATH: (itemised lines, the command shown)."""
    uploads = settings.uploads_path
    if uploads is None:
        raise UploadsError("CRM_UPLOADS_PATH is not set: nowhere to copy back to")
    if not uploads.is_dir():
        raise UploadsError(f"CRM_UPLOADS_PATH {uploads} is not a directory")
    source = staged_source(staging, snapshot)
    if not source.is_dir():
        raise UploadsError(f"nothing restored under {source}")
    _within(source.resolve(), staging.resolve(), "the restored files")
    check_staging(staging, source)
    argv = rsync_argv(source, uploads.resolve(), dry_run)
    code, out, stderr = _run(settings, argv, stopper, env=child_env(), what="rsync")
    if code != 0:
        raise UploadsError(f"rsync exited {code}: {stderr.strip()[-300:]}")
    return [line for line in out.decode("utf-8", errors="replace").splitlines() if line.strip()], shown(argv)
