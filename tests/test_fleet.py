"""`opsbackup fleet` against the session's real Prometheus (four hosts' real textfiles), and against
servers that are down, slow, dribbling or not Prometheus at all."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from jobs_support import free_port
from prom_support import DRILL_RTO_S, RPO_S, STOPPED_S
from test_status_cli import run_status
from ui_support import DAY, HOUR

from opsbackup_tui.core import fleet as fleetcore
from opsbackup_tui.core.fleet import GONE, STOPPED, FleetError, build_fleet, fetch_fleet, render_plain


def fleet_json(url: str, *extra: str, env: dict | None = None):
    proc = run_status("fleet", "--json", *extra, env={"OPS_PROMETHEUS_URL": url, **(env or {})})
    return proc, (json.loads(proc.stdout) if proc.stdout else None)


def test_fleet_json_worst_first_with_every_figure(fleet):
    proc, data = fleet_json(fleet.url)
    assert proc.returncode == 2, proc.stderr  # a host stopped updating
    hosts = {h["site"]: h for h in data["hosts"]}
    assert [h["site"] for h in data["hosts"]] == ["crm-charlie", "crm-bravo", "crm-delta", "crm-alpha"]
    assert data["exit_code"] == 2 and data["stale_after_seconds"] == 900

    charlie = hosts["crm-charlie"]
    assert charlie["state"] == STOPPED
    assert STOPPED_S - 60 < charlie["textfile_age_seconds"] < STOPPED_S + 600
    bravo = hosts["crm-bravo"]
    assert (bravo["state"], bravo["worst_check"]) == ("STALE", "db_dump")
    assert 30 * HOUR - 60 < bravo["dump_age_seconds"] < 30 * HOUR + 600
    assert bravo["drill_rto_seconds"] is None  # it never drilled
    delta = hosts["crm-delta"]
    assert delta["state"] == "WARN"
    assert RPO_S <= delta["rpo_seconds"] < RPO_S + 600
    assert 30 * HOUR <= delta["offsite_age_seconds"] < 30 * HOUR + 600
    assert 9.4 < delta["disk_days_left"] <= 9.5
    alpha = hosts["crm-alpha"]
    assert (alpha["state"], alpha["worst_check"]) == ("OK", None)
    assert 7 * HOUR - 60 < alpha["dump_age_seconds"] < 7 * HOUR + 600
    assert 2 * DAY - 60 < alpha["verify_age_seconds"] < 2 * DAY + 600
    assert alpha["drill_rto_seconds"] == DRILL_RTO_S
    assert [c["id"] for c in alpha["checks"]] == ["db_dump", "uploads_snapshot", "verify_restore", "metrics", "ops_log"]
    assert alpha["instance"] == fleet.hosts["crm-alpha"].target
    assert alpha["rpo_seconds"] is None and alpha["offsite_age_seconds"] is None  # those checks do not exist yet


def test_fleet_table_for_people(fleet):
    proc = run_status("fleet", "--prometheus", fleet.url)
    assert proc.returncode == 2
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["site", "worst", "dump", "RPO", "verify", "offsite", "disk", "drill", "RTO"]
    assert lines[1].startswith("crm-charlie") and "STOPPED 3 h ago" in lines[1]
    assert "STALE db_dump" in lines[2] and "30 h" in lines[2]
    assert "9.5 d" in lines[3] and "42 s" in lines[4]
    assert lines[-1] == f"4 host(s) from {fleet.url}; a textfile not rewritten for 15 min is STOPPED"


def test_a_host_no_longer_scraped_is_gone_not_forgotten(fleet):
    """The real answers of the two queries, as if crm-alpha's node_exporter had stopped answering."""
    now = [s for s in fleet.query(fleetcore.QUERY_NOW) if s["metric"].get("site") != "crm-alpha"]
    known = fleet.query(fleetcore.QUERY_KNOWN)
    result = build_fleet(fleet.url, now, known, time.time(), 900)
    gone = result.hosts[0]
    assert (gone.site, gone.state, gone.worst_text) == ("crm-alpha", GONE, "GONE: not scraped")
    assert result.exit_code == 2 and len(result.hosts) == 4
    assert render_plain(build_fleet(fleet.url, [], [], time.time(), 900)).startswith(
        f"Prometheus at {fleet.url} knows no backup host")
    assert build_fleet(fleet.url, [], [], time.time(), 900).exit_code == 3


