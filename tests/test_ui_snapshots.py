"""Snapshots of the screens an operator sees, at 120×40 and 80×24: the dashboard over a healthy and a
failing tree, the help, the confirmation of a DB backup, the jobs panel mid-run, the error modal,
and the detail views (a checklist row, the ops_log alert lines, a finished job).

Deterministic by construction: a fixed clock and host, trees at fixed paths under
/tmp/opsbackup-snapshots (paths are on screen), dates read in UTC, the programs of the DB backup's
plan from a fixed folder, no indeterminate progress bar, no focused input (no blinking cursor), no
toast. Update with `pytest tests/test_ui_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import fcntl
import os
import time

import pytest
from ui_support import FIXED_NOW, SIZES, SNAPSHOT_ROOT, build_app, screen_text, settle, snapshot_root, wait_for

from opsbackup_tui.app import JobEvent
from opsbackup_tui.core.events import Finished, Phase, Progress, Started
from opsbackup_tui.screens.confirm import ConfirmScreen
from opsbackup_tui.screens.detail import CheckDetailScreen, DetailScreen
from opsbackup_tui.screens.error import ErrorScreen
from opsbackup_tui.screens.viewer import MarkdownScreen
from opsbackup_tui.widgets.jobs import JobRow

SIZE_IDS = [f"{w}x{h}" for w, h in SIZES]
PROGRAMS = SNAPSHOT_ROOT / "bin"  # the plan shows program paths: the same on every host


@pytest.fixture(autouse=True)
def stable_host(monkeypatch):
    """Dates in UTC, the dump programs from PROGRAMS (never run: the snapshots start no job), and
    the fixed folders to this test alone (another pytest on the host waits for the lock)."""
    SNAPSHOT_ROOT.mkdir(parents=True, exist_ok=True)
    lock = os.open(SNAPSHOT_ROOT / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(lock, fcntl.LOCK_EX)
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    PROGRAMS.mkdir(parents=True, exist_ok=True)
    for name in ("mariadb-dump", "pigz"):
        program = PROGRAMS / name
        program.write_text("#!/bin/sh\nexit 1\n")
        program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{PROGRAMS}{os.pathsep}{os.environ.get('PATH', '')}")
    try:
        yield
    finally:
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()
        os.close(lock)


def snapshot_app(name: str, kind: str, size: tuple[int, int], **flags):
    root = snapshot_root(f"{name}-{size[0]}x{size[1]}")
    return build_app(kind, root=root, **flags)


async def painted(pilot, text: str) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), f"{text!r} on screen")


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_dashboard_healthy(snap_compare, size):
    app = snapshot_app("healthy", "healthy", size)
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_dashboard_failing(snap_compare, size):
    app = snapshot_app("failing", "failing", size)
    assert snap_compare(app, terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_help(snap_compare, size):
    app = snapshot_app("help", "healthy", size)

    async def open_help(pilot):
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, MarkdownScreen), "help")
        await painted(pilot, "Ops runbook: backups and recovery")

    assert snap_compare(app, terminal_size=size, run_before=open_help)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_confirm_db_backup(snap_compare, size):
    root = snapshot_root(f"confirm-{size[0]}x{size[1]}")
    app = snapshot_app("confirm", "healthy", size, db_user="crm_backup", db_name="crm", db_host="db.internal")

    async def ask(pilot):
        await settle(pilot)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        await painted(pilot, "Run DB backup?")

    assert snap_compare(app, terminal_size=size, run_before=ask)
    assert str(root) in str(app.settings.db_dir)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_jobs_panel_mid_run(snap_compare, size):
    app = snapshot_app("jobs", "healthy", size)

    async def mid_run(pilot):
        await settle(pilot)
        events = [
            Started("db_backup", "DB backup", FIXED_NOW - 65),
            Phase("db_backup", "dumping", "mariadb-dump --defaults-extra-file=… crm | pigz -c -6 > "
                                          "full-20261126-0930.sql.gz.partial"),
            Progress("db_backup", 5 * 1024 * 1024, 12 * 1024 * 1024, "bytes", 1024 * 1024.0,
                     "12 tables, current: contacts"),
            Started("verify", "Verify restore", FIXED_NOW - 20),
            Phase("verify", "importing", "gunzip | guard | mariadb --database=verify_20261126_093000"),
            Progress("verify", 3 * 1024 * 1024, 4 * 1024 * 1024, "bytes", 512 * 1024.0),
        ]
        for event in events:
            pilot.app.post_message(JobEvent(event))
        screen = pilot.app.dashboard

        def shown() -> bool:
            rows = list(screen.query(JobRow))
            return len(rows) == 2 and all(row._progress is not None for row in rows)

        await wait_for(pilot, shown, "both jobs mid-run")
        # Newest first: the verify (started last) is in view at 80x24 too; the dump is below it.
        await painted(pilot, "3.0 MiB of 4.0 MiB")

    assert snap_compare(app, terminal_size=size, run_before=mid_run)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_error_modal(snap_compare, size):
    app = snapshot_app("error", "healthy", size)

    async def fail(pilot):
        await settle(pilot)
        pilot.app.post_message(JobEvent(Started("db_backup", "DB backup", FIXED_NOW - 3)))
        pilot.app.post_message(JobEvent(Finished(
            "db_backup", False, "DB backup failed",
            error="mariadb-dump exited 2: mariadb-dump: Got error: 1045: \"Access denied for user "
                  "'crm_backup'@'10.0.0.5' (using password: YES)\" when trying to connect",
            duration_s=0.4,
            next_step="check the DB server and credentials (OPS_DB_*), then run `opsbackup run db_backup`",
            stderr_tail="mariadb-dump: Got error: 1045: \"Access denied for user 'crm_backup'@'10.0.0.5'\"\n"
                        "a line with [bold]markup[/] that must stay literal",
        )))
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ErrorScreen), "the error modal")
        await painted(pilot, "DB backup failed")
        await settle(pilot)  # the refresh after a finished job

    assert snap_compare(app, terminal_size=size, run_before=fail)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_check_detail(snap_compare, size):
    """Enter on a failing checklist row: the whole detail, the path, the threshold and the fix."""
    app = snapshot_app("check-detail", "failing", size)

    async def opened(pilot):
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CheckDetailScreen), "the details")
        await painted(pilot, "opsbackup run db_backup")

    assert snap_compare(app, terminal_size=size, run_before=opened)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_ops_log_detail_filtered(snap_compare, size):
    """Enter on the ops_log row: the alert lines themselves, here filtered."""
    app = snapshot_app("alerts-detail", "failing", size)

    async def opened(pilot):
        await settle(pilot)
        await pilot.press("down", "down", "down", "down", "enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, CheckDetailScreen), "the details")
        await pilot.press("slash", *"cron", "enter")  # Enter: back to the lines, no blinking cursor
        await painted(pilot, "raw line from a cron mail")

    assert snap_compare(app, terminal_size=size, run_before=opened)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_job_detail(snap_compare, size):
    """Enter on a finished job row: its result, warnings and stderr tail."""
    app = snapshot_app("job-detail", "healthy", size)

    async def opened(pilot):
        await settle(pilot)
        pilot.app.post_message(JobEvent(Started("verify", "Verify restore", FIXED_NOW - 12)))
        pilot.app.post_message(JobEvent(Finished(
            "verify", True, "full-20261126-0230.sql.gz: 5 tables, users 12, contacts 900, opportunities 300 "
            "(2 481 lines imported); could not drop the scratch database verify_20261126_093000 "
            "(access denied); the next run drops it", duration_s=12.5,
            warnings=("could not drop the scratch database verify_20261126_093000 (access denied); "
                      "the next run drops it",))))
        await wait_for(pilot, lambda: (rows := list(pilot.app.dashboard.query(JobRow))) and rows[0].finished,
                       "the finished row")
        for _ in range(6):  # Tab to the row, as an operator moves
            if isinstance(pilot.app.screen.focused, JobRow):
                break
            await pilot.press("tab")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), "the details")
        pilot.app.clear_notifications()  # the job's toast: the status line and this screen keep its result
        await painted(pilot, "warnings")

    assert snap_compare(app, terminal_size=size, run_before=opened)
