"""The backup-tree scanner on real temp trees: exact names, checksums, symlinks, folders, verify logs."""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from treeutil import dump_bytes, make_dump, make_marker, make_verify_log, run_as_nobody, set_age

from opsbackup_tui.core.artefacts.dumps import read_sha256_file
from opsbackup_tui.core.artefacts.kvfile import read_kv as read_kv_file
from opsbackup_tui.core.artefacts.stamps import format_stamp, parse_stamp
from opsbackup_tui.core.artefacts.tree import BackupTree
from opsbackup_tui.core.artefacts.verifylogs import VerifyLog


def names(items) -> list[str]:
    return [item.name for item in items]


# --- stamps ---


@pytest.mark.parametrize("stamp", ["20241332-2561", "20241301-0200", "20240230-0200", "20230229-0200",
                                   "20240101-2400", "20240101-0060", "00000101-0000"])
def test_impossible_stamps(stamp):
    assert parse_stamp(stamp) is None


def test_valid_stamps_round_trip():
    assert parse_stamp("20240229-2359") == datetime(2024, 2, 29, 23, 59)
    assert format_stamp(datetime(2026, 11, 26, 2, 0)) == "20261126-0200"
    assert parse_stamp(format_stamp(datetime(2026, 1, 5, 7, 3))) == datetime(2026, 1, 5, 7, 3)


# --- dumps ---


def test_only_exact_names_count(tmp_path):
    good = make_dump(tmp_path, "20261120-0200")
    db = tmp_path / "db"
    data = dump_bytes()
    digest = hashlib.sha256(data).hexdigest()
    # Newer-looking names that must never be "the latest valid dump", each with a .sha256 naming it.
    for name in ["full-20261126-0200.sql.gz.partial", "full-20261126-0200.sql.gz.tmp", "full-20261126-0200.sql",
                 "full-20261126-0200.sql.gz~", "full-2026112-0200.sql.gz", "full-20261126-200.sql.gz",
                 "full-20261126_0200.sql.gz", "full-20261126-0200.sql.gz.gz", "full-20261126-0200.SQL.GZ",
                 "full-20261126-0200-extra.sql.gz", "full-202611260200.sql.gz", "Full-20261126-0200.sql.gz",
                 "xfull-20261126-0200.sql.gz", ".full-20261126-0200.sql.gz.123.tmp", "full-２0261126-0200.sql.gz"]:
        (db / name).write_bytes(data)
        (db / f"{name}.sha256").write_text(f"{digest}  {name}\n")
    tree = BackupTree(tmp_path)
    assert tree.db.error is None
    assert tree.newest_valid_dump().path == good
    assert names(tree.valid_dumps()) == [good.name]
    assert names(tree.dumps()) == [good.name]


def test_partial_and_tmp_are_ignored_with_a_reason(tmp_path):
    make_dump(tmp_path, "20261120-0200")
    db = tmp_path / "db"
    (db / "full-20261126-0200.sql.gz.partial").write_bytes(b"half")
    (db / "full-20261126-0200.sql.gz.tmp").write_bytes(b"half")
    reasons = dict(BackupTree(tmp_path).ignored_dumps())
    assert reasons["full-20261126-0200.sql.gz.partial"] == "temporary or partial file"
    assert reasons["full-20261126-0200.sql.gz.tmp"] == "temporary or partial file"
    assert "full-20261120-0200.sql.gz" not in reasons
    assert "full-20261120-0200.sql.gz.sha256" not in reasons


def test_impossible_date_never_counts(tmp_path):
    good = make_dump(tmp_path, "20261120-0200")
    bad = make_dump(tmp_path, "20241332-2561", age_s=10)
    leap = make_dump(tmp_path, "20990229-0200", age_s=10)  # 2099 is not a leap year
    tree = BackupTree(tmp_path)
    assert tree.newest_valid_dump().path == good
    reasons = dict(tree.ignored_dumps())
    assert reasons[bad.name] == "impossible date in the name"
    assert reasons[leap.name] == "impossible date in the name"


