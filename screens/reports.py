"""Reports (area "reports", home key O), for roles with ``report.view``, at the
till or over SSH, at 80x24:

* 1 sales  2 products  3 slow movers  4 profit  5 cashiers  6 tax  7 stock
* t today  y yesterday  w this week  l last week  m this month  n last month
  c a custom range (from / to, YYYY-MM-DD)
* b the next breakdown (sales: day, hour, weekday, terminal, cashier, method,
  category, tax; products: by net sales, quantity, margin; profit: product,
  category, day; tax: rate, day)
* e / j export the report shown as CSV / JSON to ``<data dir>/exports``

The key figures sit on top, then the plot (Textual's Sparkline) with its
label, then the table: every plotted value is a number in the table too.
Reports load in worker threads (``station.reporting.service``); only the
report the last key asked for is shown, whichever answer comes first.
"""
from __future__ import annotations

from rich.cells import cell_len
from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Label, Sparkline, Static

from screens.base import StationModal, StationScreen
from screens.format import error_text
from screens.widgets import KeyFooter
from station import permissions
from station.context import release_thread_connection
from station.errors import StationError
from station.reporting import export, periods, service

#: key -> report
KINDS = {"1": "sales", "2": "products", "3": "slow", "4": "profit", "5": "cashiers", "6": "tax", "7": "stock"}
#: key -> period name
PERIOD_KEYS = {"t": "today", "y": "yesterday", "w": "week", "l": "last-week", "m": "month", "n": "last-month"}
#: report -> its breakdowns, in the order b steps through them
STEPS = {"sales": service.BREAKDOWNS["sales"], "products": ("revenue", "qty", "margin"),
         "profit": service.BREAKDOWNS["profit"], "tax": service.BREAKDOWNS["tax"]}
WITH_PERIOD = ("sales", "products", "profit", "cashiers", "tax")
#: figure -> its label in the screen's 4-column grid (the full label is in the exports)
SHORT = {"gross": "Gross", "discounts": "Discounts", "sales": "Sales", "refunds": "Refunds", "net": "Net sales",
         "tax": "Tax", "net_ex_tax": "Net ex tax", "tickets": "Tickets", "avg_ticket": "Avg ticket",
         "items": "Items", "items_per_ticket": "Items/tkt", "voids_n": "Voids", "voids": "Voids val",
         "line_voids_n": "Line voids", "line_voids": "Line v val", "post_voids_n": "Post-voids",
         "post_voids": "P-void val", "refunds_n": "Refunds #", "rounding": "Rounding", "revenue": "Net ex tax",
         "cost": "Cost", "margin": "Margin", "margin_pct": "Margin %", "products": "Products",
         "cashiers": "Cashiers", "no_sales": "No-sales", "variance": "Variance", "sales_gross": "Gross",
         "sales_tax": "Tax sales", "refunds_tax": "Tax refunds", "slow": "Slow movers", "days": "Days",
         "value": "Value", "low": "Low stock", "shrinkage": "Shrinkage"}


def cell(ctx, v, kind: str) -> str:
    if kind == "trend":
        return export.spark(v or [])
    return export.value_text(ctx, v, kind)


def figure_grid(ctx, figures, columns: int = 4, width: int = 19) -> str:
    """The report's figures, ``columns`` to a line, each a short label and its value."""
    cells = []
    for key, label, v, kind in figures:
        name = SHORT.get(key, label)
        value = cell(ctx, v, kind)
        cells.append(f"{escape(name)} [b]{escape(value)}[/b]" + " " * max(1, width - len(name) - len(value) - 1))
    return "\n".join("".join(cells[i:i + columns]).rstrip() for i in range(0, len(cells), columns))


