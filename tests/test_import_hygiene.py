"""core never imports Textual; `opsbackup status` never does either (it must start fast)."""

import subprocess
import sys
from pathlib import Path

import opsbackup_tui

PACKAGE = Path(opsbackup_tui.__file__).parent


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_modules_do_not_import_textual():
    names = sorted(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)
                   for p in (PACKAGE / "core").rglob("*.py") if p.stem != "__init__")
    assert "opsbackup_tui.core.checks" in names and "opsbackup_tui.core.jobs.dump" in names
    imports = "\n".join(f"import {name}" for name in names)
    modules = _modules_after(imports)
    assert "textual" not in modules
    assert not any(m.startswith("textual.") for m in modules)


def test_status_command_does_not_import_textual(tmp_path):
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['opsbackup', '--base', {str(tmp_path)!r}, 'status', '--json']\n"
        "from opsbackup_tui import cli\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    cli.main()\n"
    )
    modules = _modules_after(code)
    assert "opsbackup_tui.core.checks" in modules
    assert "textual" not in modules
    assert "rich" not in modules
