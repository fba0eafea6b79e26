"""A Markdown document drawn as lines: the help and the report viewer.

Textual's MarkdownViewer makes a widget of every block and of every table cell (the help's
settings table alone is some 150 cells in a grid layout): the help took 1.3–1.5 s to open. Here
the Markdown is parsed and rendered with Rich in a thread, at the widget's width, into strips
that one ScrollView draws line by line (as Log does); the strips are kept per width, so opening
the same document again, or going back to a width seen before, costs nothing. Tables keep every
character: a cell wraps, or folds a word longer than its column, and never ends in an ellipsis.
Control characters in the text (a report is a file) are shown, never obeyed (fmt.printable).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..core.fmt import printable
from .theme import theme_colour

CACHE_SIZE = 8  # rendered (document, width, palette) kept: the help at two widths, a few reports
INLINE_LIMIT = 32 * 1024  # a document up to this size renders at once (the help: ~40 ms); larger, in a thread


@dataclass(frozen=True)
class Palette:
    """The theme colours a rendering uses, as #rrggbb (read on the UI thread, used in the worker)."""

    heading: str
    code: str
    muted: str
    rule: str

    @classmethod
    def from_variables(cls, variables: dict[str, str]) -> "Palette":
        return cls(theme_colour(variables, "accent", "cyan"), theme_colour(variables, "warning", "yellow"),
                   theme_colour(variables, "foreground-muted", "grey70"), theme_colour(variables, "panel-lighten-2",
                                                                                       "grey35"))


@dataclass(frozen=True)
class Heading:
    level: int
    title: str
    line: int  # where it starts in the rendered lines


@dataclass(frozen=True)
class Rendered:
    width: int
    lines: list[Strip]
    headings: list[Heading]


GAP = 2  # cells between two table columns


class _Layout:
    """Markdown (markdown-it's tree) into lines of Rich Text at one width. Its own small layout
    (wrap, hanging indents, table columns) rather than Rich's Table and Padding, whose measuring
    of every cell cost the help most of its time."""

    def __init__(self, palette: Palette, console: Console) -> None:
        self.console = console
        self.code = Style.parse(palette.code)
        self.heading_style = Style.parse(f"bold {palette.heading}")
        self.muted = Style.parse(palette.muted)
        self.rule = Style.parse(palette.rule)

    def inline(self, node, text: Text | None = None, style: Style | None = None) -> Text:
        text = Text(end="") if text is None else text
        style = style or Style()
        for child in node.children:
            kind = child.type
            if kind == "text":
                text.append(child.content, style)
            elif kind == "code_inline":
                text.append(child.content, style + self.code)
            elif kind == "strong":
                self.inline(child, text, style + Style(bold=True))
            elif kind == "em":
                self.inline(child, text, style + Style(italic=True))
            elif kind == "s":
                self.inline(child, text, style + Style(strike=True))
            elif kind == "softbreak":
                text.append(" ", style)
            elif kind == "hardbreak":
                text.append("\n", style)
            elif kind == "link":
                start = len(text)
                self.inline(child, text, style + Style(underline=True))
                href = child.attrs.get("href", "")
                if href and href != text.plain[start:]:
                    text.append(f" ({href})", style)
            elif child.children:
                self.inline(child, text, style)
            else:
                text.append(child.content, style)
        return text

    def wrap(self, text: Text, width: int) -> list[Text]:
        if text.cell_len <= width and "\n" not in text.plain:
            return [text]
        return list(text.wrap(self.console, max(1, width), overflow="fold"))

    def block(self, node, width: int) -> list[Text]:
        kind = node.type
        if kind == "heading":
            style = self.heading_style + Style(underline=node.tag == "h1")
            return self.wrap(self.inline(node.children[0], style=style), width)
        if kind == "paragraph":
            return self.wrap(self.inline(node.children[0]), width) if node.children else [Text()]
        if kind in ("bullet_list", "ordered_list"):
            return self.list(node, width)
        if kind == "table":
            return self.table(node, width)
        if kind in ("fence", "code_block"):
            lines = node.content.rstrip("\n").split("\n")
            return self.indent([part for line in lines for part in self.wrap(Text(line, self.code), width - 2)],
                               "  ", "  ")
        if kind == "hr":
            return [Text("─" * width, self.rule)]
        if kind == "blockquote":
            return self.indent(self.blocks(node, width - 2), "▌ ", "▌ ")
        return self.wrap(Text(node.content.rstrip("\n")), width)

    def blocks(self, node, width: int, blank: bool = True) -> list[Text]:
        out: list[Text] = []
        for child in node.children:
            if out and blank:
                out.append(Text())
            out += self.block(child, width)
        return out

    def indent(self, lines: list[Text], first: str, rest: str) -> list[Text]:
        out = []
        for index, line in enumerate(lines):
            head = Text(first if index == 0 else rest, self.muted)
            head.append_text(line)
            out.append(head)
        return out

    def list(self, node, width: int) -> list[Text]:
        start = int(node.attrs.get("start", 1))
        marks = [f"{start + i}." if node.type == "ordered_list" else "•" for i in range(len(node.children))]
        room = max(len(mark) for mark in marks) + 1 if marks else 2
        out: list[Text] = []
        for mark, item in zip(marks, node.children):
            lines = self.blocks(item, width - room, blank=False) or [Text()]
            out += self.indent(lines, mark.ljust(room), " " * room)
        return out

    def table(self, node, width: int) -> list[Text]:
        rows = [tr for part in node.children for tr in part.children]
        has_head = bool(node.children) and node.children[0].type == "thead"
        cells = [[self.inline(cell.children[0]) if cell.children else Text() for cell in tr.children] for tr in rows]
        if not cells:
            return []
        columns = max(len(row) for row in cells)
        for row in cells:
            row += [Text()] * (columns - len(row))
        widths = column_widths(cells, width - GAP * (columns - 1))
        if widths is None:
            return self.records(cells if has_head else [[Text(f"{c + 1}") for c in range(columns)], *cells], width)
        if has_head:
            for cell in cells[0]:
                cell.stylize(self.heading_style)
        out: list[Text] = []
        for number, row in enumerate(cells):
            parts = [self.wrap(cell, w) for cell, w in zip(row, widths)]
            for index in range(max(len(p) for p in parts)):
                line = Text(end="")
                for column, (part, w) in enumerate(zip(parts, widths)):
                    piece = part[index].copy() if index < len(part) else Text()
                    if column < columns - 1:
                        piece.pad_right(w + GAP - piece.cell_len)
                    line.append_text(piece)
                out.append(line)
            if number == 0 and has_head:
                out.append(Text("─" * (sum(widths) + GAP * (columns - 1)), self.rule))
        return out

    def records(self, cells: list[list[Text]], width: int) -> list[Text]:
        """A table too wide for its words, one record per row: the first cell as its title, then
        `header: value` for the others, wrapped under themselves."""
        head, body = cells[0], cells[1:]
        out: list[Text] = []
        for row in body:
            if out:
                out.append(Text("─" * min(width, 24), self.rule))
            out += self.wrap(Text.assemble(row[0], style=self.heading_style), width)
            for name, value in zip(head[1:], row[1:]):
                label = f"{name.plain}: "
                lines = self.wrap(value, width - 2 - len(label)) or [Text()]
                out += self.indent(lines, "  " + label, " " * (2 + len(label)))
        return out


