"""The last-run record of each job kind (<base>/.jobs/<kind>.json), written by run_job for every job."""

from __future__ import annotations

import asyncio
import json
import os
import socket

import pytest
from jobs_support import Recorder, clock_at, run

from opsbackup_tui.core.artefacts import jobrecords
from opsbackup_tui.core.events import Finished
from opsbackup_tui.core.jobs import make_job
from opsbackup_tui.core.jobs.base import Job, JobContext, JobError, Outcome, run_job
from opsbackup_tui.core.jobs.drill import DrillResult
from opsbackup_tui.core.locks import JobLock

T0 = 1_795_600_000.0


class ScriptedJob(Job):
    """A job whose execute() does what the test says: succeed, fail, or wait to be cancelled."""

    kind = "report"
    title = "Report"
    next_step = "look at the report"

    def __init__(self, settings, behaviour: str, result: dict | None = None) -> None:
        super().__init__(settings)
        self.behaviour, self.result = behaviour, result or {}
        self.running = asyncio.Event()

    def plan(self) -> list[str]:
        return ["nothing"]

    async def execute(self, ctx: JobContext) -> Outcome:
        self.running.set()
        if self.behaviour == "fail":
            raise JobError("the disk is\nfull", result=self.result)
        if self.behaviour == "wait":
            await asyncio.sleep(3600)
        return Outcome("wrote report-x.md", self.result)

    def alert_on_failure(self) -> bool:
        return False


async def test_a_real_job_leaves_its_record(make_settings):
    settings = make_settings()
    settings.backup_base.mkdir(parents=True)
    finished, _ = await run(make_job("report", settings), clock=clock_at(T0))
    assert finished.ok, finished.error
    path = settings.backup_base / ".jobs" / "report.json"
    data = json.loads(path.read_text())
    assert data["kind"] == "report" and data["ok"] is True
    assert data["started_at"] == data["finished_at"] == T0 == data["last_success_at"]
    assert data["host"] == socket.gethostname()
    assert data["summary"] == finished.summary
    assert data["duration_s"] == round(finished.duration_s, 3)
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp file left
    assert jobrecords.read_all(settings.backup_base)["report"].ok


async def test_a_failure_keeps_the_last_success_and_says_why(make_settings):
    settings = make_settings()
    settings.backup_base.mkdir(parents=True)
    await run(ScriptedJob(settings, "ok"), clock=clock_at(T0))
    finished, _ = await run(ScriptedJob(settings, "fail"), clock=clock_at(T0 + 600))
    assert not finished.ok
    record = jobrecords.read(settings.backup_base, "report")
    assert (record.ok, record.finished_at, record.last_success_at) == (False, T0 + 600, T0)
    assert record.summary == "Report failed: the disk is full"  # one printable line
    assert record.extra == {}


async def test_never_succeeded_has_no_last_success(make_settings):
    settings = make_settings()
    settings.backup_base.mkdir(parents=True)
    await run(ScriptedJob(settings, "fail"), clock=clock_at(T0))
    assert jobrecords.read(settings.backup_base, "report").last_success_at is None


async def test_a_cancelled_job_is_recorded_as_not_ok(make_settings):
    settings = make_settings()
    settings.backup_base.mkdir(parents=True)
    await run(ScriptedJob(settings, "ok"), clock=clock_at(T0))
    job = ScriptedJob(settings, "wait")
    task = asyncio.ensure_future(run_job(job, Recorder(), clock=clock_at(T0 + 60)))
    await job.running.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = jobrecords.read(settings.backup_base, "report")
    assert (record.ok, record.summary, record.last_success_at) == (False, "Report cancelled", T0)


async def test_a_run_refused_by_the_lock_leaves_the_record_alone(make_settings):
    settings = make_settings()
    settings.backup_base.mkdir(parents=True)
    await run(ScriptedJob(settings, "ok"), clock=clock_at(T0))
    before = (settings.backup_base / ".jobs" / "report.json").read_bytes()
    lock = JobLock(settings.backup_base, "report")
    lock.acquire()
    try:
        finished, _ = await run(ScriptedJob(settings, "ok"), clock=clock_at(T0 + 60))
    finally:
        lock.release()
    assert finished.busy
    assert (settings.backup_base / ".jobs" / "report.json").read_bytes() == before


async def test_the_drill_keeps_its_rto_only_when_it_succeeded(make_settings):
    settings = make_settings()
    settings.backup_base.mkdir(parents=True)
    ok = Finished("drill", True, "recovered", duration_s=12.5,
                  result=DrillResult("full-20261126-0200.sql.gz", "drill_20261126_020000", "h", "2026-11-26 02:00:00",
                                     "OK", rto_s=12.31, rows={"users": 10}, checks=["a"] * 3))
    record = jobrecords.save(settings.backup_base, ok, T0, T0 + 12.5)
    assert record.extra == {"rto_s": 12.31, "dump": "full-20261126-0200.sql.gz"}
    failed = Finished("drill", False, "DR drill failed", error="import failed",
                      result=DrillResult("full-20261126-0200.sql.gz", None, "h", "2026-11-26 02:00:00", "FAIL",
                                         rto_s=3.0))
    record = jobrecords.save(settings.backup_base, failed, T0 + 100, T0 + 103)
    assert record.extra == {} and record.last_success_at == T0 + 12.5


async def test_an_unwritable_record_never_fails_the_job(make_settings):
    settings = make_settings()
    settings.backup_base.mkdir(parents=True)
    (settings.backup_base / ".jobs").write_text("a file where the folder should be\n")
    finished, _ = await run(ScriptedJob(settings, "ok"), clock=clock_at(T0))
    assert finished.ok
    assert jobrecords.read_all(settings.backup_base) == {}


def test_the_reader_skips_what_is_not_a_record(tmp_path):
    base = tmp_path / "backups"
    folder = base / ".jobs"
    folder.mkdir(parents=True)
    good = Finished("snapshot", True, "snapshot 1a2b3c4d", duration_s=4.0)
    jobrecords.save(base, good, T0, T0 + 4)
    (folder / "garbage.json").write_text("{not json")
    (folder / "verify.json").write_text(json.dumps({"kind": "verify", "ok": "yes"}))  # ok must be a bool
    (folder / "drill.json").write_text(json.dumps({**jobrecords.read(base, "snapshot").to_json(), "kind": "other"}))
    (folder / "Bad Name.json").write_text("{}")
    (folder / ".snapshot.json.123.tmp").write_text("{}")
    os.symlink(folder / "snapshot.json", folder / "db_backup.json")
    assert list(jobrecords.read_all(base)) == ["snapshot"]
    assert jobrecords.read_all(tmp_path / "missing") == {}
    with pytest.raises(ValueError):
        jobrecords.path_for(base, "../etc/passwd")
