"""Partial uploads restore (u): pick a snapshot, browse it lazily, find files by name, select files
and folders, restore them into a fresh staging dir, see rsync's dry run of copying them back,
then apply it. Keyboard first: enter opens (a snapshot, a folder) or goes to the first match from
the filter, `/` is the filter, space selects, `r` restores, `c` copies back, `o` offers the old
staging dirs for removal; `q` and escape go back (escape in the filter clears it first), asking
first when a restore runs or restored files were not copied back.

The filter searches the folders listed so far at once, and the whole snapshot in the background
(one `restic ls --recursive`, up to core.uploads.SCAN_LIMIT entries): matches show with their
folders opened as soon as the folder that holds them is known."""

from __future__ import annotations

import threading
import time
from pathlib import PurePosixPath

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, RichLog, Static, Tree
from textual.widgets.tree import TreeNode

from ..core import opslog
from ..core import uploads as up
from ..core.fmt import os_error_words, printable, size_words
from ..core.proc import shown
from .confirm import ConfirmScreen

MATCH_LIMIT = 500  # matches shown in the tree at once; more: type more of the name
LOG_CONTEXT = {"job": "uploads_restore"}


class SnapshotTable(DataTable):
    """Enter before the list arrived is remembered, never lost (EarlyEnter)."""

    class EarlyEnter(Message):
        pass

    def action_select_cursor(self) -> None:
        if self.row_count == 0:
            self.post_message(self.EarlyEnter())
        else:
            super().action_select_cursor()


class FilterInput(Input):
    """Escape clears the filter; on an empty filter it means back (Leave)."""

    BINDINGS = [Binding("escape", "clear_or_leave", "Clear / back", show=False)]

    class Leave(Message):
        pass

    def action_clear_or_leave(self) -> None:
        if self.value:
            self.value = ""
        else:
            self.post_message(self.Leave())


class PickTree(Tree):
    """A tree where space marks the highlighted entry (Tree's own space only expands)."""

    BINDINGS = [Binding("space", "screen.toggle", "Select")]


