"""Dump size trend (runbook §8): each dump against the median of the previous 7."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

WINDOW = 7
MIN_HISTORY = 3  # fewer previous dumps than this: no comparison (too little to call a trend)
LOW = -30.0  # a change below this (strictly) flags an audit
HIGH = 50.0  # a change above this (strictly) flags an audit


@dataclass(frozen=True)
class SizePoint:
    name: str
    size: int
    median_prev: float | None  # None for the first dumps, which have too little history
    change_pct: float | None

    @property
    def flagged(self) -> bool:
        """Exactly −30 % and +50 % are still normal: only a change beyond them flags an audit."""
        return self.change_pct is not None and (self.change_pct < LOW or self.change_pct > HIGH)


def size_trend(dumps: list[tuple[str, int]]) -> list[SizePoint]:
    """`dumps` oldest first; each compared with the median of the (up to 7, at least 3) dumps before it."""
    points = []
    for index, (name, size) in enumerate(dumps):
        previous = [s for _, s in dumps[max(0, index - WINDOW):index]]
        if len(previous) >= MIN_HISTORY:
            mid = float(median(previous))
            change = 100.0 * (size - mid) / mid if mid else None
        else:
            mid, change = None, None
        points.append(SizePoint(name, size, mid, change))
    return points
