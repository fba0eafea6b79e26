"""Snapshots of every step of the DR wizard at 120×40 and 80×24, driven by keys for real (the import
runs into the real MariaDB): step 1 with a corrupt newest dump, step 2 checked (new target; a
non-empty one needing its name), step 3 before and after the import, step 4's comparison, step 5's
diff and after the switch, step 6 after the post-audit, and the question before leaving.

Deterministic by construction: a fixed clock (FIXED_NOW) and host, dates read in UTC, the tree and
the CRM .env at fixed paths under /tmp/opsbackup-snapshots (paths are on screen) recreated by each
test, hand-made dumps with fixed bytes, one fixed scratch database name (dropped before and after),
the import's transfer rate and the jobs' measured durations left out. Update with
`pytest tests/test_dr_snapshots.py --snapshot-update` and look at the SVGs.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import time

import pytest
from dr_support import (
    Keys,
    crm_sql,
    flip_byte,
    hand_dump,
    hint,
    on_step,
    result,
    result_says,
    wait_for,
    write_crm_env,
    write_verify_log,
)
from jobs_support import sql
from treeutil import set_age
from ui_support import (
    FIXED_NOW,
    HOST,
    SNAPSHOT_ROOT,
    build_settings,
    db_flags,
    fixed_clock,
    screen_text,
    settle,
    snapshot_root,
)

from opsbackup_tui.app import make_app
from opsbackup_tui.core.plain import format_progress
from opsbackup_tui.screens.confirm import ConfirmScreen
from opsbackup_tui.screens.dr.audit import AuditScreen
from opsbackup_tui.screens.dr.importing import ImportScreen
from opsbackup_tui.screens.dr.pick import PickDumpScreen
from opsbackup_tui.screens.dr.switch import SwitchScreen
from opsbackup_tui.screens.dr.target import TargetScreen
from opsbackup_tui.screens.dr.verify import VerifyScreen
from opsbackup_tui.widgets import jobs as jobs_widget

SIZE = (120, 40)
TARGET_DB = "opsb_snap_restore"  # the one scratch database these snapshots restore into
HOUR, DAY = 3600, 86400


@pytest.fixture(autouse=True)
def one_at_a_time():
    """Fixed paths and a fixed database name: another run of these tests on this host (another
    checkout, a parallel suite) waits for this one instead of dropping its database under it."""
    SNAPSHOT_ROOT.mkdir(parents=True, exist_ok=True)
    with open(SNAPSHOT_ROOT / ".dr-snapshots.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(autouse=True)
def stable_host(monkeypatch):
    """Dates in UTC; the import's last progress line without its transfer rate (a measured speed)."""
    old_tz = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    monkeypatch.setattr("opsbackup_tui.widgets.jobs.format_progress",
                        lambda event: format_progress(dataclasses.replace(event, rate=None)))
    finished_words = jobs_widget.finished_words
    monkeypatch.setattr("opsbackup_tui.widgets.jobs.finished_words",
                        lambda event: finished_words(dataclasses.replace(event, duration_s=0.0)))
    try:
        yield
    finally:
        if old_tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old_tz
        time.tzset()


@pytest.fixture
def target_db(mysql_server):
    """TARGET_DB absent before the test (a crashed run's leftover is dropped) and after it."""
    sql(mysql_server, f"DROP DATABASE IF EXISTS `{TARGET_DB}`")
    yield TARGET_DB
    sql(mysql_server, f"DROP DATABASE IF EXISTS `{TARGET_DB}`")


