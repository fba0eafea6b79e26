"""Children at a lower priority: every program core.proc starts runs at OPS_CHILD_NICE and
OPS_CHILD_IONICE (default 10 and idle), set before its first instruction and inherited by what it
forks; the settings are validated; "off" leaves the app's own priority. Read from /proc/PID/stat
and `ionice -p PID`, of real processes."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest
from jobs_support import descendants, put_on_path, run, wait_until
from ui_support import SLOW_DUMP

from opsbackup_tui.core import settings as settings_module
from opsbackup_tui.core.jobs.dump import DumpJob
from opsbackup_tui.core.proc import Child, lowered
from opsbackup_tui.core.settings import ConfigError

OWN_NICE = os.getpriority(os.PRIO_PROCESS, 0)


@pytest.fixture(autouse=True)
def restore_priority_in_effect():
    """Each test loads its own settings; the next test starts from the defaults again."""
    before = settings_module.child_priority()
    yield
    settings_module._in_effect["child_priority"] = before


def niceness(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        data = handle.read()
    # pid (comm) state ppid … : field 19 is the nice value; comm may hold spaces and parentheses
    return int(data[data.rindex(b")") + 2:].split()[16])


def io_class(pid: int) -> str:
    out = subprocess.run(["ionice", "-p", str(pid)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def comm(pid: int) -> str:
    """The program a process runs; "" once it is gone (a short-lived `--version` probe)."""
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def started(argv: list[str]) -> Child:
    return Child(argv, redact=lambda line: line)


def stop(child: Child) -> None:
    child.stop(grace=1)
    child.wait()


def test_the_default_is_nice_10_and_idle_io(make_settings):
    settings = make_settings()
    assert (settings.child_nice, settings.child_ionice) == (10, "idle")
    child = started(["sleep", "30"])
    try:
        # The pid Popen gave is the program itself (nice and ionice exec'd into it): signals and the
        # process group of a cancel are unchanged.
        wait_until(lambda: comm(child.pid) == "sleep", "sleep exec'd")
        assert niceness(child.pid) == max(10, OWN_NICE)
        assert io_class(child.pid) == "idle"
        assert child.argv == ["sleep", "30"]  # what is shown and logged: the program, not the prefix
    finally:
        stop(child)


def test_what_a_child_forks_inherits_the_priority(make_settings):
    make_settings(child_nice="15", child_ionice="best-effort:6")
    child = started(["sh", "-c", "sleep 30 & echo $! ; wait"])
    try:
        grandchild = int(child.proc.stdout.readline())
        wait_until(lambda: comm(grandchild) == "sleep", "the forked sleep")
        assert niceness(grandchild) == max(15, OWN_NICE)
        assert io_class(grandchild) == "best-effort: prio 6"
        assert niceness(child.pid) == max(15, OWN_NICE)
    finally:
        stop(child)


def test_off_leaves_the_apps_own_priority(make_settings):
    make_settings(child_nice="off", child_ionice="off")
    mine = io_class(os.getpid())
    child = started(["sleep", "30"])
    try:
        assert lowered(["sleep", "30"]) == ["sleep", "30"]  # no prefix at all
        assert niceness(child.pid) == OWN_NICE
        assert io_class(child.pid) == mine
    finally:
        stop(child)


def test_best_effort_without_a_level_is_the_lowest_one(make_settings):
    make_settings(child_nice="0", child_ionice="best-effort")
    child = started(["sleep", "30"])
    try:
        wait_until(lambda: comm(child.pid) == "sleep", "sleep exec'd")
        assert io_class(child.pid) == "best-effort: prio 7"
        assert niceness(child.pid) == OWN_NICE
    finally:
        stop(child)


def test_a_missing_program_still_raises_file_not_found(make_settings, tmp_path):
    make_settings()
    with pytest.raises(FileNotFoundError):
        started(["no-such-program-anywhere", "--version"])
    with pytest.raises(FileNotFoundError):
        started([str(tmp_path / "not-there")])


def test_settings_from_the_environment_and_their_errors(make_settings):
    settings = make_settings(environ={"OPS_CHILD_NICE": "19", "OPS_CHILD_IONICE": "best-effort:0"})
    assert (settings.child_nice, settings.child_ionice) == (19, "best-effort:0")
    assert settings_module.child_priority() == (19, "best-effort:0")
    assert make_settings(environ={"OPS_CHILD_IONICE": "IDLE"}).child_ionice == "idle"
    for env, value, words in [
        ("OPS_CHILD_NICE", "20", "between 1 and 19"),
        ("OPS_CHILD_NICE", "-5", "between 1 and 19"),
        ("OPS_CHILD_NICE", "low", "not a niceness"),
        ("OPS_CHILD_IONICE", "realtime", "not an I/O class"),
        ("OPS_CHILD_IONICE", "best-effort:8", "0 to 7"),
        ("OPS_CHILD_IONICE", "best-effort:x", "not a best-effort level"),
    ]:
        with pytest.raises(ConfigError) as caught:
            make_settings(environ={env: value})
        assert caught.value.var.startswith(env) and words in str(caught.value), str(caught.value)


async def test_the_dump_jobs_programs_run_at_the_lower_priority(tmp_path, monkeypatch, make_settings):
    """A real job: the DB backup's mariadb-dump (a slow stand-in) and its compressor."""
    pid_file = tmp_path / "dump.pid"
    monkeypatch.setenv("FAKE_PID_FILE", str(pid_file))
    put_on_path(monkeypatch, tmp_path / "bin", "mariadb-dump", SLOW_DUMP)
    settings = make_settings(db_user="root", db_name="crm", child_nice="12", child_ionice="idle")
    (settings.backup_base / "db").mkdir(parents=True)
    task = asyncio.ensure_future(run(DumpJob(settings)))
    try:
        while not (pid_file.exists() and pid_file.read_text().strip()):
            await asyncio.sleep(0.02)
        dump = int(pid_file.read_text())
        assert niceness(dump) == max(12, OWN_NICE) and io_class(dump) == "idle"
        compressors = [pid for pid in descendants() if comm(pid) in ("pigz", "gzip")]
        assert compressors, "the compressor is running"
        assert all(niceness(pid) == max(12, OWN_NICE) and io_class(pid) == "idle" for pid in compressors)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

