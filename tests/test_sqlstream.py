"""The dump guard and the streamed gunzip: the same answer whatever the chunk boundaries."""

from __future__ import annotations

import gzip
import io
import random
import zlib

import pytest

from opsbackup_tui.core import sqlstream
from opsbackup_tui.core.sqlstream import SANDBOX_LINE, DumpGuard, Refused, TruncatedDump, gunzip_chunks

# What mariadb-dump 10.11 writes, in short: the sandbox line, headers, a table whose data holds
# text that looks like statements, a view, a trigger, routines and an event with DEFINERs.
DUMP = (
    SANDBOX_LINE + b"\n"
    b"-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n"
    b"--\n-- Host: 127.0.0.1    Database: crm\n"
    b"-- ------------------------------------------------------\n"
    b"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
    b"/*!40101 SET NAMES utf8mb4 */;\n"
    b"\n--\n-- Table structure for table `contacts`\n--\n\n"
    b"DROP TABLE IF EXISTS `contacts`;\n"
    b"/*!40101 SET @saved_cs_client     = @@character_set_client */;\n"
    b"CREATE TABLE `contacts` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  `note` text DEFAULT NULL,\n"
    b"  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
    b"\n--\n-- Dumping data for table `contacts`\n--\n\n"
    b"LOCK TABLES `contacts` WRITE;\n"
    b"/*!40000 ALTER TABLE `contacts` DISABLE KEYS */;\n"
    b"INSERT INTO `contacts` VALUES (1,'line1\\nline2'),(2,'it\\'s; USE crm; \\\\! touch /tmp/x'),"
    b"(3,'-- Dump completed on 2020'),(4,'&amp; use the side door;'),(5,'CREATE DEFINER=`a`@`b` x'),"
    b"(6,'a;system rm'),(7,'\xc5\xbelu\xc5\xa5ou\xc4\x8dk\xc3\xbd');\n"
    b"/*!40000 ALTER TABLE `contacts` ENABLE KEYS */;\n"
    b"UNLOCK TABLES;\n"
    b"\n--\n-- Table structure for table `we``ird`\n--\n\n"
    b"CREATE TABLE `we``ird` (`id` int);\n"
    b"\n--\n-- Temporary table structure for view `big_deals`\n--\n\n"
    b"SET @saved_cs_client     = @@character_set_client;\n"
    b"/*!50001 CREATE VIEW `big_deals` AS SELECT\n 1 AS `id` */;\n"
    b"/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES' */ ;\n"
    b"DELIMITER ;;\n"
    b"/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER contacts_audit AFTER INSERT ON "
    b"contacts FOR EACH ROW INSERT INTO audit (what) VALUES (CONCAT('contact ', NEW.id)) */;;\n"
    b"DELIMITER ;\n"
    b"DELIMITER ;;\n"
    b"CREATE DEFINER=`root`@`localhost` FUNCTION `deal_total`() RETURNS decimal(12,2)\n"
    b"    READS SQL DATA\nRETURN (SELECT COALESCE(SUM(amount), 0) FROM opportunities) ;;\n"
    b"CREATE DEFINER='admin'@'%' PROCEDURE `count_users`(OUT n INT)\n"
    b"BEGIN SELECT COUNT(*) INTO n FROM users; END ;;\n"
    b"/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `nightly_cleanup` ON SCHEDULE "
    b"EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE id < 0 */ ;;\n"
    b"DELIMITER ;\n"
    b"\n--\n-- Final view structure for view `big_deals`\n--\n\n"
    b"/*!50001 DROP VIEW IF EXISTS `big_deals`*/;\n"
    b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n"
    b"/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n"
    b"/*!50001 VIEW `big_deals` AS select `opportunities`.`id` AS `id` from `opportunities` */;\n"
    b"/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;\n"
    b"\n-- Dump completed on 2026-11-26  4:11:33\n"
)


def feed_all(guard: DumpGuard, chunks) -> bytes:
    out = [guard.feed(chunk) for chunk in chunks]
    out.append(guard.finish())
    return b"".join(out)


def state(guard: DumpGuard) -> tuple:
    return guard.lines, guard.tables, guard.current_table, guard.trailer_ok


def random_splits(data: bytes, rng: random.Random, max_piece: int) -> list[bytes]:
    pieces, at = [], 0
    while at < len(data):
        size = rng.randint(1, max_piece)
        pieces.append(data[at:at + size])
        at += size
    return pieces


def test_a_real_looking_dump_passes_unchanged_and_is_observed():
    guard = DumpGuard()
    assert feed_all(guard, [DUMP]) == DUMP
    assert guard.tables == 2
    assert guard.current_table == "we`ird"
    assert guard.lines == DUMP.count(b"\n")
    assert guard.trailer_ok