def test_dump_without_sha256(tmp_path):
    good = make_dump(tmp_path, "20261120-0200")
    newer = make_dump(tmp_path, "20261126-0200", sha=False)
    tree = BackupTree(tmp_path)
    assert tree.newest_valid_dump().path == good
    assert names(tree.dumps()) == [newer.name, good.name]
    unchecked = next(tree.dumps())
    assert unchecked.sha_path is None and unchecked.expected_sha256() is None
    assert dict(tree.ignored_dumps())[newer.name] == "no .sha256 beside it"


def test_sha256_that_is_a_directory_or_symlink(tmp_path):
    good = make_dump(tmp_path, "20261120-0200")
    as_dir = make_dump(tmp_path, "20261125-0200", sha=False)
    (tmp_path / "db" / f"{as_dir.name}.sha256").mkdir()
    as_link = make_dump(tmp_path, "20261126-0200", sha=False)
    real_sha = tmp_path / "elsewhere.sha256"
    real_sha.write_text(f"{hashlib.sha256(as_link.read_bytes()).hexdigest()}  {as_link.name}\n")
    (tmp_path / "db" / f"{as_link.name}.sha256").symlink_to(real_sha)
    tree = BackupTree(tmp_path)
    assert tree.newest_valid_dump().path == good
    reasons = dict(tree.ignored_dumps())
    assert reasons[as_dir.name] == "no .sha256 beside it"
    assert reasons[as_link.name] == "no .sha256 beside it"


def test_symlinked_dump_never_counts(tmp_path):
    good = make_dump(tmp_path, "20261120-0200")
    target = make_dump(tmp_path / "elsewhere", "20261126-0200")  # a real dump with a true .sha256 elsewhere
    link = tmp_path / "db" / target.name
    link.symlink_to(target)
    (tmp_path / "db" / f"{target.name}.sha256").write_text((target.parent / f"{target.name}.sha256").read_text())
    tree = BackupTree(tmp_path)
    assert tree.newest_valid_dump().path == good
    assert target.name not in names(tree.dumps())
    assert dict(tree.ignored_dumps())[target.name] == "symlink (not followed)"


def test_dangling_symlink_does_not_crash(tmp_path):
    good = make_dump(tmp_path, "20261120-0200")
    (tmp_path / "db" / "full-20261126-0200.sql.gz").symlink_to(tmp_path / "gone")
    tree = BackupTree(tmp_path)
    assert tree.newest_valid_dump().path == good
    assert dict(tree.ignored_dumps())["full-20261126-0200.sql.gz"] == "symlink (not followed)"


def test_directory_named_like_a_dump(tmp_path):
    good = make_dump(tmp_path, "20261120-0200")
    folder = tmp_path / "db" / "full-20261126-0200.sql.gz"
    folder.mkdir()
    (tmp_path / "db" / "full-20261126-0200.sql.gz.sha256").write_text("0" * 64 + "  full-20261126-0200.sql.gz\n")
    tree = BackupTree(tmp_path)
    assert tree.newest_valid_dump().path == good
    assert dict(tree.ignored_dumps())[folder.name] == "not a regular file"


def test_checksum_without_its_dump(tmp_path):
    make_dump(tmp_path, "20261120-0200")
    orphan = tmp_path / "db" / "full-20261126-0200.sql.gz.sha256"
    orphan.write_text("0" * 64 + "  full-20261126-0200.sql.gz\n")
    assert dict(BackupTree(tmp_path).ignored_dumps())[orphan.name] == "checksum without its dump"


@pytest.mark.parametrize("content", [
    "",
    "not a checksum\n",
    "abc123  full-20261126-0200.sql.gz\n",                              # too short
    "g" * 64 + "  full-20261126-0200.sql.gz\n",                          # not hex
    "{digest}\n",                                                         # no name
    "{digest}  full-20261125-0200.sql.gz\n",                             # names another dump
    "{digest}full-20261126-0200.sql.gz\n",                               # no separator
    "{digest}0  full-20261126-0200.sql.gz\n",                            # 65 digits
])
def test_malformed_sha256_content(tmp_path, content):
    dump = make_dump(tmp_path, "20261126-0200", sha=False)
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    sha = tmp_path / "db" / f"{dump.name}.sha256"
    sha.write_text(content.format(digest=digest))
    found = next(BackupTree(tmp_path).dumps())
    assert found.path == dump and found.sha_path == sha  # present ...
    assert found.expected_sha256() is None                # ... but names no digest for this dump


