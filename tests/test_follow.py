"""LogFollower: `tail -F` for ops.log — the tail at start, appends, partial lines, a missing file,
rotation by rename and by copytruncate, bursts larger than one read, odd bytes."""

from __future__ import annotations

import os
import shutil

import pytest

from opsbackup_tui.core import follow
from opsbackup_tui.core.follow import LogFollower


def write(path, text: str, mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8", newline="") as handle:
        handle.write(text)


def lines_text(count: int, start: int = 0, prefix: str = "line") -> str:
    return "".join(f"{prefix} {i}\n" for i in range(start, start + count))


@pytest.fixture
def log(tmp_path):
    return tmp_path / "ops.log"


@pytest.fixture
def follower(log):
    made: list[LogFollower] = []

    def build(**kwargs) -> LogFollower:
        made.append(LogFollower(log, **kwargs))
        return made[-1]

    yield build
    for one in made:
        one.close()


# --- start ---


def test_start_returns_the_last_lines_and_poll_only_new_ones(log, follower):
    write(log, lines_text(5000))
    tail = follower(initial_lines=1000)
    first = tail.start()
    assert first == [f"line {i}" for i in range(4000, 5000)]
    assert tail.exists
    assert tail.poll() == []
    write(log, "line 5000\nline 5001\n")
    assert tail.poll() == ["line 5000", "line 5001"]
    assert tail.poll() == []


def test_start_of_a_short_file_returns_all_of_it(log, follower):
    write(log, "a\nb\n")
    assert follower().start() == ["a", "b"]


def test_start_does_not_read_the_whole_file(log, follower, monkeypatch):
    # 40 MiB of lines: the tail comes from the end with pread, never a read of everything.
    with open(log, "wb") as handle:
        block = lines_text(20000).encode()
        for _ in range(40 * 1024 * 1024 // len(block) + 1):
            handle.write(block)
        handle.write(b"the very last line\n")
    size = log.stat().st_size
    read = []
    real_pread = os.pread

    def counting_pread(fd, length, offset):
        read.append(length)
        return real_pread(fd, length, offset)

    monkeypatch.setattr(os, "pread", counting_pread)
    tail = follower(initial_lines=10)
    assert tail.start()[-1] == "the very last line"
    assert sum(read) < size / 100
    assert tail.poll() == []


def test_missing_file_is_calm_and_picked_up_when_it_appears(log, follower):
    tail = follower()
    assert tail.start() == []
    assert not tail.exists
    assert tail.poll() == []
    write(log, "first\nsecond\n")
    # A file that appears after the start is new: all of it is shown.
    assert tail.poll() == ["first", "second"]
    assert tail.exists
    write(log, "third\n")
    assert tail.poll() == ["third"]


def test_empty_file_then_lines(log, follower):
    log.touch()
    tail = follower()
    assert tail.start() == []
    assert tail.exists
    write(log, "x\n")
    assert tail.poll() == ["x"]


# --- appends ---


def test_partial_line_waits_for_its_newline(log, follower):
    log.touch()
    tail = follower()
    tail.start()
    write(log, "half a li")
    assert tail.poll() == []
    write(log, "ne\nnext")
    assert tail.poll() == ["half a line"]
    write(log, "\n")
    assert tail.poll() == ["next"]


def test_crlf_and_invalid_utf8_are_tamed(log, follower):
    log.touch()
    tail = follower()
    tail.start()
    with open(log, "ab") as handle:
        handle.write(b"windows line\r\nbad \xff\xfe bytes\n\xc3")
    assert tail.poll() == ["windows line", "bad \ufffd\ufffd bytes"]
    with open(log, "ab") as handle:
        handle.write(b"\xa9t\xc3\xa9\n")  # the é split across two writes stays one character
    assert tail.poll() == ["\u00e9t\u00e9"]


def test_a_burst_larger_than_one_read_arrives_over_several_polls(log, follower, monkeypatch):
    monkeypatch.setattr(follow, "READ_LIMIT", 4096)
    log.touch()
    tail = follower()
    tail.start()
    write(log, lines_text(3000))
    got: list[str] = []
    polls = 0
    while len(got) < 3000:
        batch = tail.poll()
        polls += 1
        assert polls < 100, "the follower stopped making progress"
        got += batch
    assert polls > 5
    assert got == [f"line {i}" for i in range(3000)]
    assert tail.poll() == []


# --- rotation ---


def test_rotation_by_rename_drains_the_old_file_then_reads_the_new_one(log, follower):
    write(log, lines_text(3))
    tail = follower()
    assert tail.start() == ["line 0", "line 1", "line 2"]
    write(log, "line 3\n")  # written just before the rotation: must not be lost
    os.rename(log, log.with_name("ops.log.1"))
    write(log.with_name("ops.log.1"), "line 4\n")  # a late writer still holding the old file
    write(log, lines_text(2, 5), mode="w")
    got = tail.poll()
    assert got == ["line 3", "line 4", "line 5", "line 6"]
    assert tail.rotations == 1
    write(log, "line 7\n")
    assert tail.poll() == ["line 7"]
    assert tail.rotations == 1


def test_rotation_by_rename_completes_a_partial_last_line(log, follower):
    write(log, "a\n")
    tail = follower()
    tail.start()
    write(log, "cut sho")
    os.rename(log, log.with_name("ops.log.1"))
    write(log, "new\n", mode="w")
    assert tail.poll() == ["cut sho", "new"]


def test_rotation_by_rename_with_a_gap_before_the_new_file(log, follower):
    write(log, lines_text(2))
    tail = follower()
    tail.start()
    os.rename(log, log.with_name("ops.log.1"))
    assert tail.poll() == []  # no file at the path for a moment: keep the old one, no crash
    assert tail.poll() == []
    write(log, "fresh\n", mode="w")
    assert tail.poll() == ["fresh"]
    assert tail.rotations == 1


def test_new_file_vanishing_between_stat_and_open_is_not_a_rotation(log, follower, monkeypatch):
    write(log, lines_text(3))
    tail = follower()
    tail.start()
    os.rename(log, log.with_name("ops.log.1"))
    write(log, "new 1\n", mode="w")
    real_open = os.open

    def vanished(path, *args, **kwargs):
        if os.fspath(path) == os.fspath(log):
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", vanished)
    # The old file must not be read again from its start (that would repeat every line).
    assert tail.poll() == []
    assert tail.rotations == 0
    monkeypatch.setattr(os, "open", real_open)
    assert tail.poll() == ["new 1"]
    assert tail.rotations == 1


def test_rotation_by_copytruncate_restarts_at_the_beginning(log, follower):
    write(log, lines_text(50))
    tail = follower(initial_lines=10)
    assert len(tail.start()) == 10
    inode = log.stat().st_ino
    shutil.copyfile(log, log.with_name("ops.log.1"))
    with open(log, "r+b") as handle:
        handle.truncate(0)
    assert log.stat().st_ino == inode
    assert tail.poll() == []
    assert tail.rotations == 1
    write(log, "after 1\nafter 2\n")
    assert tail.poll() == ["after 1", "after 2"]
    assert tail.poll() == []


def test_copytruncate_then_fast_writes_are_read_once(log, follower):
    write(log, lines_text(200))
    tail = follower()
    tail.start()
    with open(log, "r+b") as handle:
        handle.truncate(0)
    write(log, "new a\nnew b\n")  # shorter than before: the shrink is still seen
    assert tail.poll() == ["new a", "new b"]
    assert tail.rotations == 1
    assert tail.poll() == []


def copytruncate(log) -> None:
    """What logrotate's copytruncate does: copy the file aside, then cut it to 0 in place."""
    inode = log.stat().st_ino
    shutil.copyfile(log, log.with_name("ops.log.1"))
    with open(log, "r+b") as handle:
        handle.truncate(0)
    assert log.stat().st_ino == inode


def test_copytruncate_then_a_longer_write_is_read_from_its_start(log, follower):
    write(log, lines_text(3, prefix="old"))
    tail = follower()
    assert tail.start() == ["old 0", "old 1", "old 2"]
    write(log, "old 3\n")
    assert tail.poll() == ["old 3"]
    copytruncate(log)
    # Before the next poll the writer goes on, past the old read position: the size alone says
    # nothing happened (tail -F prints from the middle of "new 1" here).
    write(log, lines_text(40, prefix="new"))
    assert log.stat().st_size > len(lines_text(4, prefix="old"))
    assert tail.poll() == [f"new {i}" for i in range(40)]
    assert tail.rotations == 1
    write(log, "new 40\n")
    assert tail.poll() == ["new 40"]
    assert tail.rotations == 1


def test_copytruncate_right_after_start_then_a_longer_write(log, follower):
    write(log, lines_text(500, prefix="old"))
    tail = follower(initial_lines=5)
    assert tail.start() == [f"old {i}" for i in range(495, 500)]
    copytruncate(log)
    write(log, lines_text(1000, prefix="fresh"))
    assert tail.poll() == [f"fresh {i}" for i in range(1000)]


def test_copytruncate_then_a_write_of_exactly_the_old_length(log, follower):
    write(log, "aaaa\nbbbb\n")
    tail = follower()
    tail.start()
    copytruncate(log)
    write(log, "cccc\ndddd\n")  # same size as before: nothing to read by size, yet all of it is new
    assert tail.poll() == ["cccc", "dddd"]


def test_copytruncate_then_a_longer_write_drops_a_pending_partial_line(log, follower):
    write(log, "x\n")
    tail = follower()
    tail.start()
    write(log, "half writ")
    assert tail.poll() == []
    copytruncate(log)
    write(log, "a whole new first line, longer than before\nsecond\n")
    assert tail.poll() == ["a whole new first line, longer than before", "second"]


def test_appends_that_repeat_the_same_bytes_are_no_truncation(log, follower):
    write(log, "same line\n" * 20)
    tail = follower()
    tail.start()
    for _ in range(5):
        write(log, "same line\n" * 20)
        assert tail.poll() == ["same line"] * 20
    assert tail.rotations == 0


def test_copytruncate_drops_a_pending_partial_line(log, follower):
    write(log, "x\n")
    tail = follower()
    tail.start()
    write(log, "partial before truncate")
    assert tail.poll() == []
    with open(log, "r+b") as handle:
        handle.truncate(0)
    write(log, "clean\n")
    assert tail.poll() == ["clean"]


def test_many_rotations_never_duplicate_or_lose_lines(log, follower):
    log.touch()
    tail = follower()
    tail.start()
    seen: list[str] = []
    expected: list[str] = []
    number = 0
    for round_ in range(12):
        for _ in range(5):
            write(log, f"n{number}\n")
            expected.append(f"n{number}")
            number += 1
        if round_ % 3 == 0:
            seen += tail.poll()
        if round_ % 2 == 0:
            os.replace(log, log.with_name("ops.log.1"))
            write(log, "", mode="w")
        else:
            seen += tail.poll()  # copytruncate loses what was written since the last poll
            with open(log, "r+b") as handle:
                handle.truncate(0)
        seen += tail.poll()
    assert len(seen) == len(set(seen))
    assert seen == expected


def test_close_is_idempotent_and_poll_reopens(log, follower):
    write(log, "a\n")
    tail = follower()
    tail.start()
    tail.close()
    tail.close()
    assert not tail.exists
    write(log, "b\n")
    # Reopened after a close it reads the file again from its start.
    assert tail.poll() == ["a", "b"]


def open_logs(folder) -> list[str]:
    """The files in `folder` this process holds open (other threads of a test worker open and close
    fds of their own meanwhile: only these count)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            held.append(target)
    return held


def test_no_file_descriptor_leak_across_rotations(log, follower):
    write(log, "a\n")
    tail = follower()
    tail.start()
    assert open_logs(log.parent) == [str(log)]
    for i in range(20):
        os.replace(log, log.with_name("ops.log.1"))
        write(log, f"r{i}\n", mode="w")
        assert tail.poll() == [f"r{i}"]
    assert open_logs(log.parent) == [str(log)]  # the new file only; every rotated one closed