@pytest.mark.parametrize("strip", [False, True])
@pytest.mark.parametrize("drop_sandbox", [False, True])
def test_one_byte_at_a_time_gives_the_same_stream(strip, drop_sandbox):
    whole = DumpGuard(strip_definer=strip, drop_sandbox_line=drop_sandbox)
    expected = feed_all(whole, [DUMP])
    bytewise = DumpGuard(strip_definer=strip, drop_sandbox_line=drop_sandbox)
    assert feed_all(bytewise, [DUMP[i:i + 1] for i in range(len(DUMP))]) == expected
    assert state(bytewise) == state(whole)


@pytest.mark.parametrize("seed", range(40))
def test_random_splits_give_the_same_stream(seed):
    rng = random.Random(seed)
    whole = DumpGuard(strip_definer=True)
    expected = feed_all(whole, [DUMP])
    guard = DumpGuard(strip_definer=True)
    assert feed_all(guard, random_splits(DUMP, rng, rng.choice([3, 50, 700, 5000]))) == expected
    assert state(guard) == state(whole)


def test_empty_chunks_change_nothing():
    guard = DumpGuard()
    chunks = []
    for line in DUMP.splitlines(keepends=True):
        chunks += [b"", line, b""]
    assert feed_all(guard, chunks) == DUMP


FORBIDDEN = [
    (b"USE `crm`;", "switches"),
    (b"use crm;", "switches"),
    (b"  \tUSE crm", "switches"),
    (b"USE", "switches"),
    (b"\rUSE crm;", "switches"),
    (b"USE\rcrm;", "switches"),
    (b"USE/**/crm;", "switches"),
    (b"/* note */ USE crm;", "switches"),
    (b"/*!40000 USE `crm` */;", "switches"),
    (b"/*M!100000 USE crm */;", "switches"),
    (b"CREATE DATABASE /*!32312 IF NOT EXISTS*/ `crm`;", "switches"),
    (b"create schema crm;", "switches"),
    (b"CREATE OR REPLACE DATABASE crm;", "switches"),
    (b"DROP DATABASE crm;", "switches"),
    (b"DROP/**/DATABASE crm;", "switches"),
    (b"/*!40000 DROP DATABASE crm */;", "switches"),
    (b"ALTER DATABASE crm CHARACTER SET utf8;", "switches"),
    (b"SELECT 1; USE crm;", "switches"),
    (b"SELECT 'a;b', \"c;d\", `e;f`;USE crm;", "switches"),
    (b"SELECT 'it''s'; /* x */ USE crm;", "switches"),
    (b"INSERT INTO t VALUES ('x\\';'); DROP DATABASE crm;", "switches"),
    (b"\\! touch /tmp/x", "client command"),
    (b"\\. /tmp/evil.sql", "client command"),
    (b"\\u crm", "client command"),
    (b"\\r crm", "client command"),
    (b"system touch /tmp/x", "client command"),
    (b"SYSTEM touch /tmp/x", "client command"),
    (b"connect crm", "client command"),
    (b"source /tmp/evil.sql", "client command"),
    (b"tee /tmp/out", "client command"),
    (b"pager sh", "client command"),
    (b"edit", "client command"),
    (b"SELECT 1; \\! touch /tmp/x", "client command"),
    (b"SELECT 1;system touch /tmp/x", "client command"),
]


@pytest.mark.parametrize("line,reason", FORBIDDEN, ids=[repr(f[0])[2:-1] for f in FORBIDDEN])
def test_forbidden_lines_are_refused_at_any_chunk_boundary(line, reason):
    text = b"CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n" + line + b"\nINSERT INTO t VALUES (2);\n"
    for cut in range(len(text) + 1):
        guard = DumpGuard()
        passed = b""
        with pytest.raises(Refused) as refused:
            passed += guard.feed(text[:cut])
            passed += guard.feed(text[cut:])
            passed += guard.finish()
        assert refused.value.line_no == 3
        assert reason in str(refused.value)
        assert line.strip(b"\r").decode()[:20].strip() in str(refused.value) or b"\r" in line
        # Nothing of the forbidden line (nor anything after it) was passed on.
        assert passed in (b"", b"CREATE TABLE t (id int);\n", b"CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n")


def test_forbidden_line_refused_when_fed_one_byte_at_a_time():
    text = b"CREATE TABLE t (id int);\n" * 3 + b"USE other_db;\nDROP TABLE precious;\n"
    guard = DumpGuard()
    passed = b""
    with pytest.raises(Refused) as refused:
        for i in range(len(text)):
            passed += guard.feed(text[i:i + 1])
    assert refused.value.line_no == 4
    assert b"USE" not in passed and b"precious" not in passed