@pytest.mark.parametrize("content", [
    "{digest}  full-20261126-0200.sql.gz\n",
    "{digest} *full-20261126-0200.sql.gz\n",                              # binary mode marker
    "{digest}  /srv/backups/crm/db/full-20261126-0200.sql.gz\n",         # written with a full path
    "# comment\n{digest}  full-20261126-0200.sql.gz",                    # no final newline
    "{other}  full-20261125-0200.sql.gz\n{digest}  full-20261126-0200.sql.gz\r\n",
    # What other tools write and GNU `sha256sum -c` accepts too:
    "{upper}  full-20261126-0200.sql.gz\n",                               # upper-case hex
    "{upper} *full-20261126-0200.sql.gz\r\n",                            # binary marker, CRLF
    "{digest}  full-20261126-0200.sql.gz\r\n",                           # CRLF (written on Windows)
    "SHA256 (full-20261126-0200.sql.gz) = {digest}\n",                   # the --tag (BSD) form
    "  {digest}  full-20261126-0200.sql.gz\n",                           # leading blanks
    "\\{digest}  full-20261126-0200.sql.gz\n",                         # an escaped name
])
def test_wellformed_sha256_content(tmp_path, content):
    dump = make_dump(tmp_path, "20261126-0200", sha=False)
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    sha = tmp_path / "db" / f"{dump.name}.sha256"
    sha.write_bytes(content.format(digest=digest, upper=digest.upper(), other="1" * 64).encode())
    assert next(BackupTree(tmp_path).valid_dumps()).expected_sha256() == digest
    # The real sha256sum agrees that the file is good.
    check = subprocess.run(["sha256sum", "-c", "--ignore-missing", "--strict", sha.name], cwd=sha.parent, capture_output=True, text=True)
    if "/srv/backups" not in content:
        assert check.returncode == 0, check.stdout + check.stderr


def test_read_sha256_file_missing_is_none(tmp_path):
    assert read_sha256_file(tmp_path / "nope.sha256", "full-20261126-0200.sql.gz") is None


def test_newest_is_chosen_by_name_stamp_not_mtime(tmp_path):
    old_but_touched = make_dump(tmp_path, "20261101-0200", age_s=10)
    newest_name = make_dump(tmp_path, "20261126-0200", age_s=7200)
    middle = make_dump(tmp_path, "20261115-0200", age_s=5000)
    tree = BackupTree(tmp_path)
    assert tree.newest_valid_dump().path == newest_name
    assert names(tree.valid_dumps()) == [newest_name.name, middle.name, old_but_touched.name]


def test_dump_size_and_mtime_come_from_lstat(tmp_path):
    dump = make_dump(tmp_path, "20261126-0200", data=b"x" * 1234, age_s=0, now=1_700_000_000)
    found = BackupTree(tmp_path).newest_valid_dump()
    assert found.size == 1234
    assert found.mtime == 1_700_000_000
    assert found.stamp == datetime(2026, 11, 26, 2, 0)
    assert found.expected_sha256() == hashlib.sha256(b"x" * 1234).hexdigest()
    assert found.path == dump


