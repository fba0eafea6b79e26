"""Recovery checks shared by the DR wizard (step 4) and the drill: a restored database against the
verify log of the same dump."""

from __future__ import annotations

from dataclasses import dataclass

from .artefacts.verifylogs import VerifyLog


@dataclass(frozen=True)
class Comparison:
    item: str  # "tables" or "rows.<table>"
    expected: int | None  # from the verify log; None when there is none
    actual: int | None  # None: the table is missing
    ok: bool

    @property
    def text(self) -> str:
        expected = "–" if self.expected is None else str(self.expected)
        actual = "missing" if self.actual is None else str(self.actual)
        return f"{self.item}: expected {expected}, restored {actual}" + ("" if self.ok else "  ✗")


def compare(log: VerifyLog | None, tables: int, rows: dict[str, int | None]) -> list[Comparison]:
    """Side by side: tables and each critical table's rows. Without a verify log, a critical table
    must exist; with one, every number must match it."""
    expected_rows = log.rows if log is not None and log.ok else {}
    expected_tables = log.tables if log is not None and log.ok else None
    out = [Comparison("tables", expected_tables, tables,
                      tables > 0 and (expected_tables is None or expected_tables == tables))]
    for table, count in rows.items():
        expected = expected_rows.get(table)
        ok = count is not None and (expected is None or expected == count)
        out.append(Comparison(f"rows.{table}", expected, count, ok))
    return out
