"""DB backup job against the real MariaDB: the published files, and every way a dump can fail
without leaving a `full-*` file behind."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import re
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from jobs_support import (  # noqa: F401 - fixtures
    NIGHT,
    REPO_ROOT,
    Recorder,
    clock_at,
    crm_db,
    db_flags,
    descendants,
    find_child,
    free_port,
    held_table,
    leftovers,
    make_db_user,
    mode,
    option_file_is_a_pipe,
    pid_alive,
    put_on_path,
    read_proc,
    run,
    seed_crm,
    sql,
    wait_until,
)
from treeutil import make_dump

from opsbackup_tui.core import opslog
from opsbackup_tui.core.artefacts.tree import BackupTree
from opsbackup_tui.core.checks import Status, check_db_dump
from opsbackup_tui.core.events import Phase, Progress, Started
from opsbackup_tui.core.jobs.base import run_job
from opsbackup_tui.core.jobs.dump import DumpJob
from opsbackup_tui.core.locks import peek

TRAILER_LINE = re.compile(r"-- Dump completed on \d{4}-\d\d-\d\d [ \d]\d:\d\d:\d\d")


def dump_files(settings) -> list[str]:
    folder = settings.db_dir
    return sorted(n for n in os.listdir(folder) if n.startswith("full-")) if folder.is_dir() else []


def assert_nothing_published(settings) -> None:
    assert dump_files(settings) == []
    assert leftovers(settings.db_dir) == []
    assert BackupTree(settings.backup_base).newest_valid_dump() is None


def ops_lines(settings) -> list[opslog.LogLine]:
    return [opslog.parse_line(line) for line in settings.log_path.read_text().splitlines()]


async def test_dump_of_a_real_database_is_published_with_checksum_and_permissions(
        mysql_server, crm_db, make_settings, tmp_path):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    finished, rec = await run(DumpJob(settings), clock_at(NIGHT))

    assert finished.ok, finished.error
    final = settings.db_dir / "full-20261126-0200.sql.gz"
    sha_file = settings.db_dir / "full-20261126-0200.sql.gz.sha256"
    assert dump_files(settings) == [final.name, sha_file.name]
    assert leftovers(settings.db_dir) == []

    data = final.read_bytes()
    text = gzip.decompress(data).decode("utf-8")
    last = text.rstrip("\n").splitlines()[-1]
    assert TRAILER_LINE.fullmatch(last), last
    for table in ("users", "contacts", "opportunities", "audit"):
        assert f"CREATE TABLE `{table}`" in text
    assert "VIEW `big_deals`" in text
    assert "TRIGGER `contacts_audit`" in text or "TRIGGER contacts_audit" in text
    assert "PROCEDURE `count_users`" in text
    assert "FUNCTION `deal_total`" in text
    assert "EVENT `nightly_cleanup`" in text
    assert "Alžběta" in text and "0x00FF10" in text  # utf8mb4 and --hex-blob
    # One database only: the dump never switches or creates databases (verify relies on it).
    assert not re.search(r"^(USE|CREATE DATABASE)\b", text, re.M)

    digest = hashlib.sha256(data).hexdigest()
    assert sha_file.read_text() == f"{digest}  {final.name}\n"
    check = subprocess.run(["sha256sum", "--check", "--strict", sha_file.name], cwd=settings.db_dir,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert subprocess.run(["gzip", "--test", str(final)]).returncode == 0
    assert mode(final) == 0o640 and mode(sha_file) == 0o640
    assert mode(settings.db_dir) & 0o007 == 0  # not world-readable

    assert finished.result.path == str(final)
    assert finished.result.sha256 == digest
    assert finished.result.size == len(data)
    assert finished.result.tables == 4
    assert finished.result.flavour == "mariadb"
    assert final.name in finished.summary and "4 tables" in finished.summary

    # Events: started, the phases, byte progress ending at the file size with the tables seen.
    assert isinstance(rec.events[0], Started)
    assert rec.phases[:2] == ["dumping", "publishing"]
    dumping = rec.of(Phase)[0].detail
    assert "--defaults-extra-file=…" in dumping and "pigz" in dumping
    progress = rec.of(Progress)
    assert progress and progress[-1].done == len(data) and progress[-1].unit == "bytes"
    assert progress[-1].total is None and "4 tables" in progress[-1].detail
    assert [p.done for p in progress] == sorted(p.done for p in progress)

    # ops.log: start and end in the format the scanner parses.
    lines = [line for line in ops_lines(settings) if line.context and line.context.get("job") == "db_backup"]
    assert [line.context["event"] for line in lines] == ["start", "end"]
    assert lines[1].context["result"] == "OK" and lines[1].level == "INFO"
    assert not any(line.is_alert for line in lines)

    # The checklist sees it as the latest valid dump.
    tree = BackupTree(settings.backup_base)
    assert tree.newest_valid_dump().path == final
    assert check_db_dump(settings, tree, os.path.getmtime(final) + 60).status is Status.OK


async def test_a_second_dump_in_the_same_minute_never_overwrites(mysql_server, crm_db, make_settings, tmp_path):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    first, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert first.ok, first.error
    before = Path(first.result.path).read_bytes()
    second, _ = await run(DumpJob(settings), clock_at(NIGHT + 30))
    assert not second.ok
    assert "already exists" in second.error
    assert Path(first.result.path).read_bytes() == before
    assert leftovers(settings.db_dir) == []


async def test_dump_client_killed_mid_run_fails_and_leaves_no_dump(mysql_server, crm_db, make_settings, tmp_path):
    """The compressor still exits 0 when the dump dies: the dump's own exit status must fail the job."""
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    # Tables are dumped in name order: audit, contacts, opportunities, users. Holding
    # `opportunities` stops the dump alive, after it has written the first tables.
    with held_table(mysql_server, crm_db, "opportunities"):
        task = asyncio.ensure_future(run(DumpJob(settings), clock_at(NIGHT)))
        pid = await asyncio.to_thread(wait_until, lambda: find_child("mariadb-dump", with_arg=crm_db),
                                      "the dump process")
        await asyncio.to_thread(
            wait_until, lambda: any(row[4] == "Query" and "opportunities" in (row[7] or "")
                                    for row in sql(mysql_server, "SHOW PROCESSLIST")),
            "the dump to reach the held table")
        assert (settings.db_dir / "full-20261126-0200.sql.gz.partial").exists()
        os.kill(pid, signal.SIGKILL)
        finished, _ = await task
    assert not finished.ok
    assert "mariadb-dump was killed by signal 9" in finished.error
    assert_nothing_published(settings)


