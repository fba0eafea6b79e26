"""The Textual app: settings and clock injected (make_app), the dashboard as the base screen."""

from __future__ import annotations

import time
from typing import Callable

from textual.app import App
from textual.binding import Binding

from .core.settings import Settings
from .screens.dashboard import DashboardScreen


class OpsBackupApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "opsbackup"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen())


def make_app(settings: Settings, clock: Callable[[], float] = time.time) -> OpsBackupApp:
    return OpsBackupApp(settings, clock)


def run_app(settings: Settings) -> int:
    make_app(settings).run()
    return 0
