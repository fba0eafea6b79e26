"""The fleet screen (f) over the session's real Prometheus, driven by keys: worst first, a stopped
host shown as such, Enter opens a host's checks, refreshes that never overlap, errors that say what
is wrong; snapshots at 120×40 and 80×24."""

from __future__ import annotations

import pytest
from jobs_support import free_port
from test_ui_snapshots import SIZE_IDS, snapshot_app, stable_host  # noqa: F401 - stable_host: autouse here too
from ui_support import SIZES, build_app, screen_text, settle, wait_for

from opsbackup_tui.screens.dashboard import DashboardScreen
from opsbackup_tui.screens.fleet import FleetScreen, HostScreen


async def open_fleet(pilot) -> FleetScreen:
    await settle(pilot)
    await pilot.press("f")
    screen = await wait_for(pilot, lambda: isinstance(pilot.app.screen, FleetScreen) and pilot.app.screen,
                            "the fleet screen")
    await wait_for(pilot, lambda: not screen.loading and "asking Prometheus" not in screen_text(pilot.app),
                   "the first refresh")
    return screen


async def test_fleet_worst_first_and_a_host_by_enter(fleet, tmp_path):
    app = build_app("healthy", root=tmp_path / "ui", prometheus_url=fleet.url)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_fleet(pilot)
        assert [h.site for h in screen.fleet.hosts] == ["crm-charlie", "crm-bravo", "crm-delta", "crm-alpha"]
        text = screen_text(app)
        assert "STOPPED 3 h" in text and "STALE db_dump" in text and "WARN" in text
        assert "4 host(s), worst first; 1 not reporting." in text
        await pilot.press("down", "enter")
        host = await wait_for(pilot, lambda: isinstance(app.screen, HostScreen) and app.screen, "the host screen")
        assert host.host.site == "crm-bravo"
        await wait_for(pilot, lambda: "uploads_snapshot" in screen_text(app), "the host's checks")
        text = screen_text(app)
        assert "worst: STALE db_dump" in text and "STALE" in text and fleet.hosts["crm-bravo"].target in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen), "back to the fleet")
        await pilot.press("up", "enter")
        host = await wait_for(pilot, lambda: isinstance(app.screen, HostScreen) and app.screen, "the stopped host")
        assert host.host.site == "crm-charlie"
        assert "it STOPPED updating, these figures are old" in screen_text(app)
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")


async def test_the_next_refresh_is_scheduled_when_one_ends(fleet, tmp_path):
    app = build_app("healthy", root=tmp_path / "ui", prometheus_url=fleet.url, refresh_s=1)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_fleet(pilot)
        first = screen.fleet
        await wait_for(pilot, lambda: screen.fleet is not first, "a second refresh")
        assert screen.fleet.evaluated_at > first.evaluated_at


async def test_refreshes_never_overlap(tmp_path, http_stub):
    http_stub.default = (200, b"<html>slow and not Prometheus</html>", 2.0, {})
    app = build_app("healthy", root=tmp_path / "ui", prometheus_url=http_stub.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, FleetScreen) and app.screen, "the fleet")
        assert screen.loading
        await pilot.press("f5", "f5", "ctrl+r")  # while one refresh runs, no other starts
        await wait_for(pilot, lambda: not screen.loading, "the refresh")
        assert len(http_stub.requests) == 1
        assert "something that is not the Prometheus API" in " ".join(screen_text(app).split())


async def test_a_server_that_is_down_is_said_and_tried_again(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    app = build_app("healthy", root=tmp_path / "ui", prometheus_url=url, refresh_s=1)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_fleet(pilot)
        text = " ".join(screen_text(app).split())  # the message wraps
        assert f"cannot reach Prometheus at {url}: connection refused" in text
        assert "Trying again in 1 s (F5 now)." in text
        assert screen.fleet is None
        await wait_for(pilot, lambda: screen.loading, "the next try")


async def test_no_f_without_a_prometheus_server(tmp_path):
    app = build_app("healthy", root=tmp_path / "ui")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert " Fleet " not in screen_text(app)
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_f_is_in_the_footer_with_a_server(fleet, tmp_path):
    app = build_app("healthy", root=tmp_path / "ui", prometheus_url=fleet.url)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        # The key bar: the last lines (it wraps rather than cut a key off).
        await wait_for(pilot, lambda: "Fleet" in "".join(screen_text(app).splitlines()[-2:]), "f in the key bar")


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_fleet_snapshot(snap_compare, fleet, size):
    fleet.as_built()
    app = snapshot_app("fleet", "healthy", size, prometheus_url=fleet.url)

    async def show(pilot):
        await open_fleet(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=show)
