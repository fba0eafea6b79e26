"""Reading dumps: streamed gzip decompression, and the guard between a dump and the mysql client.

The guard sees the decompressed stream in chunks and passes on only whole lines it has checked:
- a statement that leaves the target database (`USE`, `CREATE/DROP DATABASE|SCHEMA`, also inside
  `/*!…*/` version comments) and any client command (`\\! cmd`, `\\u db`, `system`, `connect`,
  `source`, `tee`, `pager`, `edit`) at a line start stops the import before it reaches the server;
- optionally DEFINER clauses are removed (a verify user rarely holds SUPER/SET USER);
- it counts tables, remembers the current one, and keeps the end of the stream for the trailer.
Lines are checked at their start, where mysqldump puts every statement, and after every `;` that
lies outside the line's strings, identifiers and comments (`SELECT 1; USE crm;` switches database
just as well); dump data never spans lines (mysqldump escapes newlines in strings). Blanks the
server skips (\r, \f, \v) and plain comments in front of a statement do not hide it.
Not covered, by design of a line-based guard: a statement split over lines (`DROP⏎DATABASE crm`),
a custom DELIMITER, the pieces after the start of a line longer than MAX_CARRY, and table names
qualified with another database (`DROP TABLE crm.users`). Against a hostile dump the real
boundary is a verify user whose privileges end at the verify_* databases.
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from typing import BinaryIO, Callable, Iterator

READ_CHUNK = 1024 * 1024
# Decompressed pieces stay small so the client is fed while we work on the next one.
OUT_CHUNK = 256 * 1024
# A line longer than this is passed on in pieces (its start was checked), bounding memory.
MAX_CARRY = 16 * 1024 * 1024
TRAILER = b"-- Dump completed"
SANDBOX_LINE = b"/*M!999999\\- enable the sandbox mode */"

# What the server skips in front of a statement: blanks (a newline ends the line checked) and
# plain comments (`/*! … */` and MariaDB's `/*M! … */` are executed, so they are not skipped).
_GAP = rb"(?:[^\S\n]|/\*(?!M?!)[^\n]*?\*/)*"
_STATEMENT = (
    rb"(?P<use>use)(?![\w$])"
    rb"|(?P<db>(?:create|drop|alter)(?:(?:[^\S\n]|/\*[^\n]*?\*/)+or[^\S\n]+replace)?"
    rb"(?:[^\S\n]|/\*[^\n]*?\*/)+(?:database|schema))(?![\w$])"
    rb"|/\*M?!\d*[^\S\n]*(?P<vdb>use(?![\w$])|(?:create|drop|alter)[^\S\n]+(?:database|schema)(?![\w$]))"
    rb"|(?P<cmd>\\\S)"
    rb"|(?P<word>system|connect|source|tee|pager|edit)(?=[^\S\n]|;|$)"
)
# Line-start patterns begin with a literal "\n" and run over "\n" + body: Python's re then jumps
# from newline to newline instead of trying `^` under re.M at every byte (about 10x faster).
_FORBIDDEN = re.compile(rb"\n" + _GAP + rb"(?:" + _STATEMENT + rb")", re.I | re.M)
# The same after a `;` inside a line: a candidate, forbidden only outside strings and comments.
_AFTER_SEMICOLON = re.compile(rb";" + _GAP + rb"(?:" + _STATEMENT + rb")", re.I | re.M)
# Where a string, a quoted identifier or a comment starts, and the whole of it (to the line's end
# when it is not closed on the line).
_OPENER = re.compile(rb"['\"`#]|/\*|--(?:[^\S\n]|$)", re.M)
_QUOTED = re.compile(
    rb"'(?:[^'\\\n]|\\.)*(?:'|$)|\"(?:[^\"\\\n]|\\.)*(?:\"|$)|`[^`\n]*(?:`|$)"
    rb"|/\*.*?(?:\*/|$)|(?:--|#).*$",
    re.M,
)
_DEFINER = re.compile(
    rb"(\n(?:/\*!\d{5}[ \t]+|CREATE[ \t]+)[^\n]*?)"
    rb"DEFINER[ \t]*=[ \t]*(?:`[^`\n]*`|'[^'\n]*'|[^\s@]+)@(?:`[^`\n]*`|'[^'\n]*'|[^\s*/]+)[ \t]*",
    re.I | re.M,
)
_TABLE = re.compile(rb"\n-- (?:Table structure|Dumping data) for table `((?:[^`\n]|``)+)`")
_STRUCTURE = b"\n-- Table structure for table `"


def ends_with_trailer(tail: bytes) -> bool:
    """The last non-blank line of a stream's end is the `-- Dump completed` trailer. `tail` must
    reach back past that line's start (a line longer than the tail kept is no trailer)."""
    tail = tail.rstrip()
    newline = tail.rfind(b"\n")
    return newline >= 0 and tail[newline + 1:].startswith(TRAILER)


class Refused(Exception):
    """The dump holds something that must never reach the server."""

    def __init__(self, line_no: int, line: bytes, reason: str) -> None:
        self.line_no = line_no
        self.reason = reason
        shown = line[:80].decode("utf-8", errors="replace").strip()
        self.line = shown
        super().__init__(f"refused at line {line_no}: {reason} (`{shown}`)")


class TruncatedDump(Exception):
    pass


def _reason(match: re.Match[bytes]) -> str:
    if match.group("use") or match.group("db") or match.group("vdb"):
        return "the dump switches or creates a database; it must only restore into the chosen one"
    return "the dump holds a mysql client command, which could run programs or read files on this host"


