"""No password or webhook URL in any child's argv or environment (read from /proc while the
children run), nor in ops.log, the events or the alert."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import secrets
from pathlib import Path

from jobs_support import (  # noqa: F401 - fixtures
    NIGHT,
    ProcWatcher,
    admin,
    clock_at,
    crm_db,
    held_table,
    make_db_user,
    make_uploads,
    restic_repo,
    restic_template,
    run,
    wait_until,
)

from opsbackup_tui.core import mysql as mysql_module
from opsbackup_tui.core.jobs.dump import DUMP_FLAGS, DumpJob
from opsbackup_tui.core.jobs.snapshot import SnapshotJob
from opsbackup_tui.core.jobs.verify import VerifyJob

SENSITIVE_KEYS = {"MYSQL_PWD", "OPS_DB_PASSWORD", "OPS_SLACK_WEBHOOK_URL", "RESTIC_PASSWORD", "DB_PASSWORD",
                  "RESTIC_PASSWORD_COMMAND"}


def with_lock_statement(dump_path: Path, lock_name: str) -> None:
    """Put `DO GET_LOCK(…)` into a real dump (and a true .sha256): its import waits for the test."""
    text = gzip.decompress(dump_path.read_bytes()).decode()
    marker = "\n-- Dumping data for table"
    at = text.index(marker)
    text = text[:at] + f"\nDO GET_LOCK('{lock_name}', 600);\n" + text[at:]
    data = gzip.compress(text.encode(), mtime=0)
    dump_path.write_bytes(data)
    sha_file = dump_path.with_name(dump_path.name + ".sha256")
    sha_file.write_text(f"{hashlib.sha256(data).hexdigest()}  {dump_path.name}\n")


async def test_no_secret_reaches_a_child_or_a_log(mysql_server, crm_db, make_db_user, make_settings, restic_repo,
                                                  http_stub, tmp_path, monkeypatch):
    user = make_db_user("ALL PRIVILEGES ON *.*")
    webhook_token = "whk" + secrets.token_hex(12)
    webhook = f"{http_stub.url}/services/T9/B9/{webhook_token}"
    # The operator configured everything through the environment, the worst case for leaks.
    monkeypatch.setenv("OPS_DB_PASSWORD", user.password)
    monkeypatch.setenv("MYSQL_PWD", user.password)
    monkeypatch.setenv("DB_PASSWORD", user.password)
    monkeypatch.setenv("OPS_SLACK_WEBHOOK_URL", webhook)
    monkeypatch.setenv("RESTIC_PASSWORD", restic_repo.password)
    uploads = make_uploads(tmp_path / "uploads", files=4)
    settings = make_settings(
        environ=dict(os.environ), db_host=mysql_server.host, db_port=mysql_server.port, db_user=user.name,
        db_name=crm_db, uploads_path=uploads, restic_repository=restic_repo.path)
    assert settings.db_password.reveal() == user.password and settings.restic_password_file is None
    secret_texts = [user.password, webhook_token, restic_repo.password]
    mysql_module._answers.clear()  # the client's capability probe runs (once per process) too
    lock_name = f"opsb_test_{secrets.token_hex(4)}"

    with ProcWatcher() as watcher:
        # 1. The dump, held alive on a table until the watcher has seen its processes.
        with held_table(mysql_server, crm_db, "opportunities"):
            task = asyncio.ensure_future(run(DumpJob(settings), clock_at(NIGHT)))
            await asyncio.to_thread(
                wait_until,
                lambda: any(s.argv[-1] == crm_db for s in watcher.of("mariadb-dump")) and watcher.of("pigz"),
                "the dump and the compressor")
        dumped, dump_rec = await task
        assert dumped.ok, dumped.error

        # 2. The verify of that dump, held alive on a named lock inside it.
        with_lock_statement(Path(dumped.result.path), lock_name)
        holder = admin(mysql_server)
        try:
            with holder.cursor() as cur:
                cur.execute("SELECT GET_LOCK(%s, 5)", (lock_name,))
            task = asyncio.ensure_future(run(VerifyJob(settings), clock_at(NIGHT + 3600)))
            await asyncio.to_thread(
                wait_until, lambda: any("--binary-mode" in s.argv for s in watcher.of("mariadb")), "the import client")
        finally:
            holder.close()  # releases the named lock
        verified, verify_rec = await task
        assert verified.ok, verified.error

        # 3. The snapshot, its password through a pipe.
        snap, snap_rec = await run(SnapshotJob(settings), clock_at(NIGHT + 7200))
        assert snap.ok, snap.error
        assert any("backup" in s.argv for s in watcher.of("restic"))

        # 4. A failing dump: its alert goes to the webhook.
        failing = make_settings(environ=dict(os.environ), db_host=mysql_server.host, db_port=mysql_server.port,
                                db_user=user.name, db_name="opsb_no_such_db_sec")
        failed, fail_rec = await run(DumpJob(failing), clock_at(NIGHT + 9000))
        assert not failed.ok

    seen = [s for s in watcher.seen if s.program in ("mariadb-dump", "pigz", "mariadb", "restic")]
    assert {s.program for s in seen} == {"mariadb-dump", "pigz", "mariadb", "restic"}
    for proc in seen:
        text = proc.text()
        for secret in secret_texts:
            assert secret not in text, f"a secret in {proc.program}'s argv or environment"
        env = proc.environ
        assert not SENSITIVE_KEYS & env.keys(), proc.program
        assert not [key for key in env if key.startswith("OPS_")], proc.program
        assert not any(a.startswith(("-p", "--password")) and a != "--password-file" for a in proc.argv[1:])

    dump_argv = next(s.argv for s in seen if s.program == "mariadb-dump" and s.argv[-1] == crm_db)
    assert dump_argv[1].startswith("--defaults-extra-file=/")
    for flag in DUMP_FLAGS:
        assert flag in dump_argv
    for flag in ("--databases", "--all-databases", "--force", "--skip-comments", "--compact", "-f", "-B", "-A"):
        assert flag not in dump_argv
    client_argv = next(s.argv for s in seen if s.program == "mariadb" and "--binary-mode" in s.argv)
    assert "--binary-mode" in client_argv and "--sandbox" in client_argv
    assert client_argv[-1] == "--database=verify_20261126_030000"
    restic = next(s for s in seen if s.program == "restic" and "backup" in s.argv)
    assert restic.argv[1] == "--password-file" and restic.argv[2].startswith("/dev/fd/")
    assert restic.environ["RESTIC_REPOSITORY"] == str(restic_repo.path)

    # Nothing the tool wrote or showed holds a secret.
    shown = [settings.log_path.read_text(), failing.log_path.read_text(),
             *(Path(p).read_text() for p in (verified.result.log, snap.result.marker)),
             *(repr(e) for rec in (dump_rec, verify_rec, snap_rec, fail_rec) for e in rec.events),
             *(body.decode() for _, _, body in http_stub.requests)]
    for text in shown:
        for secret in secret_texts:
            assert secret not in text
    assert [json.loads(body)["text"].split(":")[0] for _, _, body in http_stub.requests] == \
        [f"db_backup FAILED on {os.uname().nodename}"]
