"""Report: a Markdown summary under reports/ — checklist, dump history with trend, gaps in the
nightly series, verify results, snapshot markers, recent alerts."""

from __future__ import annotations

import asyncio
import itertools
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..artefacts import reports
from ..artefacts.markers import Marker
from ..artefacts.tree import BackupTree
from ..checks import CheckResult, overall, run_checks
from ..fmt import age_words, one_line, printable, size_words
from ..opslog import parse_line, tail_lines
from ..settings import Settings
from ..trend import size_trend
from .base import Job, JobContext, Outcome

HISTORY = 60
RECENT = 10
ALERT_LINES = 20


def _cell(text: object) -> str:
    return printable(str(text)).replace("|", "\\|").replace("\n", " ")


def build_report(settings: Settings, now: float, results: list[CheckResult] | None = None,
                 tree: BackupTree | None = None) -> str:
    tree = tree or BackupTree(settings.backup_base)
    results = results if results is not None else run_checks(settings, now=now, tree=tree)
    when = datetime.fromtimestamp(now)
    out = [f"# Backup report — {socket.gethostname()} — {when:%Y-%m-%d %H:%M}", "",
           f"Backup base: `{settings.backup_base}` · overall: **{overall(results).value}**", "",
           "## Checklist", "", "| check | status | age | detail |", "|---|---|---|---|"]
    out += [f"| {r.id} | **{r.status.value}** | {age_words(r.age_seconds)} | {_cell(r.detail)} |" for r in results]

    dumps = list(itertools.islice(tree.valid_dumps(), HISTORY))
    verified = {}
    parsed_logs = []
    for entry in itertools.islice(tree.verify_logs(), HISTORY):
        log = tree.read_verify_log(entry)
        if log is None:
            continue
        parsed_logs.append((entry, log))
        if log.dump and log.ok:
            verified[log.dump] = log.dump_sha256
    oldest_first = list(reversed(dumps))
    trend = {p.name: p for p in size_trend([(d.name, d.size) for d in oldest_first])}
    out += ["", f"## Dump history (newest {len(dumps)})", ""]
    if dumps:
        out += ["| dump | size | vs median of previous 7 | sha256 |", "|---|---|---|---|"]
        for dump in dumps:
            point = trend[dump.name]
            change = "–" if point.change_pct is None else f"{point.change_pct:+.1f} %" + (" ⚠ audit" if point.flagged else "")
            expected = dump.expected_sha256()
            if verified.get(dump.name) == expected:
                sha = "verified by a verify restore"
            else:
                sha = ".sha256 present"
            out.append(f"| {dump.name} | {size_words(dump.size)} | {change} | {sha} |")
    else:
        out.append(f"No valid dump in `{settings.db_dir}`.")

    leftovers = tree.leftovers()
    if leftovers:
        out += ["", "## Leftovers of killed runs", "",
                "Removed by the next run of the job that writes them (it holds the lock):", ""]
        out += [f"- `{_cell(item.name)}` ({size_words(item.size)}, {item.kind})" for item in leftovers]

    out += ["", "## Gaps in the nightly series", ""]
    if dumps:
        days = {d.stamp.date() for d in dumps}
        first = min(days)
        missing = [first + timedelta(days=i) for i in range((when.date() - first).days + 1)
                   if first + timedelta(days=i) not in days]
        # Today's dump may simply not have run yet.
        missing = [d for d in missing if d != when.date()]
        out += [f"- {d:%Y-%m-%d} ({d:%A}): no valid dump" for d in missing] or ["No gaps since " + f"{first:%Y-%m-%d}."]
    else:
        out.append("No dumps at all.")

    out += ["", f"## Verify restores (newest {min(RECENT, len(parsed_logs))})", ""]
    if parsed_logs:
        out += ["| log | result | dump | tables | duration | error |", "|---|---|---|---|---|---|"]
        for entry, log in parsed_logs[:RECENT]:
            duration = f"{log.duration_s:.1f} s" if log.duration_s is not None else "–"
            out.append(f"| {entry.name} | **{log.result}** | {_cell(log.dump or '?')} | "
                       f"{log.tables if log.tables is not None else '?'} | {duration} | {_cell(one_line(log.error or '', 120))} |")
    else:
        out.append("No verify logs.")

    markers = list(itertools.islice(tree.markers(), RECENT))
    out += ["", f"## Uploads snapshots (newest {len(markers)})", ""]
    if markers:
        out += ["| marker | snapshot | files | added |", "|---|---|---|---|"]
        for marker in markers:
            try:
                values = Marker.read(marker.path).values
            except OSError:
                values = {}
            added = values.get("data_added", "")
            added = size_words(int(added)) if added.isdigit() else "?"
            out.append(f"| {marker.name} | {values.get('snapshot_id', '?')} | "
                       f"{values.get('total_files_processed', '?')} | {added} |")
    else:
        out.append("No snapshot markers.")

    out += ["", "## Recent alerts (ops.log)", ""]
    try:
        lines, _, _ = tail_lines(settings.log_path, 5000)
        alerts = [line for line in (parse_line(raw) for raw in lines) if line.is_alert][-ALERT_LINES:]
        out += [f"- `{_cell(one_line(a.raw, 200)).replace('`', chr(39))}`" for a in reversed(alerts)] or ["No FAIL/alert lines."]
    except OSError:
        out.append(f"No ops.log at `{settings.log_path}`.")
    return "\n".join(out) + "\n"


@dataclass
class ReportResult:
    path: str
    markdown: str


class ReportJob(Job):
    kind = "report"
    next_step = "check the backup tree is readable, then run `opsbackup run report`"
    alerts = False  # a report that cannot be written is no backup problem

    def plan(self) -> list[str]:
        return ["reads the backup tree, the checklist and the ops.log tail",
                f"writes {self.settings.reports_dir}/report-YYYYmmdd-HHMM.md"]


    async def execute(self, ctx: JobContext) -> Outcome:
        now = ctx.clock()
        ctx.phase("collecting", "checklist, dumps, verify logs, markers, ops.log")
        text = await asyncio.to_thread(build_report, self.settings, now, None, ctx.tree)
        path = reports.report_path(self.settings.reports_dir, datetime.fromtimestamp(now))
        ctx.phase("writing", str(path))
        await asyncio.to_thread(reports.write, path, text)
        return Outcome(f"report written to {path}", ReportResult(str(path), text))
