"""ops.log lines: Laravel's format, ours, raw lines, garbage; reading the tail of a real file."""

from __future__ import annotations

import os
import random
from datetime import datetime

import pytest

from opsbackup_tui.core.opslog import (
    CHANNEL,
    append,
    format_line,
    parse_line,
    scan_alerts,
    tail_lines,
)

# --- parse_line ---


def test_laravel_line_with_context_and_empty_extra():
    raw = ('[2026-11-26 02:00:07] production.ERROR: SQLSTATE[HY000] [2002] Connection refused '
           '{"exception":"[object] (PDOException(code: 2002): SQLSTATE[HY000] [2002] Connection refused at '
           '/var/www/crm/vendor/laravel/framework/src/Illuminate/Database/Connectors/Connector.php:65)"} []\n')
    line = parse_line(raw)
    assert line.time == datetime(2026, 11, 26, 2, 0, 7)
    assert line.channel == "production"
    assert line.level == "ERROR"
    assert line.message == "SQLSTATE[HY000] [2002] Connection refused"
    assert line.context["exception"].startswith("[object] (PDOException(code: 2002)")
    assert line.raw == raw.rstrip("\n")
    assert line.is_alert


def test_laravel_line_with_empty_context_and_extra():
    line = parse_line("[2026-11-26 09:15:00] local.INFO: Ops dashboard viewed [] []")
    assert (line.channel, line.level, line.message, line.context) == ("local", "INFO", "Ops dashboard viewed", [])
    assert not line.is_alert


def test_laravel_line_with_context_and_extra_objects():
    line = parse_line('[2026-11-26 09:15:00] production.WARNING: slow {"ms":1200} {"uid":"ab12","memory":"18 MB"}')
    assert line.level == "WARNING"
    assert line.message == "slow"
    assert line.context == {"ms": 1200}


def test_braces_in_the_message_and_in_context_strings():
    line = parse_line('[2026-11-26 09:15:00] production.INFO: User {id} logged in {"sql":"select {a} from t"} []')
    assert line.message == "User {id} logged in"
    assert line.context == {"sql": "select {a} from t"}


def test_laravel_line_without_context():
    line = parse_line("[2026-11-26 09:15:00] production.NOTICE: plain message")
    assert line.level == "NOTICE" and line.message == "plain message" and line.context is None


def test_iso_timestamps_with_fraction_and_zone():
    line = parse_line("[2026-11-26T02:00:00.123456+01:00] production.CRITICAL: queue stalled [] []")
    assert line.time == datetime(2026, 11, 26, 2, 0, 0)
    assert line.level == "CRITICAL" and line.is_alert


@pytest.mark.parametrize("level,alert", [("DEBUG", False), ("INFO", False), ("NOTICE", False), ("WARNING", False),
                                         ("ERROR", True), ("CRITICAL", True), ("ALERT", True), ("EMERGENCY", True)])
def test_alert_levels(level, alert):
    assert parse_line(f"[2026-11-26 09:15:00] production.{level}: something happened [] []").is_alert is alert


@pytest.mark.parametrize("message,alert", [
    ("job verify finished FAIL in 2.4 s", True),
    ("job verify FAILED", True),
    ("FAILURE of the nightly run", True),
    ("3 FAILS today", True),
    ("FAILOVER completed", False),
    ("the import failed", False),
    ("NOFAIL mode", False),
])
def test_fail_words_in_info_messages(message, alert):
    """Other writers' lines (the CRM's) are alerts by their words too."""
    assert parse_line(f"[2026-11-26 09:15:00] production.INFO: {message} {{}} []").is_alert is alert


@pytest.mark.parametrize("line,alert", [
    ('opsbackup.INFO: 1 alert (0 delivered to Slack); db_dump OK, verify_restore FAIL {"job":"evaluate"} []', False),
    ('opsbackup.INFO: job verify finished OK in 3.1 s: FAILED rows none {"job":"verify"} []', False),
    ('opsbackup.ERROR: job verify finished FAIL in 2.4 s: import failed {"job":"verify"} []', True),
    ('opsbackup.ALERT: ALERT db_backup FAILED on host {"job":"db_backup","event":"alert"} []', True),
    ('opsbackup.NOTICE: db_dump recovered {"check":"db_dump","event":"alert"} []', True),
])
def test_our_own_lines_are_classified_by_level_and_fields(line, alert):
    """Our lines are never alerts by the words of their message: the evaluation's INFO summary
    names states such as FAIL, and must not count as a new alert after every acknowledgement."""
    assert parse_line(f"[2026-11-26 09:15:00] {line}").is_alert is alert


