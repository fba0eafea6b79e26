"""Pure logic and subprocess runners. Never imports Textual (tests/test_import_hygiene.py)."""
