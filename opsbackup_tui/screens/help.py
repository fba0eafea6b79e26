"""In-app help: the runbook in English, the key map, and every setting with its current value."""

from __future__ import annotations

from importlib.resources import files

from ..core.settings import Settings

KEYS = [
    ("?", "this help"), ("q / ctrl+q", "quit (asks first while jobs run; cancels them properly)"),
    ("d", "DB backup"), ("s", "uploads snapshot"), ("v", "verify restore"), ("r", "report"),
    ("f", "the fleet: every backup host Prometheus knows (when OPS_PROMETHEUS_URL is set)"),
    ("a", "acknowledge the alerts in ops.log"), ("/", "filter the log (escape clears)"),
    ("F5 / ctrl+r", "refresh the checklist now"), ("ctrl+p", "command palette"), ("escape", "back / cancel a dialog"),
]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def help_markdown(settings: Settings, keys: list[tuple[str, str]] | None = None) -> str:
    runbook = files("opsbackup_tui").joinpath("help/runbook.md").read_text(encoding="utf-8")
    out = [runbook.rstrip(), "", "## Keys", "", "| key | what |", "|---|---|"]
    out += [f"| `{_cell(key)}` | {_cell(what)} |" for key, what in (keys or KEYS)]
    out += ["", "## Settings now in effect", "",
            f"Settings file: `{settings.config_file or 'none'}`. Secrets are masked.", "",
            "| variable | value | from | meaning |", "|---|---|---|---|"]
    out += [f"| `{env}` | `{_cell(value)}` | {source} | {_cell(doc)} |" for env, value, source, doc in settings.describe()]
    return "\n".join(out) + "\n"
