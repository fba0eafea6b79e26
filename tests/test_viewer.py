"""The help and the report viewer (screens/viewer.py, widgets/document.py): every part of the help
on screen, tables that keep every character at any width (columns, or records when the words do
not fit), control characters shown and never obeyed, q and escape back, t and enter to a heading,
a resize rendered anew; snapshots of the help and of a big report at 80×24 and 120×40, the report
made by the real report job and opened by keys (r, y)."""

from __future__ import annotations

import re

import pytest
from treeutil import make_dump, make_marker, make_verify_log
from ui_support import (
    DAY,
    FIXED_NOW,
    HOUR,
    SIZES,
    build_app,
    log_line,
    screen_text,
    settle,
    snapshot_host,
    snapshot_root,
    stamp_at,
    wait_for,
)

from opsbackup_tui.core.settings import VARS
from opsbackup_tui.screens.dashboard import DashboardScreen
from opsbackup_tui.screens.help import KEYS, SCREEN_KEYS
from opsbackup_tui.screens.viewer import MarkdownScreen
from opsbackup_tui.widgets.document import Document, Palette, render_markdown

SIZE_IDS = [f"{w}x{h}" for w, h in SIZES]
PALETTE = Palette("#00aaff", "#ffaa00", "#888888", "#444444")


def plain(lines) -> list[str]:
    return [strip.text.rstrip() for strip in lines]


def words(text: str) -> list[str]:
    return text.split()


# --- rendering ---


TABLE = """| variable | value | meaning |
|---|---|---|
| `OPS_PROMETHEUS_TIMEOUT_S` | `/srv/backups/crm/a/very/long/path/that/has/no/space/in/it` | Seconds one fleet refresh may take in all (every query to the Prometheus server). |
| `OPS_SITE` | `backup-host` | The site label. |
"""


@pytest.mark.parametrize("width", [118, 78, 40, 24])
def test_a_table_keeps_every_character_at_any_width(width):
    rendered = render_markdown(TABLE, width, PALETTE)
    lines = plain(rendered.lines)
    assert all(len(line.rstrip()) <= width for line in lines), lines
    text = "\n".join(lines)
    assert "…" not in text
    # Every word of every cell is there: whole, or folded over lines when wider than its column.
    # (As records, the first column's header names no line: its cells are the records' titles.)
    flat = re.sub(r"\s+", "", text)
    records = not lines[0].startswith("variable")
    for word in words(TABLE.replace("|", " ").replace("`", " ").replace("---", " ")):
        if not (records and word == "variable"):
            assert word in text or word in flat, (word, width)


def test_a_table_that_fits_keeps_its_columns_and_one_too_narrow_becomes_records():
    wide = plain(render_markdown(TABLE, 118, PALETTE).lines)
    assert wide[0].split() == ["variable", "value", "meaning"] and set(wide[1]) == {"─"}
    assert wide[2].startswith("OPS_PROMETHEUS_TIMEOUT_S  /srv/backups/crm/a/very/long/path/that/has/no/space/in/it")
    narrow = plain(render_markdown(TABLE, 80, PALETTE).lines)
    assert narrow[0] == "OPS_PROMETHEUS_TIMEOUT_S"
    assert narrow[1] == "  value: /srv/backups/crm/a/very/long/path/that/has/no/space/in/it"
    assert narrow[2].startswith("  meaning: Seconds one fleet refresh")
    assert narrow[3].startswith("           ")  # wrapped under itself


def test_lists_headings_code_and_paragraphs_wrap_under_themselves():
    text = ("# Title\n\nA paragraph long enough to wrap at thirty cells, with `code` in it.\n\n"
            "1. first item that wraps over the line end\n2. second\n\n- a\n- b\n\n```\nliteral  line\n```\n")
    rendered = render_markdown(text, 30, PALETTE)
    lines = plain(rendered.lines)
    assert lines[0] == "Title" and [h.title for h in rendered.headings] == ["Title"]
    assert "1. first item that wraps over" in lines and "   the line end" in lines
    assert "• a" in lines and "• b" in lines
    assert "  literal  line" in lines
    assert all(len(line) <= 30 for line in lines)


def test_control_characters_in_a_document_are_shown_never_obeyed():
    rendered = render_markdown("a report line \x1b[2J\x1b]0;owned\x07 end\n", 80, PALETTE)
    text = "".join(plain(rendered.lines))
    assert "\x1b" not in text and "\x07" not in text and "␛[2J" in text


# --- the help ---


async def open_help(pilot) -> tuple[MarkdownScreen, Document]:
    """From the dashboard: `?`, until the help is rendered."""
    app = pilot.app
    await settle(pilot)
    await pilot.press("question_mark")
    screen = await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen) and app.screen, "help")
    document = screen.query_one(Document)
    await wait_for(pilot, lambda: document.rendered is not None, "the help rendered")
    return screen, document


async def jump_to(pilot, screen: MarkdownScreen, title: str) -> None:
    """t, then the heading `title` in the list, enter."""
    await pilot.press("t")
    contents = screen.query_one("#contents")
    assert pilot.app.focused is contents
    titles = [str(contents.get_option_at_index(i).prompt).strip() for i in range(contents.option_count)]
    await pilot.press("home", *["down"] * titles.index(title), "enter")


