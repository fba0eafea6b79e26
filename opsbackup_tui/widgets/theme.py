"""Theme variables as colours Rich accepts, for Text styles built in Python."""

from __future__ import annotations

from textual.color import Color, ColorParseError


def theme_colour(variables: dict[str, str], name: str, default: str = "") -> str:
    """`variables[name]` as #rrggbb. Some theme colours carry alpha (foreground-muted is #E0E0E099):
    Rich rejects those and silently drops the whole style, so they are blended onto the background."""
    value = variables.get(name)
    if not value:
        return default
    try:
        colour = Color.parse(value)
        if colour.a < 1:
            colour = Color.parse(variables.get("background", "#000000")) + colour
    except ColorParseError:
        return default
    return colour.hex6
