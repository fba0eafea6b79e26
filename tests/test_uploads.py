"""Partial uploads restore (core/uploads.py) against a real restic repository and real rsync: names
with spaces, unicode, a leading `-` and glob characters; only the chosen files restored; rsync's
itemised dry run lists exactly what is missing; apply copies it back and deletes nothing; hostile
paths and symlinks leading out are refused."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
from pathlib import Path

import pytest
from dr_support import wait_for
from jobs_support import init_restic_repo
from textual.widgets import DataTable, RichLog, Tree
from ui_support import settle

from opsbackup_tui.app import make_app
from opsbackup_tui.core import uploads as up
from opsbackup_tui.screens.confirm import ConfirmScreen
from opsbackup_tui.screens.uploads import UploadsScreen

FILES = {
    "contracts/Smlouva o dílo 2026.pdf": b"%PDF smlouva\n",
    "contracts/[draft]*.pdf": b"%PDF the draft with glob characters in its name\n",
    "contracts/draft-notes.pdf": b"%PDF matched by the glob [draft]*.pdf, never by the name\n",
    "contracts/a.pdf": b"%PDF also matched by the glob\n",
    "contracts/what?.txt": b"a question mark\n",
    "-n leading dash.txt": b"a name rsync or restic could read as an option\n",
    "photos/čeština/žluťoučký kůň.jpg": b"\xff\xd8\xff unicode folder and name\n",
    "photos/čeština/other.jpg": b"\xff\xd8\xff another\n",
    "photos/2026/11/doc 1.pdf": b"%PDF doc 1\n" * 100,
    "back\\slash.txt": b"a backslash in the name\n",
}


async def click(pilot, selector: str) -> None:
    """Click an enabled button (the uploads screen's buttons are being replaced by keys)."""
    from textual.widgets import Button

    screen = pilot.app.screen
    button = await wait_for(pilot, lambda: (b := screen.query_one(selector, Button)) and not b.disabled and b,
                            f"{selector} enabled")
    button.scroll_visible(animate=False, immediate=True)
    await pilot.pause()
    await pilot.click(button)
    await pilot.pause(0.25)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_of(folder: Path) -> dict[str, str]:
    """relative path -> sha256 of every regular file under folder."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                out[str(path.relative_to(folder))] = digest(path)
    return out


LINKS = {
    "latest.pdf": "contracts/a.pdf",  # stays inside the uploads: an ordinary upload
    "links/to-etc": "/etc",
    "links/to-hostname": "/etc/hostname",
    "links/to-crm-env": "../../../.env",  # from uploads/links: storage/.. is the CRM's folder
    "links/deep": "../" * 12 + "etc/passwd",
}
HOSTILE_LINKS = [name for name in LINKS if name.startswith("links/")]


def fill_uploads(folder: Path) -> Path:
    for rel, data in FILES.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for rel, target in LINKS.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, folder / rel)
    return folder


@pytest.fixture(scope="module")
def snapshot_of_uploads(tmp_path_factory):
    """One real restic repository holding one uploads snapshot (restic's key derivation makes each
    repository cost seconds): (repo, the uploads folder it snapshotted)."""
    folder = tmp_path_factory.mktemp("uploads-repo")
    uploads = fill_uploads(folder / "crm" / "storage" / "uploads")
    repo = init_restic_repo(folder / "restic")
    out = repo.run("backup", "--tag", "uploads", str(uploads))
    assert out.returncode == 0, out.stderr
    return repo, uploads


class Setup:
    """One test's view: the shared snapshot, a private copy of the uploads to restore into (the copy
    back writes into CRM_UPLOADS_PATH, which each test owns), a private restore root."""

    def __init__(self, tmp_path: Path, make_settings, repo, snapshotted: Path) -> None:
        self.repo = repo
        self.snapshotted = snapshotted
        self.uploads = tmp_path / "uploads-now"
        shutil.copytree(snapshotted, self.uploads, symlinks=True)
        self.restore_root = tmp_path / "restore"
        self.settings = make_settings(**repo.flags(self.uploads), restore_root=self.restore_root)
        [self.snapshot] = up.list_snapshots(self.settings)

    def path(self, rel: str) -> str:
        """The path of `rel` inside the snapshot."""
        return f"{self.snapshotted}/{rel}"

    def restored(self, staging: Path) -> dict[str, str]:
        return tree_of(up.staged_source(staging, self.snapshot))


@pytest.fixture
def setup(tmp_path, make_settings, snapshot_of_uploads) -> Setup:
    return Setup(tmp_path, make_settings, *snapshot_of_uploads)


# --- listing and browsing ---


def test_snapshots_tagged_uploads_newest_first(tmp_path, make_settings):
    uploads = fill_uploads(tmp_path / "uploads")
    repo = init_restic_repo(tmp_path / "restic")
    settings = make_settings(**repo.flags(uploads))
    assert up.list_snapshots(settings) == []
    assert repo.run("backup", "--tag", "uploads", str(uploads)).returncode == 0
    [first] = up.list_snapshots(settings)
    assert first.root == str(uploads) and len(first.id) == 64 and first.id.startswith(first.short_id)
    assert first.hostname and first.time.startswith("20")
    (uploads / "new.pdf").write_bytes(b"new")
    assert repo.run("backup", "--tag", "uploads", str(uploads)).returncode == 0
    assert repo.run("backup", "--tag", "other", str(uploads)).returncode == 0  # not an uploads snapshot
    snapshots = up.list_snapshots(settings)
    assert len(snapshots) == 2 and snapshots[1].id == first.id and snapshots[0].time > first.time


def test_browse_lazily_one_folder_at_a_time(setup):
    root = up.list_dir(setup.settings, setup.snapshot, setup.snapshot.root)
    assert [(n.name, n.type) for n in root] == [("contracts", "dir"), ("links", "dir"), ("photos", "dir"),
                                                ("-n leading dash.txt", "file"), ("back\\slash.txt", "file"),
                                                ("latest.pdf", "symlink")]
    assert root[3].path == setup.path("-n leading dash.txt") and root[3].size == len(FILES["-n leading dash.txt"])
    contracts = up.list_dir(setup.settings, setup.snapshot, setup.path("contracts"))
    assert sorted(n.name for n in contracts) == sorted(p.split("/", 1)[1] for p in FILES if p.startswith("contracts/"))
    inner = up.list_dir(setup.settings, setup.snapshot, setup.path("photos/čeština"))
    assert [n.name for n in inner] == ["other.jpg", "žluťoučký kůň.jpg"]
    with pytest.raises(up.UploadsError, match="outside"):
        up.list_dir(setup.settings, setup.snapshot, "/etc")


def test_listing_with_a_wrong_password_or_no_repository_says_so(setup, tmp_path, make_settings):
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not the password\n")
    settings = make_settings(restic_repository=str(setup.repo.path), restic_password_file=str(wrong))
    with pytest.raises(up.UploadsError, match="wrong restic password"):
        up.list_snapshots(settings)
    settings = make_settings(restic_repository=str(tmp_path / "nowhere"), restic_password_file=str(wrong))
    with pytest.raises(up.UploadsError, match="no restic repository at"):
        up.list_snapshots(settings)
    with pytest.raises(up.UploadsError, match="RESTIC_REPOSITORY"):
        up.list_snapshots(make_settings())


# --- restore, dry run, apply ---


def test_restore_only_the_chosen_files_then_dry_run_and_apply(setup):
    chosen = ["contracts/[draft]*.pdf", "-n leading dash.txt", "photos/čeština/žluťoučký kůň.jpg",
              "contracts/what?.txt", "back\\slash.txt"]
    staging = up.make_staging(setup.settings)
    assert staging.parent == setup.restore_root and stat.S_IMODE(staging.stat().st_mode) == 0o700
    up.restore(setup.settings, setup.snapshot, [setup.path(p) for p in chosen], staging)
    restored = setup.restored(staging)
    assert restored == {p: hashlib.sha256(FILES[p]).hexdigest() for p in chosen}  # nothing else

    # The operator lost them: the dry run lists exactly those, and copies nothing.
    before = tree_of(setup.uploads)
    for rel in chosen:
        (setup.uploads / rel).unlink()
    (setup.uploads / "contracts" / "uploaded-after.pdf").write_bytes(b"new since the snapshot")
    lines, command = up.copy_back(setup.settings, staging, setup.snapshot, dry_run=True)
    assert "--dry-run" in command and "--delete" not in command
    files = sorted(line.split(" ", 1)[1] for line in lines if line[1] == "f")
    assert files == sorted(chosen), lines
    assert all(line.startswith(">f+++++++++ ") for line in lines if line[1] == "f")
    assert not any((setup.uploads / rel).exists() for rel in chosen)

    # Apply: they are back, byte for byte; nothing else changed or deleted.
    lines, command = up.copy_back(setup.settings, staging, setup.snapshot, dry_run=False)
    assert "--dry-run" not in command
    after = tree_of(setup.uploads)
    assert after == {**before, "contracts/uploaded-after.pdf": digest(setup.uploads / "contracts" / "uploaded-after.pdf")}
    # A second dry run has no file left to copy.
    lines, _ = up.copy_back(setup.settings, staging, setup.snapshot, dry_run=True)
    assert not [line for line in lines if line[1] == "f"], lines


def test_restore_a_chosen_folder(setup):
    staging = up.make_staging(setup.settings)
    up.restore(setup.settings, setup.snapshot, [setup.path("photos/čeština")], staging)
    assert sorted(setup.restored(staging)) == ["photos/čeština/other.jpg", "photos/čeština/žluťoučký kůň.jpg"]


def test_each_restore_gets_a_fresh_staging_dir(setup):
    first, second = up.make_staging(setup.settings), up.make_staging(setup.settings)
    assert first != second and first.parent == second.parent == setup.restore_root
    assert stat.S_IMODE(setup.restore_root.stat().st_mode) == 0o700


def test_nothing_selected_is_refused(setup):
    with pytest.raises(up.UploadsError, match="nothing selected"):
        up.restore(setup.settings, setup.snapshot, [], up.make_staging(setup.settings))


# --- hostile paths ---


@pytest.mark.parametrize("path", [
    "{root}/../etc/passwd", "{root}/contracts/../../../etc", "/etc/passwd", "/", "contracts/a.pdf",
    "{root}-evil/file", "{root}/a\0b", "../../etc/shadow",
], ids=["dotdot", "deep-dotdot", "absolute-outside", "filesystem-root", "relative", "sibling-prefix", "nul",
        "relative-dotdot"])
def test_hostile_paths_are_refused_before_restic_runs(setup, path):
    hostile = path.format(root=setup.snapshotted)
    staging = up.make_staging(setup.settings)
    with pytest.raises(up.UploadsError, match="refused|not an absolute path"):
        up.restore_argv(setup.snapshot, [setup.path("contracts/a.pdf"), hostile], staging)
    with pytest.raises(up.UploadsError, match="refused|not an absolute path"):
        up.restore(setup.settings, setup.snapshot, [hostile], staging)
    assert os.listdir(staging) == []


def test_a_staging_dir_outside_the_restore_root_is_refused(setup, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.raises(up.UploadsError, match="outside"):
        up.restore(setup.settings, setup.snapshot, [setup.path("contracts/a.pdf")], elsewhere)
    assert os.listdir(elsewhere) == []


def test_a_restore_root_that_is_a_symlink_is_refused(tmp_path, make_settings):
    real = tmp_path / "real-root"
    real.mkdir()
    os.symlink(real, tmp_path / "link-root")
    settings = make_settings(restore_root=tmp_path / "link-root")
    with pytest.raises(up.UploadsError, match="symlink"):
        up.make_staging(settings)
    assert os.listdir(real) == []


@pytest.mark.parametrize("link", HOSTILE_LINKS)
def test_a_symlink_in_the_snapshot_pointing_outside_is_refused(setup, link):
    staging = up.make_staging(setup.settings)
    with pytest.raises(up.UploadsError, match=r"is a symlink to .*, outside the restored uploads: refused"):
        up.restore(setup.settings, setup.snapshot, [setup.path(link)], staging)
    restored_link = up.staged_source(staging, setup.snapshot) / link
    assert os.readlink(restored_link) == LINKS[link]  # restic restored it; nothing may copy it back
    with pytest.raises(up.UploadsError, match="outside the restored uploads"):
        up.check_staging(staging, up.staged_source(staging, setup.snapshot))
    with pytest.raises(up.UploadsError, match="outside the restored uploads"):
        up.copy_back(setup.settings, staging, setup.snapshot, dry_run=True)
    (setup.uploads / link).unlink()
    with pytest.raises(up.UploadsError, match="outside the restored uploads"):
        up.copy_back(setup.settings, staging, setup.snapshot, dry_run=False)
    assert not os.path.lexists(setup.uploads / link)


def test_check_staging_alone_refuses_links_out_of_the_staging_dir(setup):
    staging = up.make_staging(setup.settings)
    up.restore(setup.settings, setup.snapshot, [setup.path("contracts/a.pdf")], staging)
    up.check_staging(staging)
    os.symlink("/etc/passwd", staging / "planted")
    with pytest.raises(up.UploadsError, match="planted is a symlink to /etc/passwd"):
        up.check_staging(staging)


def test_a_symlink_that_stays_inside_the_uploads_is_restored(setup):
    staging = up.make_staging(setup.settings)
    up.restore(setup.settings, setup.snapshot, [setup.path("latest.pdf"), setup.path("contracts/a.pdf")], staging)
    assert os.readlink(up.staged_source(staging, setup.snapshot) / "latest.pdf") == "contracts/a.pdf"
    (setup.uploads / "latest.pdf").unlink()
    lines, _ = up.copy_back(setup.settings, staging, setup.snapshot, dry_run=False)
    assert "cL+++++++++ latest.pdf -> contracts/a.pdf" in lines
    assert os.readlink(setup.uploads / "latest.pdf") == "contracts/a.pdf"


def test_copy_back_needs_the_uploads_dir(setup, make_settings, tmp_path):
    staging = up.make_staging(setup.settings)
    up.restore(setup.settings, setup.snapshot, [setup.path("contracts/a.pdf")], staging)
    unset = make_settings(restic_repository=str(setup.repo.path), restic_password_file=str(setup.repo.password_file),
                          restore_root=setup.restore_root)
    with pytest.raises(up.UploadsError, match="CRM_UPLOADS_PATH is not set"):
        up.copy_back(unset, staging, setup.snapshot, dry_run=True)
    missing = make_settings(**setup.repo.flags(tmp_path / "no-such-dir"), restore_root=setup.restore_root)
    with pytest.raises(up.UploadsError, match="is not a directory"):
        up.copy_back(missing, staging, setup.snapshot, dry_run=True)
    empty = up.make_staging(setup.settings)
    with pytest.raises(up.UploadsError, match="nothing restored"):
        up.copy_back(setup.settings, empty, setup.snapshot, dry_run=True)


# --- the uploads screen (u), driven by Pilot ---


def node_named(parent, name: str):
    return next((child for child in parent.children if child.data is not None and child.data.name == name), None)


async def cursor_to(pilot, tree, node) -> None:
    """Put the tree's cursor on `node` (once the tree has laid it out: a new node has no line yet)."""
    await wait_for(pilot, lambda: node.line >= 0, "the node laid out")
    tree.focus()
    tree.move_cursor(node)
    await wait_for(pilot, lambda: tree.cursor_node is node, "the cursor on the node")


