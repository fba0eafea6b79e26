"""Small formatting helpers shared by the CLI, the reports and the UI."""

from __future__ import annotations

import errno
import re


def age_words(seconds: float | None) -> str:
    """3 min, 5 h 12 min, 2 d 4 h; negative ages read 'in the future'."""
    if seconds is None:
        return "-"
    if seconds < 0:
        return age_words(-seconds) + " in the future"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes and hours < 10 else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def size_words(size: float | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def one_line(text: str, limit: int = 200) -> str:
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# C0 controls but tab and newline, DEL, and the C1 controls (U+0080–U+009F, which some terminals
# take for ESC sequences): what a file or a child wrote must never drive the operator's terminal.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    return "␛" if char == "\x1b" else f"\\x{ord(char):02x}"


def printable(text: str) -> str:
    """`text` with every control character shown, never obeyed: ESC as ␛, the others as \\xNN.
    For anything that comes from a file or a child process, before a terminal, the UI, Slack or a
    report sees it."""
    return _CONTROL.sub(_visible, text) if _CONTROL.search(text) else text


_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(@)", re.I)


def mask_credentials(text: str) -> str:
    """`https://user:secret@host` → `https://user:***@host`, wherever URLs are shown."""
    return _URL_CREDENTIALS.sub(r"\1***\2", text)


_OS_WORDS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or directory",
    errno.EIO: "an input/output error (a failing disk?)",
}
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def os_error_words(exc: OSError, doing: str = "") -> str:
    """'writing /srv/…/x.sha256: no space left on the device' — what failed, where, in words."""
    what = _OS_WORDS.get(exc.errno or 0) or (exc.strerror or type(exc).__name__).lower()
    where = exc.filename if exc.filename is not None else ""
    head = " ".join(part for part in (doing, str(where)) if part)
    return f"{head}: {what}" if head else what


def os_error_next_step(exc: OSError) -> str | None:
    """The next step an OSError calls for, when its cause says it."""
    if exc.errno in DISK_FULL:
        return "free space on the backup volume (old dumps, reports, leftovers), then run the job again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "check the folder's owner, mode and mount (is it mounted read-only?), then run the job again"
    return None
