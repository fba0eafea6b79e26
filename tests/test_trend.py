"""The dump-size trend rule (runbook §8): each dump against the median of the previous 7; a change
strictly below −30 % or strictly above +50 % flags an audit. Exactly −30 % and exactly +50 % are
still normal (not flagged); −30.01 % and +50.01 % are flagged."""

from __future__ import annotations

import pytest

from opsbackup_tui.core.trend import HIGH, LOW, MIN_HISTORY, WINDOW, SizePoint, size_trend


def series(*sizes: int) -> list[tuple[str, int]]:
    return [(f"full-202611{day:02d}-0200.sql.gz", size) for day, size in enumerate(sizes, start=1)]


def last(*sizes: int) -> SizePoint:
    return size_trend(series(*sizes))[-1]


def test_the_rule_constants():
    assert (WINDOW, MIN_HISTORY, LOW, HIGH) == (7, 3, -30.0, 50.0)


@pytest.mark.parametrize("size, change, flagged", [
    (7000, -30.0, False),     # exactly −30 %: inside, not flagged
    (6999, -30.01, True),     # −30.01 %: below, flagged
    (15000, 50.0, False),     # exactly +50 %: inside, not flagged
    (15001, 50.01, True),     # +50.01 %: above, flagged
    (10000, 0.0, False),
    (0, -100.0, True),        # an empty dump
])
def test_boundaries_against_a_flat_history(size, change, flagged):
    point = last(*[10000] * 7, size)
    assert point.median_prev == 10000.0
    assert point.change_pct == pytest.approx(change, abs=1e-9)
    assert point.flagged is flagged


def test_exact_boundaries_are_exact_not_rounded():
    """The percentages at the boundaries come out exactly as −30.0 and 50.0 (no float drift that
    would flag a dump sitting right on the line), also with an odd median."""
    assert last(*[10000] * 7, 7000).change_pct == -30.0
    assert last(*[10000] * 7, 15000).change_pct == 50.0
    # median of (100, 200, 300, 400) = 250: 175 is −30 %, 375 is +50 %
    assert last(100, 200, 300, 400, 175).change_pct == -30.0
    assert not last(100, 200, 300, 400, 175).flagged
    assert last(100, 200, 300, 400, 375).change_pct == 50.0
    assert not last(100, 200, 300, 400, 375).flagged
    assert last(100, 200, 300, 400, 174).flagged and last(100, 200, 300, 400, 376).flagged


def test_too_little_history_is_never_flagged():
    points = size_trend(series(100, 1, 100000, 100))
    assert [p.change_pct is None for p in points] == [True, True, True, False]
    assert [p.median_prev for p in points[:MIN_HISTORY]] == [None] * MIN_HISTORY
    assert not any(p.flagged for p in points[:MIN_HISTORY])
    assert points[3].median_prev == 100.0  # median of (100, 1, 100000)


def test_only_the_previous_seven_count():
    """A huge dump 8 places back is out of the window; one 7 places back is in it (but the median
    shrugs off one outlier)."""
    points = size_trend(series(10**9, *[10000] * 7, 10000))
    assert points[-1].median_prev == 10000.0 and not points[-1].flagged
    points = size_trend(series(*[1000] * 4, *[10000] * 4, 15001))
    assert points[-1].median_prev == 10000.0  # previous 7: 1000 ×3, 10000 ×4
    assert points[-1].flagged
    points = size_trend(series(*[1000] * 4, *[10000] * 3, 15001))
    assert points[-1].median_prev == 1000.0  # previous 7: 1000 ×4, 10000 ×3
    assert points[-1].flagged and points[-1].change_pct == pytest.approx(1400.1)


def test_each_point_uses_its_own_history_oldest_first():
    sizes = [10000] * 7 + [7000, 15000, 6999, 15001]
    points = size_trend(series(*sizes))
    assert [p.size for p in points] == sizes
    assert [p.flagged for p in points[7:]] == [False, False, True, True]
    # After 7000 and 15000 joined the history the median is still 10000.
    assert [p.median_prev for p in points[7:]] == [10000.0] * 4


def test_zero_median_gives_no_change():
    point = last(0, 0, 0, 500)
    assert point.median_prev == 0.0 and point.change_pct is None and not point.flagged


def test_empty():
    assert size_trend([]) == []