async def test_unknown_database_fails_with_the_client_error(mysql_server, make_settings, tmp_path):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name="opsb_no_such_db_x1"))
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert not finished.ok
    assert "mariadb-dump exited 2" in finished.error
    assert "Unknown database" in finished.error and "opsb_no_such_db_x1" in finished.error
    assert finished.next_step and "OPS_DB" in finished.next_step
    assert_nothing_published(settings)
    end = [line for line in ops_lines(settings) if line.context and line.context.get("event") == "end"]
    assert end[-1].context["result"] == "FAIL" and end[-1].level == "ERROR"


FAKE_VERSION = 'if [ "$1" = "--version" ]; then echo "mariadb-dump from 11.0-MariaDB, client 10.19"; exit 0; fi\n'


async def test_dump_without_trailer_fails_even_when_every_process_exits_0(
        mysql_server, crm_db, make_settings, tmp_path, monkeypatch):
    put_on_path(monkeypatch, tmp_path / "bin", "mariadb-dump",
                "#!/bin/sh\n" + FAKE_VERSION +
                "printf -- '-- MariaDB dump 10.19\\nCREATE TABLE t (id int);\\nINSERT INTO t VALUES (1);\\n'\n"
                "exit 0\n")
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert not finished.ok
    assert "trailer" in finished.error
    assert_nothing_published(settings)


async def test_dump_with_trailer_but_nonzero_exit_fails(mysql_server, crm_db, make_settings, tmp_path, monkeypatch):
    put_on_path(monkeypatch, tmp_path / "bin", "mariadb-dump",
                "#!/bin/sh\n" + FAKE_VERSION +
                "printf -- 'CREATE TABLE t (id int);\\n-- Dump completed on 2026-11-26  2:00:01\\n'\n"
                "echo 'mariadb-dump: Error 2013: Lost connection to server during query' >&2\n"
                "exit 2\n")
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert not finished.ok
    assert "exited 2" in finished.error and "Lost connection" in finished.error
    assert "Lost connection" in finished.stderr_tail
    assert_nothing_published(settings)


