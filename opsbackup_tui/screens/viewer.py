"""A Markdown document full-screen: the report and the runbook help. `q` and escape go back; `t`
lists the headings (enter jumps to one)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from ..widgets.document import Document


class MarkdownScreen(Screen[None]):
    DEFAULT_CSS = """
    MarkdownScreen > .title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    MarkdownScreen { layers: base contents; }
    MarkdownScreen Document { height: 1fr; width: 1fr; }
    /* Over the document, not beside it: the document keeps its width (no second rendering). */
    MarkdownScreen #contents { display: none; layer: contents; position: absolute; offset: 0 1;
                               width: 36; max-height: 80%; border: round $accent; }
    MarkdownScreen.-contents #contents { display: block; }
    """
    BINDINGS = [Binding("escape,q", "close", "Back"), Binding("t", "toggle_contents", "Contents")]

    def __init__(self, title: str, markdown: str) -> None:
        super().__init__()
        self.title_text, self.markdown = title, markdown

    def compose(self) -> ComposeResult:
        yield Static(Text(self.title_text), classes="title")
        yield Document(self.markdown, width_hint=self.app.size.width)
        yield OptionList(id="contents")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Document).focus()

    def on_resize(self) -> None:
        # One line: a long title (a report's path) keeps its start and its end, cut in the middle.
        room = self.size.width - 2
        title = self.title_text
        if len(title) > room > 20:
            title = title[:12] + "…" + title[len(title) - (room - 13):]
        self.query_one(".title", Static).update(Text(title, no_wrap=True, overflow="ellipsis"))

    def on_document_ready(self, message: Document.Ready) -> None:
        contents = self.query_one(OptionList)
        contents.clear_options()
        contents.add_options(Option(Text("  " * (h.level - 1) + h.title, overflow="ellipsis", no_wrap=True),
                                    id=str(h.line)) for h in message.document.rendered.headings)

    def action_toggle_contents(self) -> None:
        showing = not self.has_class("-contents")
        self.set_class(showing, "-contents")
        (self.query_one(OptionList) if showing else self.query_one(Document)).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        document = self.query_one(Document)
        document.scroll_to_line(int(event.option.id or 0))
        self.remove_class("-contents")
        document.focus()

    def action_close(self) -> None:
        self.dismiss(None)