def test_ignored_dumps_lists_every_reason_once(tmp_path):
    make_dump(tmp_path, "20261120-0200")
    make_dump(tmp_path, "20261121-0200", sha=False)
    make_dump(tmp_path, "20241332-2561")
    db = tmp_path / "db"
    (db / "full-20261122-0200.sql.gz.partial").write_bytes(b"")
    (db / "full-old-style.sql.gz").write_bytes(b"")
    (db / "full-20261123-0200.sql.gz").symlink_to(db / "full-20261120-0200.sql.gz")
    (db / "full-20261124-0200.sql.gz").mkdir()
    (db / "full-20261125-0200.sql.gz.sha256").write_text("")
    (db / "README").write_text("not a dump at all")
    ignored = BackupTree(tmp_path).ignored_dumps()
    reasons = dict(ignored)
    assert reasons["full-20261121-0200.sql.gz"] == "no .sha256 beside it"
    assert reasons["full-20241332-2561.sql.gz"] == "impossible date in the name"
    assert reasons["full-20261122-0200.sql.gz.partial"] == "temporary or partial file"
    assert reasons["full-old-style.sql.gz"] == "name does not match full-YYYYmmdd-HHMM.sql.gz"
    assert reasons["full-20261123-0200.sql.gz"] == "symlink (not followed)"
    assert reasons["full-20261124-0200.sql.gz"] == "not a regular file"
    assert reasons["full-20261125-0200.sql.gz.sha256"] == "checksum without its dump"
    assert "README" not in reasons  # names that do not even start like a dump are not listed
    assert "full-20261120-0200.sql.gz" not in reasons and "full-20261120-0200.sql.gz.sha256" not in reasons
    assert len(ignored) == len(reasons)  # each name once


# --- markers and verify logs ---


def test_markers_newest_by_stamp_and_only_exact_names(tmp_path):
    old = make_marker(tmp_path, "20261120-0130", age_s=10)
    newest = make_marker(tmp_path, "20261126-0130", age_s=3600)
    folder = tmp_path / "snapshots"
    (folder / "snapshot-20261127-0130.txt.tmp").write_text("snapshot_id: tmp\n")
    (folder / "snapshot-20261332-0130.txt").write_text("snapshot_id: baddate\n")
    (folder / "snapshot-20261128-0130.txt").mkdir()
    (folder / "snapshot-20261129-0130.txt").symlink_to(newest)
    (folder / "snapshot-20261130-0130.log").write_text("snapshot_id: wrongext\n")
    (folder / "snapshot-２0261130-0130.txt").write_text("snapshot_id: fullwidth\n")
    tree = BackupTree(tmp_path)
    assert tree.newest_marker().path == newest
    assert names(tree.markers()) == [newest.name, old.name]
    assert read_kv_file(tree.newest_marker().path)["snapshot_id"] == "1a2b3c4d"


def test_verify_logs_newest_by_stamp_and_only_exact_names(tmp_path):
    older = make_verify_log(tmp_path, "20261115-0400")
    newest = make_verify_log(tmp_path, "20261122-0400", result="FAIL", error="import failed")
    folder = tmp_path / "verify"
    (folder / "verify-20261129-0400.log.partial").write_text("result: OK\n")
    (folder / "verify-20261199-0400.log").write_text("result: OK\n")
    (folder / "verify-20261130-0400.log").symlink_to(older)
    (folder / "verify-20261201-０400.log").write_text("result: OK\n")
    tree = BackupTree(tmp_path)
    assert tree.newest_verify_log().path == newest
    assert names(tree.verify_logs()) == [newest.name, older.name]


def test_verify_log_parsing(tmp_path):
    path = tmp_path / "verify-20261122-0400.log"
    path.write_text(
        "dump: full-20261122-0200.sql.gz\n"
        "dump_sha256: " + "ab" * 32 + "\n"
        "database: verify_20261122_040000\n"
        "started: 2026-11-22 04:00:00\n"
        "tables: 5\n"
        "rows.users: 12\n"
        "rows.contacts: 2064\n"
        "rows.opportunities: not-a-number\n"
        "duration_s: 3.7\n"
        "a line that is not a pair\n"
        "result: fail\n"
        "error: import failed: gzip reported 'unexpected end of file' at 12:03\n"
    )
    log = VerifyLog.read(path)
    assert log.dump == "full-20261122-0200.sql.gz"
    assert log.dump_sha256 == "ab" * 32
    assert log.values["database"] == "verify_20261122_040000"
    assert log.values["started"] == "2026-11-22 04:00:00"
    assert log.tables == 5
    assert log.rows == {"users": 12, "contacts": 2064, "opportunities": None}
    assert log.duration_s == 3.7
    assert log.result == "FAIL" and not log.ok
    assert log.error == "import failed: gzip reported 'unexpected end of file' at 12:03"


