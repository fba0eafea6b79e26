"""Parallel import of a plain dump: the guarded stream, in dump order, cut at mysqldump's section
boundaries and fed to several mysql clients at once.

What goes where (real `mariadb-dump`/`mysqldump` output):
- the header (every line before the first section: the sandbox line, comments, the session `SET`s)
  goes first to every client, so each section runs as it would in one session;
- `-- Sequence structure for …` sections run before any table (a table's DEFAULT NEXTVAL needs its
  sequence): on one client that is closed before the tables start;
- `-- Table structure for table …` sections (structure and data) go to N clients, one section at
  a time per client; their `LOCK TABLES`/`UNLOCK TABLES` lines are turned into comments, because a
  table locked in one session breaks when another session creates a table related to it by a
  foreign key (ERROR 1100, seen on MariaDB 10.11);
- what must run after every table: the trigger blocks after a table's data (from its first
  `/*!50003 …` or `DELIMITER` line), the view placeholders (`-- Temporary table structure for
  view`), events, routines, the final views and the trailer: kept in dump order (in memory, past
  DEFERRED_IN_MEMORY in an unlinked temporary file) and run on one more client once every table
  client has exited 0.
A header that holds anything but session settings (a hand-made dump, `SET GLOBAL`, `CHANGE
MASTER`) would run once per client: such a dump, and `jobs=1`, go whole and in order to one
client, as a serial import does.

Memory is bounded by `buffer`: a section that is complete within it waits for a free client; a
larger one streams to its client as it arrives, and reading stops while the buffer is full. A
table client is free again when the server has run its section: after each section it is sent
`SELECT 'opsbackup:<token>:<n>'`, and its stdout (`--unbuffered`) gives that back once everything
before it ran (the pipe being empty says nothing: a small section sits whole in the client's
buffer while it runs). A client that fails stops every other; `stop()` (cancel, from any thread)
ends them all.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import select
import signal
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from .proc import Child

BUFFER = 48 * 1024 * 1024
HEADER_MAX = 1024 * 1024
DEFERRED_IN_MEMORY = 4 * 1024 * 1024
PIPE_SIZE = 1024 * 1024
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_CARRY_MAX = 4096  # a partial line longer than this is no section marker: pass it on

TABLE, SEQUENCE, AFTER, TAIL = "table", "sequence", "after", "tail"

# The lines that matter, each found at a line start (the pattern runs over "\n" + data).
_LINE = re.compile(
    rb"\n(?:-- (?P<section>Table structure for table|Dumping data for table|Sequence structure for"
    rb"|Temporary table structure for view|Final view structure for view|Dumping routines for database"
    rb"|Dumping events for database) "
    rb"|(?P<tail>/\*!50003 |DELIMITER |/\*!\d+ SET \w+ *= *@OLD_|-- Dump completed)"
    rb"|(?P<lock>(?:LOCK TABLES `(?:[^`\n]|``)+` WRITE|UNLOCK TABLES);(?=\n)))"
)
_KIND = {b"Table structure for table": TABLE, b"Dumping data for table": TABLE, b"Sequence structure for": SEQUENCE}
_AFTER_WHAT = {b"Temporary table structure for view": "the placeholder of view `{}`",
               b"Final view structure for view": "view `{}`", b"Dumping routines for database": "the routines",
               b"Dumping events for database": "the events"}
_NAME = re.compile(rb"`((?:[^`\n]|``)*)`")
# Header lines that may run once per client: comments, blanks, the sandbox line, one session SET.
_SESSION_LINE = re.compile(
    rb"\s*(?:--(?:\s.*)?|/\*M!999999\\- enable the sandbox mode \*/\s*"
    rb"|(?:/\*!\d+\s+)?SET\s(?![^;]*\b(?:GLOBAL|PERSIST|PERSIST_ONLY)\b)[^;]*;\s*)?",
    re.I,
)
_ERROR_LINE = re.compile(r"\bat line (\d+)")


class Stopped(Exception):
    """The import was stopped from outside (cancel)."""


class ClientFailed(Exception):
    """One client exited with an error (or stopped reading early); the others were stopped."""

    def __init__(self, client: int, clients: int, code: int, tail: str, where: str | None) -> None:
        self.client, self.clients, self.code, self.tail, self.where = client, clients, code, tail, where
        last = next((line.strip() for line in reversed(tail.splitlines()) if line.strip()), f"exit code {code}")
        super().__init__(last if where is None else f"{last} ({where})")


@dataclass
class SectionTiming:
    """One table section: its size, its client, and when it was read, given to the client, written
    whole into its pipe and run by the server (time.monotonic())."""

    name: str
    client: int = 0
    size: int = 0
    started: float = 0.0  # its first byte was read
    read: float = 0.0  # its last byte was read
    given: float = 0.0  # it went to its client
    handed: float = 0.0  # its last byte was written to the client
    done: float = 0.0  # the server had run it


@dataclass
class _Section:
    kind: str
    name: str
    line: int  # dump line of its first line
    chunks: deque[bytes] = field(default_factory=deque)
    size: int = 0  # bytes not yet handed to a client
    lines: int = 0  # known once closed
    closed: bool = False
    lane: "_Lane | None" = None
    timing: SectionTiming | None = None


class _Lane:
    """One client process and what is queued for its stdin."""

    def __init__(self, index: int, child: Child, label: str) -> None:
        self.index = index
        self.child = child
        self.label = label
        self.fd: int | None = child.proc.stdin.fileno()
        os.set_blocking(self.fd, False)
        self.out: int | None = child.proc.stdout.fileno() if child.proc.stdout is not None else None
        if self.out is not None:
            os.set_blocking(self.out, False)
        self.heard = b""  # the end of what its stdout said, for a mark cut in two
        self.marks: dict[int, _Section] = {}  # sent, not yet given back
        self.sent = 0
        try:
            fcntl.fcntl(self.fd, F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass
        try:
            self.pidfd: int | None = os.pidfd_open(child.pid)
        except (AttributeError, OSError):
            self.pidfd = None
        self.queue: deque[bytes] = deque()
        self.offset = 0  # into queue[0]
        self.counted: deque[bool] = deque()  # whether each queued chunk counts against the buffer
        self.section: _Section | None = None  # the section it is being fed
        self.pieces: list[tuple[int, int, str]] = []  # (its first input line, dump line, what)
        self.lines = 0  # input lines it was given in whole pieces
        self.state = "starting"
        self.code: int | None = None

    @property
    def free(self) -> bool:
        """Everything it was given has run."""
        return self.fd is not None and not self.queue and not self.marks \
            and (self.section is None or self.section.closed)

    def add_piece(self, dump_line: int, lines: int, what: str) -> None:
        self.pieces.append((self.lines + 1, dump_line, what))
        self.lines += lines

    def where(self, line: int) -> tuple[str, int] | None:
        """(what, dump line) of one of its input lines."""
        found = None
        for first, dump_line, what in self.pieces:
            if first > line:
                break
            found = (what, dump_line + line - first)
        return found


class Splitter:
    """Cuts the stream at section boundaries and tells `route(kind, name, line)` where the next
    bytes go; `data(bytes)` gets every byte in order. kind: TABLE or SEQUENCE (name: the table's),
    AFTER (a section that runs after the tables; name: what it holds, "view `v`") or TAIL (the
    rest of the current table section, its triggers, runs after the tables)."""

    def __init__(self, route: Callable[[str, str, int], None], data: Callable[[bytes], None],
                 comment_locks: bool = True) -> None:
        self._route = route
        self._data = data
        self.comment_locks = comment_locks
        self.passthrough = False  # set by the router: no more cutting, every byte to data()
        self.line = 1  # dump line at the start of what is not yet emitted
        self.kind: str | None = None  # None: the header
        self.name = ""
        self._carry = b""
        self._mid_line = False

    def feed(self, data: bytes) -> None:
        if self.passthrough:
            self._flush_carry()
            self._data(data)
            return
        if self._mid_line:  # the rest of a long line whose start was looked at
            end = data.find(b"\n") + 1
            if end == 0:
                self._data(data)
                return
            self._data(data[:end])
            self.line += 1
            data = data[end:]
            self._mid_line = False
        if self._carry:
            data = self._carry + data
            self._carry = b""
        cut = data.rfind(b"\n") + 1
        if len(data) - cut <= _CARRY_MAX:
            data, self._carry = data[:cut], data[cut:]
        elif cut < len(data):
            self._mid_line = True
        if data:
            self._scan(data)

    def finish(self) -> None:
        self._mid_line = False
        rest, self._carry = self._carry, b""
        if rest:
            if self.passthrough:
                self._data(rest)
            else:
                self._scan(rest)

    def _flush_carry(self) -> None:
        if self._carry:
            rest, self._carry = self._carry, b""
            self._data(rest)

    def _scan(self, data: bytes) -> None:
        start = 0  # emitted up to here
        for match in _LINE.finditer(b"\n" + data):
            at = match.start()  # in data: the line's start (the pattern's "\n" is the one before)
            group = match.lastgroup
            if group == "section":
                marker = match.group("section")
                kind = _KIND.get(marker, AFTER)
                end = data.find(b"\n", at)
                name = _section_name(data[at:end if end >= 0 else len(data)])
                if marker == b"Dumping data for table" and self.kind == TABLE and name == self.name:
                    continue  # the data part of the section it is in
                if kind == AFTER:
                    name = _AFTER_WHAT[marker].format(name)
                self._emit(data, start, at)
                start = at
                self.kind, self.name = kind, name
                self._route(kind, name, self.line)
            elif self.kind == TABLE:  # inside a table section's structure and data
                self._emit(data, start, at)
                start = at
                if group == "tail":
                    self.kind = TAIL
                    self._route(TAIL, self.name, self.line)
                elif self.comment_locks:
                    self._data(b"-- ")  # the same line, now a comment: line numbers stay true
        self._emit(data, start, len(data))

    def _emit(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            piece = data if start == 0 and end == len(data) else data[start:end]
            self.line += piece.count(b"\n")
            self._data(piece)


def _section_name(line: bytes) -> str:
    found = _NAME.search(line)
    return found.group(1).replace(b"``", b"`").decode("utf-8", errors="replace") if found else ""


def session_only(header: bytes) -> bool:
    """Every line of the header may run once per client (comments and session settings only)."""
    return all(_SESSION_LINE.fullmatch(line) for line in header.split(b"\n"))


class Dispatcher:
    """Fed the guarded bytes in dump order (from one thread); starts clients with `launch()` as
    they are needed, at most `jobs` for the tables at once. Raises ClientFailed when a client
    fails, Stopped after stop(). Call finish() at the end of the stream, abort() on a bad one,
    close() always."""

    def __init__(self, launch: Callable[[bool], Child], jobs: int, *, buffer: int | None = None) -> None:
        self._launch = launch  # launch(report): report=True: stdout a pipe, --unbuffered
        self.jobs = max(1, jobs)
        self.buffer = BUFFER if buffer is None else buffer
        self.serial = self.jobs == 1
        self.held = 0  # bytes in memory not yet handed to a client (header and deferred part aside)
        self.peak_held = 0
        self.clients = 0  # client processes started
        self.deferred = 0  # bytes that run after the tables
        self.timings: list[SectionTiming] = []
        self.phase = "header"  # header, tables, after, done
        self._header = bytearray()
        self._header_lines = 0
        self._splitter = Splitter(self._route, self._data)
        self._splitter.passthrough = self.serial
        self._current: _Section | None = None
        self._waiting: deque[_Section] = deque()
        self._lanes: list[_Lane] = []  # open table (and sequence) clients
        self._all: list[_Lane] = []  # every client started, for stop() and the error's context
        self._after = tempfile.SpooledTemporaryFile(max_size=DEFERRED_IN_MEMORY)
        self._after_pieces: list[tuple[int, int, str]] = []  # (its first line, dump line, what)
        self._after_lines = 0
        self._sequences: _Lane | None = None
        self._lock = threading.Lock()
        self._stopping = False
        self._failed: ClientFailed | None = None
        self._token = secrets.token_hex(8)
        self._mark = re.compile(rb"opsbackup:" + self._token.encode() + rb":(\d+)\n")  # whole: 1 is not 12

    # --- the stream ---

    def feed(self, data: bytes) -> None:
        self._check()
        self._splitter.feed(data)
        self._pump(block=False)
        while self.held > (0 if self.serial else self.buffer):
            self._pump(block=True)

    def finish(self) -> None:
        """The stream ended: hand everything over, wait for the table clients, then run what
        comes after the tables on one more client."""
        self._check()
        self._splitter.finish()
        if self.phase == "header":  # no section at all: one client takes it whole
            self._go_serial()
        self._close_section()
        while self._waiting or any(lane.queue for lane in self._lanes):
            self._pump(block=True)
        self._retire(self._lanes)
        if self.deferred and not self._only_settings_after():
            self.phase = "after"
            self._run_after()
        self.phase = "done"

    def abort(self) -> None:
        """A bad stream: nothing more reaches the server; every client is stopped."""
        self._stop_all()

    def stop(self) -> None:
        """From any thread (cancel): stop every client; the feeding thread gets Stopped."""
        with self._lock:
            self._stopping = True
        self._stop_all()

    def close(self) -> None:
        for lane in self._all:
            if lane.code is None and lane.child.proc.poll() is None:
                lane.child.stop(grace=5.0)
            if lane.pidfd is not None:
                os.close(lane.pidfd)
                lane.pidfd = None
            if lane.child.proc.stdout is not None:
                lane.child.proc.stdout.close()
        self._after.close()

    # --- what the operator sees ---

    def describe(self) -> str:
        """Per-client state for the progress line."""
        if self.serial:
            return ""
        if self.phase == "done":
            return "done"
        states = [f"client {lane.index}: {lane.state}" for lane in self._all if lane.label == TABLE
                  and lane.code is None]
        if self.phase == "after":
            states.append("views, routines, triggers, events: importing")
        elif self.deferred:
            states.append(f"views, routines, triggers, events: {_size(self.deferred)} after the tables")
        return "; ".join(states)

    # --- routing (called by the splitter) ---

    def _route(self, kind: str, name: str, line: int) -> None:
        if self.serial:
            return
        if self.phase == "header":
            if not session_only(bytes(self._header)):
                self._go_serial()
                return
            self.phase = "tables"
        self._close_section()
        if kind in (TABLE, SEQUENCE):
            if kind == TABLE and self._sequences is not None:
                self._barrier()
            section = _Section(kind, name, line)
            if kind == TABLE:
                section.timing = SectionTiming(name, 0, started=time.monotonic())
            self._current = section
            if kind == SEQUENCE:
                self._assign(section, self._sequence_lane())
            else:
                self._waiting.append(section)
                self._dispatch()
        else:
            self._current = None
            what = f"the triggers of table `{name}`" if kind == TAIL else name
            self._after_pieces.append((self._after_lines + 1, line, what))

    def _data(self, data: bytes) -> None:
        if self.phase == "header" and self.serial:
            self._go_serial()
        if self.phase == "header":
            self._header += data
            if len(self._header) > HEADER_MAX:
                self._go_serial()
            return
        section = self._current
        if section is None:  # after the tables
            self._after.write(data)
            self.deferred += len(data)
            self._after_lines += data.count(b"\n")
            return
        if section.timing is not None:
            section.timing.size += len(data)
        lane = section.lane
        if lane is not None:
            self._enqueue(lane, data)
        else:
            section.chunks.append(data)
            section.size += len(data)
            self._hold(len(data))

    def _go_serial(self) -> None:
        """One client takes the whole dump in order, as a serial import."""
        self.serial = True
        self.phase = "tables"
        self._splitter.passthrough = True
        self._splitter.comment_locks = False
        header = bytes(self._header)
        self._header.clear()
        section = _Section(TABLE, "", 1)
        self._current = section
        lane = self._start(TABLE, header=False)
        self._assign(section, lane)
        if header:
            self._data(header)

    def _close_section(self) -> None:
        section = self._current
        if section is None or section.closed:
            return
        section.closed = True
        section.lines = self._splitter.line - section.line
        if section.timing is not None:
            section.timing.read = time.monotonic()
        if section.lane is not None:
            section.lane.lines += section.lines
            self._send_mark(section.lane, section)
            self._handed(section.lane)
        self._current = None

    # --- clients ---

    def _start(self, label: str, header: bool = True) -> _Lane:
        with self._lock:
            if self._stopping:
                raise Stopped()
            child = self._launch(label == TABLE and not self.serial)
            lane = _Lane(len(self._all) + 1, child, label)
            self._all.append(lane)
        self.clients += 1
        if label != AFTER:
            self._lanes.append(lane)
        if header and self._header:
            lane.add_piece(1, self._header_count(), "the header")
            self._enqueue(lane, bytes(self._header), counted=False)
        lane.state = "idle"
        return lane

    def _header_count(self) -> int:
        if not self._header_lines:
            self._header_lines = self._header.count(b"\n")
        return self._header_lines

    def _sequence_lane(self) -> _Lane:
        if self._sequences is None:
            self._sequences = self._start(SEQUENCE)
        return self._sequences

    def _barrier(self) -> None:
        """The sequences are created before the first table that may use them."""
        lane, self._sequences = self._sequences, None
        while lane.queue:
            self._pump(block=True)
        self._retire([lane])

    def _assign(self, section: _Section, lane: _Lane) -> None:
        section.lane = lane
        lane.section = section
        lane.state = f"`{section.name}`" if section.name else "importing"
        lane.pieces.append((lane.lines + 1, section.line, f"table `{section.name}`" if section.kind == TABLE
                            else f"sequence `{section.name}`"))
        if section.timing is not None:
            section.timing.client = lane.index
            section.timing.given = time.monotonic()
            self.timings.append(section.timing)
        while section.chunks:
            self._enqueue(lane, section.chunks.popleft(), already_held=True)
        section.size = 0
        if section.closed:
            lane.lines += section.lines
            self._send_mark(lane, section)
        self._handed(lane)

    def _send_mark(self, lane: _Lane, section: _Section) -> None:
        """After a table section: a statement whose output says the server has run it."""
        if lane.out is None:
            return
        lane.sent += 1
        lane.marks[lane.sent] = section
        self._enqueue(lane, f"SELECT 'opsbackup:{self._token}:{lane.sent}' AS opsbackup;\n".encode(), counted=False)
        lane.lines += 1

    def _hear(self, lane: _Lane) -> None:
        """Read what its stdout says (the marks; anything else the dump printed is dropped)."""
        while lane.out is not None:
            try:
                data = os.read(lane.out, 65536)
            except BlockingIOError:
                return
            if not data:
                lane.out = None
                return
            text = lane.heard + data
            lane.heard = text[-64:]
            for found in self._mark.finditer(text):
                section = lane.marks.pop(int(found.group(1)), None)
                if section is not None and section.timing is not None:
                    section.timing.done = time.monotonic()
                if not lane.marks and lane.free:
                    lane.state = "idle"

    def _dispatch(self) -> None:
        """Give waiting sections to free clients (starting clients up to `jobs`)."""
        while self._waiting:
            tables = [lane for lane in self._lanes if lane.label == TABLE]
            lane = next((lane for lane in tables if lane.free), None)
            if lane is None and len(tables) < self.jobs:
                lane = self._start(TABLE)
            if lane is None:
                return
            self._assign(self._waiting.popleft(), lane)

    def _enqueue(self, lane: _Lane, data: bytes, *, counted: bool = True, already_held: bool = False) -> None:
        lane.queue.append(data)
        lane.counted.append(counted)
        if counted and not already_held:
            self._hold(len(data))

    def _hold(self, size: int) -> None:
        self.held += size
        if self.held > self.peak_held:
            self.peak_held = self.held

    def _handed(self, lane: _Lane) -> None:
        section = lane.section
        if section is not None and section.closed and not lane.queue:
            if section.timing is not None and not section.timing.handed:
                section.timing.handed = time.monotonic()
            if lane.out is None or not lane.marks:
                lane.state = "idle"

    # --- moving bytes ---

    def _pump(self, block: bool) -> None:
        """Write what the pipes take; with `block`, first wait until one takes more or a client
        exits."""
        self._check()
        if block:
            poller = select.poll()
            slow = False
            for lane in self._all:
                if lane.code is not None:
                    continue
                if lane.fd is not None:
                    poller.register(lane.fd, select.POLLOUT if lane.queue else 0)
                if lane.out is not None:
                    poller.register(lane.out, select.POLLIN)
                if lane.pidfd is not None:
                    poller.register(lane.pidfd, select.POLLIN)
                else:
                    slow = True
            poller.poll(50 if slow else 200)
        for lane in list(self._all):
            if lane.code is None:
                self._hear(lane)
                self._write(lane)
                self._reap(lane)
        self._dispatch()
        self._check()

    def _write(self, lane: _Lane) -> None:
        while lane.queue and lane.fd is not None:
            head = lane.queue[0]
            try:
                written = os.write(lane.fd, memoryview(head)[lane.offset:] if lane.offset else head)
            except BlockingIOError:
                return
            except BrokenPipeError:
                self._closed_early(lane)
                return
            lane.offset += written
            if lane.counted[0]:
                self.held -= written
            if lane.offset == len(head):
                lane.queue.popleft()
                lane.counted.popleft()
                lane.offset = 0
        self._handed(lane)

    def _reap(self, lane: _Lane) -> None:
        code = lane.child.proc.poll()
        if code is None:
            return
        self._hear(lane)
        lane.code = lane.child.wait()
        for section in lane.marks.values():  # its last sections ran before it exited
            if section.timing is not None and not section.timing.done and lane.code == 0:
                section.timing.done = time.monotonic()
        if lane.fd is not None and not self._stopping:
            self._closed_early(lane)
        elif lane.code != 0 and not self._stopping:
            self._fail(lane)

    def _closed_early(self, lane: _Lane) -> None:
        """The client stopped reading before its input ended."""
        if self._stopping:
            return
        lane.code = lane.child.wait()
        self._fail(lane)

    def _fail(self, lane: _Lane) -> None:
        if self._failed is not None:
            return
        lane.state = "failed"
        tail = lane.child.stderr.tail
        if lane.code == 0:
            tail += ("\n" if tail else "") + "the client exited before the end of its input"
        where = None
        if not self.serial:
            last = next((line for line in reversed(tail.splitlines()) if line.strip()), "")
            found = _ERROR_LINE.search(last)
            place = lane.where(int(found.group(1))) if found else None
            tables = sum(1 for other in self._all if other.label == TABLE)
            where = ("the client for views, routines, triggers and events" if lane.label == AFTER
                     else f"client {lane.index}, one of {tables} for the tables")
            if place:
                where += f"; its line {found.group(1)} is line {place[1]} of the dump, in {place[0]}"
        self._failed = ClientFailed(lane.index, len(self._all), lane.code or 0, tail, where)
        self._stop_all()

    def _check(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._stopping:
            raise Stopped()

    def _retire(self, lanes: list[_Lane]) -> None:
        """Close their stdin and wait until each exited 0 (one failing stops the others)."""
        for lane in lanes:
            self._close_stdin(lane)
            if lane.state == "idle":
                lane.state = "finishing"
        while any(lane.code is None for lane in lanes):
            self._pump(block=True)
        for lane in lanes:
            lane.state = "done"
            if lane in self._lanes:
                self._lanes.remove(lane)

    def _close_stdin(self, lane: _Lane) -> None:
        if lane.fd is not None:
            lane.fd = None
            try:
                lane.child.proc.stdin.close()
            except OSError:
                pass  # a client that died: its exit code tells

    def _only_settings_after(self) -> bool:
        """What follows the tables is the trailer alone (session settings, comments): no client for it."""
        if self.deferred > HEADER_MAX:
            return False
        self._after.seek(0)
        return session_only(self._after.read())

    def _run_after(self) -> None:
        """Views, routines, triggers, events and the trailer, in dump order, on one client."""
        lane = self._start(AFTER)
        for first, dump_line, what in self._after_pieces:
            lane.pieces.append((lane.lines + first, dump_line, what))
        lane.state = "views, routines, triggers, events"
        self._after.seek(0)
        while chunk := self._after.read(PIPE_SIZE):
            self._enqueue(lane, chunk)
            while self.held > PIPE_SIZE:
                self._pump(block=True)
        while lane.queue:
            self._pump(block=True)
        self._retire([lane])

    def _stop_all(self) -> None:
        with self._lock:
            lanes = list(self._all)
        for lane in lanes:
            lane.child.signal(signal.SIGTERM)
        for lane in lanes:
            lane.child.stop(grace=5.0)


def _size(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KiB"
