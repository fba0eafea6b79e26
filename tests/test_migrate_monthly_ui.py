"""The legacy migration (m) and monthly checklist (c) screens, driven by Pilot against real trees,
the real MariaDB and a real restic repository; and snapshots of the migration's dry-run table and
the monthly screen at 120×40 and 80×24.

Snapshots are deterministic by construction: a fixed clock and host, trees at fixed paths under
/tmp/opsbackup-snapshots (paths are on screen), every mtime set relative to FIXED_NOW, dates read
in UTC. Update with `pytest tests/test_migrate_monthly_ui.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import pytest
from jobs_support import clock_at, crm_db, init_restic_repo, make_uploads, run, sql  # noqa: F401 - fixtures
from textual.widgets import DataTable, Static
from treeutil import legacy_sql, make_dump, put
from ui_support import (
    DAY,
    FIXED_NOW,
    HOUR,
    SIZES,
    build_app,
    db_flags,
    screen_text,
    settle,
    snapshot_root,
    stamp_at,
    wait_for,
)

from opsbackup_tui.core.jobs.dump import DumpJob
from opsbackup_tui.screens.confirm import ConfirmScreen
from opsbackup_tui.screens.detail import DetailScreen
from opsbackup_tui.screens.error import ErrorScreen
from opsbackup_tui.screens.migrate import MigrateScreen
from opsbackup_tui.screens.monthly import MonthlyScreen
from opsbackup_tui.screens.viewer import MarkdownScreen
from opsbackup_tui.widgets.sizechart import SizeChart

SIZE_IDS = [f"{w}x{h}" for w, h in SIZES]
JOB_WAIT_S = 60.0  # a safety net for jobs against the real server, never a performance limit


@pytest.fixture(autouse=True)
def utc():
    """Dates on screen (stamps in names, mtimes) read the same on any host."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


# --- trees ---

def add_legacy(root: Path) -> dict[str, str]:
    """Legacy files beside a healthy tree (its newest dump 7 h before FIXED_NOW), mtimes from
    FIXED_NOW; returns name -> the action the dry run must show."""
    base, legacy = root / "backups", root / "legacy"
    legacy.mkdir(parents=True, exist_ok=True)

    def when(stamp: str) -> float:  # 'YYYYmmdd-HHMM' in UTC
        return time.mktime(time.strptime(stamp, "%Y%m%d-%H%M"))

    put(base / "crm-2026-10-01_0300.sql", legacy_sql(seed=1, block_rows=60), when("20261001-0300"))
    put(base / "backup_20261002030000.sql", legacy_sql(seed=2, block_rows=70), when("20261002-0300"))
    put(base / "db-20261003.sql.gz", gzip.compress(legacy_sql(seed=3, block_rows=80), mtime=0), when("20261003-0010"))
    put(base / "notes.sql", b"meeting notes: call Jana back\n", FIXED_NOW - 20 * DAY)
    put(base / "fresh-export.sql", legacy_sql(seed=4, block_rows=30), FIXED_NOW - HOUR)
    existing = stamp_at(7 * HOUR + DAY)  # the second newest dump of the healthy tree
    put(base / f"crm-{existing[:4]}-{existing[4:6]}-{existing[6:8]}_{existing[9:]}.sql",
        legacy_sql(seed=5, block_rows=30), when(existing))
    put(legacy / "truncated-20261004-0300.sql", legacy_sql(seed=6, block_rows=40, trailer=False),
        when("20261004-0300"))
    put(legacy / "backup_20261005030000.sql", legacy_sql(seed=7, block_rows=50), when("20261120-1000"))
    no_sha = make_dump(base, "20261006-0300", data=gzip.compress(legacy_sql(seed=8, block_rows=40), mtime=0),
                       sha=False, age_s=FIXED_NOW - when("20261006-0300"), now=FIXED_NOW)
    return {"crm-2026-10-01_0300.sql": "compress+move", "backup_20261002030000.sql": "compress+move",
            "db-20261003.sql.gz": "move", "notes.sql": "skip", "fresh-export.sql": "skip",
            f"crm-{existing[:4]}-{existing[4:6]}-{existing[6:8]}_{existing[9:]}.sql": "skip",
            "truncated-20261004-0300.sql": "compress+move", "backup_20261005030000.sql": "compress+move",
            no_sha.name: "checksum only"}


def migrate_app(root: Path):
    app = build_app("healthy", root=root, legacy_paths=root / "legacy")
    return app, add_legacy(root)