def test_fail_word_only_in_context_does_not_count():
    line = parse_line('[2026-11-26 09:15:00] opsbackup.INFO: job verify finished OK {"previous":"FAIL"} []')
    assert not line.is_alert


@pytest.mark.parametrize("raw", [
    "#0 /var/www/crm/app/Http/Controllers/OpsMetricsController.php(41): collect()",
    "Stack trace:",
    "",
    "[2026-13-45 99:99:99] production.INFO: impossible date [] []",
    "[2026-11-26 09:15:00] production.info: lower-case level",
    "[2026-11-26 09:15:00]production.INFO: no space",
    "2026-11-26 09:15:00 production.INFO: no brackets",
])
def test_other_lines_are_kept_raw(raw):
    line = parse_line(raw + "\n")
    assert line.raw == raw and line.message == raw
    assert line.time is None and line.level is None and line.channel is None
    assert not line.is_alert


def test_raw_line_with_fail_word_is_an_alert():
    assert parse_line("backup.sh: mariadb-dump FAILED with exit 2").is_alert
    assert parse_line("Traceback: RuntimeError('FAIL')").is_alert


def test_crlf_line_endings():
    line = parse_line("[2026-11-26 09:15:00] production.ERROR: boom [] []\r\n")
    assert line.level == "ERROR" and line.message == "boom" and line.raw.endswith("[]")


# --- our own lines ---


def test_format_line_round_trip():
    when = datetime(2026, 11, 26, 2, 0, 7)
    context = {"job": "db_backup", "event": "end", "result": "OK", "duration_s": 6.8, "note": "zálohy ✓ {x}"}
    text = format_line("INFO", "job db_backup finished OK in 6.8 s", context, when)
    assert text == ('[2026-11-26 02:00:07] opsbackup.INFO: job db_backup finished OK in 6.8 s '
                    '{"job":"db_backup","event":"end","result":"OK","duration_s":6.8,"note":"zálohy ✓ {x}"} []\n')
    line = parse_line(text)
    assert (line.time, line.channel, line.level) == (when, CHANNEL, "INFO")
    assert line.message == "job db_backup finished OK in 6.8 s"
    assert line.context == context
    assert not line.is_alert


def test_format_line_keeps_one_physical_line():
    when = datetime(2026, 11, 8, 4, 0, 4)
    text = format_line("ALERT", "ALERT verify FAILED on crm-backup-01:\nimport failed\r\nnext: check", None, when)
    assert text.count("\n") == 1 and text.endswith(" {} []\n")
    line = parse_line(text)
    assert line.level == "ALERT" and line.is_alert
    assert line.message == "ALERT verify FAILED on crm-backup-01: import failed  next: check"
    assert line.context == {}


def test_format_line_context_with_odd_values():
    text = format_line("ERROR", "x", {"path": datetime(2026, 1, 1), "n": None, "quote": '"{}"'},
                       datetime(2026, 1, 1))
    line = parse_line(text)
    assert line.context == {"path": "2026-01-01 00:00:00", "n": None, "quote": '"{}"'}


def test_append_writes_whole_lines(tmp_path):
    path = tmp_path / "storage" / "logs" / "ops.log"
    append(path, "INFO", "job snapshot started", {"job": "snapshot", "event": "start"}, datetime(2026, 11, 26, 1, 30))
    append(path, "ERROR", "job snapshot finished FAIL", {"job": "snapshot"}, datetime(2026, 11, 26, 1, 31))
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert [parse_line(line).level for line in lines] == ["INFO", "ERROR"]
    assert scan_alerts(path, tmp_path / "state", 1 << 20).count == 1


# --- garbage never crashes ---


