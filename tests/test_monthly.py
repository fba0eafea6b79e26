"""The monthly checklist (runbook §8) for real: a seeded random dump (never the newest) imported
into a temporary database on the real MariaDB, the dump-size trend on crafted sizes at the
boundaries, `restic check` on a good repository and on one missing a pack file, the report
reports/monthly-YYYYmm.md, --json and the exit codes of `opsbackup monthly`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from jobs_support import (  # noqa: F401 - fixtures
    CRM_ROWS,
    NIGHT,
    SAFETY_S,
    cli,
    clock_at,
    crm_db,
    databases,
    db_flags,
    init_restic_repo,
    make_uploads,
    put_on_path,
    run,
    sql,
)
from treeutil import make_dump

from opsbackup_tui.core.events import Output, Phase
from opsbackup_tui.core.jobs.base import result_dict
from opsbackup_tui.core.jobs.dump import DumpJob
from opsbackup_tui.core.jobs.monthly import MonthlyJob
from opsbackup_tui.core.scratch import is_scratch

DAY = 86400
MONTHLY_AT = NIGHT + 5 * 3600  # 2026-11-26 07:00:00
REPORT = "monthly-202611.md"
TABLES = 5  # users, contacts, opportunities, audit and the view big_deals
NIGHTS = 5


def item(result, name: str) -> dict:
    """One item of a monthly result: the job's typed result or the CLI's JSON."""
    data = result if isinstance(result, dict) else result_dict(result)
    (found,) = [i for i in data["items"] if i["name"] == name]
    return found


def scratch_left(server) -> set[str]:
    return {name for name in databases(server) if is_scratch(name, "monthly")}


def restic_flags(tmp_path: Path):
    repo = init_restic_repo(tmp_path / "restic")
    uploads = make_uploads(tmp_path / "uploads", files=4, big_bytes=2 << 20)  # a data pack bigger than the tree pack
    done = repo.run("backup", "--tag", "uploads", str(uploads))
    assert done.returncode == 0, done.stderr
    return repo, repo.flags(uploads)


def delete_a_data_pack(repo) -> Path:
    """Remove the largest pack under data/ (file contents, not trees: restic check reports it at once
    instead of retrying to load a tree for minutes)."""
    packs = sorted((p for p in (repo.path / "data").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    victim = packs[-1]
    victim.chmod(0o600)
    victim.unlink()
    return victim


@pytest.fixture
def monthly_env(mysql_server, crm_db, make_settings, tmp_path):
    """Five nightly dumps made by the real DB backup job of a CRM database that gains a user each
    night (dump k holds 3 + k users), a restic repository with a snapshot, and the settings."""
    repo, restic = restic_flags(tmp_path)
    settings = make_settings(**db_flags(mysql_server, tmp_path / "secrets", db_name=crm_db), **restic)
    users: dict[str, int] = {}
    for k in range(NIGHTS):
        if k:
            sql(mysql_server, f"INSERT INTO users (email, name) VALUES ('night{k}@example.com', 'Night {k}')",
                database=crm_db)
        when = NIGHT - (NIGHTS - 1 - k) * DAY
        finished, _ = sync_run(DumpJob(settings), when)
        assert finished.ok, finished.error
        users[Path(finished.result.path).name] = CRM_ROWS["users"] + k
    assert len(users) == NIGHTS
    return settings, repo, users


def sync_run(job, when: float):
    """run(job) from a sync fixture: in a thread of its own, whatever loop the test runs in."""
    import asyncio
    import threading

    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("value", asyncio.run(run(job, clock_at(when)))))
    thread.start()
    thread.join(SAFETY_S)
    return box["value"]


def restored_users(evidence: list[str]) -> int:
    (line,) = [e for e in evidence if e.startswith("rows.users:")]
    return int(re.search(r"restored (\d+)", line).group(1))


def picked(result: dict) -> str:
    return item(result, "random dump validation")["summary"].split()[0]


async def test_all_three_pass_with_a_seeded_random_import(monthly_env, mysql_server):
    settings, _, users = monthly_env
    newest = max(users)
    finished, rec = await run(MonthlyJob(settings, seed=7), clock_at(MONTHLY_AT))
    assert finished.ok, finished.error
    result = result_dict(finished.result)
    assert result["seed"] == 7 and result["ok"] is True
    assert [i["name"] for i in result["items"]] == ["random dump validation", "dump size trend", "restic check"]
    assert all(i["ok"] for i in result["items"])

    random_item = item(result, "random dump validation")
    pick = picked(result)
    assert pick in users and pick != newest, "a valid dump, never the newest"
    assert random_item["summary"] == f"{pick} imported: {TABLES} tables"
    assert random_item["evidence"][0] == (f"seed 7 (repeat with `opsbackup monthly --seed 7`): {pick} "
                                          f"out of {NIGHTS - 1} older dumps")
    assert any(e.startswith("tables: expected –, restored 5") for e in random_item["evidence"])
    # The rows really come from the picked dump (each night's dump holds one more user).
    assert restored_users(random_item["evidence"]) == users[pick]
    assert "no verify log for this dump: counts not compared" in random_item["evidence"]
    assert any(re.fullmatch(r"\d+ lines imported into monthly_20261126_070000 \(dropped\)", e)
               for e in random_item["evidence"])
    assert scratch_left(mysql_server) == set(), "the temporary database is always dropped"
    assert {"checksum", "creating", "importing", "cleanup", "trend", "restic check"} <= set(rec.phases)

    trend = item(result, "dump size trend")
    assert trend["summary"] == f"{NIGHTS} dumps of the last 31 days within the trend"
    assert sum("too little history" in e for e in trend["evidence"]) == 3
    assert item(result, "restic check")["summary"] == "no errors found"
    assert "no errors were found" in item(result, "restic check")["evidence"]

    report = settings.reports_dir / REPORT
    assert result["report"] == str(report)
    text = report.read_text()
    assert text.startswith("# Monthly checklist — ") and "— 2026-11\n" in text
    assert "Run 2026-11-26 07:00 · seed 7 · overall: **PASS**" in text
    assert "| random dump validation | **PASS** | " + random_item["summary"] + " |" in text
    assert "| dump size trend | **PASS** | " in text and "| restic check | **PASS** | no errors found |" in text
    assert f"    seed 7 (repeat with `opsbackup monthly --seed 7`): {pick}" in text
    assert '<!-- opsbackup:monthly {"ok": true, "seed": 7} -->' in text


async def test_the_same_seed_picks_the_same_dump_and_others_vary(monthly_env):
    settings, _, users = monthly_env
    picks = {}
    for seed in (7, 7, 1, 2, 3, 4):
        finished, _ = await run(MonthlyJob(settings, seed=seed), clock_at(MONTHLY_AT))
        assert finished.ok, finished.error
        pick = picked(finished.result)
        assert picks.setdefault(seed, pick) == pick, "the same seed repeats the same pick"
        assert restored_users(item(finished.result, "random dump validation")["evidence"]) == users[pick]
    assert max(users) not in picks.values()
    assert len(set(picks.values())) > 1, picks


async def test_counts_are_compared_with_the_dumps_verify_log(monthly_env, mysql_server):
    """With a verify log of the picked dump, every count must match it: a wrong one fails the item."""
    settings, _, users = monthly_env
    folder = settings.verify_dir
    folder.mkdir(parents=True, exist_ok=True)

    def logs(users_delta: int) -> None:
        for index, (name, count) in enumerate(sorted(users.items())):
            (folder / f"verify-2026112{index}-0400.log").write_text(
                f"dump: {name}\ndump_sha256: {'0' * 64}\ndatabase: verify_x\ntables: {TABLES}\n"
                f"rows.users: {count + users_delta}\nrows.contacts: 5\nrows.opportunities: 4\n"
                "duration_s: 1.0\nresult: OK\n")

    logs(0)
    finished, _ = await run(MonthlyJob(settings, seed=3), clock_at(MONTHLY_AT))
    assert finished.ok, finished.error
    evidence = item(finished.result, "random dump validation")["evidence"]
    pick = picked(finished.result)
    assert f"rows.users: expected {users[pick]}, restored {users[pick]}" in evidence
    assert f"tables: expected {TABLES}, restored {TABLES}" in evidence

    logs(100)
    finished, _ = await run(MonthlyJob(settings, seed=3), clock_at(MONTHLY_AT))
    assert not finished.ok
    failed = item(finished.result, "random dump validation")
    assert not failed["ok"]
    assert failed["summary"] == f"{pick}: rows.users: expected {users[pick] + 100}, restored {users[pick]}  ✗"
    assert item(finished.result, "restic check")["ok"] and item(finished.result, "dump size trend")["ok"]
    assert "random dump validation: " in finished.error and REPORT in finished.error
    assert scratch_left(mysql_server) == set()


async def test_a_corrupt_pick_fails_the_item(monthly_env, mysql_server):
    settings, _, users = monthly_env
    for name in users:  # every older dump: whichever is picked is corrupt
        if name != max(users):
            path = settings.db_dir / name
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(data))
    finished, _ = await run(MonthlyJob(settings, seed=5), clock_at(MONTHLY_AT))
    assert not finished.ok
    failed = item(finished.result, "random dump validation")
    assert "sha256 mismatch" in failed["summary"] and failed["summary"].startswith(picked(finished.result))
    assert scratch_left(mysql_server) == set()


# --- the size trend through the job (crafted sizes; no DB, no restic: those items fail fast) ---


def trend_tree(make_settings, sizes: list[int]):
    settings = make_settings()
    for back, size in enumerate(reversed(sizes)):
        stamp = f"202611{26 - back:02d}-0200"
        make_dump(settings.backup_base, stamp, data=bytes(size), age_s=0, now=NIGHT - back * DAY)
    return settings


@pytest.mark.parametrize("last_two, flagged", [
    ((7000, 15000), []),  # exactly −30 % then exactly +50 %: inside the trend
    ((6999, 10000), ["full-20261125-0200.sql.gz (-30.01 %)"]),  # −30.01 %: below
    ((10000, 15001), ["full-20261126-0200.sql.gz (+50.01 %)"]),  # +50.01 %: above
    ((6999, 15001), ["full-20261125-0200.sql.gz (-30.01 %)", "full-20261126-0200.sql.gz (+50.01 %)"]),
])
async def test_trend_item_at_the_boundaries(make_settings, last_two, flagged):
    settings = trend_tree(make_settings, [10000] * 7 + list(last_two))
    finished, _ = await run(MonthlyJob(settings, seed=1), clock_at(NIGHT + 3600))
    trend = item(finished.result, "dump size trend")
    evidence = trend["evidence"]
    assert len(evidence) == 9
    assert evidence[-2].startswith("full-20261125-0200.sql.gz: ")
    if not flagged:
        assert trend["ok"], trend
        assert trend["summary"] == "9 dumps of the last 31 days within the trend"
        assert evidence[-2].endswith(", -30.00 % against 9.8 KiB") and "audit" not in evidence[-2]
        assert evidence[-1].endswith(", +50.00 % against 9.8 KiB") and "audit" not in evidence[-1]
    else:
        assert not trend["ok"]
        assert trend["summary"] == (f"{len(flagged)} dump(s) changed beyond -30 %/+50 %: " + ", ".join(flagged)
                                    + "; audit them")
        assert sum(e.endswith("⚠ audit") for e in evidence) == len(flagged)
    # Without a DB user and a restic repository the other two fail, and say why.
    assert "no database user configured" in item(finished.result, "random dump validation")["summary"]
    assert "no restic repository configured" in item(finished.result, "restic check")["summary"]
    assert not finished.ok


async def test_trend_only_looks_at_the_last_31_days(make_settings):
    settings = trend_tree(make_settings, [10000] * 7 + [1])  # the flagged dump is 2026-11-26
    finished, _ = await run(MonthlyJob(settings, seed=1), clock_at(NIGHT + 40 * DAY))
    trend = item(finished.result, "dump size trend")
    assert not trend["ok"] and trend["summary"] == "no dump in the last 31 days"


async def test_fewer_than_two_dumps(make_settings):
    settings = trend_tree(make_settings, [10000])
    finished, _ = await run(MonthlyJob(settings, seed=1), clock_at(NIGHT + 3600))
    assert item(finished.result, "random dump validation")["summary"] == \
        "fewer than 2 valid dumps: nothing to pick besides the newest"


# --- restic check ---


async def test_restic_check_good_and_with_a_deleted_pack(make_settings, tmp_path):
    repo, restic = restic_flags(tmp_path)
    subset = make_settings(**restic, restic_check_subset="50%")
    finished, rec = await run(MonthlyJob(subset, seed=1), clock_at(NIGHT))
    good = item(finished.result, "restic check")
    assert good["ok"] and good["summary"] == "no errors found"
    assert "no errors were found" in good["evidence"]
    assert "read 50.0% of data packs" in good["evidence"], good["evidence"]
    assert any(p.detail == "restic check --read-data-subset=50%" for p in rec.of(Phase))
    assert repo.locks() == []

    # Without a data subset: reading a missing pack makes restic retry for minutes.
    settings = make_settings(**restic)
    victim = delete_a_data_pack(repo)
    finished, _ = await run(MonthlyJob(settings, seed=1), clock_at(NIGHT))
    bad = item(finished.result, "restic check")
    assert not bad["ok"]
    assert bad["summary"].startswith("the repository has errors")
    assert f"pack {victim.name}: does not exist" in bad["evidence"], bad["evidence"]
    assert "Fatal: repository contains errors" in bad["evidence"]
    report = (settings.reports_dir / "monthly-202611.md").read_text()
    assert "| restic check | **FAIL** | the repository has errors" in report
    assert f"    pack {victim.name}: does not exist" in report


# restic as a slow check prints it: the error early, then its status line 4 times a second.
FLOODING_RESTIC = """#!/bin/sh
echo "pack 0123abcd: does not exist" >&2
i=0
while [ $i -lt 300 ]; do echo "[0:$((i / 4))] 0.00%  0 / 1 packs"; i=$((i + 1)); done
echo "Fatal: repository contains errors" >&2
exit 1
"""


async def test_restic_check_evidence_keeps_the_error_not_the_status_lines(make_settings, tmp_path, monkeypatch):
    """A check that runs a while prints hundreds of status lines after the error: the evidence
    keeps restic's error lines, not the last 40 status lines."""
    put_on_path(monkeypatch, tmp_path / "bin", "restic", FLOODING_RESTIC)
    secret = tmp_path / "pw"
    secret.write_text("pw\n")
    settings = make_settings(restic_repository=tmp_path / "repo", restic_password_file=secret)
    finished, rec = await run(MonthlyJob(settings, seed=1), clock_at(NIGHT))
    bad = item(finished.result, "restic check")
    assert not bad["ok"] and bad["summary"].startswith("the repository has errors")
    assert bad["evidence"] == ["pack 0123abcd: does not exist", "Fatal: repository contains errors"]
    assert sum("0 / 1 packs" in e.line for e in rec.of(Output)) == 300  # still shown as output


