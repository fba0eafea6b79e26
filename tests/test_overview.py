"""Prefetch: the dashboard's first overview, collected in a forked child before the UI's imports."""

from __future__ import annotations

import os

import pytest

from opsbackup_tui.core.checks import Status
from opsbackup_tui.core.overview import Prefetch, collect_overview
from ui_support import FIXED_NOW, build_settings, build_tree

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
