"""The jobs of the runbook: dump, snapshot, verify, report, evaluate (and the ones built on them)."""
