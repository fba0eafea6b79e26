"""The keys of the screen, all of them: a footer that wraps to a second line on a narrow terminal
instead of cutting the list off (at 80×24 Textual's Footer stopped at the sixth key)."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { height: auto; background: $footer-background; color: $footer-foreground; padding: 0 1; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh(layout=True))

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _keys(self) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.show and active.enabled and binding.description and binding.description not in seen.values():
                seen[self.app.get_key_display(binding)] = binding.description
        return list(seen.items())

    def _lines(self, width: int) -> list[Text]:
        """The keys packed into lines of `width`, never splitting one key from its label."""
        lines = [Text()]
        for key, what in self._keys():
            entry = Text.assemble((f" {key} ", "bold reverse"), f" {what}  ")
            if lines[-1].cell_len and lines[-1].cell_len + entry.cell_len > width:
                lines.append(Text())
            lines[-1].append_text(entry)
        return lines

    def render(self) -> Text:
        return Text("\n").join(self._lines(max(1, self.size.width)))

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self._lines(max(1, width)))
