"""Legacy migration (runbook §6) on real temp trees: every legacy shape, conflicts, non-SQL and
truncated files, mtime-only times, the dry run, the run, re-runs, and `opsbackup migrate` killed
(SIGKILL) mid-compress, between compress and rename and at each step of publishing, or cancelled
(SIGINT) mid-file, then re-run: nothing lost, nothing duplicated, every checksum verified."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from jobs_support import REPO_ROOT, SAFETY_S, cli, find_child, pid_alive, run, wait_until
from treeutil import dump_bytes, legacy_sql, make_dump, put, write_sized_sql

from opsbackup_tui.core.artefacts.dumps import DUMP_RE, read_sha256_file
from opsbackup_tui.core.artefacts.journal import JOURNAL
from opsbackup_tui.core.artefacts.tree import BackupTree
from opsbackup_tui.core.jobs.migrate import TEMP_SUFFIX, MigrateJob, plan_migration, time_from_name


def at(*parts: int) -> float:
    """Epoch seconds of a local time (names carry local times, as mtimes are read)."""
    return datetime(*parts).timestamp()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def content_sha(path: Path) -> str:
    """sha256 of the decompressed content of a .gz (multi-member allowed); raises on a corrupt file."""
    digest = hashlib.sha256()
    decoder = zlib.decompressobj(wbits=31)
    with open(path, "rb") as handle:
        while raw := handle.read(1 << 20):
            while raw:
                digest.update(decoder.decompress(raw))
                if decoder.eof:
                    raw, decoder = decoder.unused_data, zlib.decompressobj(wbits=31)
                else:
                    raw = b""
    assert decoder.eof or not decoder.unconsumed_tail, f"{path} is truncated"
    return digest.hexdigest()


def listing(*folders: Path) -> dict[str, tuple[int, float, str]]:
    """Every file under the folders (lock files and the record of the run itself aside): size, mtime,
    sha256 of the bytes."""
    out = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if d not in (".locks", ".jobs")]
            for name in files:
                path = Path(root) / name
                st = os.lstat(path)
                out[str(path)] = (st.st_size, st.st_mtime, "symlink" if os.path.islink(path) else file_sha(path))
    return out


def cli_env(settings) -> dict[str, str]:
    env = os.environ.copy()
    env.update(OPS_BACKUP_BASE=str(settings.backup_base), OPS_STATE_DIR=str(settings.state_dir),
               OPS_LOG_PATH=str(settings.log_path),
               OPS_LEGACY_PATHS=":".join(str(p) for p in settings.legacy_paths))
    return env


def run_cli(settings, *args: str) -> subprocess.CompletedProcess:
    proc = cli(*args, env=cli_env(settings))
    out, err = proc.communicate(timeout=SAFETY_S)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_migrated(settings, source: Path, content: str, mtime: float, target: str) -> Path:
    """`source` is gone; db/<target> holds its content, keeps its mtime, and has a true .sha256."""
    path = settings.db_dir / target
    assert not source.exists(), f"{source} should have been removed after its migration"
    assert path.is_file(), f"{target} missing; db/ holds {sorted(os.listdir(settings.db_dir))}"
    assert content_sha(path) == content, f"{target} does not hold the content of {source.name}"
    assert read_sha256_file(path.with_name(target + ".sha256"), target) == file_sha(path)
    assert path.with_name(target + ".sha256").read_text() == f"{file_sha(path)}  {target}\n"
    assert os.stat(path).st_mtime == pytest.approx(mtime, abs=1e-3)
    return path


def assert_clean_db(settings) -> None:
    """No temp file, no journal; every dump in db/ has a .sha256 that matches (the runbook's post-check)."""
    names = sorted(os.listdir(settings.db_dir))
    assert not [n for n in names if n.endswith(TEMP_SUFFIX) or n.endswith(".tmp")], names
    assert JOURNAL not in names
    for name in names:
        if DUMP_RE.fullmatch(name):
            path = settings.db_dir / name
            assert read_sha256_file(path.with_name(name + ".sha256"), name) == file_sha(path), name
    assert BackupTree(settings.backup_base).ignored_dumps() == []


# --- the legacy tree: every shape of the issue ---


@dataclass
class Legacy:
    path: Path
    content: str  # sha256 of the uncompressed SQL
    mtime: float
    action: str
    target: str | None
    time_source: str
    problems: tuple[str, ...] = ()  # fragments each of which one problem must contain
    note: bool = False  # a .note (truncated) after the run


@dataclass
class LegacyTree:
    settings: object
    files: dict[str, Legacy] = field(default_factory=dict)
    existing: Path | None = None  # a valid dump already in db/

    def of(self, action: str) -> list[Legacy]:
        return [f for f in self.files.values() if f.action == action]


def build_legacy_tree(settings) -> LegacyTree:
    base, db = settings.backup_base, settings.db_dir
    (legacy,) = settings.legacy_paths
    tree = LegacyTree(settings)
    tree.existing = make_dump(base, "20240601-0300", data=dump_bytes("CREATE TABLE newest (id int);\n"),
                              age_s=0, now=at(2024, 6, 1, 3, 0))

    def add(key: str, path: Path, *, when: float, action: str, target: str | None, time_source: str,
            problems: tuple[str, ...] = (), gz: bool = False, trailer: bool = True, raw: bytes | None = None,
            note: bool = False, seed: int | None = None) -> None:
        sql = legacy_sql(seed=len(tree.files) if seed is None else seed, trailer=trailer, block_rows=40)
        data = raw if raw is not None else gzip.compress(sql, mtime=0) if gz else sql
        put(path, data, when)
        tree.files[key] = Legacy(path, sha(sql), when, action, target, time_source, problems, note)

    # The shapes named in the issue, in the base dir, in db/ and in OPS_LEGACY_PATHS.
    add("dashed", base / "crm-2024-05-01_0300.sql", when=at(2024, 5, 1, 3, 0), action="compress+move",
        target="full-20240501-0300.sql.gz", time_source="name")
    add("compact", base / "backup_20240502030000.sql", when=at(2024, 5, 2, 3, 0), action="compress+move",
        target="full-20240502-0300.sql.gz", time_source="name")
    add("date-only gz", db / "db-20240503.sql.gz", when=at(2024, 5, 3, 0, 5), gz=True, action="move",
        target="full-20240503-0000.sql.gz", time_source="name (date only, 00:00)")
    add("canonical without checksum", db / "full-20240504-0300.sql.gz", when=at(2024, 5, 4, 3, 0), gz=True,
        action="checksum only", target="full-20240504-0300.sql.gz", time_source="name")
    add("canonical plain sql", legacy / "full-20240505-0300.sql", when=at(2024, 5, 5, 3, 0),
        action="compress+move", target="full-20240505-0300.sql.gz", time_source="name")
    add("gz in legacy path", legacy / "crm_2024-05-06_0300.sql.gz", when=at(2024, 5, 6, 3, 0), gz=True,
        action="move", target="full-20240506-0300.sql.gz", time_source="name")
    # No date in the name: an old mtime is used (and said); a fresh one would fake tonight's dump.
    add("old mtime only", base / "old-export.sql", when=at(2024, 4, 15, 12, 34), action="compress+move",
        target="full-20240415-1234.sql.gz", time_source="mtime",
        problems=("no date in the name: time taken from the mtime",))
    fresh = time.time() - 120
    add("fresh mtime only", base / "fresh-export.sql", when=fresh, action="skip",
        target=f"full-{datetime.fromtimestamp(fresh):%Y%m%d-%H%M}.sql.gz", time_source="mtime",
        problems=("no date in the name", "would make it the newest dump", "skipped"))
    # Not a dump.
    add("not sql", base / "notes.sql", when=at(2024, 5, 1), raw=b"meeting notes: call Jana back on Monday\n",
        action="skip", target=None, time_source="", problems=("not a SQL dump",))
    add("not gzip", base / "broken.sql.gz", when=at(2024, 5, 1), raw=b"this is not gzip at all\n" * 10,
        action="skip", target=None, time_source="", problems=("not a gzip file",))
    # A dump cut short: migrated, flagged in the dry run and by a .note.
    add("truncated", legacy / "truncated-20240507-0300.sql", when=at(2024, 5, 7, 3, 0), trailer=False,
        action="compress+move", target="full-20240507-0300.sql.gz", time_source="name",
        problems=("truncated: no `-- Dump completed` trailer",), note=True)
    add("truncated inside gz", db / "db-20240510.sql.gz", when=at(2024, 5, 10, 0, 1), gz=True, trailer=False,
        action="move", target="full-20240510-0000.sql.gz", time_source="name (date only, 00:00)", note=True)
    # Conflicts: an existing target is never overwritten; two files for one target: the first wins.
    add("target exists", base / "crm-2024-06-01_0300.sql", when=at(2024, 6, 1, 3, 0), action="skip",
        target="full-20240601-0300.sql.gz", time_source="name",
        problems=("conflict: full-20240601-0300.sql.gz already exists; never overwritten",))
    add("same target, first", base / "a-2024-05-08_0300.sql", when=at(2024, 5, 8, 3, 0),
        action="compress+move", target="full-20240508-0300.sql.gz", time_source="name")
    add("same target, second", legacy / "b-20240508-0300.sql", when=at(2024, 5, 8, 3, 0), action="skip",
        target="full-20240508-0300.sql.gz", time_source="name",
        problems=("conflict: another legacy file also maps to full-20240508-0300.sql.gz",))
    # Times that cannot be trusted: the name and the mtime disagree; the name holds an impossible date.
    add("name vs mtime", base / "backup_20240509030000.sql", when=at(2025, 3, 1, 10, 0), action="compress+move",
        target="full-20240509-0300.sql.gz", time_source="name",
        problems=("time not trusted: the name says 2024-05-09 03:00, the mtime 2025-03-01 10:00",))
    add("impossible date", base / "backup_20241399_0300.sql", when=at(2024, 4, 20, 10, 0), action="compress+move",
        target="full-20240420-1000.sql.gz", time_source="mtime",
        problems=("the name holds an impossible date: time taken from the mtime",))
    # Never candidates: another extension, a symlink, a hidden file.
    put(base / "readme.txt", b"-- MariaDB dump\n", at(2024, 5, 1))
    put(legacy / ".half-20240511.sql", legacy_sql(block_rows=10), at(2024, 5, 11))
    os.symlink(tree.files["dashed"].path, base / "link-20240512-0300.sql")
    return tree


@pytest.fixture
def legacy_tree(make_settings, tmp_path) -> LegacyTree:
    (tmp_path / "legacy").mkdir()
    return build_legacy_tree(make_settings(legacy_paths=tmp_path / "legacy"))


# --- time from the name ---


@pytest.mark.parametrize("name, expected, how", [
    ("crm-2024-05-01_0300.sql", datetime(2024, 5, 1, 3, 0), "name"),
    ("backup_20240501030000.sql", datetime(2024, 5, 1, 3, 0), "name"),
    ("db-20240501.sql.gz", datetime(2024, 5, 1), "name (date only, 00:00)"),
    ("full-20240501-0300.sql", datetime(2024, 5, 1, 3, 0), "name"),
    ("dump 2024-05-01 03:00.sql", datetime(2024, 5, 1, 3, 0), "name"),
    ("crm.sql", None, "no date in the name"),
    ("backup_20241399_0300.sql", None, "the name holds an impossible date"),
    ("db-20240231.sql.gz", None, "the name holds an impossible date"),
])
def test_time_from_name(name, expected, how):
    assert time_from_name(name) == (expected, how)


# --- the dry run ---


def test_dry_run_lists_every_shape_with_target_action_time_and_problems(legacy_tree):
    settings = legacy_tree.settings
    before = listing(settings.backup_base, *settings.legacy_paths)
    plan = plan_migration(settings)
    assert listing(settings.backup_base, *settings.legacy_paths) == before, "a dry run changes nothing"

    by_source = {c.source: c for c in plan.candidates}
    expected = {str(f.path): f for f in legacy_tree.files.values()}
    assert set(by_source) == set(expected), "exactly the legacy files, no txt, symlink or hidden file"
    for source, want in expected.items():
        got = by_source[source]
        assert got.action == want.action, (source, got.action, got.problems)
        assert (Path(got.target).name if got.target else None) == want.target, source
        if got.target:
            assert Path(got.target).parent == settings.db_dir
        assert got.time_source == want.time_source, source
        for fragment in want.problems:
            assert any(fragment in p for p in got.problems), (source, fragment, got.problems)
        if not want.problems:
            assert got.problems == [], (source, got.problems)
    assert plan.folders == [str(settings.backup_base), str(settings.db_dir), str(settings.legacy_paths[0])]
    assert plan.dumps_before == 2 and plan.missing_checksums == 1  # the newest, and the canonical one without
    # The order: base dir, db/, legacy paths; names sorted in each.
    order = [c.source for c in plan.candidates]
    assert order == sorted(order, key=lambda s: (plan.folders.index(str(Path(s).parent)), Path(s).name))


def test_dry_run_cli_json_and_text(legacy_tree):
    settings = legacy_tree.settings
    before = listing(settings.backup_base, *settings.legacy_paths)
    done = run_cli(settings, "migrate", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert {c["source"]: c["action"] for c in data["candidates"]} == \
        {str(f.path): f.action for f in legacy_tree.files.values()}
    assert data["dumps_before"] == 2 and data["missing_checksums"] == 1
    text = run_cli(settings, "migrate", "--dry-run")
    assert text.returncode == 0
    assert f"{legacy_tree.files['dashed'].path} (" in text.stdout
    assert "-> full-20240501-0300.sql.gz [compress+move; time from name]" in text.stdout
    assert "! conflict: full-20240601-0300.sql.gz already exists; never overwritten" in text.stdout
    assert "! not a SQL dump" in text.stdout
    assert listing(settings.backup_base, *settings.legacy_paths) == before


def test_dry_run_uses_the_callers_clock(make_settings, tmp_path):
    """What is "in the future" follows the clock the caller passes (the UI's injected one)."""
    settings = make_settings()
    put(settings.backup_base / "crm-2030-01-01_0300.sql", legacy_sql(block_rows=5), at(2030, 1, 1, 3, 0))
    (later,) = plan_migration(settings, now=at(2031, 1, 1)).candidates
    (sooner,) = plan_migration(settings, now=at(2029, 1, 1)).candidates
    assert not any("in the future" in p for p in later.problems)
    assert any("2030-01-01 03:00 is in the future" in p for p in sooner.problems)


# --- the run ---


async def test_run_migrates_every_shape_and_leaves_the_rest_alone(legacy_tree):
    settings = legacy_tree.settings
    files = legacy_tree.files
    existing_bytes = legacy_tree.existing.read_bytes()
    existing_sha = (settings.db_dir / "full-20240601-0300.sql.gz.sha256").read_text()

    finished, rec = await run(MigrateJob(settings))
    assert finished.ok, finished.error
    migrated = [f for f in files.values() if f.action in ("compress+move", "move")]
    assert finished.summary.startswith(f"{len(migrated) + 1} of {len(migrated) + 1} migrated; dumps in db/: 2 → "
                                       f"{2 + len(migrated)}; without .sha256: 0; ")
    assert finished.result.dumps_after == 2 + len(migrated)
    assert finished.result.missing_checksums_after == 0
    assert finished.result.bytes_saved > 0
    assert "migrating" in rec.phases and "checking" in rec.phases

    for f in migrated:
        target = assert_migrated(settings, f.path, f.content, f.mtime, f.target)
        note = target.with_name(target.name + ".note")
        assert note.exists() == f.note, f.path
        if f.note:
            assert "truncated: no `-- Dump completed` trailer" in note.read_text()
            assert str(f.path) in note.read_text()
    # The canonical dump without a checksum got one, in place.
    canonical = files["canonical without checksum"]
    assert canonical.path.exists() and content_sha(canonical.path) == canonical.content
    assert read_sha256_file(canonical.path.with_name(canonical.path.name + ".sha256"),
                            canonical.path.name) == file_sha(canonical.path)
    # Skipped files are untouched; the existing dump is never overwritten.
    for f in legacy_tree.of("skip"):
        assert f.path.exists(), f.path
        assert os.stat(f.path).st_mtime == pytest.approx(f.mtime, abs=1e-3)
    assert legacy_tree.existing.read_bytes() == existing_bytes
    assert (settings.db_dir / "full-20240601-0300.sql.gz.sha256").read_text() == existing_sha
    assert_clean_db(settings)
    # The fresh-mtime file did not become "the newest dump".
    assert BackupTree(settings.backup_base).newest_valid_dump().name == "full-20240601-0300.sql.gz"
    # The results name what happened to each file.
    results = {c["source"]: c for c in finished.result.plan["candidates"]}
    assert results[str(files["truncated inside gz"].path)]["truncated"] is True
    assert results[str(files["dashed"].path)]["result"] == "migrated"
    assert results[str(canonical.path)]["result"] == "checksum written"


async def test_rerun_is_a_no_op(legacy_tree):
    settings = legacy_tree.settings
    first, _ = await run(MigrateJob(settings))
    assert first.ok, first.error
    after_first = listing(settings.backup_base, *settings.legacy_paths)

    plan = plan_migration(settings)
    assert [c for c in plan.candidates if c.runnable] == []
    again, _ = await run(MigrateJob(settings))
    assert again.ok and again.summary.startswith("0 of 0 migrated")
    assert listing(settings.backup_base, *settings.legacy_paths) == after_first
    done = run_cli(settings, "migrate")
    assert done.returncode == 0, done.stderr + done.stdout
    assert listing(settings.backup_base, *settings.legacy_paths) == after_first


def test_cli_run_json(legacy_tree):
    settings = legacy_tree.settings
    done = run_cli(settings, "migrate", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is True and data["missing_checksums_after"] == 0
    assert data["dumps_after"] == data["plan"]["dumps_before"] + len(
        [f for f in legacy_tree.files.values() if f.action in ("compress+move", "move")])
    assert "migrate started" in done.stderr  # progress goes to stderr with --json


async def test_an_old_mtime_is_used_only_when_older_than_the_newest_dump(make_settings):
    """Without a date in the name the mtime is the only time: with no dump at all in db/, even an old
    mtime would make the file the newest dump, so it is skipped too."""
    settings = make_settings()
    put(settings.backup_base / "export.sql", legacy_sql(block_rows=5), at(2024, 4, 1, 8, 0))
    (candidate,) = plan_migration(settings).candidates
    assert candidate.action == "skip" and "would make it the newest dump" in " ".join(candidate.problems)
    finished, _ = await run(MigrateJob(settings))
    assert finished.ok and (settings.backup_base / "export.sql").exists()
    assert BackupTree(settings.backup_base).newest_valid_dump() is None


async def test_a_truncated_gzip_file_fails_alone_and_stays(make_settings):
    """A .sql.gz whose gzip stream is cut cannot be verified: that file fails, the original stays,
    the other files are still migrated, and the job says which file and why."""
    settings = make_settings()
    base = settings.backup_base
    whole = gzip.compress(legacy_sql(seed=3, block_rows=400), mtime=0)
    put(base / "cut-20240512-0300.sql.gz", whole[: len(whole) // 2], at(2024, 5, 12, 3, 0))
    good_sql = legacy_sql(seed=4, block_rows=40)
    put(base / "good-20240513-0300.sql", good_sql, at(2024, 5, 13, 3, 0))

    finished, _ = await run(MigrateJob(settings))
    assert not finished.ok
    assert "cut-20240512-0300.sql.gz" in finished.error and "truncated" in finished.error, finished.error
    assert "internal error" not in finished.error
    assert (base / "cut-20240512-0300.sql.gz").read_bytes() == whole[: len(whole) // 2]
    assert_migrated(settings, base / "good-20240513-0300.sql", sha(good_sql), at(2024, 5, 13, 3, 0),
                    "full-20240513-0300.sql.gz")
    assert not (settings.db_dir / "full-20240512-0300.sql.gz").exists()
    assert_clean_db(settings)
    assert finished.result.plan["candidates"][0]["result"].startswith("FAILED")


async def test_a_published_target_that_does_not_match_the_journal_is_left_alone(make_settings):
    """The journal says a run published this target, but the target holds something else: both stay."""
    settings = make_settings()
    source = put(settings.backup_base / "crm-2024-05-01_0300.sql", legacy_sql(block_rows=5), at(2024, 5, 1, 3))
    make_dump(settings.backup_base, "20240501-0300", data=dump_bytes("CREATE TABLE other (id int);\n"), sha=False)
    (settings.db_dir / JOURNAL).write_text(json.dumps({"full-20240501-0300.sql.gz": {
        "source": str(source), "size": source.stat().st_size, "content_sha256": "0" * 64}}))
    plan = plan_migration(settings)
    assert {c.action for c in plan.candidates} == {"finish", "checksum only"}
    finished, _ = await run(MigrateJob(settings))
    assert not finished.ok and "does not hold crm-2024-05-01_0300.sql" in finished.error
    assert source.exists()


# --- interruptions: a real `opsbackup migrate` killed, then re-run ---

BIG = 48 * 1024 * 1024  # pigz needs about a second for it on 2 cores: a wide window to hit


@dataclass
class KillTree:
    settings: object
    originals: dict[Path, tuple[str, float]]  # path -> (content sha256, mtime)
    big: Path
    small: Path


@pytest.fixture
def kill_tree(make_settings, tmp_path) -> KillTree:
    (tmp_path / "legacy").mkdir()
    settings = make_settings(legacy_paths=tmp_path / "legacy")
    base = settings.backup_base
    make_dump(base, "20240601-0300", age_s=0, now=at(2024, 6, 1, 3, 0))
    big = base / "crm-2024-05-01_0300.sql"
    big_sha = write_sized_sql(big, BIG, seed=11)
    os.utime(big, (at(2024, 5, 1, 3, 0),) * 2)
    small_sql = legacy_sql(seed=12, block_rows=300)
    small = put(tmp_path / "legacy" / "backup_20240502030000.sql", small_sql, at(2024, 5, 2, 3, 0))
    return KillTree(settings, {big: (big_sha, at(2024, 5, 1, 3, 0)), small: (sha(small_sql), at(2024, 5, 2, 3, 0))},
                    big, small)


def check_nothing_lost(tree: KillTree, *, all_migrated: bool) -> None:
    """Every original is either still there, untouched, or in exactly one dump with a verified
    checksum; no dump is there twice; db/ holds no temp file or journal."""
    db = tree.settings.db_dir
    dumps = {name: content_sha(db / name) for name in os.listdir(db) if DUMP_RE.fullmatch(name)}
    assert len(set(dumps.values())) == len(dumps), f"a dump is there twice: {dumps}"
    for path, (content, mtime) in tree.originals.items():
        holders = [name for name, c in dumps.items() if c == content]
        if path.exists():
            assert not all_migrated, f"{path} was not migrated"
            assert file_sha(path) == content, f"{path} was changed"
            assert holders == [], f"{path} is both still there and migrated as {holders}"
        else:
            assert len(holders) == 1, f"{path} is gone but held by {holders}"
            assert_migrated(tree.settings, path, content, mtime, holders[0])
    assert_clean_db(tree.settings)


def rerun_and_check(tree: KillTree) -> None:
    done = run_cli(tree.settings, "migrate")
    assert done.returncode == 0, done.stdout + done.stderr
    check_nothing_lost(tree, all_migrated=True)
    before = listing(tree.settings.backup_base, *tree.settings.legacy_paths)
    again = run_cli(tree.settings, "migrate")
    assert again.returncode == 0 and "0 of 0 migrated" in again.stdout, again.stdout
    assert listing(tree.settings.backup_base, *tree.settings.legacy_paths) == before, "re-running changed something"


def temp_of(tree: KillTree) -> Path:
    return tree.settings.db_dir / f".full-20240501-0300.sql.gz{TEMP_SUFFIX}"


def kill_and_reap(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> int:
    proc.send_signal(sig)
    proc.communicate(timeout=SAFETY_S)
    return proc.returncode


def wait_compressor_gone(pid: int | None) -> None:
    if pid is not None:  # its stdin closes with us: it ends by itself (EOF, then EPIPE)
        wait_until(lambda: not pid_alive(pid), "the orphaned compressor to end")


def test_sigkill_mid_compress_then_rerun(kill_tree):
    proc = cli("migrate", env=cli_env(kill_tree.settings))
    temp = temp_of(kill_tree)
    pigz = wait_until(lambda: find_child("pigz", proc.pid), "pigz to start", step=0.002)
    wait_until(lambda: temp.exists() and temp.stat().st_size > 1 << 20, "pigz output in the temp file", step=0.002)
    assert pid_alive(pigz), "the compression ended before the kill: make BIG larger"
    assert kill_and_reap(proc) == -signal.SIGKILL
    wait_compressor_gone(pigz)

    # The state a crash mid-compress leaves: a partial hidden temp file, the original untouched.
    assert temp.exists() and temp.stat().st_size < BIG // 4
    assert not (kill_tree.settings.db_dir / "full-20240501-0300.sql.gz").exists()
    assert not (kill_tree.settings.db_dir / JOURNAL).exists()
    assert BackupTree(kill_tree.settings.backup_base).newest_valid_dump().name == "full-20240601-0300.sql.gz"
    plan = plan_migration(kill_tree.settings)
    assert [c.action for c in plan.candidates] == ["compress+move", "compress+move"]
    rerun_and_check(kill_tree)


def test_sigkill_between_compress_and_rename_then_rerun(kill_tree):
    """Killed while the finished temp file is being checked: before anything is published."""
    proc = cli("migrate", env=cli_env(kill_tree.settings))
    temp = temp_of(kill_tree)
    for line in proc.stdout:  # plain lines, flushed one by one
        if "phase checking" in line and temp.name in line:
            break
    else:
        pytest.fail(f"no checking phase; stderr: {proc.stderr.read()}")
    assert kill_and_reap(proc) == -signal.SIGKILL
    assert temp.exists(), "the complete temp file waits for its check"
    assert content_sha(temp) == kill_tree.originals[kill_tree.big][0], "compression was complete"
    assert not (kill_tree.settings.db_dir / "full-20240501-0300.sql.gz").exists()
    assert kill_tree.big.exists() and kill_tree.small.exists()
    rerun_and_check(kill_tree)


# A real `opsbackup migrate` that SIGKILLs itself at one exact step of publishing the first file.
CRASHER = r"""
import os, signal, sys
from pathlib import Path
import opsbackup_tui.core.artefacts.dumps as dumps
import opsbackup_tui.core.jobs.migrate as m

point, source = os.environ["CRASH_AT"], Path(os.environ["CRASH_SOURCE"])
def die(*_, **__):
    os.kill(os.getpid(), signal.SIGKILL)

if point == "before-link":      # journal written, temp complete and checked, nothing published
    os.link = die
elif point == "after-link":     # the dump is published, its .sha256 not yet written
    real_write = dumps.write_atomic
    dumps.write_atomic = lambda path, *a, **k: die() if str(path).endswith(".sha256") else real_write(path, *a, **k)
elif point == "after-sha256":   # dump and .sha256 published (the folder fsync ends it), the original not yet removed
    dumps.fsync_dir = die
elif point == "after-unlink":   # the original removed (then its folder fsynced), the journal not yet updated
    m.fsync_dir = die
from opsbackup_tui.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("point", ["before-link", "after-link", "after-sha256", "after-unlink"])
def test_sigkill_at_each_publish_step_then_rerun(kill_tree, point):
    env = cli_env(kill_tree.settings) | {"CRASH_AT": point, "CRASH_SOURCE": str(kill_tree.small)}
    kill_tree.big.unlink()  # small and fast here: the windows are exact, not timed
    del kill_tree.originals[kill_tree.big]
    proc = subprocess.run([sys.executable, "-c", CRASHER, "migrate"], cwd=REPO_ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=SAFETY_S,
                          check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    db = kill_tree.settings.db_dir
    target = db / "full-20240502-0300.sql.gz"
    journal = json.loads((db / JOURNAL).read_text())
    assert journal["full-20240502-0300.sql.gz"]["source"] == str(kill_tree.small)
    assert target.exists() == (point != "before-link")
    assert kill_tree.small.exists() == (point != "after-unlink")
    if point == "after-link":
        assert {c.action for c in plan_migration(kill_tree.settings).candidates} == {"finish", "checksum only"}
    if point == "after-sha256":
        assert [c.action for c in plan_migration(kill_tree.settings).candidates] == ["finish"]
    # Whatever the step, nothing is lost and the checklist never counts a half-published dump.
    check = BackupTree(kill_tree.settings.backup_base).newest_valid_dump()
    assert check.name == "full-20240601-0300.sql.gz"
    rerun_and_check(kill_tree)


def test_sigint_mid_file_keeps_the_original_and_leaves_no_temp(kill_tree):
    proc = cli("migrate", env=cli_env(kill_tree.settings))
    temp = temp_of(kill_tree)
    pigz = wait_until(lambda: find_child("pigz", proc.pid), "pigz to start", step=0.002)
    wait_until(lambda: temp.exists() and temp.stat().st_size > 1 << 20, "pigz output in the temp file", step=0.002)
    assert pid_alive(pigz)
    assert kill_and_reap(proc, signal.SIGINT) == 130
    wait_compressor_gone(pigz)
    db = kill_tree.settings.db_dir
    assert not temp.exists()
    assert [n for n in os.listdir(db) if n.startswith(".") and n != ".locks"] == []
    assert file_sha(kill_tree.big) == kill_tree.originals[kill_tree.big][0]
    assert kill_tree.small.exists()
    assert sorted(os.listdir(db)) == ["full-20240601-0300.sql.gz", "full-20240601-0300.sql.gz.sha256"]
    log = kill_tree.settings.log_path.read_text()
    assert "job migrate cancelled" in log
    check_nothing_lost(kill_tree, all_migrated=False)
    rerun_and_check(kill_tree)


# --- a legacy file that is still being written ---


def test_a_file_open_for_writing_or_just_written_is_left_alone(make_settings, tmp_path):
    """A cron dump or a copy still appending to the file: it is taken only when it has settled."""
    settings = make_settings()
    base = settings.backup_base
    held = put(base / "crm-2024-05-01_0300.sql", legacy_sql(block_rows=5), at(2024, 5, 1, 3, 0))
    fresh = put(base / "crm-2024-05-02_0300.sql", legacy_sql(seed=2, block_rows=5))  # mtime: just now
    writer = subprocess.Popen([sys.executable, "-c", "import sys, time\nf = open(sys.argv[1], 'a')\n"
                               "print('open', flush=True)\ntime.sleep(120)", str(held)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "open\n"
        plan = {Path(c.source).name: c for c in plan_migration(settings).candidates}
        assert plan[held.name].action == "skip"
        assert any(f"open for writing by pid {writer.pid}" in p for p in plan[held.name].problems)
        assert plan[fresh.name].action == "skip"
        assert any("written 0 s ago" in p or "written 1 s ago" in p for p in plan[fresh.name].problems)
        done = run_cli(settings, "migrate")
        assert done.returncode == 0 and "0 of 0 migrated" in done.stdout, done.stdout + done.stderr
        assert held.exists() and fresh.exists()
    finally:
        writer.kill()
        writer.wait()
    os.utime(fresh, (at(2024, 5, 2, 3, 0),) * 2)
    done = run_cli(settings, "migrate")
    assert done.returncode == 0 and "2 of 2 migrated" in done.stdout, done.stdout + done.stderr


def test_a_file_that_grows_while_it_is_migrated_is_left_alone(kill_tree):
    """The hash is taken in the same read that feeds the compressor, so it cannot see growth: the
    file is stat'ed again after the copy is checked, and a file that changed is neither replaced
    by the copy nor removed."""
    kill_tree.small.unlink()
    del kill_tree.originals[kill_tree.small]
    proc = cli("migrate", env=cli_env(kill_tree.settings))
    temp = temp_of(kill_tree)
    wait_until(lambda: temp.exists() and temp.stat().st_size > 1 << 20, "pigz output in the temp file", step=0.002)
    with open(kill_tree.big, "ab") as handle:  # a writer appends, then closes: nothing holds it open now
        handle.write(b"INSERT INTO `contacts` VALUES (99999999,'late','row','l@x','1',1,'n','2026-01-01 00:00:00');\n")
    out, err = proc.communicate(timeout=SAFETY_S)
    assert proc.returncode == 0, out + err
    assert "0 of 1 migrated" in out and "left alone while running" in out and "changed while it was migrated" in out
    assert kill_tree.big.read_bytes().endswith(b"'2026-01-01 00:00:00');\n")  # nothing lost
    assert sorted(os.listdir(kill_tree.settings.db_dir)) == ["full-20240601-0300.sql.gz",
                                                            "full-20240601-0300.sql.gz.sha256"]