def dr_app(name: str, server, *, corrupt_newest: bool = True, size=SIZE):
    """The app over a fixed tree: three nightly dumps (the newest corrupt unless told otherwise), a
    verify log of the middle one, a note on the oldest, and a CRM .env."""
    root = snapshot_root(f"dr-{name}-{size[0]}x{size[1]}")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    base = root / "backups"
    hand_dump(base, "20261124-0200", crm_sql(users=2), age_s=2 * DAY + 7.5 * HOUR, now=FIXED_NOW)
    (base / "db" / "full-20261124-0200.sql.gz.note").write_text("migrated from crm-2026-11-24.sql\n")
    hand_dump(base, "20261125-0200", crm_sql(), age_s=DAY + 7.5 * HOUR, now=FIXED_NOW)
    write_verify_log(base, "20261125-0300", "full-20261125-0200.sql.gz", 3,
                     {"users": 3, "contacts": 5, "opportunities": 4})
    set_age(base / "verify" / "verify-20261125-0300.log", DAY + 6.5 * HOUR, FIXED_NOW)
    if corrupt_newest:
        newest = hand_dump(base, "20261126-0200", crm_sql(users=4), age_s=7.5 * HOUR, now=FIXED_NOW)
        flip_byte(newest)
    crm_env = root / "crm" / ".env"
    write_crm_env(crm_env, host="10.0.0.9", database="crm")
    settings = build_settings(root, **db_flags(server, root / "secrets", db_name="crm", crm_env=crm_env,
                                               reload_command="true"))
    return make_app(settings, clock=fixed_clock, host=HOST)


async def painted(pilot, text: str) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), f"{text!r} on screen")


SIZES = pytest.mark.parametrize("size", [SIZE, (80, 24)], ids=["120x40", "80x24"])


async def step1(pilot) -> PickDumpScreen:
    await settle(pilot)
    await Keys(pilot)("R")
    pick = await on_step(pilot, PickDumpScreen)
    await wait_for(pilot, lambda: "restore from" in hint(pick), "the default dump")
    return pick


async def step2(pilot, database: str = TARGET_DB) -> TargetScreen:
    keys = Keys(pilot)
    await keys.enter_when(await step1(pilot), "restore from")
    screen = await on_step(pilot, TargetScreen)
    await keys.retype(database)
    await keys.enter_when(screen, "check the target")
    return screen


async def step3(pilot) -> ImportScreen:
    keys = Keys(pilot)
    screen = await step2(pilot)
    await keys.enter_when(screen, "create `")
    await keys.enter_when(screen, "restore into `")
    return await on_step(pilot, ImportScreen)


async def step4(pilot) -> VerifyScreen:
    keys = Keys(pilot)
    screen = await step3(pilot)
    await keys.enter_when(screen, "import into")
    await result_says(pilot, screen, "imported:")
    await keys.enter_when(screen, "next")
    screen = await on_step(pilot, VerifyScreen)
    await result_says(pilot, screen, "matches")
    return screen


async def step5(pilot) -> SwitchScreen:
    await Keys(pilot).enter_when(await step4(pilot), "next")
    screen = await on_step(pilot, SwitchScreen)
    await wait_for(pilot, lambda: "write the new .env" in hint(screen), "the diff")
    return screen


@SIZES
def test_step1_pick_the_dump(snap_compare, mysql_server, size):
    async def run(pilot):
        pick = await step1(pilot)
        await result_says(pilot, pick, "full-20261125-0200.sql.gz: sha256 OK")
        await painted(pilot, "MISMATCH")

    assert snap_compare(dr_app("pick", mysql_server, size=size), terminal_size=size, run_before=run)


@SIZES
def test_step1_a_corrupt_dump_highlighted(snap_compare, mysql_server, size):
    async def run(pilot):
        pick = await step1(pilot)
        await Keys(pilot)("up")
        await result_says(pilot, pick, "this dump cannot be picked")
        await painted(pilot, "cannot be picked")

    assert snap_compare(dr_app("pick-corrupt", mysql_server, size=size), terminal_size=size, run_before=run)


@SIZES
def test_step2_target_checked(snap_compare, mysql_server, target_db, size):
    async def run(pilot):
        screen = await step2(pilot)
        await result_says(pilot, screen, "does not exist")
        await painted(pilot, "⏎ creates it")  # the verdict stays in view at 80x24

    assert snap_compare(dr_app("target", mysql_server, size=size), terminal_size=size, run_before=run)