SHORT_CELL = 10  # a cell up to this long never wraps ("24 h", "3 d", "OK")


def _unbreakable(text: str) -> int:
    width = cell_len(text)
    return width if width <= SHORT_CELL else max((cell_len(word) for word in text.split()), default=1)


def column_widths(cells: list[list[Text]], room: int) -> list[int] | None:
    """As a browser lays out a table: every column as wide as its widest cell when all fit; else
    each gets its longest word and the room left goes to the columns that wrap, in proportion to
    what they lack. None when even the longest words do not fit (then: records). Short cells
    count as one word."""
    columns = len(cells[0])
    most = [max(1, max(max((cell_len(line) for line in row[c].plain.split("\n")), default=0) for row in cells))
            for c in range(columns)]
    if sum(most) <= room:
        return most
    least = [min(most[c], max((_unbreakable(row[c].plain) for row in cells), default=1)) for c in range(columns)]
    if sum(least) > room:
        return None
    spare, lack = room - sum(least), sum(m - n for m, n in zip(most, least))
    widths = [n + (m - n) * spare // lack for m, n in zip(most, least)]
    for c in sorted(range(columns), key=lambda c: most[c] - widths[c], reverse=True)[:room - sum(widths)]:
        widths[c] += 1
    return widths


def _parser():
    from markdown_it import MarkdownIt

    # CommonMark with GitHub's tables and strikethrough: gfm-like's linkify would cost a third of
    # the parse, and these documents write their links out.
    return MarkdownIt("commonmark").enable(["table", "strikethrough"])


def render_markdown(markdown: str, width: int, palette: Palette) -> Rendered:
    """Parse and render `markdown` at `width` cells: any thread (its own Console)."""
    from markdown_it.tree import SyntaxTreeNode

    tree = SyntaxTreeNode(_parser().parse("\n".join(printable(line) for line in markdown.split("\n"))))
    console = Console(width=width, file=io.StringIO(), force_terminal=True, color_system="truecolor",
                      legacy_windows=False, emoji=False, markup=False, highlight=False)
    layout = _Layout(palette, console)
    lines: list[Strip] = []
    headings: list[Heading] = []
    for node in tree.children:
        if lines:
            lines.append(Strip([]))
        if node.type == "heading":
            headings.append(Heading(int(node.tag[1:]), layout.inline(node.children[0]).plain, len(lines)))
        for text in layout.block(node, width):
            lines.append(Strip(list(text.render(console)), text.cell_len))
    return Rendered(width, lines, headings)


def _same_place(before: Rendered, after: Rendered, y: int) -> int:
    """The line of `after` showing what line `y` of `before` showed: the same section (the heading
    above it), as far into it in proportion."""
    def section(rendered: Rendered, index: int) -> tuple[int, int]:
        starts = [h.line for h in rendered.headings] or [0]
        start = starts[index] if index < len(starts) else 0
        end = starts[index + 1] if index + 1 < len(starts) else len(rendered.lines)
        return start, max(1, end - start)

    index = max((i for i, h in enumerate(before.headings) if h.line <= y), default=None)
    if index is None or len(after.headings) != len(before.headings):
        return round(y * len(after.lines) / max(1, len(before.lines)))
    old_start, old_length = section(before, index)
    new_start, new_length = section(after, index)
    return new_start + round((y - old_start) * new_length / old_length)


_cache: OrderedDict[tuple[str, int, Palette], Rendered] = OrderedDict()


def cached_render(markdown: str, width: int, palette: Palette) -> Rendered:
    key = (markdown, width, palette)
    rendered = _cache.get(key)
    if rendered is None:
        rendered = render_markdown(markdown, width, palette)
        _cache[key] = rendered
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return rendered


class Document(ScrollView, can_focus=True):
    """The document, scrolled by the keys of any scrollable (arrows, page keys, home, end)."""

    DEFAULT_CSS = """
    Document { overflow-y: scroll; overflow-x: hidden; padding: 0 1; background: $surface; }
    Document:focus { background-tint: $foreground 3%; }
    """

    class Ready(Message):
        """The document is rendered at the widget's width and on screen."""

        def __init__(self, document: "Document") -> None:
            super().__init__()
            self.document = document

    def __init__(self, markdown: str, width_hint: int | None = None, **kwargs) -> None:
        """`width_hint`: the widget's outer width once laid out, when known in advance (the screen's
        width): the first frame then shows the document, not "rendering…" and a second frame."""
        super().__init__(**kwargs)
        self.markdown = markdown
        self.width_hint = width_hint
        self.rendered: Rendered | None = None
        self._asked: tuple[int, Palette] | None = None

    def on_mount(self) -> None:
        self.watch(self.app, "theme", self._restyle, init=False)
        if self.width_hint is not None:
            self._layout(self.width_hint - self.styles.gutter.width - self.styles.scrollbar_size_vertical)

    def on_resize(self) -> None:
        self._layout(self.scrollable_content_region.width)

    def _restyle(self) -> None:
        self._asked = None
        self._layout(self.scrollable_content_region.width)

    def _layout(self, width: int) -> None:
        if width <= 0:
            return
        palette = Palette.from_variables(self.app.get_css_variables())
        if self._asked == (width, palette):
            return
        self._asked = (width, palette)
        if (self.markdown, width, palette) in _cache or len(self.markdown) <= INLINE_LIMIT:
            self._show(cached_render(self.markdown, width, palette))
        else:
            self._render(width, palette)

    @work(thread=True, exclusive=True, group="document", exit_on_error=False)
    def _render(self, width: int, palette: Palette) -> None:
        rendered = cached_render(self.markdown, width, palette)
        self.app.call_from_thread(self._show, rendered)

    def _show(self, rendered: Rendered) -> None:
        if self._asked is None or rendered.width != self._asked[0]:
            return  # a resize asked for another width meanwhile
        before = self.rendered
        self.rendered = rendered
        self.virtual_size = Size(rendered.width, len(rendered.lines))
        if before is not None:
            self.scroll_to(y=_same_place(before, rendered, round(self.scroll_y)), animate=False)
        self.refresh()
        if before is None:
            self.post_message(self.Ready(self))

    def scroll_to_line(self, line: int) -> None:
        self.scroll_to(y=line, animate=False)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        style = self.rich_style
        if self.rendered is None:
            return Strip([Segment("rendering…", style)]).crop_extend(0, width, style) if y == 0 else \
                Strip.blank(width, style)
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        if index >= len(self.rendered.lines):
            return Strip.blank(width, style)
        return self.rendered.lines[index].crop_extend(scroll_x, scroll_x + width, style).apply_style(style)