def sized_dumps(base: Path, sizes: list[int]) -> None:
    """Nightly dumps (02:00, the newest 7.5 h before FIXED_NOW) of these sizes, oldest first."""
    for back, size in enumerate(reversed(sizes)):
        age = 7.5 * HOUR + back * DAY
        make_dump(base, stamp_at(age), data=bytes(size), age_s=age, now=FIXED_NOW)


def past_report(base: Path, month: str, ok: bool, seed: int) -> Path:
    import json

    verdict = "PASS" if ok else "FAIL"
    text = (f"# Monthly checklist — backup-host — {month[:4]}-{month[4:]}\n\n"
            f"Run {month[:4]}-{month[4:]}-26 09:30 · seed {seed} · overall: **{verdict}**\n\n"
            "| item | result | summary |\n|---|---|---|\n"
            f"| restic check | **{verdict}** | {'no errors found' if ok else 'the repository has errors'} |\n\n"
            "<!-- opsbackup:monthly " + json.dumps({"ok": ok, "seed": seed}) + " -->\n")
    return put(base / "reports" / f"monthly-{month}.md", text.encode(), FIXED_NOW - 30 * DAY)


def monthly_app(root: Path, **flags):
    app = build_app("empty", root=root, **flags)
    base = root / "backups"
    sized_dumps(base, [20_000] * 8 + [13_000, 20_000, 20_500, 31_000, 21_000, 20_000])
    past_report(base, "202609", True, 11)
    past_report(base, "202610", False, 42)
    return app


# --- helpers ---

def rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


async def open_migrate(pilot) -> MigrateScreen:
    await settle(pilot)
    await pilot.press("m")
    screen = await wait_for(pilot, lambda: isinstance(pilot.app.screen, MigrateScreen) and pilot.app.screen,
                            "the migration screen")
    await wait_for(pilot, lambda: getattr(screen, "plan", None) is not None, "the dry run")
    await wait_for(pilot, lambda: "legacy file(s) in" in screen_text(pilot.app), "the dry-run summary painted")
    return screen


async def open_monthly(pilot) -> MonthlyScreen:
    await settle(pilot)
    await pilot.press("c")
    screen = await wait_for(pilot, lambda: isinstance(pilot.app.screen, MonthlyScreen) and pilot.app.screen,
                            "the monthly screen")
    await wait_for(pilot, lambda: screen.query_one(SizeChart).points and screen.reports, "the chart and history")
    await wait_for(pilot, lambda: "monthly-202610.md" in screen_text(pilot.app), "the history painted")
    return screen


def job_text(screen) -> str:
    return " ".join(str(label.render()) for label in screen.row.query(".phase"))


# --- m: legacy migration ---


async def test_m_dry_run_then_run_confirm_progress_and_rescan(tmp_path):
    root = tmp_path / "ui"
    app, expected = migrate_app(root)
    base = root / "backups"
    before = sorted(os.listdir(base / "db"))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_migrate(pilot)
        table = screen.query_one("#plan", DataTable)
        shown = {Path(r[0]).name: r for r in rows(table)}
        assert {name: r[3] for name, r in shown.items()} == expected
        assert [str(c.label) for c in table.columns.values()] == ["file", "size", "target", "action", "time from",
                                                                  "problems", "folder"]
        fresh = shown["fresh-export.sql"]
        assert fresh[2] == f"full-{stamp_at(HOUR)}.sql.gz" and fresh[4] == "mtime"
        assert "would make it the newest dump" in fresh[5]
        assert "in the future" not in " ".join(r[5] for r in shown.values()), "the app's clock decides the future"
        assert "not a SQL dump" in shown["notes.sql"][5]
        assert "already exists; never overwritten" in [r for n, r in shown.items() if n.startswith("crm-2026-11")][0][5]
        assert "truncated" in shown["truncated-20261004-0300.sql"][5]
        assert "time not trusted: the name says 2026-10-05 03:00" in shown["backup_20261005030000.sql"][5]
        assert shown["db-20261003.sql.gz"][4] == "name (date only, 00:00)"
        summary = str(screen.query_one("#summary", Static).render())
        assert "9 legacy file(s)" in summary and "6 to migrate" in summary and "3 left alone" in summary
        assert sorted(os.listdir(base / "db")) == before, "the dry run changes nothing"

        # Enter on a row shows all of it (the problems column runs off a narrow screen).
        await pilot.press("down")
        row_shown = table.get_row_at(table.cursor_row)
        await pilot.press("enter")
        detail = await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailScreen) and pilot.app.screen,
                                "the row's detail")
        assert Path(str(row_shown[0])).name == detail.heading and str(row_shown[5]) in screen_text(pilot.app)
        await pilot.press("q")
        await wait_for(pilot, lambda: pilot.app.screen is screen, "back to the plan")
        # r runs it, after the confirmation.
        await pilot.press("r")
        confirm = await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen,
                                 "the confirmation")
        assert confirm.title_text == "Migrate the legacy dumps?"
        assert any(line.startswith("6 of 9 legacy files") for line in confirm.lines)
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.row is not None and screen.row.finished, "the migration", JOB_WAIT_S)
        assert pilot.app.screen is screen
        assert job_text(screen).startswith("OK in ") and "6 of 6 migrated" in job_text(screen)
        # The table is scanned again: only what was left alone remains.
        await wait_for(pilot, lambda: table.row_count == 3, "the rescanned table")
        assert {Path(r[0]).name: r[3] for r in rows(table)} == {n: a for n, a in expected.items() if a == "skip"}
        title = str(screen.query_one("#title", Static).render())
        assert title.startswith("Legacy migration: ran at ") and "6 of 6 migrated" in title
        await pilot.press("r")
        await wait_for(pilot, lambda: any(n.message == "Nothing to migrate." for n in pilot.app._notifications),
                       "nothing left to run")
    db = sorted(os.listdir(base / "db"))
    for target in ("full-20261001-0300.sql.gz", "full-20261002-0300.sql.gz", "full-20261003-0000.sql.gz",
                   "full-20261004-0300.sql.gz", "full-20261005-0300.sql.gz", "full-20261006-0300.sql.gz"):
        assert target in db and target + ".sha256" in db
    assert "full-20261004-0300.sql.gz.note" in db
    assert not (base / "crm-2026-10-01_0300.sql").exists() and (base / "fresh-export.sql").exists()