async def test_server_unreachable(mysql_server, crm_db, make_settings, tmp_path):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db, port=free_port()))
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert not finished.ok
    assert "exited 2" in finished.error and "Can't connect" in finished.error
    assert_nothing_published(settings)


async def test_wrong_password(mysql_server, crm_db, make_settings, make_db_user, tmp_path):
    user = make_db_user(f"ALL ON `{crm_db}`.*", "SELECT ON mysql.proc")
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", user=user.name,
                                        password=user.password + "-wrong", db_name=crm_db))
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert not finished.ok
    assert "1045" in finished.error and "Access denied" in finished.error
    assert user.password not in finished.error + finished.stderr_tail
    assert_nothing_published(settings)

    # The same user with the right password dumps fine: the failure above was the password.
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets2", user=user.name,
                                        password=user.password, db_name=crm_db))
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert finished.ok, finished.error


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 256 KiB tmpfs mounted on a temp folder (skips where mounting is not permitted)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mount_point)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to provoke ENOSPC: {out.stderr.strip() or out.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


async def test_enospc_fails_cleanly(mysql_server, scratch_db, make_settings, tmp_path, tiny_tmpfs):
    # ~2 MiB of random hex: about 1 MiB compressed, four times the tmpfs.
    seed_crm(mysql_server, scratch_db, big_rows=2000)
    settings = make_settings(backup_base=str(tiny_tmpfs / "backups"),
                             **db_flags(mysql_server, tmp_path / "secrets", db_name=scratch_db))
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert not finished.ok
    assert "no space left" in finished.error
    assert finished.next_step and "free space" in finished.next_step
    assert_nothing_published(settings)
    # The partial file was removed: the space is free again.
    st = os.statvfs(tiny_tmpfs)
    assert st.f_bfree * st.f_frsize > 200 * 1024


async def test_preflight_refuses_when_free_space_is_below_the_factor(mysql_server, crm_db, make_settings, tmp_path):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    # The last dump: a sparse file as big as the free space (its size is what counts), so 1.5 × it
    # cannot fit.
    last = make_dump(settings.backup_base, "20261125-0200")
    st = os.statvfs(last.parent)
    with open(last, "r+b") as handle:
        handle.truncate(st.f_bavail * st.f_frsize + (1 << 20))
    dumps_before = dump_files(settings)
    finished, rec = await run(DumpJob(settings), clock_at(NIGHT))
    assert not finished.ok
    assert "not enough free space" in finished.error
    assert re.search(r"[\d.]+ \w+ free, [\d.]+ \w+ needed", finished.error)
    assert "1.5 ×" in finished.error
    assert "dumping" not in rec.phases  # refused before any program ran
    assert dump_files(settings) == dumps_before
    assert leftovers(settings.db_dir) == []


async def test_second_concurrent_dump_is_refused_with_holder_pid(mysql_server, crm_db, make_settings, tmp_path):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from opsbackup_tui.core.locks import JobLock\n"
         f"lock = JobLock(Path({str(settings.backup_base)!r}), 'db_backup').acquire()\n"
         "print('ready', flush=True); sys.stdin.read()"],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        finished, rec = await run(DumpJob(settings), clock_at(NIGHT))
    finally:
        holder.stdin.close()
        holder.wait()
    assert not finished.ok and finished.busy
    since = datetime.now().strftime("%H:%M")
    match = re.fullmatch(r"db_backup is running \(pid (\d+), since (\d\d:\d\d)\)", finished.error)
    assert match, finished.error
    assert int(match.group(1)) == holder.pid
    assert abs(int(match.group(2).replace(":", "")) - int(since.replace(":", ""))) <= 1 or since == "00:00"
    assert rec.phases == []  # no dump was started
    assert not settings.db_dir.exists() or dump_files(settings) == []
    busy = [line for line in ops_lines(settings) if line.context and line.context.get("event") == "busy"]
    assert busy and not any(line.is_alert for line in ops_lines(settings))

    # Once the holder is gone, the dump runs.
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert finished.ok, finished.error


