"""Partial restore of uploaded files (runbook §4): list the uploads snapshots, browse one lazily,
restore the chosen paths into a fresh staging dir, show rsync's itemised dry run of copying them
back into CRM_UPLOADS_PATH, then apply it.

Paths are never trusted: a chosen path must lie inside the snapshot's source folder, the staging
dir is made with mkdtemp (0700) under the restore root, everything restored must stay inside it
(no symlink leading out), and the copy only ever writes inside CRM_UPLOADS_PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .proc import child_env, shown
from .restic import ResticConfig, ResticError, explain, invocation
from .settings import Settings


class UploadsError(Exception):
    pass


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


def _restic_json(settings: Settings, *args: str, timeout: float = 300.0) -> list[str]:
    config = ResticConfig.from_settings(settings)
    try:
        with invocation(config, *args) as inv:
            result = subprocess.run(inv.argv, env=inv.env, pass_fds=inv.pass_fds, stdin=subprocess.DEVNULL,
                                    capture_output=True, timeout=timeout, check=False)
    except ResticError as exc:
        raise UploadsError(str(exc)) from None
    except subprocess.TimeoutExpired:
        raise UploadsError(f"restic {' '.join(args[:1])} did not answer within {timeout:.0f} s") from None
    stderr = result.stderr.decode("utf-8", errors="replace")
    if result.returncode != 0:
        raise UploadsError(explain(stderr, result.returncode, settings.restic_repository))
    return result.stdout.decode("utf-8", errors="replace").splitlines()


def list_snapshots(settings: Settings) -> list[Snapshot]:
    """`restic snapshots --tag uploads --json`, newest first."""
    lines = _restic_json(settings, "snapshots", "--tag", "uploads", "--json")
    data = json.loads("".join(lines) or "[]")
    snapshots = [Snapshot(s.get("short_id", s["id"][:8]), s["id"], s.get("time", ""), s.get("hostname", ""),
                          tuple(s.get("paths") or ())) for s in data]
    return sorted(snapshots, key=lambda s: s.time, reverse=True)


def list_dir(settings: Settings, snapshot: Snapshot, path: str) -> list[Node]:
    """The entries directly inside `path` of the snapshot (`restic ls --json ID path`)."""
    inside(path, snapshot.root)
    nodes = []
    for line in _restic_json(settings, "ls", "--json", snapshot.id, path):
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if item.get("struct_type") != "node" or item.get("path") == path:
            continue
        if str(PurePosixPath(item.get("path", "")).parent) != path.rstrip("/") and path != "/":
            continue
        nodes.append(Node(item["name"], item["path"], item.get("type", "file"), int(item.get("size") or 0)))
    return sorted(nodes, key=lambda n: (n.type != "dir", n.name.lower()))


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
    return Path(tempfile.mkdtemp(prefix="uploads-", dir=root))


def restore_argv(snapshot: Snapshot, paths: list[str], staging: Path) -> list[str]:
    args = ["restore", snapshot.id, "--target", str(staging)]
    for path in paths:
        args += ["--include", _glob_escape(inside(path, snapshot.root))]
    return args


def restore(settings: Settings, snapshot: Snapshot, paths: list[str], staging: Path) -> str:
    """Restore the chosen paths into `staging`; returns restic's output."""
    if not paths:
        raise UploadsError("nothing selected")
    staging = staging.resolve()
    _within(staging, restore_root(settings).resolve(), "the staging dir")
    lines = _restic_json(settings, *restore_argv(snapshot, paths, staging), timeout=3600)
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


def copy_back(settings: Settings, staging: Path, snapshot: Snapshot, dry_run: bool) -> tuple[list[str], str]:
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
    result = subprocess.run(argv, env=child_env(), stdin=subprocess.DEVNULL, capture_output=True, check=False)
    output = result.stdout.decode("utf-8", errors="replace")
    if result.returncode != 0:
        raise UploadsError(f"rsync exited {result.returncode}: "
                           f"{result.stderr.decode('utf-8', errors='replace').strip()[-300:]}")
    return [line for line in output.splitlines() if line.strip()], shown(argv)