class DumpGuard:
    def __init__(self, strip_definer: bool = False, drop_sandbox_line: bool = False) -> None:
        self.strip_definer = strip_definer
        self.drop_sandbox_line = drop_sandbox_line
        self.lines = 0  # complete lines passed on
        self.tables = 0
        self.current_table: str | None = None
        self._carry = b""
        self._mid_line = False  # the carry was flushed: the next bytes continue a checked line
        self._tail = b""
        self._passed = 0
        self._first = True

    def feed(self, chunk: bytes) -> bytes:
        """The part of the stream that is safe to send now; raises Refused."""
        data = self._carry + chunk if self._carry else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if len(data) <= MAX_CARRY:
                self._carry = data
                return b""
            # One giant line: check its start, then pass it on in pieces.
            if not self._mid_line:
                self._check(b"\n" + data[:4096], self.lines)
            self._mid_line = True
            self._carry = b""
            return self._out(data)
        region, self._carry = data[:cut], data[cut:]
        skip = 0
        if self._mid_line:  # the rest of a line whose start was checked
            skip = region.find(b"\n") + 1
            self._mid_line = False
        head, body = region[:skip], region[skip:]
        if self._first:
            self._first = False
            if self.drop_sandbox_line and body.startswith(SANDBOX_LINE):
                body = body[body.find(b"\n") + 1:]
        lined = b"\n" + body
        self._check(lined, self.lines + region.count(b"\n", 0, len(region) - len(body)))
        self._observe(lined)
        if self.strip_definer:
            body = _DEFINER.sub(rb"\1", lined)[1:]
        self.lines += region.count(b"\n")
        return self._out(head + body if head else body)

    def finish(self) -> bytes:
        """Check and return what is left after the last newline."""
        rest, self._carry = self._carry, b""
        if rest and not self._mid_line:
            lined = b"\n" + rest
            self._check(lined, self.lines)
            self._observe(lined)
            if self.strip_definer:
                rest = _DEFINER.sub(rb"\1", lined)[1:]
        return self._out(rest)

    @property
    def trailer_ok(self) -> bool:
        """The last non-blank line is the `-- Dump completed` trailer (the same text inside the
        data of a dump cut short at a line's end is not)."""
        whole = self._passed <= len(self._tail)  # the tail holds the whole stream: it starts a line
        return ends_with_trailer(b"\n" + self._tail if whole else self._tail)

    @staticmethod
    def _check(lined: bytes, lines_before: int) -> None:
        """`lined` is "\n" + whole lines; raises Refused at the first forbidden statement."""
        match = _FORBIDDEN.search(lined)
        at = match.start() + 1 if match else 0  # past the newline the pattern starts with
        if match is None:
            match = _statement_after_semicolon(lined)
            at = match.start() if match else 0
        if match:
            line_start = lined.rfind(b"\n", 0, at) + 1
            line_end = lined.find(b"\n", at)
            line_no = lines_before + lined.count(b"\n", 1, at) + 1
            raise Refused(line_no, lined[line_start:line_end if line_end >= 0 else None], _reason(match))

    def _observe(self, lined: bytes) -> None:
        self.tables += lined.count(_STRUCTURE)
        newest = deque(_TABLE.finditer(lined), maxlen=1)
        if newest:
            self.current_table = newest[0].group(1).decode("utf-8", errors="replace").replace("``", "`")

    def _out(self, data: bytes) -> bytes:
        if data:
            self._tail = (self._tail + data[-512:])[-512:]
            self._passed += len(data)
        return data


def _statement_after_semicolon(body: bytes) -> re.Match[bytes] | None:
    """The first forbidden statement after a `;` inside a line that lies outside the line's
    strings, quoted identifiers and comments. Each line is read once from its start (where
    mysqldump's lines always begin outside them), however many candidates it holds."""
    at = 0  # lexed up to here; outside any string or comment
    previous = 0
    for candidate in _AFTER_SEMICOLON.finditer(body):
        pos = candidate.start()
        newline = body.rfind(b"\n", previous, pos)
        if newline >= 0:  # a new line: lex it from its start
            at = newline + 1
        previous = pos
        while at <= pos:
            opener = _OPENER.search(body, at, pos)
            if opener is None:
                return candidate
            quoted = _QUOTED.match(body, opener.start())
            at = quoted.end() if quoted else opener.end()
    return None


def gunzip_chunks(source: BinaryIO, on_read: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """Decompressed chunks of a gzip file (several members allowed). Raises TruncatedDump when the
    file is empty or the stream ends early, zlib.error when it is corrupt. `on_read(n)` is told
    the compressed bytes read."""
    decoder = zlib.decompressobj(wbits=31)
    fed = False  # the current member has had input
    total = 0
    while raw := source.read(READ_CHUNK):
        total += len(raw)
        if on_read is not None:
            on_read(len(raw))
        while raw:
            fed = True
            out = decoder.decompress(raw, OUT_CHUNK)
            if out:
                yield out
            if decoder.eof:
                raw = decoder.unused_data
                decoder = zlib.decompressobj(wbits=31)
                fed = False
            else:
                raw = decoder.unconsumed_tail
    if total == 0:
        raise TruncatedDump("the dump file is empty")
    if fed and not decoder.eof:
        raise TruncatedDump("the gzip stream ends early: the dump is truncated")