def shown_log(screen) -> str:
    """The output panel's text, its wrapping undone (where a line wraps depends on the path lengths)."""
    return " ".join(" ".join(strip.text.split()) for strip in screen.query_one("#out", RichLog).lines)


async def open_snapshot(pilot, setup):
    app = pilot.app
    await settle(pilot)
    await pilot.press("u")
    screen = await wait_for(pilot, lambda: isinstance(app.screen, UploadsScreen) and app.screen, "the uploads screen")
    table = screen.query_one("#snapshots", DataTable)
    await wait_for(pilot, lambda: table.row_count == 1, "the snapshot listed")
    assert str(table.get_row_at(0)[2]) == setup.snapshot.short_id
    table.focus()
    await pilot.press("enter")
    tree = screen.query_one("#files", Tree)
    await wait_for(pilot, lambda: node_named(tree.root, "contracts"), "the snapshot's root folder")
    return screen, tree


async def test_the_uploads_screen_restores_the_chosen_file_back(setup):
    lost = "contracts/[draft]*.pdf"
    (setup.uploads / lost).unlink()
    app = make_app(setup.settings, clock=time.time, host="backup-host")
    async with app.run_test(size=(120, 40)) as pilot:
        screen, tree = await open_snapshot(pilot, setup)
        contracts = node_named(tree.root, "contracts")
        await cursor_to(pilot, tree, contracts)
        await pilot.press("enter")  # opens the folder: listed lazily
        draft = await wait_for(pilot, lambda: node_named(contracts, "[draft]*.pdf"), "the folder's files")
        # The filter narrows the opened folders to matching names.
        filter_input = screen.query_one("#filter")
        filter_input.value = "smlouva"

        def opened_contracts():
            node = node_named(tree.root, "contracts")
            return node if node is not None and node.is_expanded else None

        await wait_for(pilot, lambda: (node := opened_contracts()) and [c.data.name for c in node.children]
                       == ["Smlouva o dílo 2026.pdf"], "the filtered folder, still open")
        assert [c.data.name for c in tree.root.children] == ["contracts", "links", "photos"]  # folders stay
        filter_input.value = ""
        draft = await wait_for(pilot, lambda: (node := opened_contracts()) and node_named(node, "[draft]*.pdf"),
                               "the whole folder again")
        assert node_named(tree.root, "-n leading dash.txt") is not None
        await cursor_to(pilot, tree, draft)
        await pilot.press("space")
        assert screen.selected == {setup.path(lost)}
        await click(pilot, "#restore")
        ask = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the confirmation")
        assert "--include" in ask.lines[0] and "\\[draft\\]\\*.pdf" in ask.lines[0]
        await pilot.press("y")
        await wait_for(pilot, lambda: not screen.query_one("#apply").disabled, "the dry run")
        log = shown_log(screen)
        assert "dry run: " in log and "--dry-run" in log
        assert f">f+++++++++ {lost}" in log
        assert not (setup.uploads / lost).exists()  # nothing copied yet
        await click(pilot, "#apply")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: (setup.uploads / lost).exists() and screen.query_one("#apply").disabled,
                       "the file copied back")
    assert (setup.uploads / lost).read_bytes() == FILES[lost]
    assert (setup.uploads / "contracts" / "draft-notes.pdf").read_bytes() == FILES["contracts/draft-notes.pdf"]


async def test_the_uploads_screen_refuses_a_symlink_leading_out(setup):
    app = make_app(setup.settings, clock=time.time, host="backup-host")
    async with app.run_test(size=(120, 40)) as pilot:
        screen, tree = await open_snapshot(pilot, setup)
        await cursor_to(pilot, tree, node_named(tree.root, "links"))
        await pilot.press("space")  # the whole folder
        await click(pilot, "#restore")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: "refused or failed:" in shown_log(screen), "the refusal")
        assert "outside the restored uploads: refused" in shown_log(screen)
        assert screen.query_one("#apply").disabled