class LeaveScreen(ModalScreen[str]):
    """Restored files not copied back: remove them (y), keep them for later (k), or stay (escape)."""

    DEFAULT_CSS = """
    LeaveScreen { align: center middle; }
    LeaveScreen > Vertical { width: 90%; max-width: 100; height: auto; border: thick $warning;
                             background: $surface; padding: 1 2; }
    LeaveScreen .title { text-style: bold; margin-bottom: 1; }
    LeaveScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    LeaveScreen Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "answer('stay')", "Stay"), Binding("y", "answer('remove')", "Remove, back"),
                Binding("k", "answer('keep')", "Keep, back")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text, self.lines = title, lines

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text), classes="title")
            yield Static(Text("\n".join(self.lines)))
            with Horizontal():
                yield Button("Stay (esc)", id="stay")
                yield Button("Keep it, back (k)", id="keep")
                yield Button("Remove it, back (y)", id="remove", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#stay", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "stay")

    def action_answer(self, value: str) -> None:
        self.dismiss(value)


# --- what the workers report (posted from their threads; dropped once the screen is gone) ---


class Snapshots(Message):
    def __init__(self, snapshots: list[up.Snapshot], error: str | None = None) -> None:
        super().__init__()
        self.snapshots, self.error = snapshots, error


class Listed(Message):
    """Complete listings of folders of `snapshot`: {path: entries}; from one `restic ls` or the search."""

    def __init__(self, snapshot: up.Snapshot, folders: dict[str, list[up.Node]]) -> None:
        super().__init__()
        self.snapshot, self.folders = snapshot, folders


class ListFailed(Message):
    def __init__(self, path: str, error: str) -> None:
        super().__init__()
        self.path, self.error = path, error


class ScanDone(Message):
    def __init__(self, snapshot: up.Snapshot, result: up.ScanResult | None, error: str | None) -> None:
        super().__init__()
        self.snapshot, self.result, self.error = snapshot, result, error


class Outcome(Message):
    """A restore, dry run, copy or removal ended (text None: nothing to say, the buttons change)."""

    def __init__(self, text: str | None, style: str = "", lines: list[str] | None = None) -> None:
        super().__init__()
        self.text, self.style, self.lines = text, style, lines or []


class OldFound(Message):
    def __init__(self, old: list[up.OldStaging]) -> None:
        super().__init__()
        self.old = old


class Gone(Message):
    """Leaving is done (the cancel, the removal): close the screen, with a note for the dashboard."""

    def __init__(self, note: str | None = None, warning: bool = False) -> None:
        super().__init__()
        self.note, self.warning = note, warning


class UploadsScreen(Screen[None]):
    DEFAULT_CSS = """
    UploadsScreen > .title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    UploadsScreen #panes { height: 1fr; }
    UploadsScreen #snapshots { width: 40%; max-width: 46; }
    UploadsScreen #browser { width: 1fr; }
    UploadsScreen #files { height: 1fr; }
    UploadsScreen #selected { height: auto; max-height: 2; color: $text-muted; padding: 0 1; }
    UploadsScreen #status { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    UploadsScreen #upload-actions { height: 1; padding: 0 1; }
    UploadsScreen #upload-actions Button { margin-right: 2; }
    UploadsScreen #out { height: 25%; min-height: 3; max-height: 10; border: round $panel-lighten-2; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("r", "restore", "Restore"),
        Binding("c", "copy_back", "Copy back"),
        Binding("o", "old_staging", "Old staging"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.snapshots: list[up.Snapshot] = []
        self.snapshot: up.Snapshot | None = None
        self.selected: set[str] = set()
        self.cache: dict[str, list[up.Node]] = {}  # complete listings only
        self.listing: set[str] = set()  # folders a `restic ls` runs for
        self.opened: set[str] = set()  # folders the operator opened (kept across filters)
        self.filter = ""
        self.scan_state = "idle"  # idle, running, complete, partial, failed
        self.scan_entries = 0
        self.listing_snapshots = True
        self.early_enter = False
        self.first_match_wanted = False
        self.staging: up.Staging | None = None
        self.changes = 0  # items the last dry run listed, not copied back yet
        self.staged = (0, 0)  # (bytes, files) the last restore put into the staging dir
        self.running: str | None = None  # "restore" or "copy back" while one runs
        self.run_stopper = up.Stopper()
        self.run_ended = threading.Event()
        self.list_stopper = up.Stopper()  # the listings and the search: stopped on leaving
        self.old: list[up.OldStaging] = []
        self.leaving = False
        self._by_path: dict[str, TreeNode] = {}
        self._filled: set[int] = set()  # ids of the tree nodes holding their complete listing
        self._matches: set[str] = set()
        self._match_count = 0
        self._hot: set[str] = set()  # folders on the way to a match: opened while filtering

    def compose(self) -> ComposeResult:
        yield Static("Uploads restore: snapshots tagged uploads", classes="title")
        with Horizontal(id="panes"):
            yield SnapshotTable(id="snapshots", cursor_type="row")
            with Vertical(id="browser"):
                yield FilterInput(placeholder="/ filter: part of a name, searched in the whole snapshot",
                                  id="filter")
                yield PickTree("listing the snapshots…", id="files")
        yield Static("nothing selected · space selects the highlighted file or folder", id="selected")
        yield Static("", id="status")
        with Horizontal(id="upload-actions"):
            yield Button("Restore selected (r)", id="restore", compact=True, disabled=True)
            yield Button("Copy back (c)", id="apply", compact=True, disabled=True)
        yield RichLog(id="out", wrap=True, markup=False)
        # Without the palette hint the screen's keys and ? fit 80 columns (ctrl+p still works).
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(SnapshotTable)
        for key in ("time", "id", "host"):  # the host last: cut first at 80 columns
            table.add_column(key, key=key)
        table.focus()
        settings = self.app.settings
        self._log(f"repository: {settings.restic_repository or '(RESTIC_REPOSITORY not set)'}; "
                  f"uploads: {settings.uploads_path or '(CRM_UPLOADS_PATH not set)'}; "
                  f"staging under {up.restore_root(settings)}")
        self._status("listing the snapshots: restic snapshots --tag uploads …")
        self._load_snapshots(self.list_stopper)
        self._find_old()

    # --- output ---

    def _log(self, text: str, style: str = "") -> None:
        self.query_one("#out", RichLog).write(Text(printable(text), style=style))

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#status", Static).update(Text(printable(text), style=style))

    def on_outcome(self, message: Outcome) -> None:
        if message.text is not None:
            self._status(message.text, message.style)
            self._log(message.text, message.style)
        for line in message.lines:
            self._log(line)
        self._update_actions()

    # --- snapshots ---

    @work(thread=True, group="uploads-list", exit_on_error=False)
    def _load_snapshots(self, stopper: up.Stopper) -> None:
        try:
            self.post_message(Snapshots(up.list_snapshots(self.app.settings, stopper)))
        except up.UploadsCancelled:
            pass
        except up.UploadsError as exc:
            self.post_message(Snapshots([], str(exc)))

    def on_snapshots(self, message: Snapshots) -> None:
        self.listing_snapshots = False
        early, self.early_enter = self.early_enter, False
        tree = self.query_one(PickTree)
        if message.error is not None:
            tree.root.set_label(Text("no snapshot to browse"))
            self._status(f"cannot list snapshots: {message.error}", "bold red")
            self._log(f"cannot list snapshots: {message.error}", "bold red")
            return
        self.snapshots = message.snapshots
        table = self.query_one(SnapshotTable)
        for index, snap in enumerate(self.snapshots):
            table.add_row(snap.time[:16].replace("T", " "), snap.short_id, snap.hostname, key=str(index))
        if not self.snapshots:
            tree.root.set_label(Text("no snapshot to browse"))
            self._status("no snapshot tagged uploads in the repository", "bold red")
            return
        tree.root.set_label(Text("enter on a snapshot opens it here"))
        self._status(f"{len(self.snapshots)} snapshot(s), newest first · enter opens the highlighted one")
        if early:
            self._open(0)

    def on_snapshot_table_early_enter(self, message: SnapshotTable.EarlyEnter) -> None:
        if self.listing_snapshots:
            self.early_enter = True
            self._status("still loading the snapshots: the newest one opens as soon as the list arrives")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self._open(event.cursor_row)

    def _open(self, index: int) -> None:
        if self.running:
            self._status(f"the {self.running} runs: another snapshot can be opened once it ended", "bold")
            return
        self.list_stopper.stop_soon()  # the last snapshot's listings and search
        self.list_stopper = up.Stopper()
        self.snapshot = self.snapshots[index]
        self.selected.clear()
        self.cache.clear()
        self.listing.clear()
        self.opened = {self.snapshot.root}
        self.scan_state, self.scan_entries = "idle", 0
        self._update_selected()
        self._status(f"snapshot {self.snapshot.short_id} of {self.snapshot.time[:16].replace('T', ' ')} · "
                     f"enter opens a folder, space selects, / finds by name")
        if self.filter:
            self._start_scan()
        self._refilter()
        self.query_one(PickTree).focus()

    # --- the tree: a view of cache, opened, filter and selected ---

    def _label(self, item: up.Node) -> Text:
        chosen = item.path in self.selected
        text = Text("✓ " if chosen else "  ", style="bold" if chosen else "")
        style = "bold" if chosen else ""
        if self.filter and item.path in self._matches:
            style += " underline"
        text.append(item.name + ("/" if item.type == "dir" else ""), style=style.strip())
        if item.type == "dir" and item.path in self.listing:
            text.append("  listing…", style="italic")
        return text

    def _visible(self, path: str) -> list[up.Node]:
        items = self.cache.get(path, [])
        if not self.filter:
            return items
        complete = self.scan_state == "complete"
        return [item for item in items if item.path in self._matches or item.path in self._hot
                or (item.type == "dir" and item.path not in self.cache and not complete)]

    def _fill(self, node: TreeNode, path: str) -> None:
        node.remove_children()
        if path not in self.cache:
            node.add_leaf(Text("listing…", style="italic"))
            self._fetch(path)
            return
        self._filled.add(node.id)
        for item in self._visible(path):
            if item.type == "dir":
                child = node.add(self._label(item), data=item, allow_expand=True)
                self._by_path[item.path] = child
                if item.path in (self._hot if self.filter else self.opened):
                    self._fill(child, item.path)
                    child.expand()
            else:
                self._by_path[item.path] = node.add_leaf(self._label(item), data=item)

    def _rebuild(self) -> None:
        """Redraw the tree from the state, keeping the cursor on the same entry where it is shown."""
        if self.snapshot is None:
            return
        tree = self.query_one(PickTree)
        at = tree.cursor_node.data.path if tree.cursor_node is not None and tree.cursor_node.data else None
        self._by_path, self._filled = {}, set()
        tree.reset(Text(self.snapshot.root), data=up.Node("", self.snapshot.root, "dir", 0))
        self._by_path[self.snapshot.root] = tree.root
        self._fill(tree.root, self.snapshot.root)
        tree.root.expand()
        if self.first_match_wanted and self._first_match() is not None:
            self.first_match_wanted = False
            self.call_after_refresh(self._cursor_to_first_match)
        elif at in self._by_path:
            self.call_after_refresh(tree.move_cursor, self._by_path[at])

    def _fetch(self, path: str) -> None:
        if path in self.listing:
            return
        self.listing.add(path)
        self._list_dir(path, self.snapshot, self.list_stopper)

    @work(thread=True, group="uploads-ls", exit_on_error=False)
    def _list_dir(self, path: str, snapshot: up.Snapshot, stopper: up.Stopper) -> None:
        try:
            self.post_message(Listed(snapshot, {path: up.list_dir(self.app.settings, snapshot, path, stopper)}))
        except up.UploadsCancelled:
            pass
        except up.UploadsError as exc:
            self.post_message(ListFailed(path, str(exc)))

    def on_listed(self, message: Listed) -> None:
        if message.snapshot is not self.snapshot:
            return
        self.cache.update(message.folders)
        self.listing.difference_update(message.folders)
        if self.filter:
            self._add_matches(message.folders.values())
            self._say_matches()
            self._rebuild()
            return
        root = self.query_one(PickTree).root
        for path in message.folders:
            node = self._by_path.get(path)
            if node is not None and (node.is_expanded or node is root):
                self._fill(node, path)

    def on_list_failed(self, message: ListFailed) -> None:
        self.listing.discard(message.path)
        self._log(f"cannot list {message.path}: {message.error}", "bold red")
        self._status(f"cannot list {message.path}: {message.error}", "bold red")

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        item = event.node.data
        if item is None or event.node is self.query_one(PickTree).root or self.filter:
            return
        self.opened.add(item.path)
        if event.node.id not in self._filled:
            self._fill(event.node, item.path)

    def on_tree_node_collapsed(self, event: Tree.NodeCollapsed) -> None:
        if event.node.data is not None and not self.filter:
            self.opened.discard(event.node.data.path)

    def on_tree_node_selected(self, event: Tree.NodeSelected) -> None:
        # Enter: a folder opens (the Tree does that), a file is selected or unselected.
        item = event.node.data
        if item is not None and item.type != "dir" and event.node is not self.query_one(PickTree).root:
            self._toggle_node(event.node)

    # --- the filter ---

    def action_focus_filter(self) -> None:
        self.query_one(FilterInput).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter = event.value.strip().lower()
        if self.snapshot is None:
            return
        if self.filter and self.scan_state == "idle":
            self._start_scan()
        self._refilter()

    def _refilter(self) -> None:
        self._matches, self._hot, self._match_count = set(), set(), 0
        if self.filter:
            self._add_matches(self.cache.values())
            self._say_matches()
        self._rebuild()

    def _add_matches(self, listings) -> None:
        root = self.snapshot.root
        for items in listings:
            for item in items:
                if self.filter not in item.name.lower() or item.path in self._matches:
                    continue
                self._match_count += 1
                if len(self._matches) >= MATCH_LIMIT:
                    continue
                self._matches.add(item.path)
                parent = str(PurePosixPath(item.path).parent)
                while parent not in self._hot and len(parent) > len(root):
                    self._hot.add(parent)
                    parent = str(PurePosixPath(parent).parent)

    def _say_matches(self) -> None:
        searched = {"running": f"searching the snapshot… {self.scan_entries or 'no'} entries read so far",
                    "complete": f"searched all {self.scan_entries} entries",
                    "partial": f"searched the first {self.scan_entries} entries; open a folder to look further",
                    "failed": "only the folders listed so far were searched",
                    "idle": "searched the folders listed so far"}[self.scan_state]
        more = f" (the first {MATCH_LIMIT} shown: type more of the name)" if self._match_count > MATCH_LIMIT else ""
        self._status(f"{self._match_count} match(es) for {self.filter!r}{more} · {searched} · "
                     "enter goes to the first")

    def _start_scan(self) -> None:
        self.scan_state, self.scan_entries = "running", 0
        self._scan(self.snapshot, self.list_stopper)

    @work(thread=True, group="uploads-scan", exclusive=True, exit_on_error=False)
    def _scan(self, snapshot: up.Snapshot, stopper: up.Stopper) -> None:
        batch: dict[str, list[up.Node]] = {}
        sent = [time.monotonic()]

        def on_folder(path: str, nodes: list[up.Node]) -> None:
            batch[path] = nodes
            if time.monotonic() - sent[0] > 0.25:  # one repaint per quarter second, not per folder
                self.post_message(Listed(snapshot, dict(batch)))
                batch.clear()
                sent[0] = time.monotonic()

        try:
            result = up.scan(self.app.settings, snapshot, on_folder, stopper)
        except up.UploadsCancelled:
            return
        except up.UploadsError as exc:
            self.post_message(ScanDone(snapshot, None, str(exc)))
            return
        if batch:
            self.post_message(Listed(snapshot, dict(batch)))
        self.post_message(ScanDone(snapshot, result, None))

    def on_scan_done(self, message: ScanDone) -> None:
        if message.snapshot is not self.snapshot:
            return
        if message.error is not None:
            self.scan_state = "failed"
            self._log(f"the name search stopped: {message.error}", "bold red")
        else:
            self.scan_state = "complete" if message.result.complete else "partial"
            self.scan_entries = message.result.entries
        if self.filter:
            self._refilter()
            if self.first_match_wanted:
                self.first_match_wanted = False
                self._status(f"no match for {self.filter!r} · {self.scan_entries} entries searched", "bold")

    def _first_match(self) -> TreeNode | None:
        def walk(node: TreeNode) -> TreeNode | None:
            for child in node.children:
                if child.data is not None and child.data.path in self._matches:
                    return child
                found = walk(child)
                if found is not None:
                    return found
            return None

        return walk(self.query_one(PickTree).root)

    def _cursor_to_first_match(self) -> None:
        node = self._first_match()
        if node is not None:
            tree = self.query_one(PickTree)
            tree.focus()
            tree.move_cursor(node)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.snapshot is None:
            self._status("open a snapshot first: enter on its row", "bold")
            return
        if not self.filter:
            self.query_one(PickTree).focus()
        elif self._first_match() is not None:
            self._cursor_to_first_match()
        elif self.scan_state == "running":
            self.first_match_wanted = True
            self._status(f"still searching for {self.filter!r}: the first match gets the cursor when found")
        else:
            self._status(f"no match for {self.filter!r}", "bold")

    def on_filter_input_leave(self, message: FilterInput.Leave) -> None:
        self.action_close()

    # --- selection ---

    def action_toggle(self) -> None:
        tree = self.query_one(PickTree)
        node = tree.cursor_node
        if node is not None and node.data is not None and node is not tree.root:
            self._toggle_node(node)

    def _toggle_node(self, node: TreeNode) -> None:
        self.selected.symmetric_difference_update({node.data.path})
        node.set_label(self._label(node.data))
        self._update_selected()

    def _update_selected(self) -> None:
        count = len(self.selected)
        root = self.snapshot.root.rstrip("/") + "/" if self.snapshot is not None else ""
        names = sorted(path[len(root):] if path.startswith(root) else path for path in self.selected)
        text = "nothing selected · space selects the highlighted file or folder" if not count else \
            f"{count} selected: " + ", ".join(names)[:300]
        self.query_one("#selected", Static).update(Text(printable(text)))
        self._update_actions()

    def _update_actions(self) -> None:
        self.query_one("#restore", Button).disabled = not self.selected or self.running is not None
        self.query_one("#apply", Button).disabled = not self.changes or self.running is not None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "restore":
            self.action_restore()
        elif event.button.id == "apply":
            self.action_copy_back()

    # --- restore into staging, dry run, copy back ---

    def _busy(self) -> bool:
        if self.running:
            self._status(f"the {self.running} runs; wait for it, or go back (q) to cancel it", "bold")
        return self.running is not None

    def action_restore(self) -> None:
        if self._busy():
            return
        if self.snapshot is None or not self.selected:
            self._status("select files or folders first (space), then r restores them", "bold")
            return
        settings = self.app.settings
        paths = sorted(self.selected)
        try:
            argv = up.restore_argv(self.snapshot, paths, up.restore_root(settings) / "uploads-XXXXXXXX")
        except up.UploadsError as exc:
            self._status(str(exc), "bold red")
            return
        lines = [shown(["restic", *argv]), f"into a new 0700 staging folder under {up.restore_root(settings)}",
                 "then: rsync --dry-run of copying them back (nothing is copied yet)"]
        if self.staging is not None:
            lines.append(f"the staging dir of the last restore ({self.staging.path}) is removed first")

        def answer(yes: bool | None) -> None:
            if yes and not self._busy():
                self._begin("restore")
                self._restore(self.snapshot, paths)

        self.app.push_screen(ConfirmScreen(f"Restore {len(paths)} path(s) from {self.snapshot.short_id}?", lines),
                             answer)

    def _begin(self, what: str) -> None:
        self.running = what
        self.run_stopper = up.Stopper()
        self.run_ended.clear()
        self._update_actions()

    def _done(self, text: str, style: str, lines: list[str] | None = None) -> None:
        """From a worker thread: the run ended with this result."""
        self.running = None
        self.post_message(Outcome(text, style, lines))

    def _drop_staging(self) -> None:
        staging, self.staging, self.changes = self.staging, None, 0
        if staging is not None:
            staging.remove()

    @work(thread=True, group="uploads-restore", exclusive=True, exit_on_error=False)
    def _restore(self, snapshot: up.Snapshot, paths: list[str]) -> None:
        try:
            self._restore_into_staging(snapshot, paths)
        finally:
            self.run_ended.set()

    def _restore_into_staging(self, snapshot: up.Snapshot, paths: list[str]) -> None:
        settings = self.app.settings
        started = time.monotonic()
        try:
            self._drop_staging()
            staging = self.staging = up.Staging(settings)
        except (up.UploadsError, OSError) as exc:
            self._done(f"restore refused: {exc}", "bold red")
            return
        self.post_message(Outcome(f"restoring {len(paths)} path(s) into staging {staging.path.name}…"))
        try:
            up.restore(settings, snapshot, paths, staging.path, self.run_stopper)
            size, files = self.staged = staging.usage()
            lines, command = up.copy_back(settings, staging.path, snapshot, dry_run=True, stopper=self.run_stopper)
        except up.UploadsCancelled:
            return  # the leave that stopped it removes the staging dir and says so
        except up.UploadsError as exc:
            self._drop_staging()
            self._done(f"restore refused or failed, its staging dir removed: {exc}", "bold red")
            return
        head = (f"restored {len(paths)} path(s) from {snapshot.short_id} ({files} file(s), {size_words(size)}, "
                f"{time.monotonic() - started:.1f} s) into staging {staging.path.name} · ")
        if lines:
            self.changes = len(lines)
            self._done(head + f"dry run: {len(lines)} item(s) to copy back · c copies them", "bold",
                       [f"staging dir: {staging.path}", f"dry run: {command}", *lines])
        else:
            self._drop_staging()
            self._done(head + "dry run: the uploads already hold these files as restored; staging dir removed",
                       "bold green", [f"dry run: {command}"])

    def action_copy_back(self) -> None:
        if self._busy():
            return
        if self.staging is None or not self.changes:
            self._status("nothing restored to copy back: select, then r restores into staging first", "bold")
            return
        source = up.staged_source(self.staging.path, self.snapshot)
        try:
            argv = up.rsync_argv(source, self.app.settings.uploads_path, dry_run=False)
        except up.UploadsError as exc:
            self._status(str(exc), "bold red")
            return

        def answer(yes: bool | None) -> None:
            if yes and not self._busy():
                self._begin("copy back")
                self._apply(self.snapshot)

        self.app.push_screen(ConfirmScreen("Copy the restored files into the uploads?",
                                           [shown(argv), f"the {self.changes} item(s) the dry run listed; "
                                            "nothing is deleted", "then the staging dir is removed"],
                                           yes="Copy"), answer)

    @work(thread=True, group="uploads-restore", exclusive=True, exit_on_error=False)
    def _apply(self, snapshot: up.Snapshot) -> None:
        try:
            self._copy_back(snapshot)
        finally:
            self.run_ended.set()

    def _copy_back(self, snapshot: up.Snapshot) -> None:
        settings = self.app.settings
        started = time.monotonic()
        where = self.staging.path
        try:
            lines, command = up.copy_back(settings, where, snapshot, dry_run=False, stopper=self.run_stopper)
        except up.UploadsCancelled:
            return
        except up.UploadsError as exc:
            self._done(f"copy back failed (the staging dir is kept for another try): {exc}", "bold red")
            return
        _ops_log(settings, "INFO", f"uploads restore: {len(lines)} item(s) of snapshot {snapshot.short_id} "
                                   f"copied back into {settings.uploads_path}")
        try:
            self._drop_staging()
            removed = f"staging dir {where.name} removed"
        except OSError as exc:
            removed = f"the staging dir could not be removed: {os_error_words(exc)}"
        self._done(f"copied back {len(lines)} item(s) into {settings.uploads_path} in "
                   f"{time.monotonic() - started:.1f} s · {removed}", "bold green", [command, *lines])

    # --- old staging dirs ---

    @work(thread=True, group="uploads-old", exclusive=True, exit_on_error=False)
    def _find_old(self) -> None:
        self.post_message(OldFound(up.old_stagings(self.app.settings)))

    def on_old_found(self, message: OldFound) -> None:
        self.old = message.old
        if self.old:
            self._log(f"{len(self.old)} old staging dir(s) under {up.restore_root(self.app.settings)} hold "
                      f"{size_words(sum(item.size for item in self.old))}: o offers them for removal", "bold")

    def action_old_staging(self) -> None:
        if not self.old:
            self._status(f"no old staging dir under {up.restore_root(self.app.settings)}")
            return
        lines = [f"{item.path}  {size_words(item.size)}, {item.files} file(s)" for item in self.old]
        lines.append("(the staging dirs of restores open in another session are not listed)")

        def answer(yes: bool | None) -> None:
            if yes:
                self._remove_old(list(self.old))

        self.app.push_screen(ConfirmScreen(f"Remove {len(self.old)} old staging dir(s) "
                                           f"({size_words(sum(item.size for item in self.old))})?",
                                           lines, yes="Remove", danger=True), answer)

    @work(thread=True, group="uploads-old", exclusive=True, exit_on_error=False)
    def _remove_old(self, old: list[up.OldStaging]) -> None:
        settings = self.app.settings
        removed, problems = [], []
        for item in old:
            try:
                up.remove_old_staging(settings, item.path)
                removed.append(item)
            except up.UploadsError as exc:
                problems.append(str(exc))
            except OSError as exc:
                problems.append(os_error_words(exc, f"removing {item.path}"))
        freed = size_words(sum(item.size for item in removed))
        if removed:
            _ops_log(settings, "INFO", f"uploads restore: {len(removed)} old staging dir(s) removed ({freed})")
        self.post_message(OldFound(up.old_stagings(settings)))
        self.post_message(Outcome(f"removed {len(removed)} old staging dir(s), {freed}"
                                  + (f"; {len(problems)} kept" if problems else ""),
                                  "bold red" if problems else "bold green", problems))

    # --- leaving: q and escape ---

    def action_close(self) -> None:
        if self.leaving:
            return
        if self.running:
            what = self.running
            lines = [f"the {what} is stopped ({'SIGINT' if what == 'restore' else 'SIGTERM'}, "
                     "then SIGKILL after 5 s)"]
            if what == "copy back":
                lines.append("the files copied so far stay in the uploads")
            lines += ["its staging dir is removed", "ops.log records the cancel"]

            def answer(yes: bool | None) -> None:
                if yes:
                    self._leave(cancel=what, remove=True)

            self.app.push_screen(ConfirmScreen(f"The {what} is running. Cancel it and go back?", lines,
                                               yes="Cancel it, back", no="Keep it running", danger=True), answer)
            return
        if self.staging is not None and self.changes:
            size, files = self.staged

            def leave(choice: str | None) -> None:
                if choice in ("remove", "keep"):
                    self._leave(cancel=None, remove=choice == "remove")

            self.app.push_screen(LeaveScreen(
                f"{self.staging.path} holds {files} restored file(s) ({size_words(size)}) not copied back.",
                ["y: remove them and go back (the snapshot still has them)",
                 "k: keep them and go back (listed next time as an old staging dir: o removes it)",
                 "esc: stay here (c copies them back)"]), leave)
            return
        self._leave(cancel=None, remove=True)

    def _leave(self, cancel: str | None, remove: bool) -> None:
        self.leaving = True
        self._status(f"cancelling the {cancel}…" if cancel else "going back…", "bold")
        self._leave_in_thread(cancel, remove)

    @work(thread=True, group="uploads-leave", exclusive=True, exit_on_error=False)
    def _leave_in_thread(self, cancel: str | None, remove: bool) -> None:
        """Stop what runs and clean up off the UI thread (restic takes its time to stop; a staging
        dir of a few GB takes seconds to remove), then close the screen."""
        self.list_stopper.stop(grace=1)
        started = time.monotonic()
        if cancel:
            self.run_stopper.stop()
            self.run_ended.wait()
        where = self.staging.path if self.staging is not None else None
        note, warning = None, False
        if remove:
            try:
                self._drop_staging()
            except OSError as exc:
                note, warning = os_error_words(exc, f"removing the staging dir {where}"), True
        elif self.staging is not None:
            self.staging.release()
            self.staging = None
            note = f"kept {where}: the next visit lists it as an old staging dir"
        if cancel:
            removed = note or (f"its staging dir {where} removed" if where else "no staging dir was made yet")
            note = (f"uploads restore: the {cancel} was cancelled on leaving the screen (stopped in "
                    f"{time.monotonic() - started:.1f} s); {removed}")
            warning = True
            self.running = None
            _ops_log(self.app.settings, "WARNING", note)
        self.post_message(Gone(note, warning))

    def on_gone(self, message: Gone) -> None:
        if message.note:
            self.app.notify(message.note, title="Uploads restore", severity="warning" if message.warning else "information")
        self.dismiss(None)

    def on_unmount(self) -> None:
        # The app quit under this screen (ctrl+q): stop restic and rsync, never leave them running;
        # the staging dir stays, no longer held, for the next visit to offer for removal.
        self.list_stopper.stop_soon()
        if self.running:
            self.run_stopper.stop(grace=2)
            _ops_log(self.app.settings, "WARNING", f"uploads restore: the {self.running} was stopped as the app "
                                                   f"quit; its staging dir {self.staging.path if self.staging else '-'} "
                                                   "is left (o on the uploads screen removes it)")
        if self.staging is not None:
            self.staging.release()


def _ops_log(settings, level: str, message: str) -> None:
    try:
        opslog.append(settings.log_path, level, message, LOG_CONTEXT)
    except OSError:
        pass  # a missing log folder must not stop the restore; the screen said it
