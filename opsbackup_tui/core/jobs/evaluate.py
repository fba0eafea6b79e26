"""Health evaluation (the runbook's EvaluateBackupHealthJob): the checklist, an alert on each
change of state and on recovery, de-duplicated through a small state file.

This is the dead-man's switch: run it from cron every few minutes and a dump that silently
stopped is noticed within minutes. The ops_log check is not alerted on: its lines are the alerts.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from ..alerts import raise_alert
from ..atomic import write_atomic
from ..checks import CheckResult, Status, run_checks
from ..fmt import age_words
from .base import Job, JobContext, Outcome

ALERTED_CHECKS = ("db_dump", "uploads_snapshot", "verify_restore", "metrics")
GOOD = (Status.OK, Status.SKIPPED)

NEXT_STEP = {
    "db_dump": "check the cron and the job's log, then run a DB backup (`opsbackup run db_backup`)",
    "uploads_snapshot": "run the snapshot job (`opsbackup run snapshot`)",
    "verify_restore": "run a verify restore (`opsbackup run verify`); if it FAILED, check the logs and the dump's integrity",
    "metrics": "check the CRM is up and /crm/ops/metrics answers",
}


def state_path(state_dir: Path) -> Path:
    return state_dir / "health.json"


def load_state(state_dir: Path) -> dict:
    try:
        data = json.loads(state_path(state_dir).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _message(result: CheckResult) -> str:
    age = ""
    if result.age_seconds is not None and result.threshold_seconds is not None:
        age = f" (age {age_words(result.age_seconds)}, threshold {age_words(result.threshold_seconds)})"
    return f"{result.detail}{age}"


def decide(results: list[CheckResult], state: dict, now: float, realert_s: float) -> tuple[list[tuple[str, CheckResult]], dict]:
    """Which alerts to send ("alert" or "recovery", result) and the new state. Pure: no I/O."""
    sends: list[tuple[str, CheckResult]] = []
    new_state = dict(state)
    for result in results:
        if result.id not in ALERTED_CHECKS:
            continue
        previous = state.get(result.id, {})
        status = result.status.value
        entry = {"status": status, "since": previous.get("since", now) if previous.get("status") == status else now,
                 "alerted_at": previous.get("alerted_at"), "alerted_status": previous.get("alerted_status")}
        if result.status in GOOD:
            if previous.get("alerted_status") not in (None, *[s.value for s in GOOD]):
                sends.append(("recovery", result))
                entry["alerted_status"] = status
                entry["alerted_at"] = now
        else:
            changed = previous.get("alerted_status") != status
            due = previous.get("alerted_at") is None or now - float(previous["alerted_at"]) >= realert_s
            if changed or due:
                sends.append(("alert", result))
                entry["alerted_status"] = status
                entry["alerted_at"] = now
        new_state[result.id] = entry
    return sends, new_state


@dataclass
class EvaluateResult:
    alerts: list[tuple[str, str, str]]  # (alert or recovery, check, status) sent this run
    checks: list[dict]  # the checklist as `status --json` gives it


class EvaluateJob(Job):
    kind = "evaluate"
    next_step = "check the backup host; run `opsbackup status` to see the checklist"
    alerts = False  # its own alerts are the checks' state changes

    def plan(self) -> list[str]:
        return ["evaluates the checklist; alerts (ops.log + Slack) on each change of state and on recovery",
                f"keeps its state in {state_path(self.settings.state_dir)}"]


    async def execute(self, ctx: JobContext) -> Outcome:
        now = ctx.clock()
        ctx.phase("checking", "the five checks")
        results = await asyncio.to_thread(run_checks, self.settings, now, tree=ctx.tree)
        state = load_state(self.settings.state_dir)
        sends, new_state = decide(results, state, now, self.settings.realert_min * 60)
        delivered = 0
        for kind, result in sends:
            if kind == "alert":
                sent = await asyncio.to_thread(
                    raise_alert, self.settings, f"{result.id} {result.status.value}", _message(result),
                    NEXT_STEP.get(result.id), {"check": result.id, "status": result.status.value})
            else:
                sent = await asyncio.to_thread(
                    raise_alert, self.settings, f"{result.id} recovered", f"now {result.status.value}: {result.detail}",
                    None, {"check": result.id, "status": result.status.value}, "NOTICE")
            delivered += sent.sent
            ctx.output(f"{kind}: {result.id} {result.status.value}" + ("" if sent.sent else f" (Slack: {sent.error})"))
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(state_path(self.settings.state_dir), json.dumps(new_state, indent=1), 0o600)
        states = ", ".join(f"{r.id} {r.status.value}" for r in results)
        return Outcome(f"{len(sends)} alert{'s' if len(sends) != 1 else ''} ({delivered} delivered to Slack); {states}",
                       EvaluateResult([(kind, r.id, r.status.value) for kind, r in sends],
                                      [r.to_json() for r in results]))