async def test_restic_check_wrong_password(make_settings, tmp_path):
    _, restic = restic_flags(tmp_path)
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not the password\n")
    settings = make_settings(**(restic | {"restic_password_file": wrong}))
    finished, _ = await run(MonthlyJob(settings, seed=1), clock_at(NIGHT))
    bad = item(finished.result, "restic check")
    assert not bad["ok"] and bad["summary"] == "wrong restic password: check RESTIC_PASSWORD_FILE"


# --- the command line: exit codes, --json, the report ---


def monthly_cli(settings, *args: str):
    env = os.environ.copy()
    for name, value in (("OPS_BACKUP_BASE", settings.backup_base), ("OPS_STATE_DIR", settings.state_dir),
                        ("OPS_LOG_PATH", settings.log_path), ("OPS_DB_HOST", settings.db_host),
                        ("OPS_DB_PORT", settings.db_port), ("OPS_DB_USER", settings.db_user),
                        ("OPS_DB_NAME", settings.db_name), ("RESTIC_REPOSITORY", settings.restic_repository),
                        ("RESTIC_PASSWORD_FILE", settings.restic_password_file),
                        ("OPS_DB_PASSWORD_FILE", settings.db_password_file)):
        if value is not None:
            env[name] = str(value)
    proc = cli("monthly", *args, env=env)
    out, err = proc.communicate(timeout=SAFETY_S)
    return proc.returncode, out, err