def test_the_real_server_refusing_a_query_is_a_clear_message(fleet):
    with httpx.Client() as client, pytest.raises(FleetError) as info:
        fleetcore._get(client, fleet.url, "sum(", time.monotonic() + 10, 10)
    assert str(info.value).startswith(f"Prometheus at {fleet.url} refused the query: bad_data:")


def test_no_server_configured_and_bad_urls(tmp_path):
    proc = run_status("fleet")
    assert proc.returncode == 3 and "give --prometheus URL or set OPS_PROMETHEUS_URL" in proc.stderr
    proc = run_status("fleet", "--prometheus", "prometheus:9090")
    assert proc.returncode == 3 and "--set prometheus_url='prometheus:9090': not an http:// or https:// URL" in proc.stderr
    proc = run_status("fleet", env={"OPS_PROMETHEUS_URL": "http://admin:hunter2@prom:9090"})
    assert proc.returncode == 3 and "holds credentials" in proc.stderr


def test_a_server_that_is_down(make_settings):
    port = free_port()  # nothing listens there
    with pytest.raises(FleetError) as info:
        fetch_fleet(make_settings(prometheus_url=f"http://127.0.0.1:{port}"))
    assert str(info.value) == (f"cannot reach Prometheus at http://127.0.0.1:{port}: connection refused; "
                               "is the server up, is the address right?")


def test_a_slow_server_hits_the_deadline(make_settings, http_stub):
    http_stub.default = (200, b'{"status":"success","data":{"resultType":"vector","result":[]}}', 3.0, {})
    with pytest.raises(FleetError) as info:
        fetch_fleet(make_settings(prometheus_url=http_stub.url, prometheus_timeout_s=0.5))
    assert str(info.value).startswith(f"Prometheus at {http_stub.url} did not answer within 0.5 s")


class Dribbler(ThreadingHTTPServer):
    """Answers 200 at once, then one byte every 0.1 s for a minute: each read is quick, the whole is not."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "600")
                self.end_headers()
                try:
                    for _ in range(600):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        time.sleep(0.1)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_a_dribbling_server_hits_the_whole_request_deadline(make_settings):
    server = Dribbler()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(FleetError) as info:
            fetch_fleet(make_settings(prometheus_url=url, prometheus_timeout_s=1))
        assert "did not answer within 1 s" in str(info.value)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status,body,says", [
    (200, b"<html><body>Grafana</body></html>", "with something that is not the Prometheus API"),
    (404, b"404 page not found", "answered HTTP 404 with something that is not the Prometheus API"),
    (200, b'{"status": "success", "data": {"resultType": "matrix", "result": []}}', "with no vector"),
    (200, b'[1, 2, 3]', "not the Prometheus API"),
])
def test_garbage_is_a_clear_message(make_settings, http_stub, status, body, says):
    http_stub.default = (status, body, 0.0, {})
    with pytest.raises(FleetError) as info:
        fetch_fleet(make_settings(prometheus_url=http_stub.url))
    assert says in str(info.value)
    method, path, _ = http_stub.requests[0]
    assert method == "GET" and path.startswith("/api/v1/query?query=")


def test_the_cli_says_the_error_and_exits_3(http_stub):
    http_stub.default = (200, b"<html></html>", 0.0, {})
    proc = run_status("fleet", "--json", "--prometheus", http_stub.url)
    assert proc.returncode == 3 and proc.stdout == ""
    assert proc.stderr.startswith(f"opsbackup: {http_stub.url} answered HTTP 200 with something")


def test_site_settings_defaults():
    from opsbackup_tui.core.settings import load_settings

    settings = load_settings({}, environ={}, config_path=None)
    assert settings.site == socket.gethostname()
    assert (settings.prometheus_url, settings.prometheus_timeout_s, settings.fleet_stale_min) == (None, 5.0, 15)
