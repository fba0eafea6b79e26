"""A Markdown document full-screen: the report and the runbook help."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, MarkdownViewer, Static


class MarkdownScreen(Screen[None]):
    DEFAULT_CSS = """
    MarkdownScreen > .title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    MarkdownScreen MarkdownViewer { height: 1fr; }
    """
    BINDINGS = [Binding("escape,q", "close", "Back"), Binding("t", "toggle_toc", "Contents")]

    def __init__(self, title: str, markdown: str, toc: bool = False) -> None:
        super().__init__()
        self.title_text, self.markdown, self.toc = title, markdown, toc

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, classes="title", markup=False)
        yield MarkdownViewer(self.markdown, show_table_of_contents=self.toc, open_links=False)
        yield Footer()

    def action_toggle_toc(self) -> None:
        viewer = self.query_one(MarkdownViewer)
        viewer.show_table_of_contents = not viewer.show_table_of_contents

    def action_close(self) -> None:
        self.dismiss(None)