def test_cli_exit_codes_json_and_report(monthly_env, mysql_server):
    settings, repo, users = monthly_env
    code, out, err = monthly_cli(settings, "--seed", "7", "--json")
    assert code == 0, out + err
    data = json.loads(out)  # stdout holds only the JSON document
    assert data["ok"] is True and data["seed"] == 7 and data["error"] is None
    assert [i["ok"] for i in data["items"]] == [True, True, True]
    pick = picked(data)
    assert pick in users and pick != max(users)
    assert "monthly started" in err  # progress goes to stderr with --json
    report = Path(data["report"])
    assert report.parent == settings.reports_dir and re.fullmatch(r"monthly-\d{6}\.md", report.name)
    assert "overall: **PASS**" in report.read_text()

    code, out, _ = monthly_cli(settings, "--seed", "7")
    assert code == 0 and "OK in" in out and "all 3 items passed" in out

    delete_a_data_pack(repo)
    code, out, err = monthly_cli(settings, "--seed", "7", "--json")
    assert code == 1, out + err
    data = json.loads(out)
    assert data["ok"] is False and picked(data) == pick, "the same seed repeats the pick"
    assert [i["ok"] for i in data["items"]] == [True, True, False]
    assert data["error"].startswith("monthly checklist: restic check: the repository has errors")
    assert "overall: **FAIL**" in report.read_text()
    assert '"ok": false, "seed": 7' in report.read_text()
    assert scratch_left(mysql_server) == set()
