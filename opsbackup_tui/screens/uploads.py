"""Partial uploads restore (u): pick a snapshot, browse it lazily, select files and folders, restore
them into a fresh staging dir, see rsync's dry run of copying them back, then apply it."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Input, RichLog, Static, Tree
from textual.widgets.tree import TreeNode

from ..core import uploads as up
from ..core.proc import shown
from .confirm import ConfirmScreen


class PickTree(Tree):
    """A tree where space marks the highlighted entry (Tree's own space only expands)."""

    BINDINGS = [Binding("space", "screen.toggle", "Select")]


class UploadsScreen(Screen[None]):
    DEFAULT_CSS = """
    UploadsScreen > .title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    UploadsScreen #panes { height: 1fr; }
    UploadsScreen #snapshots { width: 46; }
    UploadsScreen #browser { width: 1fr; }
    UploadsScreen #files { height: 1fr; }
    UploadsScreen #selected { height: auto; max-height: 3; color: $text-muted; padding: 0 1; }
    UploadsScreen #actions { height: 3; padding: 0 1; }
    UploadsScreen #actions Button { margin-right: 2; }
    UploadsScreen #out { height: 10; border: round $panel-lighten-2; }
    """
    BINDINGS = [Binding("escape", "close", "Back")]

    def __init__(self) -> None:
        super().__init__()
        self.snapshots: list[up.Snapshot] = []
        self.snapshot: up.Snapshot | None = None
        self.selected: set[str] = set()
        self.cache: dict[str, list[up.Node]] = {}
        self.staging = None
        self.filter = ""

    def compose(self) -> ComposeResult:
        yield Static("Uploads restore: snapshots tagged uploads", classes="title")
        with Horizontal(id="panes"):
            yield DataTable(id="snapshots", cursor_type="row")
            with Vertical(id="browser"):
                yield Input(placeholder="filter names in opened folders", id="filter")
                yield PickTree("(pick a snapshot: enter)", id="files")
        yield Static("nothing selected · space selects the highlighted file or folder", id="selected")
        with Horizontal(id="actions"):
            yield Button("Restore selected to staging", id="restore", variant="primary", disabled=True)
            yield Button("Copy back into uploads", id="apply", variant="warning", disabled=True)
        yield RichLog(id="out", wrap=True, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#snapshots", DataTable)
        for key in ("time", "host", "id"):
            table.add_column(key, key=key)
        self.query_one("#files", Tree).show_root = True
        self._log(f"repository: {self.app.settings.restic_repository or '(RESTIC_REPOSITORY not set)'}; "
                  f"uploads: {self.app.settings.uploads_path or '(CRM_UPLOADS_PATH not set)'}")
        self._load_snapshots()

    def _log(self, text: str, style: str = "") -> None:
        self.query_one("#out", RichLog).write(Text(text, style=style))

    @work(thread=True, group="uploads", exit_on_error=False)
    def _load_snapshots(self) -> None:
        try:
            snapshots = up.list_snapshots(self.app.settings)
        except up.UploadsError as exc:
            self.app.call_from_thread(self._log, f"cannot list snapshots: {exc}", "bold red")
            return
        self.app.call_from_thread(self._show_snapshots, snapshots)

    def _show_snapshots(self, snapshots: list[up.Snapshot]) -> None:
        self.snapshots = snapshots
        table = self.query_one("#snapshots", DataTable)
        for index, snap in enumerate(snapshots):
            table.add_row(snap.time[:19].replace("T", " "), snap.hostname, snap.short_id, key=str(index))
        if not snapshots:
            self._log("no snapshot tagged uploads in the repository", "bold red")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.snapshot = self.snapshots[event.cursor_row]
        self.selected.clear()
        self.cache.clear()
        self._update_selected()
        tree = self.query_one("#files", Tree)
        tree.reset(f"{self.snapshot.short_id}: {self.snapshot.root}", data=up.Node("", self.snapshot.root, "dir", 0))
        tree.root.expand()
        self._load_dir(tree.root)
        tree.focus()

    def _load_dir(self, node: TreeNode) -> None:
        path = node.data.path
        if path in self.cache:
            self._populate(node)
        else:
            self._fetch(node, path)

    @work(thread=True, group="uploads-ls", exit_on_error=False)
    def _fetch(self, node: TreeNode, path: str) -> None:
        try:
            nodes = up.list_dir(self.app.settings, self.snapshot, path)
        except up.UploadsError as exc:
            self.app.call_from_thread(self._log, f"cannot list {path}: {exc}", "bold red")
            return
        self.cache[path] = nodes
        self.app.call_from_thread(self._populate, node)

    def _label(self, item: up.Node) -> Text:
        mark = "✓ " if item.path in self.selected else "  "
        suffix = "/" if item.type == "dir" else ""
        return Text(f"{mark}{item.name}{suffix}", style="bold" if item.path in self.selected else "")

    def _populate(self, node: TreeNode) -> None:
        # Re-filling a folder (the filter changed) must keep its opened sub-folders open: the filter
        # is for names in opened folders, and new nodes start collapsed.
        opened = {child.data.path for child in node.children if child.data is not None and child.is_expanded}
        node.remove_children()
        for item in self.cache.get(node.data.path, []):
            if self.filter and item.type != "dir" and self.filter not in item.name.lower():
                continue
            if item.type == "dir":
                child = node.add(self._label(item), data=item, allow_expand=True)
                if item.path in opened and item.path in self.cache:
                    child.expand()
            else:
                node.add_leaf(self._label(item), data=item)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        if event.node.data is not None and event.node is not self.query_one("#files", Tree).root:
            self._load_dir(event.node)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter = event.value.strip().lower()
        tree = self.query_one("#files", Tree)

        def refresh(node: TreeNode) -> None:
            if node.data is not None and node.data.path in self.cache and (node.is_expanded or node is tree.root):
                self._populate(node)
                for child in node.children:
                    refresh(child)

        if self.snapshot is not None:
            refresh(tree.root)

    def action_toggle(self) -> None:
        tree = self.query_one("#files", Tree)
        node = tree.cursor_node
        if node is None or node.data is None or node is tree.root:
            return
        path = node.data.path
        self.selected.symmetric_difference_update({path})
        node.set_label(self._label(node.data))
        self._update_selected()

    def _update_selected(self) -> None:
        count = len(self.selected)
        text = "nothing selected · space selects the highlighted file or folder" if not count else \
            f"{count} selected: " + ", ".join(sorted(self.selected))[:300]
        self.query_one("#selected", Static).update(Text(text))
        self.query_one("#restore", Button).disabled = not count

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "restore":
            self._confirm_restore()
        elif event.button.id == "apply":
            self._confirm_apply()

    def _confirm_restore(self) -> None:
        settings = self.app.settings
        paths = sorted(self.selected)
        try:
            argv = up.restore_argv(self.snapshot, paths, up.restore_root(settings) / "uploads-XXXXXXXX")
        except up.UploadsError as exc:
            self._log(str(exc), "bold red")
            return
        lines = [shown(["restic", *argv]), f"into a new 0700 staging folder under {up.restore_root(settings)}",
                 "then: rsync --dry-run of copying them back (nothing is copied yet)"]

        def answer(yes: bool | None) -> None:
            if yes:
                self._restore(paths)

        self.app.push_screen(ConfirmScreen(f"Restore {len(paths)} path(s) from {self.snapshot.short_id}?", lines),
                             answer)

    @work(thread=True, group="uploads-restore", exclusive=True, exit_on_error=False)
    def _restore(self, paths: list[str]) -> None:
        settings = self.app.settings
        log = self.app.call_from_thread
        try:
            staging = up.make_staging(settings)
            log(self._log, f"restoring {len(paths)} path(s) into {staging}…")
            up.restore(settings, self.snapshot, paths, staging)
            self.staging = staging
            lines, command = up.copy_back(settings, staging, self.snapshot, dry_run=True)
        except up.UploadsError as exc:
            log(self._log, f"refused or failed: {exc}", "bold red")
            return
        log(self._log, f"dry run: {command}")
        for line in lines or ["(no differences: the uploads already hold these files as restored)"]:
            log(self._log, line)
        log(self._dry_run_done, bool(lines))

    def _dry_run_done(self, changes: bool) -> None:
        self.query_one("#apply", Button).disabled = not changes

    def _confirm_apply(self) -> None:
        settings = self.app.settings
        source = up.staged_source(self.staging, self.snapshot)
        try:
            argv = up.rsync_argv(source, settings.uploads_path, dry_run=False)
        except up.UploadsError as exc:
            self._log(str(exc), "bold red")
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._apply()

        self.app.push_screen(ConfirmScreen("Copy the restored files into the uploads?",
                                           [shown(argv), "as the dry run above listed; nothing is deleted"],
                                           yes="Copy"), answer)

    @work(thread=True, group="uploads-restore", exclusive=True, exit_on_error=False)
    def _apply(self) -> None:
        try:
            lines, command = up.copy_back(self.app.settings, self.staging, self.snapshot, dry_run=False)
        except up.UploadsError as exc:
            self.app.call_from_thread(self._log, f"copy failed: {exc}", "bold red")
            return
        self.app.call_from_thread(self._log, f"copied ({len(lines)} item(s)): {command}", "bold green")
        self.app.call_from_thread(self._dry_run_done, False)

    def action_close(self) -> None:
        self.dismiss(None)
