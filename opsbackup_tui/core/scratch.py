"""Scratch databases: the one life cycle of a database a job imports a dump into to look at it
(verify_, drill_, monthly_ + the job's stamp).

`async with scratch_database(ctx, server, "verify") as scratch:` drops the crashed runs' leftovers
of that prefix (strict names, older than LEFTOVER_AGE_S by their stamp), creates a database of a
unique strict name with a plain CREATE DATABASE (an existing one is never reused), and drops it on
every way out: success, failure, cancel, a second cancel. When the DROP itself fails, the job keeps
its own result and says the drop failed (ctx.warn); the next run drops the leftover.
"""

from __future__ import annotations

import asyncio
import re
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import AsyncIterator

from .mysql import DatabaseError, ServerConfig, connect, execute, explained, quote_ident

PREFIXES = ("verify", "drill", "monthly")
SCRATCH_RE = re.compile(r"(verify|drill|monthly)_(\d{8}_\d{6})(?:_\d{1,2})?", re.ASCII)
# A scratch database younger than this may belong to a run of another backup tree on the same
# server (the lock covers one tree): only older ones are taken for leftovers of a crash.
LEFTOVER_AGE_S = 6 * 3600
ER_DB_CREATE_EXISTS = 1007


def is_scratch(name: str, prefix: str | None = None) -> bool:
    match = SCRATCH_RE.fullmatch(name)
    return bool(match) and (prefix is None or match.group(1) == prefix)


def _stamp_epoch(name: str) -> float:
    match = SCRATCH_RE.fullmatch(name)
    try:
        return datetime.strptime(match.group(2), "%Y%m%d_%H%M%S").timestamp() if match else 0.0
    except ValueError:
        return 0.0  # an impossible stamp is no running job's


def drop_leftovers(server: ServerConfig, prefix: str, now: float | None = None) -> list[str]:
    """Drop `prefix` scratch databases whose stamp is more than LEFTOVER_AGE_S before `now`."""
    limit = (time.time() if now is None else now) - LEFTOVER_AGE_S
    dropped = []
    with explained(server):
        conn = connect(server)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW DATABASES")
                for (name,) in cur.fetchall():
                    if is_scratch(name, prefix) and _stamp_epoch(name) < limit:
                        cur.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)}")
                        dropped.append(name)
        finally:
            conn.close()
    return dropped


def create(server: ServerConfig, prefix: str, when: datetime) -> str:
    """CREATE DATABASE prefix_YYYYmmdd_HHMMSS (then _2, _3 … when that name exists): never IF NOT
    EXISTS, so a database that is not ours is never filled."""
    stamp = f"{prefix}_{when:%Y%m%d_%H%M%S}"
    for attempt in range(1, 100):
        name = stamp if attempt == 1 else f"{stamp}_{attempt}"
        try:
            execute(server, f"CREATE DATABASE {quote_ident(name)} CHARACTER SET utf8mb4")
            return name
        except DatabaseError as exc:
            if exc.code == ER_DB_CREATE_EXISTS:
                continue
            raise
    raise DatabaseError(f"{stamp}_1 … _99 all exist: drop the old scratch databases")


def drop(server: ServerConfig, name: str) -> None:
    if not is_scratch(name):
        raise ValueError(f"refusing to drop {name!r}: not a scratch database name")
    execute(server, f"DROP DATABASE IF EXISTS {quote_ident(name)}")


@dataclass
class Scratch:
    name: str
    dropped: bool = False


@asynccontextmanager
async def scratch_database(ctx, server: ServerConfig, prefix: str) -> AsyncIterator[Scratch]:
    """The scratch database of one job run (`ctx`: its JobContext); see the module's docstring."""
    when = datetime.fromtimestamp(ctx.clock())
    for name in await asyncio.to_thread(drop_leftovers, server, prefix, ctx.clock()):
        ctx.output(f"dropped {name}, left by a crashed run")
    ctx.phase("creating", f"CREATE DATABASE {prefix}_{when:%Y%m%d_%H%M%S}")
    scratch = Scratch(await asyncio.to_thread(create, server, prefix, when))
    try:
        yield scratch
    finally:
        ctx.phase("cleanup", f"DROP DATABASE {scratch.name}")
        task = asyncio.ensure_future(asyncio.to_thread(drop, server, scratch.name))
        cancelled = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True  # a cancel must not skip the DROP: it takes effect after it
            except Exception:  # noqa: BLE001 - read from the task below
                pass
        if task.exception() is None:
            scratch.dropped = True
        else:  # the job's own result stands; it says the drop failed
            ctx.warn(f"could not drop the scratch database {scratch.name} ({task.exception()}); "
                     "the next run drops it")
        if cancelled:
            raise asyncio.CancelledError
