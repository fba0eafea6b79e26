"""The Textual UI driven by Pilot: every key, jobs from the UI against the real MariaDB, cancel,
quit with a running job, the lock held elsewhere, the ops.log tail (append, rotation, filter,
acknowledge), the error modal, the report viewer, a narrow terminal."""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import admin_connection
from jobs_support import put_on_path
from textual.widgets import Button, Input, Log, ProgressBar
from treeutil import set_age
from ui_support import (
    FIXED_NOW,
    HOUR,
    SLOW_DUMP,
    build_app,
    db_flags,
    failing_dump,
    screen_text,
    settle,
    wait_for,
)

from opsbackup_tui.core import opslog
from opsbackup_tui.core.locks import peek
from opsbackup_tui.screens.confirm import ConfirmScreen
from opsbackup_tui.screens.dashboard import DashboardScreen
from opsbackup_tui.screens.detail import CheckDetailScreen, DetailScreen
from opsbackup_tui.screens.error import ErrorScreen
from opsbackup_tui.screens.viewer import MarkdownScreen
from opsbackup_tui.widgets.checklist import ChecklistTable
from opsbackup_tui.widgets.document import Document
from opsbackup_tui.widgets.jobs import JobRow, JobsPanel
from opsbackup_tui.widgets.logtail import LogTail

SIZE = (120, 40)
CHECK_IDS = ("db_dump", "uploads_snapshot", "verify_restore", "metrics", "ops_log")
DB_SECRET = "Sup3r-S3cret-db-pw"
RESTIC_SECRET = "R3stic-S3cret-pw"


# --- helpers ---


def status_of(app, check: str) -> str:
    table = app.dashboard.query_one(ChecklistTable)
    return str(table.get_cell(check, "status"))


def detail_of(app, check: str) -> str:
    return str(app.dashboard.query_one(ChecklistTable).get_cell(check, "detail"))


def job_row(app, kind: str) -> JobRow | None:
    rows = app.dashboard.query(f"#job-{kind}")
    return rows.first(JobRow) if rows else None


def row_text(row: JobRow) -> str:
    return " ".join(str(label.render()) for label in row.query(".phase"))


def log_raw(app) -> list[str]:
    return [line.raw for line in app.dashboard.query_one(LogTail).lines]


def shown_log(app) -> list[str]:
    return list(app.dashboard.query_one(LogTail).query_one(Log).lines)