def test_random_bytes_never_crash(tmp_path):
    rnd = random.Random(20261126)
    tokens = ["[", "]", "{", "}", " ", ".", ":", "\"", "2026-11-26 02:00:00", "production", "ERROR", "FAIL",
              "[]", "{\"a\":", "\\", "\x00", "é", "\ufffd", "T", "+01:00", "\t"]
    for _ in range(3000):
        if rnd.random() < 0.5:
            raw = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 120))).decode("utf-8", errors="replace")
        else:
            raw = "".join(rnd.choice(tokens) for _ in range(rnd.randint(0, 30)))
        line = parse_line(raw)
        assert isinstance(line.raw, str) and isinstance(line.message, str)
        assert isinstance(line.is_alert, bool)

    path = tmp_path / "garbage.log"
    path.write_bytes(bytes(rnd.getrandbits(8) for _ in range(200_000)))
    scan = scan_alerts(path, tmp_path / "state", 64 * 1024)
    assert scan.end == 200_000 and scan.count >= 0
    lines, end, _ = tail_lines(path, 50, block=4096)
    assert end == 200_000 and len(lines) <= 50


def test_prefix_with_many_brace_candidates_stays_a_message():
    text = "[2026-11-26 09:15:00] production.INFO: " + " {x" * 100 + " {\"ok\":1} []"
    line = parse_line(text)
    assert line.level == "INFO"
    assert isinstance(line.message, str)


# --- tail_lines ---


def _write_numbered(path, count: int, trailing_newline: bool) -> list[str]:
    lines = [f"[2026-11-26 02:{i // 60 % 60:02d}:{i % 60:02d}] opsbackup.INFO: line {i} ž" for i in range(count)]
    path.write_text("\n".join(lines) + ("\n" if trailing_newline else ""), encoding="utf-8")
    return lines


@pytest.mark.parametrize("trailing_newline", [True, False])
@pytest.mark.parametrize("count", [1, 5, 37, 500])
def test_tail_lines_larger_than_the_block(tmp_path, trailing_newline, count):
    path = tmp_path / "ops.log"
    lines = _write_numbered(path, 500, trailing_newline)
    assert path.stat().st_size > 100 * 64
    got, end, inode = tail_lines(path, count, block=64)
    assert got == lines[-count:]
    assert end == path.stat().st_size
    assert inode == path.stat().st_ino


@pytest.mark.parametrize("trailing_newline", [True, False])
def test_tail_lines_more_than_the_file_has(tmp_path, trailing_newline):
    path = tmp_path / "ops.log"
    lines = _write_numbered(path, 7, trailing_newline)
    assert tail_lines(path, 100, block=16)[0] == lines
    assert tail_lines(path, 100)[0] == lines


def test_tail_lines_block_boundary_on_a_newline(tmp_path):
    path = tmp_path / "ops.log"
    path.write_bytes(b"a" * 15 + b"\n" + b"b" * 15 + b"\n" + b"c" * 15 + b"\n")  # 16-byte lines
    assert tail_lines(path, 2, block=16)[0] == ["b" * 15, "c" * 15]
    assert tail_lines(path, 1, block=16)[0] == ["c" * 15]
    assert tail_lines(path, 3, block=16)[0] == ["a" * 15, "b" * 15, "c" * 15]


def test_tail_lines_empty_and_zero(tmp_path):
    path = tmp_path / "ops.log"
    path.write_text("")
    assert tail_lines(path, 10) == ([], 0, path.stat().st_ino)
    path.write_text("one\ntwo\n")
    assert tail_lines(path, 0)[0] == []


def test_tail_lines_multibyte_split_across_blocks(tmp_path):
    path = tmp_path / "ops.log"
    text = "".join(f"řádek {i} žluťoučký kůň úpěl ďábelské ódy\n" for i in range(200))
    path.write_text(text, encoding="utf-8")
    got = tail_lines(path, 10, block=7)[0]
    assert got == text.splitlines()[-10:]
    assert "\ufffd" not in "".join(got)


def test_tail_lines_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        tail_lines(tmp_path / "nope.log", 10)


def test_tail_lines_of_a_growing_file_reports_the_offset(tmp_path):
    path = tmp_path / "ops.log"
    append(path, "INFO", "first", None, datetime(2026, 11, 26))
    _, end1, _ = tail_lines(path, 10)
    append(path, "INFO", "second", None, datetime(2026, 11, 26))
    lines, end2, _ = tail_lines(path, 10)
    assert end2 > end1 == os.path.getsize(path) - len(lines[-1].encode()) - 1
    assert [parse_line(line).message for line in lines] == ["first", "second"]