async def test_m_escape_goes_back_and_rescan_sees_new_files(tmp_path):
    root = tmp_path / "ui"
    app, expected = migrate_app(root)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_migrate(pilot)
        table = screen.query_one("#plan", DataTable)
        assert table.row_count == len(expected)
        put(root / "backups" / "late-2026-10-07_0300.sql", legacy_sql(seed=9, block_rows=20),
            time.mktime(time.strptime("20261007-0300", "%Y%m%d-%H%M")))
        await pilot.press("f5")
        await wait_for(pilot, lambda: table.row_count == len(expected) + 1, "the new file in the table")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(pilot.app.screen, MigrateScreen), "back to the dashboard")


# --- c: monthly checklist ---


async def test_c_run_shows_pass_and_fail_and_history_opens_the_report(tmp_path, mysql_server, crm_db):
    root = tmp_path / "ui"
    repo = init_restic_repo(tmp_path / "restic")
    uploads = make_uploads(tmp_path / "uploads", big_bytes=1 << 20)
    assert repo.run("backup", str(uploads)).returncode == 0
    app = build_app("empty", root=root, **db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db),
                    **repo.flags(uploads))
    base = root / "backups"
    for back in range(4, -1, -1):  # five real nightly dumps, the newest 7 h old
        if back < 4:
            sql(mysql_server, f"INSERT INTO users (email, name) VALUES ('n{back}@example.com', 'N{back}')",
                database=crm_db)
        finished, _ = await run(DumpJob(app.settings), clock_at(FIXED_NOW - 7 * HOUR - back * DAY))
        assert finished.ok, finished.error
    past_report(base, "202610", True, 42)
    # A pack file of the uploads is gone: restic check must fail, the other two pass.
    pack = max((p for p in (repo.path / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    pack.chmod(0o600)
    pack.unlink()

    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        screen = await wait_for(pilot, lambda: isinstance(pilot.app.screen, MonthlyScreen) and pilot.app.screen,
                                "the monthly screen")
        history = screen.query_one("#history", DataTable)
        await wait_for(pilot, lambda: history.row_count == 1, "the history")
        assert rows(history) == [["monthly-202610.md", "PASS", "42"]]
        chart = screen.query_one(SizeChart)
        assert len(chart.points) == 5 and not any(p.flagged for p in chart.points)

        await pilot.press("r")
        confirm = await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen) and pilot.app.screen,
                                 "the confirmation")
        assert confirm.lines[0].startswith("1. a random valid dump (not the newest)")
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.row is not None and screen.row.finished, "the monthly run", JOB_WAIT_S)
        error = await wait_for(pilot, lambda: isinstance(pilot.app.screen, ErrorScreen) and pilot.app.screen,
                               "the error modal of the failed item")
        await pilot.press("escape")
        await wait_for(pilot, lambda: pilot.app.screen is screen, "back on the monthly screen")
        assert error is not None

        items = str(screen.query_one("#items", Static).render()).splitlines()
        assert items[0].startswith("PASS  random dump validation: full-2026112")
        assert items[0].endswith(" imported: 5 tables")
        assert items[0].split(": ")[1].split()[0] != f"full-{stamp_at(7 * HOUR)}.sql.gz", "never the newest"
        assert items[1].startswith("PASS  dump size trend: ")
        assert items[2].startswith("FAIL  restic check: the repository has errors")
        assert job_text(screen).startswith("FAILED after ") and "monthly checklist: restic check" in job_text(screen)

        await wait_for(pilot, lambda: history.row_count == 2, "the new report in the history")
        assert rows(history)[0] == ["monthly-202611.md", "FAIL", str(int(FIXED_NOW))]
        await wait_for(pilot, lambda: history.has_focus or screen.focused is None, "the focus on the history")
        if not history.has_focus:
            await pilot.press("tab")
        await pilot.press("home", "enter")
        viewer = await wait_for(pilot, lambda: isinstance(pilot.app.screen, MarkdownScreen) and pilot.app.screen,
                                "the report viewer")
        assert viewer.title_text == f"Monthly report · {base / 'reports' / 'monthly-202611.md'}"
        assert f"seed {int(FIXED_NOW)}" in viewer.markdown and "overall: **FAIL**" in viewer.markdown
        assert f"pack {pack.name}: does not exist" in viewer.markdown
        await pilot.press("escape")
        await wait_for(pilot, lambda: pilot.app.screen is screen, "back from the report")
        history.move_cursor(row=1)
        await pilot.press("enter")
        viewer = await wait_for(pilot, lambda: isinstance(pilot.app.screen, MarkdownScreen) and pilot.app.screen,
                                "the older report")
        assert "monthly-202610.md" in viewer.title_text and "seed 42" in viewer.markdown


