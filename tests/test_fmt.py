"""Formatting helpers used in every detail line."""

from __future__ import annotations

import pytest

from opsbackup_tui.core.fmt import age_words, one_line, size_words


@pytest.mark.parametrize("seconds,words", [
    (None, "-"), (0, "0 s"), (59.9, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h"),
    (5 * 3600 + 12 * 60, "5 h 12 min"), (26 * 3600 + 5 * 60, "26 h"), (47 * 3600, "47 h"),
    (48 * 3600, "2 d"), (49 * 3600, "2 d 1 h"), (8 * 86400, "8 d"),
    (-90, "1 min in the future"), (-3 * 86400, "3 d in the future"),
])
def test_age_words(seconds, words):
    assert age_words(seconds) == words


@pytest.mark.parametrize("size,words", [
    (None, "-"), (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (7_500_000, "7.2 MiB"), (3 * 1024 ** 3, "3.0 GiB"), (5 * 1024 ** 4, "5120.0 GiB"),
])
def test_size_words(size, words):
    assert size_words(size) == words


def test_one_line():
    assert one_line("a\nb\t c\r\n  d") == "a b c d"
    long = one_line("x" * 500, 100)
    assert len(long) == 100 and long.endswith("…")
    assert one_line("") == ""
