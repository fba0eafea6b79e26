"""The monthly checklist (runbook §8): a random dump imported for real, the dump-size trend, and
`restic check`. Each item passes or fails with its evidence, written to reports/monthly-YYYYmm.md."""

from __future__ import annotations

import random
import re
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..artefacts import reports
from ..artefacts.tree import BackupTree
from ..fmt import size_words
from ..importer import Restored, restore_into_scratch
from ..proc import Child, run_blocking, shown
from ..recovery import compare
from ..restic import ResticError, explain, invocation
from ..trend import HIGH, LOW, size_trend
from .base import Job, JobContext, JobError, Outcome

# restic's status line ("[0:54] 0.00%  0 / 1 packs"), printed RESTIC_PROGRESS_FPS times a second:
# shown as output, never kept as evidence (a slow check would push the error out of the last lines).
RESTIC_STATUS_RE = re.compile(r"\[\d+:\d+(?::\d+)?\] +\d+(?:\.\d+)?% ")
TREND_DAYS = 31


@dataclass
class Item:
    name: str
    ok: bool
    summary: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class MonthlyResult:
    report: str
    seed: int
    items: list[Item]
    ok: bool


@dataclass(eq=False)
class MonthlyJob(Job):
    kind = "monthly"
    next_step = "read the failed item's evidence in reports/monthly-YYYYmm.md and act on it (runbook §8)"

    seed: int | None = None  # the random pick's seed; None: the clock's

    def plan(self) -> list[str]:
        subset = self.settings.restic_check_subset
        return ["1. a random valid dump (not the newest) → sha256 → CREATE DATABASE monthly_… → import → counts → DROP",
                f"2. dump sizes against the median of the previous 7 (audit below {LOW:.0f} % or above +{HIGH:.0f} %)",
                "3. restic check" + (f" --read-data-subset={subset}" if subset else ""),
                f"writes {self.settings.reports_dir}/monthly-YYYYmm.md"]

    async def execute(self, ctx: JobContext) -> Outcome:
        when = datetime.fromtimestamp(ctx.clock())
        seed = self.seed if self.seed is not None else int(ctx.clock())
        dumps = list(ctx.tree.valid_dumps())
        items = [await self._random_dump(ctx, ctx.tree, dumps, seed),
                 self._trend(ctx, dumps, when),
                 await self._restic_check(ctx)]
        report = reports.write(reports.monthly_path(self.settings.reports_dir, when), _markdown(items, when, seed))
        result = MonthlyResult(str(report), seed, items, all(i.ok for i in items))
        failed = [i for i in items if not i.ok]
        if failed:
            raise JobError("monthly checklist: " + "; ".join(f"{i.name}: {i.summary}" for i in failed)
                           + f" (report {report})", result=result)
        return Outcome(f"all {len(items)} items passed; report {report}", result)

    async def _random_dump(self, ctx: JobContext, tree: BackupTree, dumps, seed: int) -> Item:
        name = "random dump validation"
        if len(dumps) < 2:
            return Item(name, False, "fewer than 2 valid dumps: nothing to pick besides the newest")
        pick = random.Random(seed).choice(dumps[1:])
        evidence = [f"seed {seed} (repeat with `opsbackup monthly --seed {seed}`): {pick.name} "
                    f"out of {len(dumps) - 1} older dumps"]
        restored = Restored(pick)
        try:
            await restore_into_scratch(ctx, self.server, restored, "monthly", strip_definer=True)
        except JobError as exc:
            return Item(name, False, f"{pick.name}: {exc}", evidence)
        log = tree.verify_log_for(pick, restored.digest)
        checks = compare(log, restored.tables, restored.rows)
        lines = restored.stats.lines if restored.stats else 0
        evidence += [f"{lines} lines imported into {restored.database} (dropped)"] + [c.text for c in checks]
        if log is None:
            evidence.append("no verify log for this dump: counts not compared")
        bad = [c for c in checks if not c.ok]
        if bad:
            return Item(name, False, f"{pick.name}: " + "; ".join(c.text for c in bad), evidence)
        return Item(name, True, f"{pick.name} imported: {restored.tables} tables", evidence)

    def _trend(self, ctx: JobContext, dumps, when: datetime) -> Item:
        ctx.phase("trend", "each dump against the median of the previous 7")
        points = size_trend([(d.name, d.size) for d in reversed(dumps)])
        since = when - timedelta(days=TREND_DAYS)
        stamps = {d.name: d.stamp for d in dumps}
        recent = [p for p in points if stamps[p.name] >= since]
        flagged = [p for p in recent if p.flagged]
        evidence = [f"{p.name}: {size_words(p.size)}" + (f", {p.change_pct:+.2f} % against {size_words(p.median_prev)}"
                                                          if p.change_pct is not None else ", too little history")
                    + ("  ⚠ audit" if p.flagged else "") for p in recent]
        if not recent:
            return Item("dump size trend", False, f"no dump in the last {TREND_DAYS} days", evidence)
        if flagged:
            return Item("dump size trend", False, f"{len(flagged)} dump(s) changed beyond {LOW:.0f} %/+{HIGH:.0f} %: "
                        + ", ".join(f"{p.name} ({p.change_pct:+.2f} %)" for p in flagged) + "; audit them", evidence)
        return Item("dump size trend", True, f"{len(recent)} dumps of the last {TREND_DAYS} days within the trend",
                    evidence)

    async def _restic_check(self, ctx: JobContext) -> Item:
        name = "restic check"
        args = ["check"] + ([f"--read-data-subset={self.settings.restic_check_subset}"]
                            if self.settings.restic_check_subset else [])
        try:
            with invocation(self.restic, *args) as inv:
                ctx.phase("restic check", shown(["restic", *args]))
                lines: list[str] = []

                def keep(line: str) -> None:
                    if not RESTIC_STATUS_RE.match(line):
                        lines.append(line)
                    ctx.output_threadsafe(line)

                child = Child(inv.argv, redact=ctx.redact, on_line=keep, env=inv.env, pass_fds=inv.pass_fds,
                              stdout=subprocess.PIPE, first_signal=signal.SIGINT)

                def relay() -> int:
                    for raw in child.proc.stdout:
                        keep(ctx.redact(raw.decode("utf-8", errors="replace").rstrip()))
                    child.proc.stdout.close()
                    return child.wait()

                code = await run_blocking(relay, lambda: child.stop(grace=15.0))
        except ResticError as exc:
            return Item(name, False, str(exc))
        evidence = lines[-40:]
        if code == 0:
            return Item(name, True, "no errors found", evidence)
        text = "\n".join(lines)
        if "error" in text.lower() and ("pack" in text.lower() or "contains errors" in text.lower()):
            return Item(name, False, "the repository has errors: run `restic check` by hand, then "
                                     "`restic rebuild-index`/`prune` as its output says", evidence)
        return Item(name, False, explain(text, code, self.settings.restic_repository), evidence)


def _markdown(items: list[Item], when: datetime, seed: int) -> str:
    out = [f"# Monthly checklist — {socket.gethostname()} — {when:%Y-%m}", "",
           f"Run {when:%Y-%m-%d %H:%M} · seed {seed} · overall: **{'PASS' if all(i.ok for i in items) else 'FAIL'}**", "",
           "| item | result | summary |", "|---|---|---|"]
    out += [f"| {i.name} | **{'PASS' if i.ok else 'FAIL'}** | {i.summary.replace('|', '/')} |" for i in items]
    for item in items:
        out += ["", f"## {item.name}", ""] + ([f"    {line}" for line in item.evidence] or ["(no evidence)"])
    out += ["", reports.monthly_mark(all(i.ok for i in items), seed)]
    return "\n".join(out) + "\n"
