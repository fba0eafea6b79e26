"""Partial uploads restore (core/uploads.py) against a real restic repository and real rsync: names
with spaces, unicode, a leading `-` and glob characters; only the chosen files restored; rsync's
itemised dry run lists exactly what is missing; apply copies it back and deletes nothing; hostile
paths and symlinks leading out are refused; the name search over the whole snapshot; staging dirs
held, listed when old, removed. The screen (u) is driven by keys only, its keys counted."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
from dataclasses import replace
from pathlib import Path

import pytest
from jobs_support import ResticRepo, descendants, init_restic_repo, put_on_path, real_program
from textual.coordinate import Coordinate
from textual.widgets import Button, RichLog
from ui_support import SIZES, build_settings, fixed_clock, screen_text, settle, snapshot_host, snapshot_root, wait_for

from opsbackup_tui.app import make_app
from opsbackup_tui.core import uploads as up
from opsbackup_tui.screens.confirm import ConfirmScreen
from opsbackup_tui.screens.dashboard import DashboardScreen
from opsbackup_tui.screens.uploads import FilterInput, LeaveScreen, PickTree, SnapshotTable, UploadsScreen

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


# --- the search, the stopper, staging dirs ---


def test_the_search_lists_every_folder_as_list_dir_does(setup):
    folders: dict[str, list[up.Node]] = {}
    result = up.scan(setup.settings, setup.snapshot, folders.__setitem__)
    assert result.complete and result.entries == len(FILES) + len(LINKS) + 6  # 6 folders below the root
    for path in (setup.snapshot.root, setup.path("contracts"), setup.path("photos/čeština"), setup.path("links")):
        assert folders[path] == up.list_dir(setup.settings, setup.snapshot, path), path
    assert setup.path("photos/2026/11") in folders and len(folders) == 7


def test_the_search_stops_at_its_limit_and_reports_only_complete_folders(setup):
    folders: dict[str, list[up.Node]] = {}
    result = up.scan(setup.settings, setup.snapshot, folders.__setitem__, limit=9)
    assert not result.complete and result.entries == 9
    assert setup.snapshot.root not in folders  # never a partial list
    for path, entries in folders.items():
        assert entries == up.list_dir(setup.settings, setup.snapshot, path), path


def test_a_stopper_stops_a_running_restic_and_later_ones(setup):
    stopper = up.Stopper()
    stopper.stop()
    with pytest.raises(up.UploadsCancelled):
        up.list_snapshots(setup.settings, stopper)
    assert not [pid for pid in descendants() if _comm(pid) == "restic"]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_old_staging_dirs_are_those_no_session_holds(setup):
    held = up.Staging(setup.settings)
    left = up.make_staging(setup.settings)  # a session that ended: nobody holds it
    (left / "a").mkdir()
    (left / "a" / "big.bin").write_bytes(b"x" * 5000)
    os.symlink("/etc/passwd", left / "a" / "link")
    (setup.restore_root / "not-a-staging-dir").mkdir()
    [old] = up.old_stagings(setup.settings)
    assert (old.path, old.size, old.files) == (left, 5000 + len("/etc/passwd"), 2)
    with pytest.raises(up.UploadsError, match="in use by another uploads restore"):
        up.remove_old_staging(setup.settings, held.path)
    with pytest.raises(up.UploadsError, match="not a staging dir"):
        up.remove_old_staging(setup.settings, setup.restore_root / "not-a-staging-dir")
    with pytest.raises(up.UploadsError, match="not a staging dir"):
        up.remove_old_staging(setup.settings, setup.uploads)
    up.remove_old_staging(setup.settings, left)
    assert not left.exists() and Path("/etc/passwd").exists()
    assert held.path.exists() and up.old_stagings(setup.settings) == []
    held.remove()
    assert not held.path.exists()


# --- the uploads screen (u), driven by keys ---


def node_named(parent, name: str):
    return next((child for child in parent.children if child.data is not None and child.data.name == name), None)


def shown_log(screen) -> str:
    """The output panel's text, its wrapping undone (where a line wraps depends on the path lengths)."""
    return " ".join(" ".join(strip.text.split()) for strip in screen.query_one("#out", RichLog).lines)


def status(screen) -> str:
    return str(screen.query_one("#status").render())


def stagings(setup) -> list[str]:
    return sorted(p.name for p in setup.restore_root.glob("uploads-*")) if setup.restore_root.exists() else []


class Keys:
    """pilot.press, counted: the flows are measured in keys."""

    def __init__(self, pilot) -> None:
        self.pilot, self.count = pilot, 0

    async def __call__(self, *keys: str) -> None:
        self.count += len(keys)
        await self.pilot.press(*keys)

    async def type(self, text: str) -> None:
        await self(*[{" ": "space", "/": "slash"}.get(ch, ch) for ch in text])


