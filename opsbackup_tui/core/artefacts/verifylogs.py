"""A verify log: `verify/verify-YYYYmmdd-HHMM.log`, plain `key: value` lines (SPEC: dump,
dump_sha256, database, tables, rows.<table>, duration_s, result, error), written once, atomically."""

from __future__ import annotations

from .kvfile import DatedKvFiles, KvRecord

LOGS = DatedKvFiles("verify-", ".log")


class VerifyLog(KvRecord):
    @property
    def result(self) -> str:
        return self.values.get("result", "").upper() or "UNKNOWN"

    @property
    def ok(self) -> bool:
        return self.result == "OK"

    @property
    def dump(self) -> str | None:
        return self.values.get("dump")

    @property
    def dump_sha256(self) -> str | None:
        return self.values.get("dump_sha256")

    @property
    def tables(self) -> int | None:
        return _int_or_none(self.values.get("tables"))

    @property
    def rows(self) -> dict[str, int | None]:
        return {key[5:]: _int_or_none(value) for key, value in self.values.items() if key.startswith("rows.")}

    @property
    def error(self) -> str | None:
        return self.values.get("error")

    @property
    def duration_s(self) -> float | None:
        try:
            return float(self.values["duration_s"])
        except (KeyError, ValueError):
            return None

    def is_of(self, name: str, digest: str | None) -> bool:
        """Whether this log verified the dump `name` (or the same bytes under another name)."""
        return self.dump == name or bool(digest) and self.dump_sha256 == digest


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