async def test_the_help_shows_every_key_and_setting_and_q_goes_back(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=(80, 24)) as pilot:
        screen, document = await open_help(pilot)
        assert app.focused is document
        pages = [screen_text(app)]
        for _ in range(200):  # by keys, to the end
            at = document.scroll_y
            await pilot.press("pagedown")
            if document.scroll_y == at:
                break
            pages.append(screen_text(app))
        shown = "\n".join(pages)
        for var in VARS:
            assert var.env[0] in shown, var.env[0]
        for _, what in KEYS + [k for _, keys in SCREEN_KEYS for k in keys]:
            assert what.split()[0] in shown
        assert "Uploads restore (u)" in shown and "Ops runbook: backups and recovery" in shown
        assert "…" not in shown
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard after q")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen), "help again")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard after escape")


async def test_t_lists_the_headings_and_enter_jumps_to_one(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=(120, 40)) as pilot:
        screen, document = await open_help(pilot)
        await jump_to(pilot, screen, "Settings now in effect")
        line = next(h.line for h in document.rendered.headings if h.title == "Settings now in effect")
        await wait_for(pilot, lambda: document.scroll_y == min(line, document.max_scroll_y), "the jump")
        assert app.focused is document and not screen.has_class("-contents")
        assert "Settings now in effect" in screen_text(app)


async def test_a_resize_renders_the_document_at_the_new_width(tmp_path):
    app = build_app("healthy", root=tmp_path / "t")
    async with app.run_test(size=(120, 40)) as pilot:
        screen, document = await open_help(pilot)
        wide = document.rendered
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: document.rendered.width < wide.width, "the help at 80 columns")
        assert len(document.rendered.lines) > len(wide.lines)
        assert all(strip.cell_length <= document.rendered.width for strip in document.rendered.lines)


# --- a big report, made by the report job ---


@pytest.fixture
def stable_host(monkeypatch):
    """Dates in UTC, the report's host name fixed (it is on screen), the fixed folders to this test."""
    from opsbackup_tui.core.jobs import report

    with snapshot_host(monkeypatch):
        monkeypatch.setattr(report.socket, "gethostname", lambda: "backup-host")
        yield


def big_report_app(size):
    """A year's worth of history: more dumps than the report lists (60), verify logs, markers, and
    the ops.log alerts the report quotes."""
    root = snapshot_root(f"report-{size[0]}x{size[1]}")
    app = build_app("failing", root=root)
    base = app.settings.backup_base
    for night in range(8, 80):
        make_dump(base, stamp_at(night * DAY + 2 * HOUR), age_s=night * DAY + 2 * HOUR, now=FIXED_NOW,
                  data=b"x" * (30_000 + (night * 7919) % 9000))
    for week in range(1, 12):
        make_verify_log(base, stamp_at(week * 7 * DAY), age_s=week * 7 * DAY, now=FIXED_NOW,
                        dump=f"full-{stamp_at(week * 7 * DAY + 2 * HOUR)}.sql.gz",
                        result="FAIL" if week == 3 else "OK", error="ERROR 1064 at line 42" if week == 3 else None)
    for day in range(3, 16):
        make_marker(base, stamp_at(day * DAY), age_s=day * DAY, now=FIXED_NOW, snapshot_id=f"{day:08x}")
    with open(app.settings.log_path, "a") as log:
        for hour in range(30, 5, -1):
            log.write(log_line("ERROR", f"job db_backup finished FAIL in 0.{hour} s: mariadb-dump exited 2",
                               hour * HOUR, job="db_backup", event="end") + "\n")
    return app


async def open_report(pilot) -> MarkdownScreen:
    app = pilot.app
    await settle(pilot)
    await pilot.press("r")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", "the confirmation")
    await pilot.press("y")
    screen = await wait_for(pilot, lambda: isinstance(app.screen, MarkdownScreen) and app.screen, "the report", 60)
    document = screen.query_one(Document)
    await wait_for(pilot, lambda: document.rendered is not None, "the report rendered")
    await settle(pilot)  # the refresh after a finished job
    app.clear_notifications()  # the job's toast would hide a part of the snapshot
    await pilot.pause()
    return screen


async def test_the_big_report_opens_whole_and_q_goes_back(stable_host):
    app = big_report_app((80, 24))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_report(pilot)
        assert "## Dump history (newest 60)" in screen.markdown
        document = screen.query_one(Document)
        text = "\n".join(plain(document.rendered.lines))
        assert "Dump history (newest 60)" in text and "Recent alerts (ops.log)" in text and "…" not in text
        await pilot.press("end")
        await wait_for(pilot, lambda: document.scroll_y == document.max_scroll_y > 0, "the end of the report")
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_report_viewer(snap_compare, size, stable_host):
    assert snap_compare(big_report_app(size), terminal_size=size, run_before=open_report)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_help_at_the_settings(snap_compare, size, stable_host):
    app = build_app("healthy", root=snapshot_root(f"help-settings-{size[0]}x{size[1]}"))

    async def at_settings(pilot):
        screen, _ = await open_help(pilot)
        await jump_to(pilot, screen, "Settings now in effect")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=at_settings)