async def open_uploads(pilot, keys: Keys) -> UploadsScreen:
    app = pilot.app
    await settle(pilot)
    await keys("u")
    return await wait_for(pilot, lambda: isinstance(app.screen, UploadsScreen) and app.screen, "the uploads screen")


async def open_snapshot(pilot, setup, keys: Keys):
    screen = await open_uploads(pilot, keys)
    table = screen.query_one(SnapshotTable)
    await wait_for(pilot, lambda: table.row_count == 1, "the snapshot listed")
    assert str(table.get_row_at(0)[1]) == setup.snapshot.short_id
    await keys("enter")
    tree = screen.query_one(PickTree)
    await wait_for(pilot, lambda: node_named(tree.root, "contracts"), "the snapshot's root folder")
    return screen, tree


async def find(pilot, keys: Keys, screen, name: str) -> None:
    """/ name enter: the cursor on the first match."""
    await keys("slash")
    assert screen.focused is screen.query_one(FilterInput)
    await keys.type(name)
    tree = screen.query_one(PickTree)
    await wait_for(pilot, lambda: screen.scan_state == "complete", "the search")
    await keys("enter")
    await wait_for(pilot, lambda: screen.focused is tree and tree.cursor_node is not None
                   and tree.cursor_node.data is not None and name in tree.cursor_node.data.name.lower(),
                   f"the cursor on {name!r}")


