"""The fleet: every backup host a Prometheus server knows, read over its HTTP API (`/api/v1/query`),
with the figures an operator compares across hosts, worst first.

Two instant queries per refresh: every `opsbackup_*` series now, and the hosts seen in the last day
(a host whose scrape fails has no series now: it is shown as gone, not forgotten). Both share one
deadline (OPS_PROMETHEUS_TIMEOUT_S) for the whole refresh: a server that is down, slow or answers
something else is a FleetError with a clear message, never a hang. Ages are as of the server's
evaluation time: an age read from a textfile written N seconds ago has grown by N since.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from .checks import CHECK_IDS, Status
from .fmt import age_words, one_line, size_words
from .settings import Settings

QUERY_NOW = '{__name__=~"opsbackup_.+"}'
QUERY_KNOWN = "last_over_time(opsbackup_status_timestamp_seconds[1d])"
BODY_LIMIT = 32 * 1024 * 1024
STOPPED, GONE = "STOPPED", "GONE"
# Sorting: a host we cannot trust (its textfile stopped, or it is not scraped) before any failure.
_SEVERITY = {GONE: 5, STOPPED: 4}


class FleetError(Exception):
    """Prometheus could not be read: what happened and what to check."""


@dataclass(frozen=True)
class HostCheck:
    id: str
    status: Status
    age_seconds: float | None
    threshold_seconds: float | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status.value, "age_seconds": _round(self.age_seconds),
                "threshold_seconds": self.threshold_seconds}


@dataclass(frozen=True)
class Host:
    site: str
    instance: str
    base: str
    state: str  # the worst check's status, or STOPPED (textfile not rewritten) or GONE (no series now)
    worst_check: str | None
    textfile_age_s: float | None
    dump_age_s: float | None = None
    rpo_s: float | None = None
    verify_age_s: float | None = None
    offsite_age_s: float | None = None
    disk_days_left: float | None = None
    drill_rto_s: float | None = None
    drill_at: float | None = None
    checks: tuple[HostCheck, ...] = ()

    @property
    def severity(self) -> int:
        return _SEVERITY.get(self.state) or Status(self.state).rank

    @property
    def exit_code(self) -> int:
        return 2 if self.state in _SEVERITY else Status(self.state).exit_code

    @property
    def worst_text(self) -> str:
        if self.state == STOPPED:
            return f"STOPPED {age_words(self.textfile_age_s)} ago"
        if self.state == GONE:
            return "GONE: not scraped"
        return self.state if self.worst_check is None or self.state == "OK" else f"{self.state} {self.worst_check}"

    def to_json(self) -> dict[str, Any]:
        return {"site": self.site, "instance": self.instance, "base": self.base, "state": self.state,
                "worst_check": self.worst_check, "textfile_age_seconds": _round(self.textfile_age_s),
                "dump_age_seconds": _round(self.dump_age_s), "rpo_seconds": _round(self.rpo_s),
                "verify_age_seconds": _round(self.verify_age_s), "offsite_age_seconds": _round(self.offsite_age_s),
                "disk_days_left": _round(self.disk_days_left), "drill_rto_seconds": _round(self.drill_rto_s),
                "drill_timestamp": self.drill_at, "checks": [c.to_json() for c in self.checks]}


@dataclass(frozen=True)
class Fleet:
    url: str
    evaluated_at: float
    stale_after_s: float
    hosts: tuple[Host, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        if not self.hosts:
            return 3
        codes = {h.exit_code for h in self.hosts}
        return 2 if 2 in codes else max(codes)

    def to_json(self) -> dict[str, Any]:
        return {"prometheus": self.url, "evaluated_at": self.evaluated_at, "stale_after_seconds": self.stale_after_s,
                "exit_code": self.exit_code, "hosts": [h.to_json() for h in self.hosts]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# --- the HTTP API ---


def _get(client, url: str, expr: str, deadline: float, timeout: float) -> tuple[list[dict], float]:
    """One instant query: (result vector, evaluation time)."""
    import httpx

    slow = FleetError(f"Prometheus at {url} did not answer within {timeout:g} s; check the server "
                      "(or raise OPS_PROMETHEUS_TIMEOUT_S)")
    left = deadline - time.monotonic()
    if left <= 0:
        raise slow
    body = bytearray()
    try:
        with client.stream("GET", f"{url}/api/v1/query", params={"query": expr},
                           timeout=httpx.Timeout(left)) as response:
            for chunk in response.iter_bytes():
                body += chunk
                # httpx's timeouts are per read: a server that dribbles bytes needs a total deadline.
                if time.monotonic() > deadline:
                    raise slow
                if len(body) > BODY_LIMIT:
                    raise FleetError(f"the answer of {url} is larger than {size_words(BODY_LIMIT)}: "
                                     "is this the Prometheus server's address?")
    except httpx.TimeoutException:
        raise slow from None
    except httpx.ConnectError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else one_line(str(exc) or "cannot connect")
        raise FleetError(f"cannot reach Prometheus at {url}: {reason}; is the server up, is the address right?") from None
    except httpx.HTTPError as exc:
        raise FleetError(one_line(f"cannot read Prometheus at {url}: {type(exc).__name__}: {exc}")) from None
    try:
        data = json.loads(bytes(body))
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("status") not in ("success", "error"):
        raise FleetError(f"{url} answered HTTP {response.status_code} with something that is not the Prometheus API: "
                         "give the server's base address, e.g. http://prometheus:9090")
    if data["status"] == "error":
        raise FleetError(one_line(f"Prometheus at {url} refused the query: {data.get('errorType', '?')}: "
                                  f"{data.get('error', '')}"))
    result = (data.get("data") or {}).get("result")
    if (data.get("data") or {}).get("resultType") != "vector" or not isinstance(result, list):
        raise FleetError(f"Prometheus at {url} answered an instant query with no vector: is this Prometheus?")
    evaluated = max((float(s["value"][0]) for s in result if _sample(s) is not None), default=time.time())
    return result, evaluated


def _sample(series: Any) -> float | None:
    try:
        value = float(series["value"][1])
        if not isinstance(series["metric"], dict):
            return None
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def fetch_fleet(settings: Settings) -> Fleet:
    import httpx

    url, timeout = settings.prometheus_url, settings.prometheus_timeout_s
    if url is None:
        raise FleetError("OPS_PROMETHEUS_URL is not set: give the Prometheus server's address")
    deadline = time.monotonic() + timeout
    verify = not url.startswith("http://")  # no TLS context for plain http: building one is slow
    with httpx.Client(follow_redirects=False, verify=verify, headers={"Accept": "application/json"}) as client:
        now, evaluated = _get(client, url, QUERY_NOW, deadline, timeout)
        known, _ = _get(client, url, QUERY_KNOWN, deadline, timeout)
    return build_fleet(url, now, known, evaluated, settings.fleet_stale_min * 60)


# --- from series to hosts ---


def _key(labels: dict) -> tuple[str, str, str]:
    instance = str(labels.get("instance", ""))
    return str(labels.get("site") or labels.get("host") or instance), instance, str(labels.get("base", ""))


def build_fleet(url: str, now: list[dict], known: list[dict], evaluated: float, stale_after_s: float) -> Fleet:
    series: dict[tuple, dict[tuple[str, str], tuple[dict, float]]] = {}
    for item in now:
        value = _sample(item)
        if value is None:
            continue
        labels = item["metric"]
        name = str(labels.get("__name__", ""))
        series.setdefault(_key(labels), {})[(name, str(labels.get("check") or labels.get("kind") or ""))] = (labels, value)
    hosts = [_host(key, figures, evaluated, stale_after_s) for key, figures in series.items()
             if ("opsbackup_status_timestamp_seconds", "") in figures]
    present = {(h.site, h.instance, h.base) for h in hosts}
    for item in known:
        key, value = _key(item.get("metric") or {}), _sample(item)
        if value is not None and key not in present:
            present.add(key)
            hosts.append(Host(*key, state=GONE, worst_check=None, textfile_age_s=evaluated - value))
    hosts.sort(key=lambda h: (-h.severity, -(h.dump_age_s or 0), h.site, h.instance))
    return Fleet(url, evaluated, stale_after_s, tuple(hosts))


def _host(key: tuple[str, str, str], figures: dict, evaluated: float, stale_after_s: float) -> Host:
    def value(name: str, which: str = "") -> float | None:
        found = figures.get((name, which))
        return None if found is None else found[1]

    written = value("opsbackup_status_timestamp_seconds")
    since = max(evaluated - written, 0.0)

    def aged(age: float | None) -> float | None:
        return None if age is None else age + since

    checks = []
    for (name, check), (labels, _) in sorted(figures.items()):
        if name == "opsbackup_check_status":
            try:
                status = Status(labels.get("status"))
            except ValueError:
                status = Status.UNKNOWN
            checks.append(HostCheck(check, status, aged(value("opsbackup_check_age_seconds", check)),
                                    value("opsbackup_check_threshold_seconds", check)))
    # The checklist's order, then the checks this version does not know, by name.
    checks.sort(key=lambda c: (CHECK_IDS.index(c.id) if c.id in CHECK_IDS else len(CHECK_IDS), c.id))
    worst = max(checks, key=lambda c: c.status.rank, default=None)
    dump_at = value("opsbackup_last_dump_timestamp_seconds")
    disk_left = value("opsbackup_disk_time_left_seconds")
    if since > stale_after_s:
        state = STOPPED
    else:
        state = worst.status.value if worst is not None else Status.UNKNOWN.value
    return Host(*key, state=state, worst_check=worst.id if worst is not None and worst.status.rank else None,
                textfile_age_s=since,
                dump_age_s=evaluated - dump_at if dump_at is not None else aged(value("opsbackup_check_age_seconds", "db_dump")),
                rpo_s=aged(value("opsbackup_rpo_seconds")),
                verify_age_s=aged(value("opsbackup_check_age_seconds", "verify_restore")),
                offsite_age_s=aged(value("opsbackup_offsite_age_seconds")),
                disk_days_left=None if disk_left is None else (disk_left - since) / 86400,
                drill_rto_s=value("opsbackup_drill_rto_seconds"), drill_at=value("opsbackup_drill_timestamp_seconds"),
                checks=tuple(checks))


# --- for people ---

COLUMNS = ("site", "worst", "dump", "RPO", "verify", "offsite", "disk", "drill RTO")


def row_cells(host: Host) -> tuple[str, ...]:
    disk = "-" if host.disk_days_left is None else ("∞" if math.isinf(host.disk_days_left) else f"{host.disk_days_left:.1f} d")
    return (host.site, host.worst_text, age_words(host.dump_age_s), age_words(host.rpo_s),
            age_words(host.verify_age_s), age_words(host.offsite_age_s), disk,
            "-" if host.drill_rto_s is None else f"{host.drill_rto_s:.0f} s")


def render_plain(fleet: Fleet) -> str:
    if not fleet.hosts:
        return (f"Prometheus at {fleet.url} knows no backup host (no opsbackup_status_timestamp_seconds series): "
                "is node_exporter's textfile collector scraped, and does `opsbackup status --prom` write into it?\n")
    rows = [COLUMNS] + [row_cells(h) for h in fleet.hosts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.append(f"{len(fleet.hosts)} host(s) from {fleet.url}; a textfile not rewritten for "
                 f"{age_words(fleet.stale_after_s)} is STOPPED")
    return "\n".join(lines) + "\n"