async def test_cancelling_a_dump_removes_everything_and_releases_the_lock(
        mysql_server, crm_db, make_settings, tmp_path):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    rec = Recorder()
    with held_table(mysql_server, crm_db, "opportunities"):
        task = asyncio.ensure_future(run_job(DumpJob(settings), rec, clock=clock_at(NIGHT)))
        pid = await asyncio.to_thread(wait_until, lambda: find_child("mariadb-dump", with_arg=crm_db),
                                      "the dump process")
        assert option_file_is_a_pipe(pid)
        pigz = find_child("pigz")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert rec.finished.cancelled and not rec.finished.ok
    assert not pid_alive(pid) and (pigz is None or not pid_alive(pigz))
    assert_nothing_published(settings)
    assert peek(settings.backup_base, "db_backup") is None
    end = [line for line in ops_lines(settings) if line.context and line.context.get("event") == "end"]
    assert end[-1].context["result"] == "CANCELLED"
    assert descendants() == [] or all(not pid_alive(p) for p in descendants())


async def test_a_killed_runs_partial_file_is_named_then_removed_by_the_next_run(
        mysql_server, crm_db, make_settings, tmp_path):
    """SIGKILL leaves `full-….partial` (and a temp .sha256) behind. The checklist names them with their
    size until they are gone; the next run, which holds the lock, removes them and logs it, even in
    the same minute (same name) as the killed run."""
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    db = settings.db_dir
    db.mkdir(parents=True)
    partial = db / "full-20261126-0200.sql.gz.partial"
    partial.write_bytes(b"\x1f\x8b" + b"half a dump" * 100)
    temp = db / ".full-20261125-0200.sql.gz.sha256.999999999.tmp"  # its writer (that pid) is gone
    temp.write_text("x")
    detail = check_db_dump(settings, BackupTree(settings.backup_base), NIGHT).detail
    assert "leftover of a killed run: " in detail and "full-20261126-0200.sql.gz.partial (1.1 KiB)" in detail
    assert temp.name in detail

    finished, rec = await run(DumpJob(settings), clock_at(NIGHT))  # the same minute as the killed run
    assert finished.ok, finished.error
    assert not partial.exists() and not temp.exists()
    logged = [line for line in ops_lines(settings) if "left by a killed DB backup" in line.message]
    assert {line.level for line in logged} == {"WARNING"} and len(logged) == 2
    assert any(partial.name in line.message and "1.1 KiB" in line.message for line in logged)
    assert "leftover" not in check_db_dump(settings, BackupTree(settings.backup_base), NIGHT).detail


async def test_a_partial_file_of_a_running_dump_is_no_leftover(mysql_server, crm_db, make_settings, tmp_path):
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    with held_table(mysql_server, crm_db, "opportunities"):
        task = asyncio.ensure_future(run(DumpJob(settings), clock_at(NIGHT)))
        partial = settings.db_dir / "full-20261126-0200.sql.gz.partial"
        await asyncio.to_thread(wait_until, partial.exists, "the running dump's partial file")
        assert "leftover" not in check_db_dump(settings, BackupTree(settings.backup_base), NIGHT).detail
    finished, _ = await task
    assert finished.ok, finished.error


async def test_a_full_disk_while_writing_the_checksum_is_named_as_a_full_disk(
        mysql_server, crm_db, make_settings, tmp_path):
    """The .sha256 temp file leads to /dev/full: the kernel's ENOSPC, exactly where the write fails."""
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db))
    db = settings.db_dir
    db.mkdir(parents=True)
    (db / f".full-20261126-0200.sql.gz.sha256.{os.getpid()}.tmp").symlink_to("/dev/full")
    finished, _ = await run(DumpJob(settings), clock_at(NIGHT))
    assert not finished.ok
    assert "full-20261126-0200.sql.gz.sha256: no space left on the device" in finished.error
    assert "internal error" not in finished.error
    assert finished.next_step.startswith("free space on the backup volume")
    assert "DB server and credentials" not in finished.next_step
    assert [n for n in os.listdir(db) if n.startswith("full-")] == []  # a dump without its .sha256 is taken back
