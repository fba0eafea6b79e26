"""Dump sizes over time as a bar chart, with the trend audit's flagged dumps marked."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ..core.fmt import size_words
from ..core.trend import SizePoint

BLOCKS = " ▁▂▃▄▅▆▇█"


class SizeChart(Widget):
    DEFAULT_CSS = """
    SizeChart { height: 8; padding: 0 1; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.points: list[SizePoint] = []

    def set_points(self, points: list[SizePoint]) -> None:
        self.points = points
        self.refresh()

    def render(self) -> Text:
        width = max(1, self.size.width - 2)
        points = self.points[-width:]
        if not points:
            return Text("no dumps", style="dim")
        variables = self.app.get_css_variables()
        normal, flagged = variables.get("primary", "blue"), variables.get("error", "red")
        top = max(p.size for p in points) or 1
        rows = max(1, self.size.height - 2)
        out = Text()
        for level in range(rows, 0, -1):
            for p in points:
                filled = p.size / top * rows
                cell = "█" if filled >= level else BLOCKS[int((filled - level + 1) * 8)] if filled > level - 1 else " "
                out.append(cell, style=flagged if p.flagged else normal)
            out.append("\n")
        out.append("".join("▲" if p.flagged else " " for p in points), style=f"bold {flagged}")
        out.append(f"\n{points[0].name[5:18]} … {points[-1].name[5:18]} · max {size_words(top)}"
                   f" · ▲ = audit (change < −30 % or > +50 % against the median of the previous 7)", style="dim")
        return out