def test_forbidden_last_line_without_newline_is_refused_by_finish():
    guard = DumpGuard()
    assert guard.feed(b"SELECT 1;\nUSE crm") == b"SELECT 1;\n"
    with pytest.raises(Refused):
        guard.finish()


LOOKALIKES = [
    b"INSERT INTO t VALUES ('; USE crm; DROP DATABASE crm;');",
    b"INSERT INTO t VALUES (\"; system touch /tmp/x\");",
    b"INSERT INTO `a;USE b` VALUES (1);",
    b"SELECT 1; -- ; USE crm",
    b"SELECT 1 # ; USE crm",
    b"SELECT 1 /* ; USE crm */;",
    b"INSERT INTO t VALUES ('\\'; USE crm; \\'');",
    b"user_count = 1;",
    b"used;",
    b"systemd_units;",
    b"-- USE crm",
    b"# USE crm",
    b"CREATE TABLE `use` (id int);",
    b"CREATE TABLE databases (id int);",
    b"SELECT 1;",
]


@pytest.mark.parametrize("line", LOOKALIKES, ids=[repr(f)[2:-1] for f in LOOKALIKES])
def test_lookalikes_in_strings_comments_and_names_pass(line):
    guard = DumpGuard()
    text = b"CREATE TABLE t (id int);\n" + line + b"\n"
    assert feed_all(guard, [text]) == text


def test_many_semicolons_in_strings_of_one_long_line_pass():
    values = ",".join(f"({i},'note {i}; use the door; &amp; it\\'s')" for i in range(20000))
    text = f"INSERT INTO t VALUES {values};\n".encode()
    guard = DumpGuard()
    assert feed_all(guard, random_splits(text, random.Random(3), 65536)) == text


def test_definer_clauses_are_stripped_only_where_mysqldump_writes_them():
    out = feed_all(DumpGuard(strip_definer=True), [DUMP])
    assert b"DEFINER=`root`" not in out and b"DEFINER='admin'" not in out
    assert b"/*!50013 SQL SECURITY DEFINER */\n" in out
    assert b"/*!50003 CREATE*/ /*!50017 */ /*!50003 TRIGGER contacts_audit" in out
    assert b"CREATE FUNCTION `deal_total`()" in out
    assert b"CREATE PROCEDURE `count_users`(OUT n INT)" in out
    assert b"/*!50106 CREATE*/ /*!50117 */ /*!50106 EVENT `nightly_cleanup`" in out
    # Data that merely looks like a DEFINER clause is left alone.
    assert b"(5,'CREATE DEFINER=`a`@`b` x')" in out
    # Nothing else changed.
    assert out.count(b"\n") == DUMP.count(b"\n")
    untouched = feed_all(DumpGuard(strip_definer=False), [DUMP])
    assert untouched == DUMP


def test_sandbox_line_is_dropped_only_for_a_mysql_client():
    assert feed_all(DumpGuard(drop_sandbox_line=True), [DUMP]) == DUMP[len(SANDBOX_LINE) + 1:]
    assert feed_all(DumpGuard(drop_sandbox_line=False), [DUMP]) == DUMP
    # Only the first line: the same text later is kept.
    text = b"SELECT 1;\n" + SANDBOX_LINE + b"\n"
    assert feed_all(DumpGuard(drop_sandbox_line=True), [text]) == text


@pytest.mark.parametrize("tail,ok", [
    (b"\n-- Dump completed on 2026-11-26  4:11:33\n", True),
    (b"\n-- Dump completed on 2026-11-26 14:11:33", True),
    (b"\n-- Dump completed on 2026-11-26  4:11:33\n\n", True),
    (b"\nINSERT INTO t VALUES (1);\n", False),
    (b"\nINSERT INTO t VALUES ('-- Dump completed on 2020');\n", False),
    (b"\n-- Dump completed on 2026-11-26  4:11:33\nINSERT INTO t VALUES (1);\n", False),
])
def test_trailer_must_be_the_last_line(tail, ok):
    guard = DumpGuard()
    feed_all(guard, [b"CREATE TABLE t (id int);\n" * 100 + tail])
    assert guard.trailer_ok is ok


def test_giant_lines_pass_in_pieces_with_bounded_memory(monkeypatch):
    monkeypatch.setattr(sqlstream, "MAX_CARRY", 4096)
    giant = b"INSERT INTO t VALUES " + b",".join(b"(%d,'x')" % i for i in range(3000)) + b";\n"
    text = b"CREATE TABLE t (id int);\n" + giant + b"INSERT INTO t VALUES (1);\n" + b"-- Dump completed on x\n"
    for piece in (1, 1000, 5000, 100000):
        guard = DumpGuard()
        out = []
        for i in range(0, len(text), piece):
            out.append(guard.feed(text[i:i + piece]))
            assert len(guard._carry) <= 4096 + piece
        out.append(guard.finish())
        assert b"".join(out) == text
        assert guard.lines == 4 and guard.trailer_ok