class RangeDialog(StationModal):
    """A custom period: from and to (YYYY-MM-DD). Dismisses with (from, to) or None."""

    DEFAULT_CSS = """
    RangeDialog { align: center middle; }
    RangeDialog > Vertical { width: 44; height: auto; border: thick $accent; background: $surface; padding: 0 1; }
    RangeDialog #rg-title { text-style: bold; }
    RangeDialog #rg-keys { color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="range_cancel")]
    HELP_TITLE = "Report period"

    def __init__(self, first: str, last: str) -> None:
        super().__init__()
        self.first, self.last = first, last

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Report period (business days)", id="rg-title")
            yield Label("From (YYYY-MM-DD)")
            yield Input(self.first, id="rg-from", max_length=10)
            yield Label("To (YYYY-MM-DD, included)")
            yield Input(self.last, id="rg-to", max_length=10)
            yield Static("Enter: next / show   Esc: cancel", id="rg-keys")

    def on_mount(self) -> None:
        self.query_one("#rg-from", Input).focus()

    @on(Input.Submitted, "#rg-from")
    def _from_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#rg-to", Input).focus()

    @on(Input.Submitted, "#rg-to")
    def _to_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss((self.query_one("#rg-from", Input).value, event.value))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReportsScreen(StationScreen):
    AREA = "reports"
    TITLE = "Reports"

    DEFAULT_CSS = """
    ReportsScreen { layout: vertical; }
    ReportsScreen #rp-title { height: 1; text-style: bold; padding: 0 1; }
    ReportsScreen #rp-figures { height: auto; max-height: 5; padding: 0 1; }
    ReportsScreen #rp-plot-label { height: 1; padding: 0 1; color: $text-muted; }
    ReportsScreen Sparkline { height: 1; margin: 0 1; }
    ReportsScreen DataTable { height: 1fr; }
    ReportsScreen #rp-message { height: 1; padding: 0 1; }
    ReportsScreen #rp-message.error { color: $error; text-style: bold; }
    """

    BINDINGS = [
        Binding("1", "kind('sales')", "Sales", id="reports_sales"),
        Binding("2", "kind('products')", "Products", id="reports_products"),
        Binding("3", "kind('slow')", "Slow", id="reports_slow"),
        Binding("4", "kind('profit')", "Profit", id="reports_profit"),
        Binding("5", "kind('cashiers')", "Cashiers", id="reports_cashiers"),
        Binding("6", "kind('tax')", "Tax", id="reports_tax"),
        Binding("7", "kind('stock')", "Stock", id="reports_stock"),
        Binding("t", "period('today')", "Today", id="reports_today"),
        Binding("y", "period('yesterday')", "Yday", id="reports_yesterday"),
        Binding("w", "period('week')", "Week", id="reports_week"),
        Binding("l", "period('last-week')", "LWeek", id="reports_last_week"),
        Binding("m", "period('month')", "Month", id="reports_month"),
        Binding("n", "period('last-month')", "LMonth", id="reports_last_month"),
        Binding("c", "custom", "Range", id="reports_custom"),
        Binding("b", "breakdown", "By", id="reports_breakdown"),
        Binding("e", "export('csv')", "CSV", id="reports_csv"),
        Binding("j", "export('json')", "JSON", id="reports_json"),
        Binding("escape", "back", "Back", id="reports_back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.kind = "sales"
        self.period_name: str | None = "today"
        self.custom: tuple[str, str] | None = None
        self.by: dict[str, str] = {k: v[0] for k, v in STEPS.items()}
        self.report: service.Report | None = None
        self.last_message = ""
        self.asked = 0          # reports asked for: only the last one asked is shown
        self.shown = 0          # the number of the one shown

    def compose(self) -> ComposeResult:
        yield Label("Reports", id="rp-title")
        yield Static("", id="rp-figures")
        yield Label("", id="rp-plot-label")
        yield Sparkline([], id="rp-plot")
        yield DataTable(id="rp-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="rp-message")
        yield KeyFooter()

    def allowed(self) -> bool:
        u = getattr(self.app, "user", None)
        return u is not None and permissions.decide(u.role, "report.view") == permissions.ALLOW

    def on_mount(self) -> None:
        if not self.allowed():
            self.show("only a supervisor, manager, treasurer or admin may see the reports", True)
            return
        self.query_one(DataTable).focus()
        self.load()

    def show(self, message: str, error: bool = False) -> None:
        self.last_message = message
        m = self.query_one("#rp-message", Static)
        m.update(escape(message))
        m.set_class(error, "error")

    # ------------------------------------------------------------ choose ---
    def action_kind(self, kind: str) -> None:
        self.kind = kind
        self.load()

    def action_period(self, name: str) -> None:
        self.period_name, self.custom = name, None
        self.load()

    def action_custom(self) -> None:
        p = self.report.period if self.report is not None and self.report.period is not None else None
        first = p.first.isoformat() if p else ""
        last = p.last.isoformat() if p else ""

        def chosen(value) -> None:
            if value is not None:
                self.period_name, self.custom = None, value
                self.load()

        self.app.push_screen(RangeDialog(first, last), chosen)

    def action_breakdown(self) -> None:
        steps = STEPS.get(self.kind)
        if not steps:
            self.show(f"the {self.kind} report has one view")
            return
        self.by[self.kind] = steps[(steps.index(self.by[self.kind]) + 1) % len(steps)]
        self.load()

    def load(self) -> None:
        if self.allowed():
            self.asked += 1
            self.show("loading ...")
            self._load(self.asked, self.kind, self.period_name, self.custom, self.by.get(self.kind))

    @work(thread=True, exit_on_error=False, group="reports")
    def _load(self, asked: int, kind: str, name: str | None, custom, by: str | None) -> None:
        ctx, user = self.app.ctx, self.app.user
        try:
            period = None
            if kind in WITH_PERIOD:
                period = periods.resolve(periods.Clock.of(ctx), name, *(custom or (None, None)))
            if kind == "sales":
                r = service.sales(ctx, user, period, by=by)
            elif kind == "products":
                r = service.products(ctx, user, period, order=by, limit=20)
            elif kind == "slow":
                r = service.slow(ctx, user)
            elif kind == "profit":
                r = service.profit(ctx, user, period, by=by)
            elif kind == "cashiers":
                r = service.cashiers(ctx, user, period)
            elif kind == "tax":
                r = service.tax(ctx, user, period, by=by)
            else:
                r = service.stock(ctx, user)
            self.from_thread(self._fill, asked, r)
        except StationError as e:
            self.from_thread(self._failed, asked, str(e))
        except Exception as e:  # noqa: BLE001 - a report that cannot be read says so
            self.from_thread(self._failed, asked, f"cannot read the report: {error_text(e)}")
        finally:
            release_thread_connection(ctx)

    def _failed(self, asked: int, message: str) -> None:
        if asked == self.asked:
            self.show(message, True)

    # -------------------------------------------------------------- show ---
    def _fill(self, asked: int, r: service.Report) -> None:
        if asked != self.asked:      # a later key asked for another report: that one is shown
            return
        ctx = self.app.ctx
        self.report = r
        title = r.title + ("" if r.period is None else f"  {r.period.label()}") + (f"  by {r.by}" if r.by else "")
        self.query_one("#rp-title", Label).update(escape(title))
        self.query_one("#rp-figures", Static).update(figure_grid(ctx, r.figures) if r.figures else escape(r.note))
        values = [y for _x, y in r.series]
        plot = self.query_one(Sparkline)
        plot.data = values if any(values) else []
        self.query_one("#rp-plot-label", Label).update(
            escape(f"{r.series_label}: {r.series[0][0]} .. {r.series[-1][0]}, highest "
                   f"{cell(ctx, max(values), r.series_kind)} (numbers in the table)") if any(values) else "")
        t = self.query_one(DataTable)
        t.clear(columns=True)
        rows = [[cell(ctx, row.get(c.key), c.kind) for c in r.columns] for row in r.rows]
        # widths set here, from the texts: DataTable measures added rows only when it next idles
        for j, c in enumerate(r.columns):
            t.add_column(c.label, key=c.key, width=max([cell_len(c.label), *(cell_len(texts[j]) for texts in rows)]))
        for i, texts in enumerate(rows):
            t.add_row(*texts, key=str(i))
        self.shown = asked
        n = len(r.rows)
        what = r.note if r.note and r.figures else f"{n} row{'s' if n != 1 else ''}"
        self.show(f"{what}.  1-7 report  t y w l m n period  c range  b by  e/j export")

    def action_export(self, fmt: str) -> None:
        if self.report is None:
            self.show("nothing to export yet", True)
            return
        try:
            path = export.write_export(self.app.ctx, self.report, fmt)
        except OSError as e:
            self.show(f"cannot write the export: {e.strerror or e}", True)
            return
        self.show(f"exported to {path}")

    def action_back(self) -> None:
        self.dismiss()