def test_verify_log_without_result_or_numbers(tmp_path):
    path = tmp_path / "verify-20261122-0400.log"
    path.write_text("dump: x\ntables: many\nduration_s: slow\n")
    log = VerifyLog.read(path)
    assert log.result == "UNKNOWN" and not log.ok
    assert log.tables is None and log.duration_s is None and log.error is None and log.rows == {}
    path.write_text("result: OK\n")
    assert VerifyLog.read(path).ok


def test_verify_log_from_the_builder(tmp_path):
    log = VerifyLog.read(make_verify_log(tmp_path, "20261122-0400", tables=7))
    assert log.ok and log.tables == 7
    assert set(log.rows) == {"users", "contacts", "opportunities"}


def test_reports_lists_plain_files_newest_name_first(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "report-20261120-0600.txt").write_text("a")
    (reports / "report-20261126-0600.txt").write_text("b")
    (reports / "subdir").mkdir()
    assert [p.name for p in BackupTree(tmp_path).reports()] == ["report-20261126-0600.txt", "report-20261120-0600.txt"]
    assert BackupTree(tmp_path / "nope").reports() == []


# --- folders that cannot be read ---


def test_missing_folders_are_errors_not_crashes(tmp_path):
    tree = BackupTree(tmp_path / "no-such-base")
    for folder in (tree.db, tree.snapshots, tree.verify):
        assert folder.error is not None and "does not exist" in folder.error
        assert folder.names == []
    assert tree.newest_valid_dump() is None and tree.newest_marker() is None and tree.newest_verify_log() is None
    assert tree.ignored_dumps() == []


def test_folder_that_is_a_regular_file(tmp_path):
    make_marker(tmp_path, "20261126-0130")
    (tmp_path / "db").write_text("oops, a file")
    tree = BackupTree(tmp_path)
    assert tree.db.error == f"{tmp_path / 'db'} is not a directory"
    assert tree.newest_valid_dump() is None
    assert tree.snapshots.error is None and tree.newest_marker() is not None


def test_base_that_is_a_regular_file(tmp_path):
    base = tmp_path / "base"
    base.write_text("")
    tree = BackupTree(base)
    assert "is not a directory" in tree.db.error and "is not a directory" in tree.verify.error


def _scan_summary(base: str):
    tree = BackupTree(Path(base))
    latest = tree.newest_marker()
    return {"db": tree.db.error, "snapshots": tree.snapshots.error, "verify": tree.verify.error,
            "dump": tree.newest_valid_dump(), "marker": latest.name if latest else None}


def test_unreadable_folder_is_an_error_not_a_crash(public_tmp):
    base = public_tmp / "backups"
    make_dump(base, "20261126-0200")
    make_marker(base, "20261126-0130")
    make_verify_log(base, "20261122-0400")
    (base / "db").chmod(0)
    (base / "verify").chmod(0o311)  # traversable but not listable
    summary = run_as_nobody(_scan_summary, str(base))
    assert summary["db"] == f"cannot read {base / 'db'}: permission denied"
    assert summary["verify"] == f"cannot read {base / 'verify'}: permission denied"
    assert summary["dump"] is None
    assert summary["snapshots"] is None and summary["marker"] == "snapshot-20261126-0130.txt"


def test_sizes_and_ages_do_not_follow_symlinks(tmp_path):
    marker = make_marker(tmp_path, "20261126-0130")
    set_age(marker, 100, now=1_700_000_000)
    found = BackupTree(tmp_path).newest_marker()
    assert found.mtime == 1_700_000_000 - 100
    assert found.size == marker.stat().st_size
    assert os.path.samefile(found.path, marker)
