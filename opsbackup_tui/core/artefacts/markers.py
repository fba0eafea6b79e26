"""A snapshot marker: `snapshots/snapshot-YYYYmmdd-HHMM.txt`, written only after a complete restic
snapshot; `key: value` lines holding the snapshot id and the run's summary."""

from __future__ import annotations

from .kvfile import DatedKvFiles, KvRecord

MARKERS = DatedKvFiles("snapshot-", ".txt")


class Marker(KvRecord):
    @property
    def snapshot_id(self) -> str:
        return self.values.get("snapshot_id", "?")
