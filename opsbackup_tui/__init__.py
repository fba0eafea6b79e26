"""opsbackup: terminal UI and headless CLI for a CRM's backups."""

__version__ = "0.1.0"