def notes(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


def leftovers(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(n for n in os.listdir(folder) if ".partial" in n or n.endswith(".tmp"))


async def confirm_for(pilot, key: str) -> ConfirmScreen:
    await pilot.press(key)
    modal = await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen,
                           f"the confirmation of {key!r}")
    await on_screen(pilot, modal.title_text)
    return modal


async def on_screen(pilot, text: str, timeout: float = 5.0) -> None:
    """Wait until `text` is painted (a pushed screen is laid out a moment after it is current)."""
    await wait_for(pilot, lambda: text in screen_text(pilot.app), f"{text!r} on screen", timeout)


async def job_done(pilot, kind: str, timeout: float = 60.0) -> JobRow:
    app = pilot.app
    return await wait_for(pilot, lambda: kind not in app.running and (row := job_row(app, kind)) is not None
                          and row.finished and row, f"the {kind} job to finish", timeout)


def secret_flags(tmp_path: Path) -> dict[str, str]:
    db_pw = tmp_path / "db-password"
    db_pw.write_text(DB_SECRET + "\n")
    restic_pw = tmp_path / "restic-password"
    restic_pw.write_text(RESTIC_SECRET + "\n")
    return {"db_user": "crm_backup", "db_name": "crm", "db_password_file": str(db_pw),
            "restic_password_file": str(restic_pw), "restic_repository": str(tmp_path / "repo"),
            "uploads_path": str(tmp_path / "uploads")}


@pytest.fixture
def slow_dump(tmp_path, monkeypatch) -> Path:
    """A slow fake mariadb-dump first on PATH; returns the file it writes its pid to."""
    pid_file = tmp_path / "dump.pid"
    monkeypatch.setenv("FAKE_PID_FILE", str(pid_file))
    put_on_path(monkeypatch, tmp_path / "bin", "mariadb-dump", SLOW_DUMP)
    return pid_file


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def dump_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return None


async def tab_to(pilot, predicate, limit: int = 12):
    """Tab until the focused widget is the one wanted: as an operator moves, key by key."""
    for _ in range(limit):
        if predicate(pilot.app.screen.focused):
            return pilot.app.screen.focused
        await pilot.press("tab")
        await pilot.pause()
    raise AssertionError(f"no Tab stop reached it; the focus is on {pilot.app.screen.focused}")


# --- the dashboard ---


async def test_dashboard_shows_headline_checklist_trend_log_and_jobs(short_tmp):
    # A short root: the headline shows the whole path at 120 columns wherever pytest keeps its temp dirs.
    app = build_app("healthy", root=short_tmp / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "backup-host" in text and str(short_tmp / "t" / "backups") in text
        assert "overall: OK" in text
        for check in CHECK_IDS:
            assert check in text
        assert [status_of(app, c) for c in CHECK_IDS] == ["OK", "OK", "OK", "SKIPPED", "OK"]
        assert "dump sizes (last 30)" in text
        assert "job snapshot finished OK" in text
        assert "No job running" in text
        assert isinstance(app.screen, DashboardScreen)


async def test_failing_tree_shows_each_problem(tmp_path):
    app = build_app("failing", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert [status_of(app, c) for c in CHECK_IDS] == ["FAIL", "STALE", "FAILED", "SKIPPED", "WARN"]
        assert "overall: FAIL" in screen_text(app)
        assert "2 FAIL/alert lines" in detail_of(app, "ops_log")


async def test_markup_in_log_lines_is_shown_literally(tmp_path):
    app = build_app("failing", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "[bold]not markup[/] FAILED" in screen_text(app)


async def test_missing_log_is_calm_and_picked_up_when_it_appears(tmp_path):
    app = build_app("empty", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        # settle() cannot tell a missing file from an empty one: the note follows the follower's start.
        await wait_for(pilot, lambda: "No ops.log at" in screen_text(app), "the missing-log note")
        assert status_of(app, "ops_log") == "WARN"
        opslog.append(app.settings.log_path, "INFO", "the first line ever")
        await wait_for(pilot, lambda: "the first line ever" in screen_text(app), "the new file's line")
        assert "No ops.log at" not in screen_text(app)


async def test_long_log_lines_are_kept_whole_and_scroll_sideways(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        token = "".join(chr(ord("a") + i % 26) for i in range(300))
        with open(app.settings.log_path, "a") as handle:
            handle.write(token + "\n")
        await wait_for(pilot, lambda: log_raw(app)[-1] == token, "the long line")
        await pilot.pause()
        log = app.dashboard.query_one(LogTail).query_one(Log)
        assert log.lines[-1] == token
        assert log.virtual_size.width >= len(token) > log.scrollable_content_region.width
        log.scroll_to(x=len(token) - 10, animate=False)
        await pilot.pause()
        assert token[-10:] in screen_text(app)


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_status_colours_are_theme_colours_rich_can_draw(tmp_path, theme):
    from rich.style import Style

    app = build_app("failing", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        app.theme = theme
        await settle(pilot)
        await pilot.press("f5")
        await pilot.pause(0.3)
        await settle(pilot)
        table = app.dashboard.query_one(ChecklistTable)
        styles = {check: Style.parse(str(table.get_cell(check, "status").style)) for check in CHECK_IDS}
        # Every status is bold and coloured, the muted SKIPPED too (an alpha colour used to drop its style).
        assert all(style.bold and style.color is not None for style in styles.values()), styles
        assert styles["metrics"].color != styles["db_dump"].color
        tail = app.dashboard.query_one(LogTail)
        info = next(line for line in tail.lines if line.level == "INFO")
        from rich.text import Text

        from opsbackup_tui.widgets.logtail import display

        styled = Text(display(info))
        tail.styler.highlight(styled)
        assert styled.spans and all(Style.parse(str(span.style)).color for span in styled.spans)
        alert = next(line for line in tail.lines if line.is_alert)
        styled = Text(display(alert))
        tail.styler.highlight(styled)
        assert styled.spans and all(Style.parse(str(span.style)).bold for span in styled.spans)


# --- job keys and the confirmation ---


@pytest.mark.parametrize("key, title, planned", [
    ("d", "Run DB backup?", "mariadb-dump"),
    ("s", "Run Uploads snapshot?", "restic"),
    ("v", "Run Verify restore?", "CREATE DATABASE verify_"),
    ("r", "Run Report?", "reads the backup tree"),
])
async def test_job_key_asks_first_without_secrets_and_escape_cancels(tmp_path, key, title, planned):
    app = build_app("healthy", root=tmp_path / "t", **secret_flags(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        log_before = app.settings.log_path.read_text()
        modal = await confirm_for(pilot, key)
        await pilot.pause()
        text = screen_text(app)
        assert title in text and planned in text
        assert DB_SECRET not in text and RESTIC_SECRET not in text
        assert not any(DB_SECRET in line or RESTIC_SECRET in line for line in modal.lines)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
        await pilot.pause(0.3)
        assert not app.running
        assert job_row(app, {"d": "db_backup", "s": "snapshot", "v": "verify", "r": "report"}[key]) is None
        assert app.settings.log_path.read_text() == log_before


async def test_db_backup_plan_shows_the_command_line(tmp_path):
    app = build_app("healthy", root=tmp_path / "t", **secret_flags(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        modal = await confirm_for(pilot, "d")
        plan = "\n".join(modal.lines)
        assert "--defaults-extra-file=/dev/fd/N (an inherited pipe)" in plan
        assert "--single-transaction" in plan and "crm" in plan
        assert "crm_backup@127.0.0.1:3306" in plan
        assert f"{app.settings.db_dir}/full-YYYYmmdd-HHMM.sql.gz" in plan
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")


async def test_buttons_open_the_same_confirmation(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click("#run-report")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the modal")
        assert modal.title_text == "Run Report?"
        await pilot.click("#no")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
        await pilot.pause(0.25)  # a Button ignores a second click within 0.2 s
        await pilot.click("#run-verify")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the modal")
        assert modal.title_text == "Run Verify restore?"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
        assert not app.running


async def test_command_palette_lists_the_jobs(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Run: DB backup", "Run: Uploads snapshot", "Run: Verify restore", "Run: Report",
                      "Acknowledge alerts", "Refresh checklist", "Runbook help"):
            assert title in titles
        run_report = next(c for c in app.get_system_commands(app.screen) if c.title == "Run: Report")
        run_report.callback()
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the modal")
        assert modal.title_text == "Run Report?"


async def test_y_runs_the_report_and_opens_the_markdown_viewer(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await confirm_for(pilot, "r")
        await pilot.press("y")
        viewer = await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen) and app.screen,
                                "the report viewer", 30)
        await pilot.pause(0.2)
        reports = list(app.settings.reports_dir.glob("report-*.md"))
        assert len(reports) == 1
        assert viewer.title_text == f"Report · {reports[0]}"
        assert viewer.markdown == reports[0].read_text()
        text = screen_text(app)
        assert "Backup report" in text and "Checklist" in text
        assert any("Report: OK" in note for note in notes(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
        assert "OK in" in row_text(job_row(app, "report"))


async def test_the_same_job_runs_again_in_one_session(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for run in range(3):
            await confirm_for(pilot, "r")
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen), f"report {run}", 30)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
            await job_done(pilot, "report")
            assert len(app.dashboard.query(JobRow)) == 1
            if run == 1:  # dismissed before the next run: Tab to its row, delete
                await tab_to(pilot, lambda w: isinstance(w, JobRow))
                await pilot.press("delete")
                await wait_for(pilot, lambda: not app.dashboard.query(JobRow), "the dismissed row")
        assert len(list(app.settings.reports_dir.glob("report-*.md"))) >= 1
        assert isinstance(app.screen, DashboardScreen) and app.is_running


# --- help ---


async def test_help_shows_runbook_keys_and_settings_with_secrets_masked(tmp_path):
    flags = secret_flags(tmp_path)
    flags["slack_webhook_url"] = "https://hooks.slack.com/services/T000/B000/XyzSecretHook"
    app = build_app("healthy", root=tmp_path / "t", **flags)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen) and app.screen, "help")
        await pilot.pause(0.3)
        viewer = screen.query_one(Document)
        source = viewer.markdown
        assert "Ops runbook" in source and "## Keys" in source and "## Settings now in effect" in source
        assert "| `OPS_DB_PASSWORD` | `***` |" in source
        assert "| `OPS_SLACK_WEBHOOK_URL` | `***` |" in source
        assert "| `RESTIC_PASSWORD` | `***` |" in source
        # Page through what is on screen: every part of the help, never a secret.
        pages = []
        for _ in range(60):
            pages.append(screen_text(app))
            at = viewer.scroll_y
            viewer.scroll_page_down(animate=False)
            await pilot.pause(0.1)
            if viewer.scroll_y == at:
                break
        shown = "\n".join(pages)
        assert "Ops runbook: backups and recovery" in shown
        assert "OPS_DB_PASSWORD" in shown and "***" in shown
        assert "OPS_BACKUP_BASE" in shown and "OPS_REFRESH_S" in shown and "d DB backup" not in shown
        for secret in (DB_SECRET, RESTIC_SECRET, "XyzSecretHook"):
            assert secret not in shown and secret not in source
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")


# --- refresh ---


@pytest.mark.parametrize("key", ["f5", "ctrl+r"])
async def test_refresh_keys_run_the_checks_now(tmp_path, key):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert status_of(app, "db_dump") == "OK"
        newest = max(app.settings.db_dir.glob("full-*.sql.gz"))
        set_age(newest, 50 * HOUR, FIXED_NOW)  # a file's mtime: the folder's stays, no automatic refresh
        await pilot.pause(0.6)
        assert status_of(app, "db_dump") == "OK"
        await pilot.press(key)
        await wait_for(pilot, lambda: status_of(app, "db_dump") == "FAIL", "the refreshed checklist")
        assert "overall: FAIL" in screen_text(app)


async def test_a_new_dump_refreshes_the_checklist_by_itself(tmp_path):
    app = build_app("failing", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert status_of(app, "db_dump") == "FAIL"
        from treeutil import make_dump
        make_dump(app.settings.backup_base, "20261126-0900", age_s=HOUR, now=FIXED_NOW)
        await wait_for(pilot, lambda: status_of(app, "db_dump") == "OK", "the checklist to notice the dump", 5)


# --- acknowledge ---


async def test_acknowledge_turns_ops_log_ok_until_a_new_alert(tmp_path):
    app = build_app("failing", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert status_of(app, "ops_log") == "WARN"
        # a asks first, with the count and the time range; the newest lines are shown.
        await pilot.press("a")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the question")
        assert modal.title_text.startswith("Acknowledge 2 alerts up to ")  # one of them has no time
        assert any("raw line from a cron mail" in line for line in modal.lines)
        await pilot.press("y")
        await wait_for(pilot, lambda: status_of(app, "ops_log") == "OK", "ops_log OK")
        assert "since acknowledged" in detail_of(app, "ops_log")
        assert (app.settings.state_dir / "acks.json").is_file()
        assert "acknowledged 2 alerts" in screen_text(app) and "ctrl+z takes it back" in screen_text(app)
        # ctrl+z takes it back; a again acknowledges.
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: status_of(app, "ops_log") == "WARN", "the alerts back")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: status_of(app, "ops_log") == "OK", "ops_log OK again")
        opslog.append(app.settings.log_path, "ERROR", "job snapshot finished FAIL in 1.0 s: restic exited 1",
                      {"job": "snapshot"})
        await wait_for(pilot, lambda: status_of(app, "ops_log") == "WARN", "a new alert", 5)
        assert "1 FAIL/alert line" in detail_of(app, "ops_log")


async def test_acknowledge_without_a_log_says_so(tmp_path):
    app = build_app("empty", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await wait_for(pilot, lambda: "no ops.log to acknowledge yet" in screen_text(app), "the status line")
        assert isinstance(app.screen, DashboardScreen)


# --- the log tail: filter, follow, rotation ---


async def test_filter_shows_matching_lines_and_escape_clears(tmp_path):
    app = build_app("failing", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        tail = app.dashboard.query_one(LogTail)
        everything = shown_log(app)
        assert any("disk 91 % full" in line for line in everything)
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input), "the filter input")
        await pilot.press(*"FaIl")
        await wait_for(pilot, lambda: tail.filter_text == "fail", "the filter")
        await pilot.pause()
        shown = "\n".join(shown_log(app))
        assert "finished FAIL" in shown and "[bold]not markup[/] FAILED" in shown
        assert "disk 91 % full" not in shown and "job db_backup started" not in shown
        assert tail.border_title.endswith(" · filter: FaIl")
        assert tail.query_one(Input).region.height > 0 and "FaIl" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: tail.filter_text == "" and not tail.has_class("-filtering"), "the cleared filter")
        await pilot.pause()
        assert shown_log(app) == everything
        assert "filter:" not in tail.border_title
        assert tail.query_one(Input).region.height == 0
        assert not isinstance(app.focused, Input)
        # Lines that arrive later obey the filter too.
        await pilot.press("slash")
        await wait_for(pilot, lambda: isinstance(app.focused, Input), "the filter input")
        await pilot.press(*"disk", "enter")
        opslog.append(app.settings.log_path, "INFO", "disk 92 % full")
        opslog.append(app.settings.log_path, "INFO", "unrelated line")
        await wait_for(pilot, lambda: "unrelated line" in log_raw(app)[-1], "the new lines")
        await pilot.pause()
        shown = "\n".join(shown_log(app))
        assert "disk 92 % full" in shown and "unrelated line" not in shown


async def test_an_appended_line_appears_within_a_second(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        written = time.monotonic()
        opslog.append(app.settings.log_path, "INFO", "hello from cron")
        await wait_for(pilot, lambda: "hello from cron" in screen_text(app), "the appended line", timeout=1.0)
        assert time.monotonic() - written < 1.0
        assert sum("hello from cron" in line for line in log_raw(app)) == 1


async def test_log_lines_are_capped(tmp_path, monkeypatch):
    from opsbackup_tui.widgets import logtail

    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        with open(app.settings.log_path, "a") as handle:
            handle.write("".join(f"burst {i}\n" for i in range(logtail.MAX_LINES + 500)))
        tail = app.dashboard.query_one(LogTail)
        await wait_for(pilot, lambda: tail.lines and tail.lines[-1].raw == f"burst {logtail.MAX_LINES + 499}",
                       "the burst", 10)
        assert len(tail.lines) == logtail.MAX_LINES
        assert len(tail.query_one(Log).lines) <= logtail.MAX_LINES


def rotate_by_rename(log: Path) -> None:
    os.rename(log, log.with_name("ops.log.1"))
    log.write_text("")


def rotate_by_copytruncate(log: Path) -> None:
    shutil.copyfile(log, log.with_name("ops.log.1"))
    with open(log, "r+b") as handle:
        handle.truncate(0)


@pytest.mark.parametrize("rotate", [rotate_by_rename, rotate_by_copytruncate], ids=["rename", "copytruncate"])
async def test_rotation_keeps_following_without_duplicates(tmp_path, rotate):
    app = build_app("healthy", root=tmp_path / "t")
    log = None
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        log = app.settings.log_path
        for i in range(3):
            opslog.append(log, "INFO", f"before rotation {i}")
        await wait_for(pilot, lambda: "before rotation 2" in "\n".join(log_raw(app)), "the lines before")
        rotate(log)
        await pilot.pause(0.6)  # the follower notices the rotation on its own
        for i in range(3):
            opslog.append(log, "INFO", f"after rotation {i}")
        await wait_for(pilot, lambda: "after rotation 2" in "\n".join(log_raw(app)), "the lines after", 5)
        rotate(log)
        opslog.append(log, "INFO", "second rotation")
        await wait_for(pilot, lambda: "second rotation" in "\n".join(log_raw(app)), "the line after rotating again", 5)
        await pilot.pause(0.6)
        raw = log_raw(app)
        assert len(raw) == len(set(raw)), raw
        shown = shown_log(app)
        for i in range(3):
            assert sum(f"after rotation {i}" in line for line in shown) <= 1
        assert sum("second rotation" in line for line in shown) == 1
        assert isinstance(app.screen, DashboardScreen)


# --- jobs: end to end, cancel, lock, errors ---


@pytest.fixture
def filled_db(mysql_server, scratch_db) -> str:
    conn = admin_connection(mysql_server, scratch_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE contacts (id INT PRIMARY KEY, name VARCHAR(50))")
        cur.execute("INSERT INTO contacts VALUES (1, 'Alžběta'), (2, 'Bob'), (3, 'Čeněk')")
    conn.close()
    return scratch_db


async def test_db_backup_from_the_ui_against_mariadb(tmp_path, mysql_server, filled_db, own_tmp):
    app = build_app("empty", root=tmp_path / "t", clock=time.time,
                    **db_flags(mysql_server, tmp_path / "secrets", db_name=filled_db))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert status_of(app, "db_dump") == "FAIL"
        await confirm_for(pilot, "d")
        await pilot.press("y")
        row = await job_done(pilot, "db_backup")
        assert "OK in" in row_text(row), row_text(row)
        dumps = sorted(app.settings.db_dir.glob("full-*.sql.gz"))
        assert len(dumps) == 1
        assert (app.settings.db_dir / f"{dumps[0].name}.sha256").is_file()
        sql = gzip.decompress(dumps[0].read_bytes()).decode()
        assert "CREATE TABLE `contacts`" in sql and "Čeněk" in sql and "-- Dump completed" in sql
        await wait_for(pilot, lambda: status_of(app, "db_dump") == "OK", "db_dump OK", 10)
        assert dumps[0].name in detail_of(app, "db_dump")
        assert any("DB backup: OK" in note for note in notes(app))
        assert leftovers(app.settings.db_dir) == []
        assert os.listdir(own_tmp) == []
        assert peek(app.settings.backup_base, "db_backup") is None
        await wait_for(pilot, lambda: any("job db_backup finished OK" in line for line in log_raw(app)),
                       "the end line in the log panel")


async def test_cancel_mid_job_leaves_nothing_behind(tmp_path, slow_dump, own_tmp):
    app = build_app("healthy", root=tmp_path / "t", clock=time.time, db_user="root", db_name="crm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = sorted(os.listdir(app.settings.db_dir))
        await confirm_for(pilot, "d")
        await pilot.press("y")
        await wait_for(pilot, lambda: (row := job_row(app, "db_backup")) and "dumping" in row_text(row), "dumping")
        await wait_for(pilot, lambda: leftovers(app.settings.db_dir), "the partial file")
        pid = await wait_for(pilot, lambda: dump_pid(slow_dump), "the dump process")
        assert pid_alive(pid)
        # x: the only running job, after a one-key confirmation.
        await pilot.press("x")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the question")
        assert modal.title_text == "Cancel DB backup?"
        await pilot.press("y")
        row = await job_done(pilot, "db_backup", 30)
        assert "cancelled after" in row_text(row)
        assert leftovers(app.settings.db_dir) == []
        assert sorted(os.listdir(app.settings.db_dir)) == before
        assert os.listdir(own_tmp) == []  # the private option file is gone too
        assert not pid_alive(pid)
        assert peek(app.settings.backup_base, "db_backup") is None
        assert any(note.startswith("Cancelled") for note in notes(app))
        assert any("job db_backup cancelled" in line for line in app.settings.log_path.read_text().splitlines())
        assert "ETA" not in row_text(row) and not row.query_one(ProgressBar).display  # no stale progress
        # Dismiss the finished row (Tab to it, delete): the panel is empty again.
        await tab_to(pilot, lambda w: isinstance(w, JobRow))
        await pilot.press("delete")
        await wait_for(pilot, lambda: job_row(app, "db_backup") is None, "the dismissed row")
        await wait_for(pilot, lambda: app.dashboard.query_one(JobsPanel).query_one(".empty").display, "the empty note")


async def test_two_jobs_of_different_kinds_run_at_once(tmp_path, slow_dump):
    app = build_app("healthy", root=tmp_path / "t", clock=time.time, db_user="root", db_name="crm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await confirm_for(pilot, "d")
        await pilot.press("y")
        await wait_for(pilot, lambda: (row := job_row(app, "db_backup")) and "dumping" in row_text(row), "dumping")
        # The same kind again is refused, with a word why.
        await pilot.press("d")
        await wait_for(pilot, lambda: any("already running here" in n for n in notes(app)), "the refusal")
        assert not isinstance(app.screen, ConfirmScreen)
        await confirm_for(pilot, "r")
        await pilot.press("y")
        viewer = await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen) and app.screen, "the report", 30)
        assert "db_backup" in app.running
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
        # Two rows, one running: x cancels the running one (the report's has finished).
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await job_done(pilot, "db_backup", 30)
        assert viewer.markdown


async def test_quit_with_a_running_job_asks_then_cancels_properly(tmp_path, slow_dump, own_tmp):
    app = build_app("healthy", root=tmp_path / "t", clock=time.time, db_user="root", db_name="crm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dumps_before = sorted(app.settings.db_dir.glob("full-*"))
        await confirm_for(pilot, "d")
        await pilot.press("y")
        await wait_for(pilot, lambda: leftovers(app.settings.db_dir), "the partial file")
        pid = await wait_for(pilot, lambda: dump_pid(slow_dump), "the dump process")
        # First answer no: the job keeps running.
        modal = await confirm_for(pilot, "q")
        assert modal.title_text == "DB backup still running. Cancel and quit?"
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
        await pilot.pause(0.3)
        assert "db_backup" in app.running and pid_alive(pid) and not app._exit
        # Then yes: cancelled properly, then the app exits.
        await confirm_for(pilot, "q")
        await pilot.press("y")
        deadline = time.monotonic() + 30
        while not app._exit and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert app._exit
    assert app.return_code == 0
    assert not pid_alive(pid)
    assert leftovers(app.settings.db_dir) == []
    assert sorted(app.settings.db_dir.glob("full-*")) == dumps_before
    assert os.listdir(own_tmp) == []
    assert peek(app.settings.backup_base, "db_backup") is None
    assert "job db_backup cancelled" in app.settings.log_path.read_text()


async def test_q_quits_at_once_when_nothing_runs(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        deadline = time.monotonic() + 10
        while not app._exit and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert app._exit
    assert app.return_code == 0


async def test_ctrl_q_quits_from_a_modal(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen), "help")
        await pilot.press("ctrl+q")
        deadline = time.monotonic() + 10
        while not app._exit and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert app._exit


HOLD_LOCK = """
import sys
from pathlib import Path
from opsbackup_tui.core.locks import JobLock
lock = JobLock(Path(sys.argv[1]), "db_backup").acquire()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def held_elsewhere(tmp_path):
    """Hold the db_backup lock of the tree at tmp_path/t from another process."""
    base = tmp_path / "t" / "backups"
    holders: list[subprocess.Popen] = []

    def hold() -> subprocess.Popen:
        base.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(base)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        holders.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield hold
    for proc in holders:
        proc.stdin.close()
        proc.wait(10)


async def test_a_lock_held_elsewhere_is_shown_and_the_job_not_started(tmp_path, held_elsewhere, slow_dump):
    app = build_app("healthy", root=tmp_path / "t", clock=time.time, db_user="root", db_name="crm")
    holder = None
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        holder = held_elsewhere()
        log_before = app.settings.log_path.read_text()
        await pilot.press("d")
        row = await wait_for(pilot, lambda: job_row(app, "db_backup"), "the jobs panel row")
        await wait_for(pilot, lambda: "running elsewhere" in row_text(row), "running elsewhere")
        assert f"pid {holder.pid}" in row_text(row)
        assert row.has_class("-elsewhere")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        assert not app.running
        assert dump_pid(slow_dump) is None
        assert "running elsewhere" in screen_text(app)
        assert any(note.startswith("Running elsewhere") for note in notes(app))
        assert app.settings.log_path.read_text() == log_before
        assert leftovers(app.settings.db_dir) == []
        # When the other process is done, the next refresh clears the row.
        holder.stdin.close()
        holder.wait(10)
        await pilot.press("f5")
        await wait_for(pilot, lambda: job_row(app, "db_backup") is None, "the cleared row")


async def test_a_lock_held_at_start_shows_in_the_jobs_panel(tmp_path, held_elsewhere):
    app = build_app("healthy", root=tmp_path / "t")
    held_elsewhere()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await wait_for(pilot, lambda: (row := job_row(app, "db_backup")) and "running elsewhere" in row_text(row),
                       "running elsewhere")


async def test_a_failing_job_opens_the_error_modal_with_the_next_step(tmp_path, mysql_server):
    app = build_app("healthy", root=tmp_path / "t", clock=time.time,
                    **db_flags(mysql_server, tmp_path / "secrets", db_name="opsb_no_such_database"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await confirm_for(pilot, "d")
        await pilot.press("y")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen) and app.screen, "the error", 60)
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "DB backup failed" in text
        assert "exited 2" in modal.message and "opsb_no_such_database" in modal.message
        assert modal.next_step and "Next: " + modal.next_step[:30] in text
        assert "OPS_DB_" in modal.next_step
        assert "opsb_no_such_database" in modal.stderr_tail
        assert leftovers(app.settings.db_dir) == []
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
        row = job_row(app, "db_backup")
        assert "FAILED" in row_text(row) and row.has_class("-failed")
        await wait_for(pilot, lambda: status_of(app, "ops_log") == "WARN", "the FAIL line counted", 5)
        # The status line keeps the result after the modal is gone; Enter on the row opens all of it.
        assert "DB backup: FAILED after" in screen_text(app)
        await tab_to(pilot, lambda w: isinstance(w, JobRow))
        await pilot.press("enter")
        detail = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen, "the details")
        text = screen_text(app)
        assert detail.heading == "DB backup: FAILED" and "opsb_no_such_database" in text and "OPS_DB_" in text
        assert "stderr (last lines)" in text
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")


async def test_enter_on_a_checklist_row_shows_all_of_it_and_enter_there_runs_the_fix(tmp_path):
    app = build_app("failing", root=tmp_path / "t")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # the checklist has the focus, its first row: db_dump
        detail = await wait_for(pilot, lambda: isinstance(app.screen, CheckDetailScreen) and app.screen, "details")
        text = screen_text(app)
        assert detail.heading == "db_dump: FAIL"
        assert "FAIL after 2 d: run a DB backup now and find why the nightly one stopped" in " ".join(text.split())
        assert "press d here or on the dashboard, or run `opsbackup run db_backup`" in " ".join(text.split())
        assert str(app.settings.db_dir) in "".join(text.split()) and "26 h" in text  # a long path wraps
        await pilot.press("enter")  # Enter does the fix: the DB backup, which asks first
        ask = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the question")
        assert ask.title_text == "Run DB backup?"
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is detail, "back on the details")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
        # ops_log: the alert lines themselves, filterable.
        await pilot.press("down", "down", "down", "down", "enter")
        lines = await wait_for(pilot, lambda: isinstance(app.screen, CheckDetailScreen) and app.screen, "ops_log")
        assert lines.heading == "ops_log: WARN"
        shown = lambda: list(lines.query_one(Log).lines)  # noqa: E731
        await wait_for(pilot, lambda: any("raw line from a cron mail" in line for line in shown())
                       and any("job db_backup finished FAIL" in line for line in shown()), "both alert lines")
        await pilot.press("slash", *"cron")
        await wait_for(pilot, lambda: len(shown()) == 1 and "cron mail" in shown()[0], "the filtered line")
        await pilot.press("escape")  # escape clears the filter first
        await wait_for(pilot, lambda: len(shown()) == 2, "both lines again")
        assert isinstance(app.screen, CheckDetailScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")


async def test_error_text_with_markup_is_shown_literally(tmp_path, monkeypatch):
    stderr = "mariadb-dump: Got error: [bold]x[/] and [red]y[/red] [link=http://evil]z[/link] [/]"
    put_on_path(monkeypatch, tmp_path / "bin", "mariadb-dump", failing_dump(stderr))
    app = build_app("healthy", root=tmp_path / "t", clock=time.time, db_user="root", db_name="crm")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await confirm_for(pilot, "d")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), "the error modal", 30)
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "[bold]x[/]" in text and "[red]y[/red]" in text and "[link=http://evil]z[/link]" in text
        assert "Next: " in text
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
        assert "[bold]x[/]" in row_text(job_row(app, "db_backup"))


async def test_a_worker_error_goes_to_the_one_error_path(tmp_path, monkeypatch):
    app = build_app("healthy", root=tmp_path / "t")
    from opsbackup_tui.core.jobs import report

    def broken_plan(self):
        raise RuntimeError("plan exploded [bold]here[/]")

    monkeypatch.setattr(report.ReportJob, "plan", broken_plan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen) and app.screen, "the error modal")
        await pilot.pause(0.2)
        assert "RuntimeError: plan exploded [bold]here[/]" in modal.message
        assert "plan exploded [bold]here[/]" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
        assert not app.running


# --- a narrow terminal ---


async def test_narrow_terminal_stays_usable(tmp_path, slow_dump):
    app = build_app("failing", root=tmp_path / "t", clock=time.time, db_user="root", db_name="crm")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.dashboard
        assert screen.has_class("-narrow")
        text = screen_text(app)
        assert "overall: FAIL" in text.splitlines()[0]  # however long the path, the state shows
        for check in CHECK_IDS:
            assert check in text
        assert "ops.log" in text and "No job running" in text
        whole = screen.region
        log, jobs = screen.query_one(LogTail), screen.query_one(JobsPanel)
        for widget in (screen.query_one(ChecklistTable), log, jobs):
            assert widget.region.height > 0 and whole.contains_region(widget.region), widget
        assert log.region.height >= 5
        assert jobs.region.y >= log.region.bottom  # stacked, not side by side
        for button in screen.query(Button):
            assert button.region.height > 0 and whole.contains_region(button.region), button
        # A running job fits too, and every key still works.
        await confirm_for(pilot, "d")
        await pilot.press("y")
        row = await wait_for(pilot, lambda: (r := job_row(app, "db_backup")) and "dumping" in row_text(r) and r,
                             "dumping")
        await pilot.pause(0.2)
        assert whole.contains_region(row.region) and row.region.height >= 3
        # Every key is listed at 80 columns (the key bar wraps instead of cutting the list off).
        keys = screen_text(app)
        for label in ("DB backup", "Uploads", "Migrate", "Monthly", "Ack alerts", "Filter log", "Cancel job",
                      "Help", "Quit"):
            assert label in keys, label
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await job_done(pilot, "db_backup", 30)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen), "help")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard again")