async def test_c_chart_marks_the_flagged_dumps(tmp_path):
    app = monthly_app(tmp_path / "ui")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_monthly(pilot)
        chart = screen.query_one(SizeChart)
        flagged = [p.name for p in chart.points if p.flagged]
        # 13 000 against 20 000 is −35 %; 31 000 against 20 000 is +55 %.
        assert flagged == [f"full-{stamp_at(7.5 * HOUR + back * DAY)}.sql.gz" for back in (5, 2)]
        lines = screen_text(pilot.app).splitlines()
        marks = [line for line in lines if "▲" in line and "audit" not in line]
        assert len(marks) == 1 and marks[0].count("▲") == 2
        # Each ▲ sits under the bar of its dump (one column per dump, oldest first).
        drawn = chart.render().plain.split("\n")
        assert [i for i, ch in enumerate(drawn[-2]) if ch == "▲"] == \
            [i for i, p in enumerate(chart.points) if p.flagged] == [8, 11]
        assert drawn[-1].startswith(f"{chart.points[0].name[5:18]} … {chart.points[-1].name[5:18]} · max 30.3 KiB")
        assert any("▲ = audit (change < −30 % or > +50 %" in line for line in lines)
        history = screen.query_one("#history", DataTable)
        assert rows(history) == [["monthly-202610.md", "FAIL", "42"], ["monthly-202609.md", "PASS", "11"]]


# --- snapshots ---


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_migration_dry_run(snap_compare, size):
    app, _ = migrate_app(snapshot_root(f"migrate-{size[0]}x{size[1]}"))

    async def dry_run(pilot):
        await open_migrate(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=dry_run)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_monthly_screen(snap_compare, size):
    app = monthly_app(snapshot_root(f"monthly-{size[0]}x{size[1]}"))

    async def shown(pilot):
        await open_monthly(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=shown)


async def test_m_shows_file_names_literally(tmp_path):
    """Legacy names and folders are the operator's: brackets are text, never markup."""
    root = tmp_path / "ui"
    odd = root / "old[" / "x]"  # the path holds `[/x]`, which markup would read as a closing tag
    app = build_app("healthy", root=root, legacy_paths=odd)
    put(root / "backups" / "crm-2024-05-01_0300[bold].sql", legacy_sql(block_rows=5),
        time.mktime(time.strptime("20240501-0300", "%Y%m%d-%H%M")))
    put(odd / "backup_20240502030000.sql", legacy_sql(block_rows=5),
        time.mktime(time.strptime("20240502-0300", "%Y%m%d-%H%M")))
    async with app.run_test(size=(200, 40)) as pilot:
        screen = await open_migrate(pilot)
        table = screen.query_one("#plan", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2, "both files")
        await pilot.pause()
        text = screen_text(pilot.app)
        assert "crm-2024-05-01_0300[bold].sql" in text
        assert "backup_20240502030000.sql" in text and str(odd) in text  # the name, then its folder
        assert not any(isinstance(s, ErrorScreen) for s in pilot.app.screen_stack)
