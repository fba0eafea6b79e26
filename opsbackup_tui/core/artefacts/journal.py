"""The migration's journal, `db/.migrate-journal.json`: which legacy file a published dump came
from, so a run interrupted between publishing and removing the original is finished by the next
one instead of reported as a conflict."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..atomic import write_atomic
from .dumps import SHA_SUFFIX

JOURNAL = ".migrate-journal.json"


def load(db: Path) -> dict:
    try:
        data = json.loads((db / JOURNAL).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save(db: Path, journal: dict) -> None:
    if journal:
        write_atomic(db / JOURNAL, json.dumps(journal, indent=1), 0o600)
    else:
        (db / JOURNAL).unlink(missing_ok=True)


def record(db: Path, target: str, entry: dict) -> None:
    journal = load(db)
    journal[target] = entry
    save(db, journal)


def forget(db: Path, target: str) -> None:
    journal = load(db)
    if journal.pop(target, None) is not None:
        save(db, journal)


def forget_finished(db: Path) -> None:
    """Drop entries of files a run published and whose original it then removed (a kill right
    after the removal leaves such an entry, and no candidate would ever clear it)."""
    journal = load(db)
    done = [name for name, entry in journal.items()
            if not isinstance(entry, dict) or not entry.get("source")
            or (not os.path.lexists(entry["source"]) and (db / name).is_file()
                and (db / (name + SHA_SUFFIX)).is_file())]
    if done:
        for name in done:
            journal.pop(name)
        save(db, journal)
