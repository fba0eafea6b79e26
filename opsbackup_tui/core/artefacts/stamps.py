"""The fixed-width local time stamps in artefact names: YYYYmmdd-HHMM (sorts chronologically)."""

from __future__ import annotations

from datetime import datetime

STAMP_FORMAT = "%Y%m%d-%H%M"
# re.ASCII wherever a stamp is matched: `\d` would also take other scripts' digits, which int() accepts.
STAMP_PATTERN = r"(\d{8}-\d{4})"


def parse_stamp(stamp: str) -> datetime | None:
    """'YYYYmmdd-HHMM' -> naive local datetime, None for impossible dates such as 20241332-2561."""
    try:
        return datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]), int(stamp[11:13]))
    except ValueError:
        return None


def format_stamp(when: datetime) -> str:
    return when.strftime(STAMP_FORMAT)