async def test_restore_one_lost_file_by_keys_only(setup):
    lost = "contracts/[draft]*.pdf"
    (setup.uploads / lost).unlink()
    app = make_app(setup.settings, clock=time.time, host="backup-host")
    async with app.run_test(size=(80, 24)) as pilot:
        keys = Keys(pilot)
        screen, tree = await open_snapshot(pilot, setup, keys)
        await find(pilot, keys, screen, "[draft]")
        await keys("space")
        assert screen.selected == {setup.path(lost)}
        await keys("r")
        ask = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the confirmation")
        assert "--include" in ask.lines[0] and "\\[draft\\]\\*.pdf" in ask.lines[0]
        await keys("y")
        await wait_for(pilot, lambda: not screen.query_one("#apply").disabled, "the dry run")
        assert "dry run: 2 item(s) to copy back" in status(screen) and "will" not in status(screen)
        log = shown_log(screen)
        assert "--dry-run" in log and f">f+++++++++ {lost}" in log
        assert not (setup.uploads / lost).exists() and len(stagings(setup)) == 1  # nothing copied yet
        await keys("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await keys("y")
        await wait_for(pilot, lambda: "copied back 2 item(s)" in status(screen), "the copy")  # the file and its folder
        assert "staging dir" in status(screen) and "removed" in status(screen)
        assert stagings(setup) == []  # removed after the successful copy
        assert screen.query_one("#apply").disabled
        await keys("q")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
    # u, enter, / + 7 letters, enter, space, r, y, c, y, q
    assert keys.count == 17
    assert (setup.uploads / lost).read_bytes() == FILES[lost]
    assert (setup.uploads / "contracts" / "draft-notes.pdf").read_bytes() == FILES["contracts/draft-notes.pdf"]
    assert "copied back into" in app.settings.log_path.read_text()


async def test_the_filter_finds_deep_files_keeps_opened_folders_and_escape_clears_then_leaves(setup):
    app = make_app(setup.settings, clock=time.time, host="backup-host")
    async with app.run_test(size=(120, 40)) as pilot:
        keys = Keys(pilot)
        screen, tree = await open_snapshot(pilot, setup, keys)
        # The operator opens contracts/ and selects a file in it.
        contracts = node_named(tree.root, "contracts")
        await keys("down")
        assert tree.cursor_node is contracts
        await keys("enter")
        await wait_for(pilot, lambda: node_named(node_named(tree.root, "contracts"), "a.pdf"), "contracts listed")
        await keys("down", "space")
        selected = set(screen.selected)
        assert len(selected) == 1
        # A name deep in a folder never opened: found by the search, its folders opened.
        await keys("slash")
        await keys.type("kůň")
        await wait_for(pilot, lambda: (p := node_named(tree.root, "photos")) and (c := node_named(p, "čeština"))
                       and node_named(c, "žluťoučký kůň.jpg"), "the deep match with its folders opened")
        photos = node_named(tree.root, "photos")
        assert photos.is_expanded and node_named(photos, "čeština").is_expanded
        assert [c.data.name for c in tree.root.children] == ["photos"]  # searched all: nothing else holds it
        assert "1 match(es) for 'kůň'" in status(screen) and "searched all" in status(screen)
        # Escape clears the filter: the folders the operator opened are open again, the selection kept.
        await keys("escape")
        filter_input = screen.query_one(FilterInput)
        assert filter_input.value == "" and isinstance(app.screen, UploadsScreen)
        await wait_for(pilot, lambda: (c := node_named(tree.root, "contracts")) and c.is_expanded
                       and node_named(c, "a.pdf"), "contracts open again")
        assert screen.selected == selected
        assert node_named(tree.root, "links") is not None
        # A second escape, on the empty filter, goes back.
        await keys("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")


async def test_an_early_enter_opens_the_newest_snapshot_when_the_list_arrives(setup, tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    real = real_program("restic")
    # The real restic, held back until the test opens the gate: the list is "still loading".
    put_on_path(monkeypatch, tmp_path / "bin", "restic",
                f'#!/bin/sh\nwhile [ ! -e "{gate}" ]; do sleep 0.02; done\nexec "{real}" "$@"\n')
    app = make_app(setup.settings, clock=time.time, host="backup-host")
    async with app.run_test(size=(80, 24)) as pilot:
        keys = Keys(pilot)
        screen = await open_uploads(pilot, keys)
        await keys("enter")
        assert "still loading the snapshots" in status(screen)
        gate.touch()
        tree = screen.query_one(PickTree)
        await wait_for(pilot, lambda: node_named(tree.root, "contracts"), "the newest snapshot opened")
        assert screen.snapshot == setup.snapshot and screen.focused is tree


def slow_restore_app(setup, tmp_path, monkeypatch):
    """The app over a copy of the repository with one more snapshot holding a 2 MiB file, and the
    real restic slowed to 16 KiB/s on PATH: a restore of that file is still running when the
    operator leaves."""
    real = real_program("restic")
    put_on_path(monkeypatch, tmp_path / "bin", "restic",
                f'#!/bin/sh\nexec "{real}" --limit-download 16 "$@"\n')
    repo = ResticRepo(tmp_path / "own-repo", setup.repo.password_file, setup.repo.password)
    shutil.copytree(setup.repo.path, repo.path)  # a second snapshot must not reach the other tests
    big = setup.uploads.parent / "big-uploads"
    big.mkdir()
    (big / "scan.tif").write_bytes(os.urandom(2 * 1024 * 1024))
    assert repo.run("backup", "--tag", "uploads", str(big)).returncode == 0
    settings = replace(setup.settings, restic_repository=str(repo.path))
    return make_app(settings, clock=time.time, host="backup-host")


def restic_restoring() -> int | None:
    return next((pid for pid in descendants() if _comm(pid) == "restic"
                 and "restore" in Path(f"/proc/{pid}/cmdline").read_text()), None)


async def start_slow_restore(pilot, setup, keys: Keys) -> tuple[UploadsScreen, int, list[str]]:
    screen = await open_uploads(pilot, keys)
    table = screen.query_one(SnapshotTable)
    await wait_for(pilot, lambda: table.row_count == 2, "both snapshots")
    await keys("enter")  # the newest: big-uploads
    tree = screen.query_one(PickTree)
    await wait_for(pilot, lambda: node_named(tree.root, "scan.tif"), "the big file")
    await keys("down", "space", "r", "y")
    restic = await wait_for(pilot, restic_restoring, "restic restore running")
    staging = await wait_for(pilot, lambda: stagings(setup), "its staging dir")
    return screen, restic, staging


async def test_leaving_during_a_restore_asks_cancels_it_and_removes_its_staging_dir(setup, tmp_path, monkeypatch):
    app = slow_restore_app(setup, tmp_path, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        keys = Keys(pilot)
        screen, restic, staging = await start_slow_restore(pilot, setup, keys)
        await keys("q")
        ask = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the question")
        assert ask.title_text == "The restore is running. Cancel it and go back?"
        await keys("escape")  # no: it keeps running
        await wait_for(pilot, lambda: app.screen is screen, "back on the uploads screen")
        assert screen.running == "restore" and _comm(restic) == "restic"
        await keys("escape")  # escape means the same as q
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await keys("y")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
    assert _comm(restic) != "restic"
    assert not [pid for pid in descendants() if _comm(pid) == "restic"]
    assert stagings(setup) == [] and not (setup.restore_root / staging[0]).exists()
    logged = app.settings.log_path.read_text()
    assert "the restore was cancelled on leaving the screen" in logged and staging[0] in logged


async def test_quitting_the_app_during_a_restore_stops_restic(setup, tmp_path, monkeypatch):
    app = slow_restore_app(setup, tmp_path, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        keys = Keys(pilot)
        screen, restic, staging = await start_slow_restore(pilot, setup, keys)
        await keys("ctrl+q")
        await wait_for(pilot, lambda: app._exit, "the app quitting")
    assert not [pid for pid in descendants() if _comm(pid) == "restic"]
    assert "was stopped as the app quit" in app.settings.log_path.read_text()
    assert [item.path.name for item in up.old_stagings(app.settings)] == staging  # o removes it next time


async def test_restored_files_not_copied_back_ask_before_leaving_and_can_be_removed_later(setup):
    app = make_app(setup.settings, clock=time.time, host="backup-host")
    (setup.uploads / "back\\slash.txt").unlink()
    async with app.run_test(size=(80, 24)) as pilot:
        keys = Keys(pilot)
        screen, tree = await open_snapshot(pilot, setup, keys)
        await find(pilot, keys, screen, "slash")
        await keys("space", "r", "y")
        await wait_for(pilot, lambda: screen.changes, "the dry run")
        [staging] = stagings(setup)
        await keys("q")
        ask = await wait_for(pilot, lambda: isinstance(app.screen, LeaveScreen) and app.screen, "the question")
        assert "1 restored file(s)" in ask.title_text and "not copied back" in ask.title_text
        await keys("escape")  # stay
        await wait_for(pilot, lambda: app.screen is screen, "still here")
        await keys("q")
        await wait_for(pilot, lambda: isinstance(app.screen, LeaveScreen), "the question again")
        await keys("k")  # keep it for later
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        assert stagings(setup) == [staging]
        # Next visit: listed with its size, and removed on request.
        screen = await open_uploads(pilot, keys)
        await wait_for(pilot, lambda: screen.old, "the old staging dir found")
        assert "1 old staging dir(s)" in shown_log(screen) and "o offers them for removal" in shown_log(screen)
        await keys("o")
        ask = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "the offer")
        assert staging in ask.lines[0] and "1 file(s)" in ask.lines[0]
        await keys("y")
        await wait_for(pilot, lambda: "removed 1 old staging dir(s)" in status(screen), "the removal")
        assert stagings(setup) == []
        await keys("q")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")


async def test_every_key_of_the_screen_is_in_the_footer_at_80x24(setup):
    app = make_app(setup.settings, clock=time.time, host="backup-host")
    async with app.run_test(size=(80, 24)) as pilot:
        keys = Keys(pilot)
        screen, tree = await open_snapshot(pilot, setup, keys)
        footer = screen_text(app).splitlines()[-1]
        for shown_key in ("esc Back", "/ Filter", "space Select", "r Restore", "c Copy back", "o Old staging"):
            assert shown_key in footer, footer
        for button in screen.query(Button):
            assert button.region.height == 1 and app.screen.region.contains_region(button.region)


async def test_the_uploads_screen_refuses_a_symlink_leading_out(setup):
    app = make_app(setup.settings, clock=time.time, host="backup-host")
    async with app.run_test(size=(120, 40)) as pilot:
        keys = Keys(pilot)
        screen, tree = await open_snapshot(pilot, setup, keys)
        await wait_for(pilot, lambda: tree.cursor_node is not None, "the cursor in the tree")
        await keys("down", "down")
        assert tree.cursor_node.data.name == "links"
        await keys("space", "r")  # the whole folder
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await keys("y")
        await wait_for(pilot, lambda: "refused or failed" in status(screen), "the refusal")
        assert "outside the restored uploads: refused" in shown_log(screen)
        assert "staging dir removed" in status(screen) and stagings(setup) == []
        assert screen.query_one("#apply").disabled


# --- snapshots of the screen ---


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_snapshot_uploads_screen_with_a_deep_match_selected(snap_compare, size, monkeypatch):
    """At fixed paths, with the snapshot's time and host fixed (restic --time --host); its id is
    random (content addressed, inodes included), so the table's id cell is shown as a placeholder
    once the real one was seen."""
    with snapshot_host(monkeypatch):
        root = snapshot_root(f"uploads-{size[0]}x{size[1]}")
        if root.exists():
            shutil.rmtree(root)
        uploads = fill_uploads(root / "uploads")
        repo = init_restic_repo(root / "restic")
        made = repo.run("backup", "--tag", "uploads", "--host", "backup-host", "--time", "2026-11-26 03:00:00",
                        str(uploads))
        assert made.returncode == 0, made.stderr
        settings = build_settings(root, **repo.flags(uploads))
        app = make_app(settings, clock=fixed_clock, host="backup-host")

        async def found(pilot):
            keys = Keys(pilot)
            screen = await open_uploads(pilot, keys)
            table = screen.query_one(SnapshotTable)
            await wait_for(pilot, lambda: table.row_count == 1, "the snapshot listed")
            assert str(table.get_row_at(0)[1]) == screen.snapshots[0].short_id
            table.update_cell_at(Coordinate(0, 1), "5a9e1d0c")
            await keys("enter")
            await find(pilot, keys, screen, "kůň")
            await keys("space")
            await wait_for(pilot, lambda: "1 selected" in str(screen.query_one("#selected").render()), "selected")

        assert snap_compare(app, terminal_size=size, run_before=found)
