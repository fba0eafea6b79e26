"""Uploads snapshot against a real restic 0.14 repository in a temp dir."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading

import pytest
from jobs_support import (  # noqa: F401 - fixtures
    NIGHT,
    Recorder,
    clock_at,
    find_child,
    make_uploads,
    mode,
    pid_alive,
    put_on_path,
    real_program,
    restic_repo,
    restic_template,
    run,
    wait_until,
)

from opsbackup_tui.core import opslog
from opsbackup_tui.core.artefacts.kvfile import read_kv as read_kv_file
from opsbackup_tui.core.artefacts.tree import BackupTree
from opsbackup_tui.core.checks import Status, check_uploads_snapshot
from opsbackup_tui.core.events import Phase
from opsbackup_tui.core.jobs.base import run_job
from opsbackup_tui.core.jobs.snapshot import SnapshotJob
from opsbackup_tui.core.locks import peek

AT = NIGHT + 1800  # 2026-11-26 02:30
MARKER = "snapshot-20261126-0230.txt"


@pytest.fixture
def repo(restic_repo):
    return restic_repo


@pytest.fixture
def uploads(tmp_path):
    return make_uploads(tmp_path / "uploads", files=7)


def markers(settings) -> list[str]:
    folder = settings.snapshots_dir
    return sorted(os.listdir(folder)) if folder.is_dir() else []


@pytest.fixture
def recording_restic(tmp_path, monkeypatch):
    """`restic` first on PATH: notes each run in a file, then execs the real restic."""
    log = tmp_path / "restic-runs.log"
    put_on_path(monkeypatch, tmp_path / "bin", "restic",
                f'#!/bin/sh\necho "$@" >> {log}\nexec {real_program("restic")} "$@"\n')
    return log


async def test_snapshot_writes_a_marker_with_the_snapshot_id(make_settings, repo, uploads, recording_restic):
    settings = make_settings(**repo.flags(uploads))
    finished, rec = await run(SnapshotJob(settings), clock_at(AT))

    assert finished.ok, finished.error
    marker = settings.snapshots_dir / MARKER
    assert markers(settings) == [MARKER]
    values = read_kv_file(marker)
    [snapshot] = repo.snapshots()
    assert values["snapshot_id"] == snapshot["short_id"] == finished.result.snapshot_id
    assert snapshot["tags"] == ["uploads"]
    assert snapshot["paths"] == [str(uploads)]
    assert values["tag"] == "uploads" and values["paths"] == str(uploads)
    assert int(values["files_new"]) == 7 and int(values["total_files_processed"]) == 7
    assert int(values["data_added"]) > 0
    assert float(values["duration_s"]) >= 0
    assert mode(marker) == 0o640
    assert snapshot["short_id"] in finished.summary and "7 files" in finished.summary
    assert recording_restic.read_text().startswith("backup --tag uploads --json ")
    detail = rec.of(Phase)[0].detail
    assert detail.startswith("restic backup --tag uploads --json") and repo.password not in detail
    assert repo.locks() == []
    tree = BackupTree(settings.backup_base)
    assert check_uploads_snapshot(settings, tree, os.path.getmtime(marker) + 5).status is Status.OK
    end = [opslog.parse_line(line) for line in settings.log_path.read_text().splitlines()][-1]
    assert end.context == {"job": "snapshot", "event": "end", "result": "OK", "duration_s": end.context["duration_s"]}

    # A second run: nothing new, a second snapshot and marker.
    second, _ = await run(SnapshotJob(settings), clock_at(AT + 60))
    assert second.ok, second.error
    values = read_kv_file(settings.snapshots_dir / "snapshot-20261126-0231.txt")
    assert int(values["files_unmodified"]) == 7 and int(values["files_new"]) == 0
    assert len(repo.snapshots()) == 2


async def test_snapshot_with_the_password_in_settings_goes_through_a_pipe(make_settings, repo, uploads):
    flags = repo.flags(uploads)
    del flags["restic_password_file"]
    settings = make_settings(restic_password=repo.password, **flags)
    finished, _ = await run(SnapshotJob(settings), clock_at(AT))
    assert finished.ok, finished.error
    assert read_kv_file(settings.snapshots_dir / MARKER)["snapshot_id"] == repo.snapshots()[0]["short_id"]


async def test_progress_comes_from_restic_status_lines(make_settings, repo, tmp_path):
    uploads = make_uploads(tmp_path / "uploads", files=3, big_bytes=96 * 1024 * 1024)
    settings = make_settings(**repo.flags(uploads))
    finished, rec = await run(SnapshotJob(settings), clock_at(AT))
    assert finished.ok, finished.error
    from opsbackup_tui.core.events import Progress

    totals = [p for p in rec.of(Progress) if p.total]
    assert totals, "no progress with a total from restic's status lines"
    assert max(p.total for p in totals) >= 96 * 1024 * 1024
    assert any(p.done > 0 for p in totals) and all("files" in p.detail for p in totals)


@pytest.fixture
def no_dac_restic(tmp_path, monkeypatch):
    """The real restic without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH: as root, a mode-000 file is
    then unreadable for it, as it is for a backup user in production."""
    if os.geteuid() != 0:
        return  # not root: mode 000 already denies
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("setpriv (util-linux) is not installed: cannot drop root's read-anything capability")
    probe = subprocess.run([setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"this machine does not let us drop capabilities: {probe.stderr.strip()}")
    put_on_path(monkeypatch, tmp_path / "bin", "restic",
                f"#!/bin/sh\nexec {setpriv} --bounding-set=-dac_override,-dac_read_search --inh-caps=-all "
                f'{real_program("restic")} "$@"\n')


async def test_restic_exit_3_is_a_failure_without_marker(make_settings, repo, uploads, no_dac_restic):
    secret = uploads / "2026" / "11" / "locked.pdf"
    secret.write_bytes(b"%PDF private")
    secret.chmod(0)
    settings = make_settings(**repo.flags(uploads))
    finished, rec = await run(SnapshotJob(settings), clock_at(AT))
    assert not finished.ok
    assert "incomplete snapshot (restic exit 3)" in finished.error
    assert "1 unreadable path" in finished.error and str(secret) in finished.error
    assert "no marker written" in finished.error
    assert markers(settings) == []
    assert f"cannot read {secret}" in rec.output
    assert repo.locks() == []


@pytest.mark.parametrize("case", ["missing", "empty", "file", "unset"])
async def test_missing_or_empty_uploads_refused_before_restic_runs(make_settings, repo, tmp_path, recording_restic,
                                                                    case):
    uploads = tmp_path / "uploads"
    if case == "empty":
        uploads.mkdir()
    elif case == "file":
        uploads.write_text("not a folder")
    flags = repo.flags(uploads)
    if case == "unset":
        del flags["uploads_path"]
    settings = make_settings(**flags)
    finished, rec = await run(SnapshotJob(settings), clock_at(AT))
    assert not finished.ok
    expected = {"missing": "does not exist", "empty": "is empty: refusing to snapshot nothing",
                "file": "does not exist (or is not a directory)", "unset": "set CRM_UPLOADS_PATH"}[case]
    assert expected in finished.error
    assert not recording_restic.exists()  # restic never ran
    assert rec.phases == [] and markers(settings) == []
    assert repo.snapshots() == []


async def test_wrong_password_has_its_own_message(make_settings, repo, uploads, tmp_path):
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    settings = make_settings(**{**repo.flags(uploads), "restic_password_file": str(wrong)})
    finished, _ = await run(SnapshotJob(settings), clock_at(AT))
    assert not finished.ok
    assert finished.error == "wrong restic password: check RESTIC_PASSWORD_FILE"
    assert "Fatal" in finished.stderr_tail
    assert markers(settings) == [] and repo.snapshots() == []


async def test_missing_repository_has_its_own_message(make_settings, repo, uploads, tmp_path):
    missing = tmp_path / "no-repo-here"
    settings = make_settings(**{**repo.flags(uploads), "restic_repository": str(missing)})
    finished, _ = await run(SnapshotJob(settings), clock_at(AT))
    assert not finished.ok
    assert finished.error.startswith(f"no restic repository at {missing}")
    assert "restic init" in finished.error
    assert not missing.exists() and markers(settings) == []


async def test_locked_repository_has_its_own_message(make_settings, repo, uploads):
    """`restic key passwd` takes an exclusive lock, then waits for the new password on stdin."""
    holder = subprocess.Popen([real_program("restic"), "key", "passwd"], env=repo.env(), stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await asyncio.to_thread(wait_until, repo.held_locks, "restic key passwd to lock the repository")
        settings = make_settings(**repo.flags(uploads))
        finished, _ = await run(SnapshotJob(settings), clock_at(AT))
    finally:
        holder.stdin.close()
        holder.wait()
    assert not finished.ok
    assert "the restic repository is locked by another restic process" in finished.error
    assert "restic unlock" in finished.error
    assert markers(settings) == []


def _bytes_read(pid: int) -> int:
    with open(f"/proc/{pid}/io") as handle:
        return int(next(line for line in handle if line.startswith("rchar:")).split()[1])


def _all_threads_stopped(pid: int) -> bool:
    states = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/stat", "rb") as handle:
            data = handle.read()
        states.append(data[data.rindex(b")") + 2:][:1])
    return all(state in (b"T", b"t") for state in states)


def _pending_signals(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
    except OSError:
        return 0
    return int(fields.get("ShdPnd", "0").strip(), 16) | int(fields.get("SigPnd", "0").strip(), 16)


async def test_cancel_sends_sigint_so_restic_removes_its_lock(make_settings, repo, tmp_path):
    """restic 0.14 leaves its lock behind on SIGTERM: the job must stop it with SIGINT.
    restic is caught holding its lock (stopped with SIGSTOP and stepped until it archives),
    cancelled, and let run again once the job's signal is pending."""
    uploads = make_uploads(tmp_path / "uploads", files=3, big_bytes=64 * 1024 * 1024)
    settings = make_settings(**repo.flags(uploads))
    rec = Recorder()
    task = asyncio.ensure_future(run_job(SnapshotJob(settings), rec, clock=clock_at(AT)))
    pid = await asyncio.to_thread(wait_until, lambda: find_child("restic"), "restic to start", step=0.001)
    try:
        os.kill(pid, signal.SIGSTOP)

        def step_until_archiving() -> bool:
            # Locked, and reading the uploads (more than any repository file holds): restic has
            # registered its lock for removal by then.
            while not (repo.held_locks() and _bytes_read(pid) > 8 * 1024 * 1024):
                os.kill(pid, signal.SIGCONT)
                threading.Event().wait(0.002)
                os.kill(pid, signal.SIGSTOP)
            # Every thread stopped: a signal sent now stays pending (one sent during the stop could
            # be taken by a thread still running, before the stop completes).
            return wait_until(lambda: _all_threads_stopped(pid), "restic to stop", step=0.001)

        await asyncio.to_thread(step_until_archiving)
        first_signal: list[int] = []
        ticks = [0]
        loop_ran = []

        async def heartbeat() -> None:  # stands for the UI: it must keep running during the cancel
            while True:
                ticks[0] += 1
                await asyncio.sleep(0.005)

        def release_when_signalled() -> None:
            job_signals = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGKILL - 1))
            pending = wait_until(lambda: _pending_signals(pid) & job_signals, "the job's signal", step=0.001)
            first_signal.append(pending)
            # restic cannot exit while stopped: the event loop must go on meanwhile.
            seen = ticks[0]
            wait_until(lambda: ticks[0] >= seen + 5 or not pid_alive(pid), "the event loop to tick")
            loop_ran.append(pid_alive(pid))
            os.kill(pid, signal.SIGCONT)

        beat = asyncio.ensure_future(heartbeat())
        releaser = threading.Thread(target=release_when_signalled)
        releaser.start()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        releaser.join()
        beat.cancel()
    finally:  # never leave a stopped restic or a running job behind a failed assertion
        if pid_alive(pid):
            os.kill(pid, signal.SIGCONT)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    assert first_signal[0] & (1 << (signal.SIGINT - 1)), "restic must get SIGINT first"
    assert loop_ran == [True], "the event loop was blocked while the children were being stopped"
    assert not first_signal[0] & (1 << (signal.SIGTERM - 1))
    assert rec.finished.cancelled
    assert not pid_alive(pid)
    assert repo.locks() == []  # restic cleaned up its lock
    assert markers(settings) == [] and repo.snapshots() == []
    assert peek(settings.backup_base, "snapshot") is None
