"""The CRM's Laravel `.env`: one line model for reading and for rewriting, so what the settings read
is what the DR wizard changes, and a rewrite touches only the values it sets (comments, quotes,
order, blank lines and CRLF line ends stay as they were).

The syntax is phpdotenv's, as Laravel reads it: `KEY=value`, `export KEY=value`, an unquoted value
ends at ` #` (an inline comment), `"double"` quotes take backslash escapes, `'single'` quotes none.
Not python-dotenv: it reads the same syntax, but its writer re-quotes values and drops inline
comments, and two parsers would disagree again.

Values of keys that hold secrets are masked wherever a file is shown (`masked`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from .fmt import mask_credentials

_ASSIGN = re.compile(r"(?P<lead>\s*(?:export\s+)?)(?P<key>[A-Za-z_][A-Za-z0-9_.]*)(?P<eq>\s*=\s*)(?P<rest>.*)", re.S)
_DOUBLE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_SINGLE = re.compile(r"'([^']*)'")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}
_SECRET_KEY = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|(?:^|_)KEY$|^APP_KEY$", re.I)
MASK = "***"


@dataclass
class Line:
    text: str  # the physical line without its line end
    end: str  # "\n", "\r\n" or "" (the last line)
    key: str | None = None
    value: str | None = None  # the parsed value
    head: str = ""  # up to the value: `export KEY=`
    raw: str = ""  # the value as written (quotes included)
    tail: str = ""  # after the value: blanks and an inline comment

    def render(self) -> str:
        return (self.head + self.raw + self.tail if self.key is not None else self.text) + self.end


def _parse_value(rest: str) -> tuple[str, str, str]:
    """(value, raw, tail) of what follows `KEY=`."""
    for pattern, quoted in ((_DOUBLE, True), (_SINGLE, False)):
        match = pattern.match(rest)
        if match:
            value = match.group(1)
            if quoted:
                value = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), value)
            return value, match.group(0), rest[match.end():]
    comment = re.search(r"\s#", rest)
    raw = rest[: comment.start()] if comment else rest
    stripped = raw.rstrip()
    return stripped, stripped, rest[len(stripped):]


def parse(text: str) -> list[Line]:
    lines = []
    for physical in text.splitlines(keepends=True):
        body = physical.rstrip("\r\n")
        line = Line(body, physical[len(body):])
        match = _ASSIGN.fullmatch(body)
        if match and not body.lstrip().startswith("#"):
            value, raw, tail = _parse_value(match.group("rest"))
            line.key, line.value = match.group("key"), value
            line.head, line.raw, line.tail = match.group("lead") + match.group("key") + match.group("eq"), raw, tail
        lines.append(line)
    return lines


def render(lines: list[Line]) -> str:
    return "".join(line.render() for line in lines)


def read_text(path: Path) -> str:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        return handle.read()


def values(text: str) -> dict[str, str]:
    """KEY -> value; a later assignment wins, as in phpdotenv."""
    return {line.key: line.value for line in parse(text) if line.key is not None and line.value is not None}


def read(path: Path) -> dict[str, str]:
    return values(read_text(path))


def _quote(value: str, like: str) -> str:
    if like.startswith("'") and "'" not in value:
        return f"'{value}'"
    if like.startswith('"') or not re.fullmatch(r"[A-Za-z0-9_./:@%+-]*", value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def with_values(text: str, wanted: dict[str, str]) -> tuple[str, dict[str, tuple[str | None, str]]]:
    """The file with these keys set; (new text, key -> (old value or None, new value)) for the keys
    that change. Only those values are rewritten; missing keys are appended."""
    lines = parse(text)
    changes: dict[str, tuple[str | None, str]] = {}
    last: dict[str, Line] = {line.key: line for line in lines if line.key is not None}
    for key, value in wanted.items():
        line = last.get(key)
        if line is None:
            if lines and not lines[-1].end:
                lines[-1].end = "\r\n" if any(line.end == "\r\n" for line in lines) else "\n"
            end = lines[-1].end if lines else "\n"
            lines.append(Line("", end, key, value, f"{key}=", _quote(value, ""), ""))
            changes[key] = (None, value)
        elif line.value != value:
            changes[key] = (line.value, value)
            line.raw, line.value = _quote(value, line.raw), value
    return render(lines), changes


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def masked(text: str, changed: frozenset[str] = frozenset()) -> str:
    """The file for display: the values of secret keys and the passwords in URLs replaced by ***
    (`changed` keys read `*** (changed)`, so a diff still shows that they change)."""
    out = []
    for line in parse(text):
        if line.key is not None and is_secret_key(line.key) and line.value:
            shown = MASK + (" (changed)" if line.key in changed else "")
            out.append(line.head + shown + line.tail + line.end)
        else:
            out.append(mask_credentials(line.render()))
    return "".join(out)


def masked_diff(old: str, new: str, path: Path) -> str:
    """A unified diff of two versions, secrets masked on both sides."""
    before, after = values(old), values(new)
    changed = frozenset(key for key in after if before.get(key) != after[key])
    return "".join(difflib.unified_diff(masked(old).splitlines(True), masked(new, changed).splitlines(True),
                                        f"{path} (now)", f"{path} (after)"))
