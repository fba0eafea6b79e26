"""The DR wizard (runbook §3): six step screens driven by one worker, with an audit transcript."""

from __future__ import annotations

import asyncio
from datetime import datetime

from ...core.dr import DRSession
from ..confirm import ConfirmScreen
from .audit import AuditScreen
from .importing import ImportScreen
from .pick import PickDumpScreen
from .switch import SwitchScreen
from .target import TargetScreen
from .verify import VerifyScreen

STEP_SCREENS = (PickDumpScreen, TargetScreen, ImportScreen, VerifyScreen, SwitchScreen, AuditScreen)


async def run_wizard(app) -> DRSession:
    """Drive the steps; back/next move between them, "quit" (asked first) ends the session."""
    now = datetime.fromtimestamp(app.clock())
    session = DRSession(app.settings, now)
    index = 0
    answer = "quit"
    try:
        while 0 <= index < len(STEP_SCREENS):
            answer = await app.push_screen_wait(STEP_SCREENS[index](session))
            if answer == "quit":
                break
            index += 1 if answer == "next" else -1
        if answer == "quit" and session.holds_partial_import:
            await _offer_drop(app, session)
    finally:
        session.close("completed" if index >= len(STEP_SCREENS) else f"left at step {index + 1}")
    return session


async def _offer_drop(app, session: DRSession) -> None:
    database = session.database
    yes = await app.push_screen_wait(ConfirmScreen(
        f"`{database}` holds a partial import. Drop it?",
        [f"DROP DATABASE `{database}` on {session.server.describe()}",
         "Keep it only if you mean to inspect it; it must not be used by the CRM."], yes="Drop it", no="Keep it",
        danger=True))
    if yes:
        try:
            await asyncio.to_thread(session.drop_target)
        except Exception as exc:  # noqa: BLE001 - told to the operator, recorded
            session.transcript.result(f"dropping {database} failed: {exc}")
            app.notify(f"dropping `{database}` failed: {exc}", severity="error")
    else:
        session.keep_partial()