@SIZES
def test_step2_a_non_empty_target_needs_its_name(snap_compare, mysql_server, target_db, size):
    sql(mysql_server, f"CREATE DATABASE `{target_db}`", f"CREATE TABLE `{target_db}`.keepme (id INT)")

    async def run(pilot):
        screen = await step2(pilot)
        await result_says(pilot, screen, "not empty (1 tables)")
        await painted(pilot, "exactly, then ⏎")

    assert snap_compare(dr_app("target-non-empty", mysql_server, size=size), terminal_size=size, run_before=run)


@SIZES
def test_step3_import_planned(snap_compare, mysql_server, target_db, size):
    async def run(pilot):
        await step3(pilot)
        await painted(pilot, "import into")

    assert snap_compare(dr_app("import-plan", mysql_server, size=size), terminal_size=size, run_before=run)


@SIZES
def test_step3_imported(snap_compare, mysql_server, target_db, size):
    async def run(pilot):
        screen = await step3(pilot)
        await Keys(pilot).enter_when(screen, "import into")
        await result_says(pilot, screen, "imported:")
        await painted(pilot, "next: verify")

    assert snap_compare(dr_app("imported", mysql_server, size=size), terminal_size=size, run_before=run)


@SIZES
def test_step4_verify_against_the_verify_log(snap_compare, mysql_server, target_db, size):
    async def run(pilot):
        await step4(pilot)
        await painted(pilot, "Compared with verify-20261125-0300.log")

    assert snap_compare(dr_app("verify", mysql_server, size=size), terminal_size=size, run_before=run)


@SIZES
def test_step5_the_env_diff(snap_compare, mysql_server, target_db, size):
    async def run(pilot):
        await step5(pilot)
        await painted(pilot, "DB_DATABASE crm → opsb_snap_restore")

    assert snap_compare(dr_app("switch", mysql_server, size=size), terminal_size=size, run_before=run)


@SIZES
def test_step5_switched_and_reloaded(snap_compare, mysql_server, target_db, size):
    async def run(pilot):
        keys = Keys(pilot)
        screen = await step5(pilot)
        await keys("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        await keys("y")
        await result_says(pilot, screen, "written; the old file is kept as")
        await keys.enter_when(screen, "run true")
        await result_says(pilot, screen, "reload command exited 0")
        await painted(pilot, "(no output)")  # the reload's output is scrolled into view

    app = dr_app("switched", mysql_server, size=size)
    assert snap_compare(app, terminal_size=size, run_before=run)
    assert (app.settings.crm_env.parent / ".env.bak-20261126-093000").is_file()


@SIZES
def test_step6_post_audit(snap_compare, mysql_server, target_db, size):
    async def run(pilot):
        keys = Keys(pilot)
        await keys.enter_when(await step5(pilot), "write the new .env")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
        await keys("y")
        switch = await on_step(pilot, SwitchScreen)
        await keys.enter_when(switch, "run true")
        await keys.enter_when(switch, "next")
        screen = await on_step(pilot, AuditScreen)
        await keys.enter_when(screen, "run the verify restore")
        # A failed verify here fails the wait, not the picture: another process's verify job on the same
        # server sweeps verify_* databases it takes for crashed runs' leftovers.
        await wait_for(pilot, lambda: "lines imported)" in result(screen), "the verify restore's success")
        await painted(pilot, "finish the DR session")

    assert snap_compare(dr_app("audit", mysql_server, corrupt_newest=False, size=size), terminal_size=size,
                        run_before=run)


@SIZES
def test_leaving_asks_first(snap_compare, mysql_server, size):
    async def run(pilot):
        await step1(pilot)
        await Keys(pilot)("escape")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the question")
        await painted(pilot, "Leave the DR wizard?")

    assert snap_compare(dr_app("leave", mysql_server, size=size), terminal_size=size, run_before=run)