def test_giant_line_start_is_checked_and_the_next_line_too(monkeypatch):
    monkeypatch.setattr(sqlstream, "MAX_CARRY", 4096)
    with pytest.raises(Refused) as refused:
        feed_all(DumpGuard(), [b"SELECT 1;\nUSE crm; -- " + b"x" * 10000 + b"\n"])
    assert refused.value.line_no == 2
    with pytest.raises(Refused) as refused:
        guard = DumpGuard()
        giant = b"INSERT INTO t VALUES ('" + b"y" * 10000 + b"');\n"
        feed_all(guard, [giant[i:i + 1000] for i in range(0, len(giant), 1000)] + [b"USE crm;\n"])
    assert refused.value.line_no == 2


def test_a_real_giant_line_over_16_mib():
    row = b"(1,'" + b"z" * 1024 + b"'),"
    giant = b"INSERT INTO t VALUES " + row * (17 * 1024) + b"(2,'end');\n"
    assert len(giant) > sqlstream.MAX_CARRY
    text = b"CREATE TABLE t (id int);\n" + giant + b"-- Dump completed on x\n"
    guard = DumpGuard()
    total = 0
    for i in range(0, len(text), 1 << 20):
        total += len(guard.feed(text[i:i + (1 << 20)]))
        assert len(guard._carry) <= sqlstream.MAX_CARRY
    total += len(guard.finish())
    assert total == len(text) and guard.trailer_ok and guard.lines == 3


def test_line_numbers_count_across_chunks():
    text = b"".join(b"SELECT %d;\n" % i for i in range(1000)) + b"USE crm;\n"
    guard = DumpGuard()
    with pytest.raises(Refused) as refused:
        for piece in random_splits(text, random.Random(7), 97):
            guard.feed(piece)
    assert refused.value.line_no == 1001
    assert refused.value.line == "USE crm;"


# --- gunzip_chunks ---


class Dribble(io.RawIOBase):
    """A file that answers each read with at most a few bytes, like a slow pipe."""

    def __init__(self, data: bytes, rng: random.Random) -> None:
        self._data, self._at, self._rng = data, 0, rng

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._rng.randint(1, 13)
        chunk = self._data[self._at:self._at + min(n, size if size >= 0 else n)]
        self._at += len(chunk)
        return chunk


def gunzip(data: bytes, source=None) -> bytes:
    return b"".join(gunzip_chunks(source or io.BytesIO(data)))


def test_gunzip_single_and_multi_member():
    one = gzip.compress(DUMP, mtime=0)
    assert gunzip(one) == DUMP
    parts = [DUMP[:100], DUMP[100:101], b"", DUMP[101:]]
    multi = b"".join(gzip.compress(p, mtime=0) for p in parts)
    assert gunzip(multi) == DUMP


@pytest.mark.parametrize("seed", range(5))
def test_gunzip_member_boundaries_inside_and_across_reads(seed):
    rng = random.Random(seed)
    parts = random_splits(DUMP, rng, 400)
    multi = b"".join(gzip.compress(p, mtime=0) for p in parts)
    assert gunzip(multi, Dribble(multi, rng)) == DUMP


def test_gunzip_reports_compressed_bytes_read():
    data = gzip.compress(DUMP * 50, mtime=0)
    seen = []
    assert b"".join(gunzip_chunks(io.BytesIO(data), seen.append)) == DUMP * 50
    assert sum(seen) == len(data)


def test_gunzip_empty_file_is_refused():
    with pytest.raises(TruncatedDump, match="empty"):
        gunzip(b"")


@pytest.mark.parametrize("keep", [1, 5, 10, 30, -20, -8, -1])
def test_gunzip_truncated_is_refused(keep):
    data = gzip.compress(DUMP, mtime=0)
    with pytest.raises(TruncatedDump, match="ends early"):
        gunzip(data[:keep])


def test_gunzip_truncated_second_member_is_refused():
    data = gzip.compress(DUMP, mtime=0) + gzip.compress(b"more;\n", mtime=0)[:-3]
    with pytest.raises(TruncatedDump):
        gunzip(data)


def test_gunzip_corruption_is_an_error_never_silent():
    data = gzip.compress(DUMP * 20, mtime=0)
    rng = random.Random(11)
    for _ in range(50):
        at = rng.randrange(10, len(data))  # past the header (whose mtime is not checked)
        bad = bytearray(data)
        bad[at] ^= 1 << rng.randrange(8)
        with pytest.raises((zlib.error, TruncatedDump)):
            gunzip(bytes(bad))


def test_gunzip_not_gzip_at_all():
    with pytest.raises(zlib.error):
        gunzip(b"CREATE TABLE t (id int);\n")
