"""The report job on a real tree: the Markdown file, its sections, trend and gaps; size_trend."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime

import pytest
from jobs_support import clock_at, mode, run
from treeutil import make_dump, make_marker, make_verify_log

from opsbackup_tui.core import opslog
from opsbackup_tui.core.jobs.report import ReportJob
from opsbackup_tui.core.trend import size_trend

NOON = datetime(2026, 11, 26, 12, 0).timestamp()


def build_tree(settings) -> dict[str, str]:
    base = settings.backup_base
    sizes = {"20261120-0200": 1000, "20261121-0200": 1100, "20261122-0200": 900,
             # 23rd: nothing valid (a dump without .sha256 does not count)
             "20261124-0200": 1000, "20261125-0200": 650, "20261126-0200": 1500}
    shas = {}
    for stamp, size in sizes.items():
        data = bytes([len(shas)]) * size
        made = datetime.strptime(stamp, "%Y%m%d-%H%M").timestamp()
        make_dump(base, stamp, data=data, now=NOON, age_s=NOON - made)
        shas[stamp] = hashlib.sha256(data).hexdigest()
    make_dump(base, "20261123-0200", sha=False, now=NOON)
    (settings.db_dir / "full-20261119-0200.sql.gz.partial").write_bytes(b"half")
    ok_log = make_verify_log(base, "20261122-0300", dump="full-20261122-0200.sql.gz", tables=7, now=NOON,
                             age_s=4 * 86400)
    text = ok_log.read_text().replace("0" * 64, shas["20261122-0200"])
    ok_log.write_text(text)
    os.utime(ok_log, (NOON - 4 * 86400,) * 2)
    make_verify_log(base, "20261125-0300", result="FAIL", error="sha256 mismatch | for full-20261125-0200.sql.gz",
                    dump="full-20261125-0200.sql.gz", now=NOON, age_s=86400 + 9 * 3600)
    marker = make_marker(base, "20261126-0230", snapshot_id="abcd1234", now=NOON, age_s=9.5 * 3600)
    marker.write_text(marker.read_text() + "total_files_processed: 42\ndata_added: 2048\n")
    opslog.append(settings.log_path, "INFO", "job db_backup finished OK in 1.0 s", {"job": "db_backup"})
    opslog.append(settings.log_path, "ALERT", "ALERT verify FAILED on host: sha256 mismatch", {"event": "alert"})
    return shas


async def test_report_file_holds_every_section(make_settings):
    settings = make_settings(db_dump_stale_min=1560, db_dump_fail_min=2880)
    build_tree(settings)

    finished, rec = await run(ReportJob(settings), clock_at(NOON))

    assert finished.ok, finished.error
    path = settings.reports_dir / "report-20261126-1200.md"
    assert finished.result.path == str(path)
    assert finished.summary == f"report written to {path}"
    text = path.read_text()
    assert text == finished.result.markdown
    assert mode(path) == 0o640
    assert rec.phases == ["collecting", "writing"]

    assert text.startswith("# Backup report — ")
    assert "2026-11-26 12:00" in text.splitlines()[0]
    for heading in ("## Checklist", "## Dump history (newest 6)", "## Gaps in the nightly series",
                    "## Verify restores (newest 2)", "## Uploads snapshots (newest 1)", "## Recent alerts (ops.log)"):
        assert heading in text
    section = _sections(text)

    checklist = section["## Checklist"]
    for check in ("db_dump", "uploads_snapshot", "verify_restore", "metrics", "ops_log"):
        assert re.search(rf"^\| {check} \| \*\*\w+\*\* \|", checklist, re.M), check
    assert "| verify_restore | **FAILED** |" in checklist
    assert "| db_dump | **OK** |" in checklist

    history = section["## Dump history (newest 6)"]
    rows = [line for line in history.splitlines() if line.startswith("| full-")]
    assert [r.split(" | ")[0][2:] for r in rows] == [f"full-2026112{d}-0200.sql.gz" for d in (6, 5, 4, 2, 1, 0)]
    row = dict((r.split(" | ")[0][2:], r) for r in rows)
    assert "| 1.5 KiB | +50.0 % |" in row["full-20261126-0200.sql.gz"]  # exactly +50 %: not flagged
    assert "⚠" not in row["full-20261126-0200.sql.gz"]
    assert "| -35.0 % ⚠ audit |" in row["full-20261125-0200.sql.gz"]
    assert "| +0.0 % |" in row["full-20261124-0200.sql.gz"]
    for day in (0, 1, 2):  # fewer than 3 before them: no trend
        assert "| – |" in row[f"full-2026112{day}-0200.sql.gz"]
    assert "verified by a verify restore" in row["full-20261122-0200.sql.gz"]
    assert ".sha256 present" in row["full-20261125-0200.sql.gz"]
    assert "20261123" not in history and ".partial" not in history

    gaps = section["## Gaps in the nightly series"]
    assert gaps.strip().splitlines() == ["- 2026-11-23 (Monday): no valid dump"]

    verifies = section["## Verify restores (newest 2)"]
    assert "| verify-20261125-0300.log | **FAIL** | full-20261125-0200.sql.gz |" in verifies
    assert "sha256 mismatch \\| for full-20261125-0200.sql.gz" in verifies  # a | in a cell is escaped
    assert "| verify-20261122-0300.log | **OK** | full-20261122-0200.sql.gz | 7 | 1.5 s |" in verifies

    snapshots = section["## Uploads snapshots (newest 1)"]
    assert "| snapshot-20261126-0230.txt | abcd1234 | 42 | 2.0 KiB |" in snapshots

    alerts = section["## Recent alerts (ops.log)"]
    assert "ALERT verify FAILED on host: sha256 mismatch" in alerts
    assert "finished OK" not in alerts


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^(## .*)$", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


async def test_report_of_an_empty_tree(make_settings):
    settings = make_settings()
    finished, _ = await run(ReportJob(settings), clock_at(NOON))
    assert finished.ok, finished.error
    text = (settings.reports_dir / "report-20261126-1200.md").read_text()
    assert "No valid dump in" in text and "No dumps at all." in text
    assert "No verify logs." in text and "No snapshot markers." in text
    assert "No FAIL/alert lines." in text  # the job's own start line is in ops.log, no alert
    assert "| db_dump | **FAIL** |" in text


async def test_report_gap_today_is_not_a_gap_yet(make_settings):
    settings = make_settings()
    make_dump(settings.backup_base, "20261125-0200", now=NOON)
    finished, _ = await run(ReportJob(settings), clock_at(NOON))
    text = finished.result.markdown
    assert "No gaps since 2026-11-25." in text


async def test_report_failure_is_reported_not_raised(make_settings, tmp_path):
    base = tmp_path / "backups"
    base.mkdir()
    (base / "reports").write_text("x")  # a file where the reports folder should be
    finished, _ = await run(ReportJob(make_settings(backup_base=str(base))), clock_at(NOON))
    assert not finished.ok
    assert str(base / "reports") in finished.error and "internal error" not in finished.error


@pytest.mark.parametrize("sizes,expected", [
    ([100], [None]),
    ([100, 100, 100], [None, None, None]),
    ([100, 100, 100, 150], [None, None, None, 50.0]),
    ([100, 100, 100, 151], [None, None, None, 51.0]),
    ([100, 100, 100, 70], [None, None, None, -30.0]),
    ([100, 100, 100, 69], [None, None, None, -31.0]),
    ([10, 20, 30, 40, 50, 60, 70, 80, 1000], [None, None, None, 100.0, 100.0, 100.0, 100.0, 100.0, 1900.0]),
])
def test_size_trend_against_the_median_of_up_to_seven(sizes, expected):
    points = size_trend([(f"d{i}", s) for i, s in enumerate(sizes)])
    assert [p.change_pct is None for p in points] == [e is None for e in expected]
    for point, want in zip(points, expected):
        if want is not None:
            assert point.change_pct == pytest.approx(want)
            assert point.flagged == (want < -30.0 or want > 50.0)
        else:
            assert not point.flagged


def test_size_trend_window_is_seven():
    # The 9th dump's median is over dumps 2..8 (7 of them), not all 8.
    sizes = [1000, 1, 1, 1, 1, 100, 100, 100, 100]
    point = size_trend([(f"d{i}", s) for i, s in enumerate(sizes)])[-1]
    assert point.median_prev == 1.0
