"""Alerts: a line in ops.log and a Slack incoming-webhook post. Sending never raises into a job.

The webhook URL is a secret: it is never logged (httpx's INFO request log is silenced) and never
appears in an error we return.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass
from typing import Callable

from . import opslog
from .settings import Settings

CONNECT_TIMEOUT_S = 5.0
TOTAL_TIMEOUT_S = 10.0
ATTEMPTS = 3
RETRY_AFTER_CAP_S = 30.0
BACKOFF_S = (1.0, 3.0)


@dataclass(frozen=True)
class AlertResult:
    sent: bool
    attempts: int
    error: str | None = None


def alert_text(what: str, failure: str, next_step: str | None) -> str:
    text = f"{what} on {socket.gethostname()}: {failure}"
    if next_step:
        text += f"; next: {next_step}"
    return text


def send_slack(settings: Settings, text: str, sleep: Callable[[float], None] = time.sleep,
               retry_after_cap: float = RETRY_AFTER_CAP_S) -> AlertResult:
    """POST {"text": …} to the webhook: ≤ 3 attempts on network errors, 5xx and 429."""
    if settings.slack_webhook_url is None:
        return AlertResult(False, 0, "OPS_SLACK_WEBHOOK_URL is not set")
    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    url = settings.slack_webhook_url.reveal()
    error = None
    attempt = 0
    try:
        with httpx.Client(timeout=httpx.Timeout(TOTAL_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)) as client:
            for attempt in range(1, ATTEMPTS + 1):
                wait = BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)]
                started = time.monotonic()
                try:
                    response = client.post(url, json={"text": text})
                except httpx.TimeoutException:
                    error = "the webhook timed out"
                except httpx.HTTPError as exc:
                    error = f"network error ({type(exc).__name__})"
                else:
                    if 200 <= response.status_code < 300:
                        return AlertResult(True, attempt)
                    error = f"the webhook answered HTTP {response.status_code}"
                    if response.status_code == 429:
                        wait = _retry_after(response.headers.get("Retry-After"), wait, retry_after_cap)
                    elif response.status_code < 500:
                        return AlertResult(False, attempt, error + " (not retried)")
                if time.monotonic() - started > TOTAL_TIMEOUT_S:
                    error += " (over the total time limit)"
                if attempt < ATTEMPTS:
                    sleep(wait)
    except Exception as exc:  # noqa: BLE001 - an alert must never break the job that sends it
        return AlertResult(False, attempt, f"alert failed ({type(exc).__name__})")
    return AlertResult(False, attempt, error)


def _retry_after(header: str | None, default: float, cap: float) -> float:
    try:
        return max(0.0, min(float(header), cap)) if header else default
    except ValueError:
        return default


def raise_alert(settings: Settings, subject: str, failure: str, next_step: str | None,
                context: dict | None = None, level: str = "ALERT") -> AlertResult:
    """ALERT line in ops.log, then Slack; the outcome of the post is logged too (never the URL)."""
    text = alert_text(subject, failure, next_step)
    context = dict(context or {}, event="alert" if level == "ALERT" else "recovery")
    try:
        opslog.append(settings.log_path, level, (f"ALERT {text}" if level == "ALERT" else text), context)
    except OSError:
        pass
    result = send_slack(settings, text)
    if settings.slack_webhook_url is not None and not result.sent:
        try:
            opslog.append(settings.log_path, "WARNING", f"Slack alert not delivered: {result.error}",
                          {"event": "alert_delivery", "attempts": result.attempts})
        except OSError:
            pass
    return result
