"""Uploads snapshot: `restic backup --tag uploads --json`, progress from its status lines, the
marker written only on exit 0 (exit 3 = incomplete snapshot = failure, with the unreadable paths).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime

from ..artefacts import markers
from ..events import Progress
from ..fmt import size_words
from ..proc import Child, run_blocking, shown
from ..restic import ResticError, explain, invocation
from .base import Job, JobContext, JobError, Outcome, Rate


@dataclass
class SnapshotResult:
    marker: str
    snapshot_id: str
    summary: dict  # restic's summary line


class SnapshotJob(Job):
    kind = "snapshot"
    next_step = "check CRM_UPLOADS_PATH and the restic repository, then run `opsbackup run snapshot`"

    def _args(self) -> list[str]:
        return ["backup", "--tag", "uploads", "--json", str(self.settings.uploads_path)]

    def plan(self) -> list[str]:
        return [
            f"restic {shown(self._args())}",
            f"repository {self.settings.restic_repository or '(RESTIC_REPOSITORY not set)'}",
            f"writes {self.settings.snapshots_dir}/snapshot-YYYYmmdd-HHMM.txt after a complete snapshot",
        ]

    def _preflight(self) -> None:
        uploads = self.settings.uploads_path
        if uploads is None:
            raise JobError("no uploads directory configured: set CRM_UPLOADS_PATH", next_step="set CRM_UPLOADS_PATH")
        if not uploads.is_dir():
            raise JobError(f"the uploads directory {uploads} does not exist (or is not a directory)",
                           next_step="check CRM_UPLOADS_PATH and that the uploads volume is mounted")
        try:
            with os.scandir(uploads) as it:
                empty = next(it, None) is None
        except OSError as exc:
            raise JobError(f"cannot read {uploads}: {exc.strerror}") from None
        if empty:
            raise JobError(f"the uploads directory {uploads} is empty: refusing to snapshot nothing",
                           next_step="check that the uploads volume is mounted (an empty snapshot hides data loss)")
        try:
            self.restic.preflight()
        except ResticError as exc:
            raise JobError(str(exc)) from None

    async def execute(self, ctx: JobContext) -> Outcome:
        self._preflight()
        started = time.monotonic()
        when = datetime.fromtimestamp(ctx.clock())
        status: dict = {}
        summary: dict = {}
        errors: list[str] = []
        rate = Rate()

        def json_or_output(line: str) -> dict | None:
            """restic's JSON message, or None after showing a line that is none."""
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if not isinstance(event, dict):
                ctx.output_threadsafe(line)
                return None
            return event

        def on_stdout(line: str) -> None:
            event = json_or_output(line)
            if event is None:
                return
            kind = event.get("message_type")
            # restic 0.14 labels its scan_finished event "status" too: it has an "action" key.
            if kind == "status" and "action" not in event:
                status.update(event)
            elif kind == "summary":
                summary.update(event)

        def on_stderr(line: str) -> None:
            event = json_or_output(line)
            if event is not None and event.get("message_type") == "error":
                item = event.get("item") or "?"
                errors.append(str(item))
                ctx.output_threadsafe(f"cannot read {item} ({event.get('during', 'backup')})")

        with invocation(self.restic, *self._args()) as inv:
            ctx.phase("snapshot", shown([os.path.basename(inv.argv[0]), *inv.argv[1:]]))
            child = Child(inv.argv, redact=ctx.redact, on_line=on_stderr, env=inv.env, pass_fds=inv.pass_fds,
                          stdout=subprocess.PIPE, first_signal=signal.SIGINT)

            def relay() -> int:
                for raw in child.proc.stdout:
                    on_stdout(raw.decode("utf-8", errors="replace").strip())
                child.proc.stdout.close()
                return child.wait()

            def sample() -> Progress:
                done = int(status.get("bytes_done", 0))
                total = status.get("total_bytes")
                files = f"{status.get('files_done', 0)}/{status.get('total_files', '?')} files"
                return Progress(self.kind, done, int(total) if total else None, "bytes", rate(done), files)

            # SIGINT first: restic 0.14 leaves a stale repository lock when killed with SIGTERM.
            async with ctx.ticker(sample):
                code = await run_blocking(relay, lambda: child.stop(grace=15.0))

        tail = child.stderr.tail
        if code == 3:
            shown_items = ", ".join(errors[:10]) + (f" and {len(errors) - 10} more" if len(errors) > 10 else "")
            unreadable = f"{len(errors)} unreadable path{'s' if len(errors) != 1 else ''}"
            raise JobError(f"incomplete snapshot (restic exit 3): {unreadable}: {shown_items or 'see the output'}; "
                           "no marker written",
                           next_step="fix the permissions of the listed files, then run `opsbackup run snapshot`",
                           stderr_tail=tail,
                           public=f"incomplete snapshot (restic exit 3): {unreadable} (listed in ops.log); "
                                  "no marker written")
        if code != 0:
            message = explain(tail, code, self.settings.restic_repository)
            # explain() names known causes in its own words; otherwise it quotes restic's stderr.
            quoted = message.startswith(f"restic exited {code}:")
            raise JobError(message, stderr_tail=tail,
                           public=f"restic exited {code} (its error is in ops.log)" if quoted else None)
        if not summary.get("snapshot_id"):
            raise JobError("restic exited 0 without a summary line: no snapshot id, no marker written",
                           stderr_tail=tail)
        duration = time.monotonic() - started
        lines = {
            "snapshot_id": summary["snapshot_id"],
            "tag": "uploads",
            "paths": str(self.settings.uploads_path),
            "files_new": summary.get("files_new", 0),
            "files_changed": summary.get("files_changed", 0),
            "files_unmodified": summary.get("files_unmodified", 0),
            "total_files_processed": summary.get("total_files_processed", 0),
            "total_bytes_processed": summary.get("total_bytes_processed", 0),
            "data_added": summary.get("data_added", 0),
            "duration_s": f"{duration:.1f}",
        }
        marker = markers.MARKERS.write(self.settings.snapshots_dir, when, lines)
        return Outcome(
            f"snapshot {summary['snapshot_id']}: {summary.get('total_files_processed', 0)} files, "
            f"{size_words(summary.get('data_added', 0))} added",
            SnapshotResult(str(marker), summary["snapshot_id"], summary),
        )
