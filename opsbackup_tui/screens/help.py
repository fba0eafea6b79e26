"""In-app help: the runbook in English, the key map, and every setting with its current value."""

from __future__ import annotations

from importlib.resources import files

from ..core.settings import Settings

KEYS = [
    ("?", "this help"), ("q / ctrl+q", "quit (asks first while jobs run; cancels them properly)"),
    ("d", "DB backup"), ("s", "uploads snapshot"), ("v", "verify restore"), ("r", "report"),
    ("enter", "on a checklist row: all of it, and enter there runs its fix; on a job row: its whole result"),
    ("x", "cancel the focused job row's job, or the only one running (asks, y)"),
    ("delete", "take a finished job row off the panel"),
    ("R", "DR wizard (database)"), ("u", "partial uploads restore"), ("m", "legacy migration (dry run first)"),
    ("c", "monthly checklist"),
    ("f", "the fleet: every backup host Prometheus knows (when OPS_PROMETHEUS_URL is set)"),
    ("a", "acknowledge the alerts in ops.log (asks with their count and time range)"),
    ("ctrl+z", "take the last acknowledgement back"), ("/", "filter the log (escape clears)"),
    ("F5 / ctrl+r", "refresh the checklist now"), ("ctrl+p", "command palette"),
    ("escape / q", "on every other screen: back (asks first when something runs there)"),
]

# The keys of the screens that have their own, by screen.
SCREEN_KEYS = [
    ("Uploads restore (u)", [
        ("enter", "on a snapshot: open it; on a folder: open or close it; on a file: select it; in the filter: "
                  "go to the first match"),
        ("/", "the filter: part of a name, searched in the whole snapshot; its matches show with their folders open"),
        ("space", "select or unselect the highlighted file or folder"),
        ("r", "restore the selection into a fresh staging dir, then rsync's dry run of copying it back"),
        ("c", "copy the restored files back into the uploads (after the dry run); the staging dir is removed"),
        ("o", "remove the old staging dirs, listed with their size"),
        ("q / escape", "back (escape in the filter clears it first); asks first while a restore or copy runs, "
                       "or when restored files were not copied back"),
    ]),
    ("Help and reports", [
        ("up / down / page up / page down / home / end", "scroll"),
        ("t", "the headings; enter jumps to one"),
        ("q / escape", "back"),
    ]),
]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def help_markdown(settings: Settings, keys: list[tuple[str, str]] | None = None) -> str:
    runbook = files("opsbackup_tui").joinpath("help/runbook.md").read_text(encoding="utf-8")
    out = [runbook.rstrip(), "", "## Keys", "", "| key | what |", "|---|---|"]
    out += [f"| `{_cell(key)}` | {_cell(what)} |" for key, what in (keys or KEYS)]
    for screen, screen_keys in SCREEN_KEYS:
        out += ["", f"### {screen}", "", "| key | what |", "|---|---|"]
        out += [f"| `{_cell(key)}` | {_cell(what)} |" for key, what in screen_keys]
    out += ["", "## Settings now in effect", "",
            f"Settings file: `{settings.config_file or 'none'}`. Secrets are masked.", "",
            "| variable | value | from | meaning |", "|---|---|---|---|"]
    out += [f"| `{env}` | `{_cell(value)}` | {source} | {_cell(doc)} |" for env, value, source, doc in settings.describe()]
    return "\n".join(out) + "\n"
