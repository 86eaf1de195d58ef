"""station.log on screen (F7 on the dashboard, for roles with ``log.view``):
the last lines of this machine's log, across rotation, newest at the bottom, long lines wrapped to the screen.
F5 reads it again; Escape goes back. The same lines as ``station log tail``."""
from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Label, RichLog

from screens.base import StationScreen
from station import permissions
from station.ops import logs

LINES = 500


class LogScreen(StationScreen):
    AREA = "log"
    TITLE = "Log"

    DEFAULT_CSS = """
    LogScreen #log-title { height: 1; text-style: bold; padding: 0 1; }
    LogScreen RichLog { height: 1fr; }
    """
    BINDINGS = [
        Binding("f5", "reload", "Refresh", id="log_refresh"),
        Binding("escape", "back", "Back", id="log_back"),
    ]

    def compose(self) -> ComposeResult:
        yield Label(f"station.log: {self.app.ctx.config.log_file}", id="log-title")
        yield RichLog(id="log-lines", wrap=True, markup=False, highlight=False, max_lines=LINES * 2)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(RichLog).focus()
        self.action_reload()

    def action_reload(self) -> None:
        user = self.app.user
        if user is None or permissions.decide(user.role, "log.view") != permissions.ALLOW:
            self._show([f"{getattr(user, 'role', 'nobody')} may not read the log"])
            return
        self._read()

    @work(thread=True, exit_on_error=False, group="log", exclusive=True)
    def _read(self) -> None:
        lines = logs.tail(self.app.ctx.config, LINES) or ["(the log is empty)"]
        self.from_thread(self._show, lines)

    def _show(self, lines: list[str]) -> None:
        log = self.query_one(RichLog)
        log.clear()
        for line in lines:
            log.write(line)
        log.scroll_end(animate=False)

    def action_back(self) -> None:
        self.dismiss()
