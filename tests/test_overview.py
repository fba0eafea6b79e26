"""Prefetch: the dashboard's first overview, collected in a forked child before the UI's imports, and
the first frame built from it."""

from __future__ import annotations

import os

import pytest
from ui_support import FIXED_NOW, HOST, build_settings, build_tree, fixed_clock, screen_text, wait_for

from opsbackup_tui.app import make_app
from opsbackup_tui.core.checks import CHECK_IDS, Status
from opsbackup_tui.core.overview import Prefetch, collect_overview
from opsbackup_tui.screens.dashboard import DashboardScreen

METRICS = b"# TYPE crm_up gauge\ncrm_up 1\n"


def reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.mark.parametrize("kind", ["healthy", "failing"])
def test_prefetch_gives_what_the_dashboard_would_collect(tmp_path, http_stub, kind):
    build_tree(tmp_path, kind, FIXED_NOW)
    http_stub.default = (200, METRICS, 0.0, {})
    settings = build_settings(tmp_path, metrics_url=http_stub.url + "/metrics")
    prefetch = Prefetch(settings, FIXED_NOW)
    pid = prefetch._pid
    overview = prefetch.take()
    expected = collect_overview(settings, FIXED_NOW)
    assert overview is not None
    got = {r.id: r for r in overview.results}
    want = {r.id: r for r in expected.results}
    metrics, want_metrics = got.pop("metrics"), want.pop("metrics")
    assert got == want
    assert (metrics.status, metrics.path) == (Status.OK, want_metrics.path)  # the detail holds the latency
    assert overview.sizes == expected.sizes and overview.sizes
    assert overview.busy == expected.busy
    assert len(http_stub.requests) == 2  # the child asked the metrics endpoint itself
    assert pid is not None and reaped(pid)


def test_prefetch_child_that_fails_gives_none(tmp_path):
    prefetch = Prefetch(object(), FIXED_NOW)  # not settings: the child dies in collect_overview
    pid = prefetch._pid
    assert prefetch.take() is None
    assert reaped(pid)


def test_prefetch_too_slow_gives_none_and_kills_the_child(tmp_path, http_stub):
    build_tree(tmp_path, "healthy", FIXED_NOW)
    # An endpoint far slower than the wait (a hung mount would look the same): had take() waited
    # for the answer, it would hold an overview.
    http_stub.default = (200, METRICS, 30.0, {})
    settings = build_settings(tmp_path, metrics_url=http_stub.url + "/metrics", metrics_timeout_s=60)
    prefetch = Prefetch(settings, FIXED_NOW)
    pid = prefetch._pid
    assert prefetch.take(timeout=0.3) is None
    assert reaped(pid)


def test_prefetch_result_shows_a_failing_check(tmp_path):
    build_tree(tmp_path, "failing", FIXED_NOW)
    overview = Prefetch(build_settings(tmp_path), FIXED_NOW).take()
    assert overview is not None
    assert any(r.status in (Status.FAIL, Status.FAILED) for r in overview.results)


# --- the dashboard's first frame ---


async def test_dashboard_first_frame_holds_the_prefetched_checklist(tmp_path):
    build_tree(tmp_path, "failing", FIXED_NOW)
    settings = build_settings(tmp_path)
    app = make_app(settings, clock=fixed_clock, host=HOST, prefetch=Prefetch(settings, FIXED_NOW))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        screen = app.screen
        # Composed from the prefetch: rows and headline are there before any refresh ran.
        assert [r.id for r in screen.results] == list(CHECK_IDS)
        assert not screen._refreshing
        await pilot.pause()
        text = screen_text(app)
        assert "overall: FAILED" in text or "overall: FAIL" in text
        assert "checking…" not in text


async def test_slow_checks_do_not_hold_the_first_frame_and_are_not_run_twice(tmp_path, http_stub):
    build_tree(tmp_path, "healthy", FIXED_NOW)
    http_stub.default = (200, METRICS, 2.0, {})  # a metrics endpoint that takes its time
    settings = build_settings(tmp_path, metrics_url=http_stub.url + "/metrics")
    app = make_app(settings, clock=fixed_clock, host=HOST, prefetch=Prefetch(settings, FIXED_NOW))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        screen = app.screen
        await pilot.pause()
        assert not screen.results and "checking…" in screen_text(app)
        await wait_for(pilot, lambda: screen.results and not screen._refreshing, "the checklist")
        assert {r.id: r.status for r in screen.results}["metrics"] is Status.OK
        assert "overall: OK" in screen_text(app)
    # The first refresh took the prefetch's result over instead of asking the endpoint again.
    assert len(http_stub.requests) == 1
