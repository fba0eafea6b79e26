"""The fleet (f, when OPS_PROMETHEUS_URL is set): every backup host Prometheus knows, worst first,
refreshed in a thread worker (the next refresh is scheduled when the last one finished); Enter opens
one host's checks. Read-only: nothing here runs a job."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ..core.checks import Status
from ..core.fleet import COLUMNS, GONE, STOPPED, Fleet, FleetError, Host, fetch_fleet, row_cells
from ..core.fmt import age_words
from ..widgets.checklist import STATUS_VARIABLE
from ..widgets.theme import theme_colour


def _state_text(screen: Screen, state: str, text: str) -> Text:
    variable = "error" if state in (STOPPED, GONE) else STATUS_VARIABLE[Status(state)]
    colour = theme_colour(screen.app.get_css_variables(), variable)
    return Text(text, style=f"bold {colour}".strip())


class FleetScreen(Screen[None]):
    DEFAULT_CSS = """
    FleetScreen > .title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    FleetScreen #fleet-status { height: auto; padding: 0 1; color: $text-muted; }
    FleetScreen #fleet-status.-error { color: $error; text-style: bold; }
    FleetScreen #hosts { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "close", "Back"), Binding("f5,ctrl+r", "refresh", "Refresh")]

    class Loaded(Message):
        """One refresh's result (or why there is none), from the worker thread."""

        def __init__(self, fleet: Fleet | None, error: str | None) -> None:
            super().__init__()
            self.fleet, self.error = fleet, error

    def __init__(self) -> None:
        super().__init__()
        self.fleet: Fleet | None = None
        self.loading = False
        self._timer = None

    def compose(self) -> ComposeResult:
        yield Static("Fleet: the backup hosts Prometheus knows, worst first", classes="title")
        yield Static("asking Prometheus…", id="fleet-status")
        yield DataTable(id="hosts", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        table.focus()
        self.action_refresh()

    def action_refresh(self) -> None:
        if self.loading:
            return  # the running one shows the newest figures when it ends
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.loading = True
        self._fetch()

    @work(thread=True, group="fleet", exit_on_error=False)
    def _fetch(self) -> None:
        try:
            self.post_message(self.Loaded(fetch_fleet(self.app.settings), None))
        except FleetError as exc:
            self.post_message(self.Loaded(None, str(exc)))
        except Exception as exc:  # noqa: BLE001 - the screen keeps refreshing; the message says what broke
            self.post_message(self.Loaded(None, f"internal error while reading Prometheus: {exc!r}"))

    def on_fleet_screen_loaded(self, message: Loaded) -> None:
        self.loading = False
        refresh_s = self.app.settings.refresh_s
        status = self.query_one("#fleet-status", Static)
        status.set_class(message.error is not None, "-error")
        if message.error is not None:
            # The last good table stays: an operator still sees it, marked as old by this line.
            status.update(Text(f"{message.error}. Trying again in {refresh_s} s (F5 now)."))
        else:
            self.fleet = message.fleet
            self._show(message.fleet)
        self._timer = self.set_timer(refresh_s, self.action_refresh)

    def _show(self, fleet: Fleet) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for index, host in enumerate(fleet.hosts):
            cells = list(row_cells(host))
            cells[1] = _state_text(self, host.state, cells[1])
            table.add_row(*(c if isinstance(c, Text) else Text(c) for c in cells), key=str(index))
        if fleet.hosts:
            table.move_cursor(row=min(cursor, len(fleet.hosts) - 1))
        stopped = sum(1 for h in fleet.hosts if h.state in (STOPPED, GONE))
        text = (f"{len(fleet.hosts)} host(s), worst first; {stopped} not reporting. Enter: a host's checks. "
                f"Refreshed every {self.app.settings.refresh_s} s.") if fleet.hosts else (
            "Prometheus knows no backup host: is node_exporter's textfile collector scraped, "
            "and does `opsbackup status --prom` write into it?")
        self.query_one("#fleet-status", Static).update(Text(text))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if self.fleet is not None and event.cursor_row < len(self.fleet.hosts):
            self.app.push_screen(HostScreen(self.fleet.hosts[event.cursor_row]))

    def action_close(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self.dismiss(None)


class HostScreen(Screen[None]):
    """One host of the fleet: its checks as its last textfile reported them, and its figures."""

    DEFAULT_CSS = """
    HostScreen > .title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    HostScreen #figures { height: auto; padding: 0 1; margin-bottom: 1; }
    HostScreen #checks { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "close", "Back")]

    def __init__(self, host: Host) -> None:
        super().__init__()
        self.host = host

    def compose(self) -> ComposeResult:
        host = self.host
        yield Static(Text(f"{host.site} · {host.instance} · {host.base}"), classes="title")
        yield Static(self._figures(), id="figures")
        yield DataTable(id="checks", cursor_type="row")
        yield Footer()

    def _figures(self) -> Text:
        host = self.host
        written = f"textfile written {age_words(host.textfile_age_s)} ago"
        if host.state == STOPPED:
            written += ": it STOPPED updating, these figures are old (check the status timer or cron on the host)"
        elif host.state == GONE:
            written += ": Prometheus cannot scrape the host now (node_exporter down, or the host)"
        lines = [written, f"worst: {host.worst_text}"]
        lines.append(" · ".join(f"{name}: {cell}" for name, cell in zip(COLUMNS[2:], row_cells(host)[2:])))
        return Text("\n".join(lines))

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in ("check", "status", "age", "threshold"):
            table.add_column(name, key=name)
        for check in self.host.checks:
            table.add_row(check.id, _state_text(self, check.status.value, check.status.value),
                          age_words(check.age_seconds),
                          age_words(check.threshold_seconds) if check.threshold_seconds is not None else "", key=check.id)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
