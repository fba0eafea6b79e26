"""restic as a subprocess: repository and password handed over without leaking the password
(RESTIC_PASSWORD_FILE's path, or a pipe read through --password-file /dev/fd/N), and its errors
turned into messages an operator can act on.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .proc import child_env
from .settings import Secret, Settings


class ResticError(Exception):
    pass


@dataclass(frozen=True)
class ResticConfig:
    repository: str | None
    password_file: Path | None
    password: Secret | None

    @classmethod
    def from_settings(cls, settings: Settings) -> "ResticConfig":
        # A password file wins: its path is not a secret and restic reads it itself.
        password = None if settings.restic_password_file else settings.restic_password
        return cls(settings.restic_repository, settings.restic_password_file, password)

    def preflight(self) -> str:
        program = shutil.which("restic")
        if not program:
            raise ResticError("restic is not installed (apt install restic)")
        if not self.repository:
            raise ResticError("no restic repository configured: set RESTIC_REPOSITORY")
        if self.password_file is None and self.password is None:
            raise ResticError("no restic password configured: set RESTIC_PASSWORD_FILE")
        return program


@dataclass
class Invocation:
    argv: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...]


@contextmanager
def invocation(config: ResticConfig, *args: str) -> Iterator[Invocation]:
    """The argv/env/fds for one restic run; a password pipe is closed on exit."""
    program = config.preflight()
    env = child_env({"RESTIC_REPOSITORY": str(config.repository), "RESTIC_PROGRESS_FPS": "4"})
    read_fd = -1
    try:
        if config.password_file is not None:
            env["RESTIC_PASSWORD_FILE"] = str(config.password_file)
            argv = [program, *args]
            fds: tuple[int, ...] = ()
        else:
            read_fd, write_fd = os.pipe()
            try:
                os.write(write_fd, config.password.reveal().encode("utf-8") + b"\n")
            finally:
                os.close(write_fd)
            argv = [program, "--password-file", f"/dev/fd/{read_fd}", *args]
            fds = (read_fd,)
        yield Invocation(argv, env, fds)
    finally:
        if read_fd >= 0:
            os.close(read_fd)


def explain(stderr: str, code: int, repository: str | None) -> str:
    """restic's exit 1 covers many causes: name the one its stderr shows."""
    text = stderr.lower()
    if "already locked" in text or "unable to create lock" in text:
        return ("the restic repository is locked by another restic process; wait for it, or if it "
                "crashed run `restic unlock` (restic 0.14 leaves a lock when killed with SIGTERM)")
    if "wrong password" in text or "no key found" in text:
        return "wrong restic password: check RESTIC_PASSWORD_FILE"
    if "is there a repository at the following location" in text or "unable to open config file" in text:
        return f"no restic repository at {repository}: check RESTIC_REPOSITORY (or create it with `restic init`)"
    last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
    return f"restic exited {code}: {last.strip() or 'no error message'}"
