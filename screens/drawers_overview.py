"""Every drawer across terminals (area "drawers"), for roles with
``drawer.view_all``: open/closed, cashier, expected, counted, variance, Z.

F5 refreshes (rows are updated in place by drawer id); Enter shows the
drawer's X report (open session) or its last Z report (closed); Escape back.
"""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label, Static

from screens.base import StationScreen
from screens.format import error_text
from screens.drawer import ReportScreen
from screens.widgets import KeyFooter
from station import drawer as svc
from station import permissions
from station.context import release_thread_connection
from station.errors import StationError

#: (key, label, width): 9 columns + cell padding fit 80 columns with the scrollbar
COLUMNS = (("drawer", "Drawer", 6), ("terminal", "Term", 5), ("status", "Status", 6), ("cashier", "Cashier", 9),
           ("opened", "Since", 5), ("expected", "Expected", 10), ("counted", "Counted", 10),
           ("variance", "Var.", 8), ("z", "Z", 3))


class DrawersOverviewScreen(StationScreen):
    AREA = "drawers"
    TITLE = "Drawers"
    HELP_TITLE = "All drawers"

    DEFAULT_CSS = """
    DrawersOverviewScreen { layout: vertical; }
    DrawersOverviewScreen #ov-title { height: 1; text-style: bold; padding: 0 1; }
    DrawersOverviewScreen DataTable { height: 1fr; }
    DrawersOverviewScreen #ov-message { height: auto; padding: 0 1; }
    DrawersOverviewScreen #ov-message.error { color: $error; text-style: bold; }
    """

    BINDINGS = [
        Binding("f5", "refresh_rows", "Refresh", id="drawers_refresh"),
        Binding("enter", "report", "Report", id="drawers_report"),
        Binding("escape", "back", "Back", id="drawers_back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, svc.SessionView] = {}
        self.last_message = ""

    def compose(self) -> ComposeResult:
        yield Label("All drawers", id="ov-title")
        t = DataTable(id="ov-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            t.add_column(label, key=key, width=width)
        yield t
        yield Static("", id="ov-message")
        yield KeyFooter()

    def allowed(self) -> bool:
        u = getattr(self.app, "user", None)
        return u is not None and permissions.decide(u.role, "drawer.view_all") == permissions.ALLOW

    def on_mount(self) -> None:
        if not self.allowed():
            self.show("only a supervisor, manager, treasurer or admin may see every drawer", True)
            return
        self.query_one(DataTable).focus()
        self.action_refresh_rows()

    def show(self, message: str, error: bool = False) -> None:
        self.last_message = message
        m = self.query_one("#ov-message", Static)
        m.update(message)
        m.set_class(error, "error")

    def action_refresh_rows(self) -> None:
        if self.allowed():
            self._load()

    @work(thread=True, exit_on_error=False, group="drawers", exclusive=True)
    def _load(self) -> None:
        ctx = self.app.ctx
        try:
            rows = svc.overview(ctx)
            self.from_thread(self._fill, rows)
        except StationError as e:
            self.from_thread(self.show, str(e), True)
        except Exception as e:  # noqa: BLE001
            self.from_thread(self.show, f"cannot read the drawers: {error_text(e)}", True)
        finally:
            release_thread_connection(ctx)

    def _cells(self, r: svc.SessionView) -> dict[str, str]:
        ctx = self.app.ctx
        f = lambda v: svc._fmt(ctx, v) if v is not None else "-"  # noqa: E731
        expected = r.expected_cash if r.status == "open" else r.expected_at_close
        var = "-" if r.variance is None else (("+" if r.variance > 0 else "") + f(r.variance))
        return {"drawer": r.drawer, "terminal": r.terminal, "status": r.status, "cashier": r.cashier,
                "opened": f"{r.opened_at:%H:%M}", "expected": f(expected), "counted": f(r.counted),
                "variance": var, "z": "-" if r.z_number is None else str(r.z_number)}

    def _fill(self, rows: list[svc.SessionView]) -> None:
        t = self.query_one(DataTable)
        seen = set()
        for r in rows:
            cells = self._cells(r)
            seen.add(r.drawer)
            if r.drawer in self.rows:
                for key, value in cells.items():
                    t.update_cell(r.drawer, key, value)
            else:
                t.add_row(*[cells[k] for k, _l, _w in COLUMNS], key=r.drawer)
            self.rows[r.drawer] = r
        for gone in set(self.rows) - seen:
            t.remove_row(gone)
            del self.rows[gone]
        n_open = sum(1 for r in rows if r.status == "open")
        self.show(f"{len(rows)} drawer{'s' if len(rows) != 1 else ''}, {n_open} open.  Enter: report  F5: refresh")

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_report()

    def action_report(self) -> None:
        t = self.query_one(DataTable)
        if not self.rows or t.cursor_row is None:
            return
        key = t.coordinate_to_cell_key((t.cursor_row, 0)).row_key.value
        r = self.rows.get(key)
        if r is None:
            return
        self._report(r)

    def _report(self, r: svc.SessionView) -> None:
        self._report_worker(r, self.hold("opening the report"))

    @work(thread=True, exit_on_error=False, group="drawers-report")
    def _report_worker(self, r: svc.SessionView, hold) -> None:
        ctx = self.app.ctx
        try:
            if r.status == "open":
                data, copy = svc.x_report(ctx, self.app.user, drawer=r.drawer), False
            else:
                data, copy = svc.z_report(ctx, drawer=r.drawer, z_number=r.z_number), True
            self.from_thread(self._push_report, data, copy)
        except StationError as e:
            self.from_thread(self.show, str(e), True)
        except Exception as e:  # noqa: BLE001
            self.from_thread(self.show, f"cannot build the report: {error_text(e)}", True)
        finally:
            release_thread_connection(ctx)
            self.from_thread(hold.release)

    def _push_report(self, data: dict, copy: bool) -> None:
        self.app.push_screen(ReportScreen(data, copy=copy))

    def action_back(self) -> None:
        self.dismiss()
