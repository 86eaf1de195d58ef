"""The sale screen (area "sale"): scan, lines, totals, park/resume, tender.

Thin: every key becomes a call of ``station.sale`` / ``station.tender``; every
rule (quantities, merging, embedded EAN-13, limits, approvals) lives there.

All ticket changes (scans included) go through ONE serial consumer
(:class:`screens.widgets.SerialRunner`): a FIFO drained by a single thread
worker, so a slow database never loses, merges or reorders a scan and the UI
never freezes; it shows how many are waiting.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Digits, Label, Static

from data import db as dbmod
from screens.widgets import (
    KeyFooter, PickDialog, PromptDialog, ScanField, SerialRunner, error_text, shown_code,
)
from station import money
from station.errors import NeedsApproval, StationError

MAX_MISSES_SHOWN = 6


# ------------------------------------------------------------ formatting ---

def money_text(ctx, amount: int | None, *, currency: bool = False) -> str:
    if amount is None:
        return ""
    store = ctx.config.store
    sep = store.decimal_separator if store.decimal_separator in (".", ",") else "."
    return money.format_amount(amount, minor_units=store.minor_units, decimal_sep=sep,
                               currency=store.currency_symbol if currency else "")


def rate_text(rate_bp: int) -> str:
    whole, frac = divmod(int(rate_bp), 100)
    return f"{whole}" + (f".{frac:02d}".rstrip("0") if frac else "") + "%"


def qty_text(qty: int, unit: str = "pc") -> str:
    whole, frac = divmod(abs(int(qty)), 1000)
    sign = "-" if qty < 0 else ""
    if frac == 0 and unit != "kg":
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:03d}"


def parse_quantity(text: str, unit: str = "pc", max_quantity: int | None = None) -> int:
    """What the cashier typed -> thousandths: ``station.sale.parse_quantity_input``."""
    from station.sale import parse_quantity_input
    return parse_quantity_input(text, max_quantity)


def parse_percent(text: str) -> int:
    """What the cashier typed -> basis points: ``station.sale.parse_percent_input``."""
    from station.sale import parse_percent_input
    return parse_percent_input(text)


def ui_call(app, fn: Callable, *args) -> None:
    """Run ``fn(*args)`` on the UI thread from any thread."""
    if getattr(app, "_thread_id", None) == threading.get_ident():
        fn(*args)
    else:
        try:
            app.call_from_thread(fn, *args)
        except RuntimeError:
            pass


# ----------------------------------------------------------------- screen ---

class SaleScreen(Screen):
    """Ring up a basket. The scan field always has the focus."""

    AREA = "sale"
    TITLE = "Sale"

    DEFAULT_CSS = """
    SaleScreen { layout: vertical; }
    SaleScreen #sale-top { height: 3; }
    SaleScreen #sale-scan { width: 1fr; }
    SaleScreen #sale-busy { width: 24; height: 3; content-align: center middle; color: $warning; }
    SaleScreen #sale-body { height: 1fr; }
    SaleScreen #sale-lines { width: 1fr; height: 1fr; }
    SaleScreen #sale-side { width: 24; height: 1fr; border-left: solid $primary; padding: 0 1; }
    SaleScreen #sale-total-label { text-style: bold; width: 1fr; }
    SaleScreen #sale-total { color: $success; width: 1fr; height: 3; }
    SaleScreen #sale-totals { height: 7; width: 1fr; }
    SaleScreen #sale-change-label { text-style: bold; color: $warning; width: 1fr; }
    SaleScreen #sale-change { color: $warning; width: 1fr; height: 3; }
    SaleScreen #sale-misses-title { color: $error; width: 1fr; }
    SaleScreen #sale-misses { color: $error; height: 1fr; width: 1fr; }
    SaleScreen #sale-status { height: 1; width: 1fr; }
    SaleScreen #sale-status.error { color: $error; text-style: bold; }
    SaleScreen #sale-status.warning { color: $warning; }
    """

    BINDINGS = [
        Binding("f2", "search", "Search", id="sale_search"),
        Binding("f3", "quantity", "Qty", id="sale_quantity"),
        Binding("f4", "void_line", "Void", id="sale_void_line"),
        Binding("f5", "price", "Price", id="sale_price_override"),
        Binding("f6", "discount_line", "Line %", id="sale_discount_line"),
        Binding("f7", "discount_ticket", "Ticket %", id="sale_discount_ticket"),
        Binding("f8", "park", "Park", id="sale_park"),
        Binding("f9", "resume", "Resume", id="sale_resume"),
        Binding("f10", "tender", "Tender", id="sale_tender"),
        Binding("f11", "void_ticket", "Void all", id="sale_void_ticket"),
        Binding("f12", "reprint", "Reprint", id="sale_reprint"),
        # priority: the scan field (an Input) binds up/down too; here they select a line
        Binding("up", "line_up", "Line up", show=False, priority=True, id="sale_line_up"),
        Binding("down", "line_down", "Line down", show=False, priority=True, id="sale_line_down"),
        Binding("escape", "back", "Back", id="sale_back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view = None              # the last TicketView shown (or None: no open ticket)
        self.misses: list[str] = []   # unknown/invalid codes, newest last
        self.runner = SerialRunner(self, on_thread_exit=self._close_thread_db)
        self.last_result = None       # last SaleResult
        self.last_error: str = ""

    # -- layout -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        suffixes = self._config("scanner.suffix", ["enter", "ctrl+j", "tab"])
        with Horizontal(id="sale-top"):
            yield ScanField(id="sale-scan", suffixes=suffixes)
            yield Label("", id="sale-busy")
        with Horizontal(id="sale-body"):
            table = DataTable(id="sale-lines", cursor_type="row", zebra_stripes=True)
            table.can_focus = False
            yield table
            with Vertical(id="sale-side"):
                yield Label("TOTAL", id="sale-total-label")
                yield Digits("", id="sale-total")
                yield Static("", id="sale-totals")
                yield Label("", id="sale-change-label")
                yield Digits("", id="sale-change")
                yield Label("", id="sale-misses-title")
                yield Static("", id="sale-misses")
        yield Label("", id="sale-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#sale-lines", DataTable)
        table.add_column("#", key="pos", width=3)
        table.add_column("Item", key="name", width=19)
        table.add_column("Qty", key="qty", width=6)
        table.add_column("Price", key="price", width=8)
        table.add_column("Total", key="total", width=9)
        self.runner.start()
        self.focus_scan()
        self._show_totals()
        # crash-safe resume: this terminal's open ticket, exactly as committed
        self._submit(lambda: self._sale().current_ticket(self.ctx, self.user), "restore")

    def on_screen_resume(self) -> None:
        self.focus_scan()

    def on_unmount(self) -> None:
        self.runner.stop()

    # -- helpers --------------------------------------------------------------
    @property
    def ctx(self):
        return self.app.ctx

    @property
    def user(self):
        return self.app.user

    def _config(self, key: str, default: Any) -> Any:
        try:
            return self.app.ctx.config.get(key)
        except Exception:
            return default

    @staticmethod
    def _sale():
        from station import sale
        return sale

    @staticmethod
    def _tender():
        from station import tender
        return tender

    def _close_thread_db(self) -> None:
        dbmod.release(self.app.ctx.db)

    def focus_scan(self) -> None:
        self.query_one("#sale-scan", ScanField).focus()

    def set_status(self, text: str, kind: str = "") -> None:
        label = self.query_one("#sale-status", Label)
        label.update(text, layout=False)   # fixed size: repaint only (no relayout per scan)
        label.set_class(kind == "error", "error")
        label.set_class(kind == "warning", "warning")
        if kind == "error":
            self.last_error = text

    def _submit(self, fn: Callable[[], Any], kind: str, **data) -> None:
        self.runner.submit(fn, kind, **data)
        self._show_busy()

    def _show_busy(self) -> None:
        n = self.runner.pending
        scans = self.runner.pending_kind("scan")
        if n == 0:
            text = ""
        elif scans == n:
            text = f"looking up {n} scan{'s' if n != 1 else ''}..."
        else:
            text = f"working: {n} waiting..."
        busy = self.query_one("#sale-busy", Label)
        if text != getattr(busy, "_shown", None):
            busy._shown = text
            busy.update(text, layout=False)

    @property
    def busy(self) -> bool:
        return self.runner.pending > 0

    def selected_line(self):
        """The LineView under the table cursor (not voided), or None."""
        if self.view is None:
            return None
        table = self.query_one("#sale-lines", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        except Exception:
            return None
        for line in self.view.lines:
            if str(line.id) == key:
                return None if line.voided else line
        return None

    # -- scans ----------------------------------------------------------------
    @on(ScanField.Scanned)
    def _scanned(self, event: ScanField.Scanned) -> None:
        event.stop()
        code = event.code
        if self.last_result is not None:   # a new sale: the last change goes away
            self._show_change(None)
            self.last_result = None
        self._submit(lambda: self._sale().scan(self.ctx, self.user, code), "scan", code=code)

    # -- results (UI thread, in submission order) ----------------------------
    @on(SerialRunner.Done)
    def _done(self, event: SerialRunner.Done) -> None:
        event.stop()
        self.runner.finished(event.job)
        self._show_busy()
        job, error, result = event.job, event.error, event.result
        try:
            if error is not None:
                self._failed(job, error)
                return
            handler = getattr(self, f"_did_{job.kind}", None)
            if handler is not None:
                handler(job, result)
            elif hasattr(result, "lines"):
                self.show_ticket(result)
        except Exception as e:  # noqa: BLE001 - a message, never a traceback on screen
            self.log.error(f"sale screen: {job.kind} result not shown: {e!r}")
            self.set_status(f"could not show the result: {error_text(e)}", "error")

    def _failed(self, job, error: BaseException) -> None:
        if isinstance(error, NeedsApproval):
            self._ask_approval(job, error)
            return
        msg = error_text(error)
        if job.kind == "scan":
            code = job.data.get("code", "")
            self.misses.append(code)
            self._show_misses()
            msg = f"{shown_code(code)}: {msg}"
        self.set_status(msg, "error")
        self.app.bell()

    def _did_restore(self, job, view) -> None:
        self.show_ticket(view)
        if view is not None and view.lines:
            self.set_status(f"open ticket restored ({view.item_count} items)")

    def _did_scan(self, job, view) -> None:
        self.show_ticket(view, select_last=True)
        self.set_status(f"{shown_code(job.data.get('code', ''))} added")

    def _did_park(self, job, result) -> None:
        self.show_ticket(None)
        self.set_status("ticket parked: F9 resumes it")

    def _did_void_ticket(self, job, result) -> None:
        self.show_ticket(None)
        self.set_status("ticket voided")

    def _did_list_parked(self, job, parked) -> None:
        options = []
        for p in parked or []:
            pid = getattr(p, "id", None) or getattr(p, "ticket_id", None)
            total = getattr(p, "total", None)
            when = getattr(p, "parked_at", "") or ""
            who = getattr(p, "cashier", "") or ""
            items = getattr(p, "item_count", None)
            term = getattr(p, "terminal", "")
            first = getattr(p, "first_items", "") or ""
            text = (f"#{pid}  {str(when)[11:16]}  {term}  {who}  {first[:24]}  "
                    f"{'' if items is None else f'{items} items  '}{money_text(self.ctx, total)}")
            options.append((str(pid), text))

        def picked(tid: str | None) -> None:
            self.focus_scan()
            if tid:
                t = int(tid)
                self._submit(lambda: self._sale().resume(self.ctx, self.user, t), "resume")

        self.app.push_screen(PickDialog("Parked tickets (Enter resumes)", options,
                                        empty="no parked tickets"), picked)

    def _did_resume(self, job, view) -> None:
        self.show_ticket(view)
        self.set_status("ticket resumed")

    def _did_begin_tender(self, job, start) -> None:
        from screens.tender import TenderScreen
        self.app.push_screen(TenderScreen(start, self.view), self._tender_done)

    def _did_reprint(self, job, result) -> None:
        if result is not None:
            self.set_status("a copy of the last receipt is on its way to the printer")

    # -- ticket display (incremental by row key) ------------------------------
    def show_ticket(self, view, *, select_last: bool = False) -> None:
        table = self.query_one("#sale-lines", DataTable)
        self.view = view
        lines = list(view.lines) if view is not None else []
        wanted = {str(line.id) for line in lines}
        for key in [rk.value for rk in list(table.rows.keys())]:
            if key not in wanted:
                table.remove_row(key)
        ctx = self.ctx
        last_key = None
        for line in lines:
            key = str(line.id)
            style = "strike dim" if line.voided else ""
            name = line.name + ("" if not line.price_override else " *")
            if line.discount:
                name += f" -{money_text(ctx, line.discount)}"
            cells = (
                Text(str(line.position), style=style),
                Text(name, style=style),
                Text(qty_text(line.qty, line.unit), style=style, justify="right"),
                Text(money_text(ctx, line.unit_price), style=style, justify="right"),
                Text(money_text(ctx, 0 if line.voided else line.line_total), style=style, justify="right"),
            )
            if key in table.rows:
                for col, cell in zip(("pos", "name", "qty", "price", "total"), cells):
                    if str(table.get_cell(key, col)) != str(cell) or style:
                        table.update_cell(key, col, cell)
            else:
                table.add_row(*cells, key=key)
                last_key = key
        if select_last and last_key is not None:
            table.move_cursor(row=table.get_row_index(last_key))
        self._show_totals()

    def _show_totals(self) -> None:
        ctx = self.ctx
        v = self.view
        total = self.query_one("#sale-total", Digits)
        totals = self.query_one("#sale-totals", Static)
        self.query_one("#sale-total-label", Label).update(
            f"TOTAL {self._config('store.currency_symbol', '')}", layout=False)
        if v is None:
            total.update(money_text(ctx, 0))
            totals.update("no open ticket" if not self.last_result else "", layout=False)
            return
        total.update(money_text(ctx, v.total))
        rows = [f"Items     {v.item_count}",
                f"Subtotal  {money_text(ctx, v.subtotal)}"]
        if v.discount:
            rows.append(f"Discount -{money_text(ctx, v.discount)}")
        for rate, tax in sorted((v.taxes or {}).items()):
            rows.append(f"VAT {rate_text(rate):<5} {money_text(ctx, tax)}")
        if self._config("store.prices_include_tax", True):
            rows.append("(tax included)")
        totals.update("\n".join(rows), layout=False)

    def _show_misses(self) -> None:
        title = self.query_one("#sale-misses-title", Label)
        box = self.query_one("#sale-misses", Static)
        if not self.misses:
            title.update("", layout=False)
            box.update("", layout=False)
            return
        title.update(f"Not found ({len(self.misses)}):", layout=False)
        box.update("\n".join(shown_code(c) for c in self.misses[-MAX_MISSES_SHOWN:]), layout=False)

    # -- approvals --------------------------------------------------------------
    def _ask_approval(self, job, e: NeedsApproval) -> None:
        retry = job.data.get("retry")
        self.set_status(f"{e}: a manager must approve", "warning")
        if retry is None:
            self.app.bell()
            return
        try:
            from screens.approval import ApprovalDialog
        except ImportError:
            self.set_status(f"{e} (the approval dialog is not available)", "error")
            return

        def approved(approval) -> None:
            self.focus_scan()
            if approval is None:
                self.set_status("cancelled: nothing changed")
                return
            self._submit(lambda: retry(approval), job.kind, **{k: v for k, v in job.data.items()})

        self.app.push_screen(ApprovalDialog(e.action, e.amount, e.ref), approved)

    # -- actions ------------------------------------------------------------------
    def action_line_up(self) -> None:
        table = self.query_one("#sale-lines", DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, table.cursor_row - 1))

    def action_line_down(self) -> None:
        table = self.query_one("#sale-lines", DataTable)
        if table.row_count:
            table.move_cursor(row=min(table.row_count - 1, table.cursor_row + 1))

    def _need_line(self):
        line = self.selected_line()
        if line is None:
            self.set_status("select a line first (Up/Down)", "error")
            self.app.bell()
        return line

    def action_search(self) -> None:
        from screens.search import SearchScreen

        def picked(product_id) -> None:
            self.focus_scan()
            if product_id is not None:
                pid = int(product_id)
                self._submit(lambda: self._sale().add_product(self.ctx, self.user, pid), "scan_product",
                             product_id=pid)

        self.app.push_screen(SearchScreen(), picked)

    def _did_scan_product(self, job, view) -> None:
        self.show_ticket(view, select_last=True)
        self.set_status("item added")

    def action_quantity(self) -> None:
        line = self._need_line()
        if line is None:
            return
        field = self.query_one("#sale-scan", ScanField)
        typed = field.value.strip()
        maxq = self._config("limits.max_quantity", None)
        if typed:
            try:
                qty = parse_quantity(typed, line.unit, maxq)
            except StationError as e:
                self.set_status(str(e), "error")
                self.app.bell()
                return
            field.take()
            self._set_qty(line.id, qty)
            return

        def got(text: str | None) -> None:
            self.focus_scan()
            if text is not None:
                self._set_qty(line.id, parse_quantity(text, line.unit, maxq))

        self.app.push_screen(PromptDialog(f"Quantity for {line.name}", "new quantity, Enter",
                                          qty_text(line.qty, line.unit),
                                          check=lambda t: parse_quantity(t, line.unit, maxq)), got)

    def _set_qty(self, line_id: int, qty: int) -> None:
        self._submit(lambda: self._sale().set_quantity(self.ctx, self.user, line_id, qty), "line")

    def _did_line(self, job, view) -> None:
        self.show_ticket(view)
        self.set_status(job.data.get("done", "line changed"))

    def action_void_line(self) -> None:
        line = self._need_line()
        if line is None:
            return
        lid = line.id
        self._submit(lambda: self._sale().void_line(self.ctx, self.user, lid), "line",
                     done=f"line {line.position} voided")

    def action_price(self) -> None:
        line = self._need_line()
        if line is None:
            return
        lid = line.id

        def parse(text: str) -> int:
            return self._tender().parse_amount_input(self.ctx, text)

        def got(text: str | None) -> None:
            self.focus_scan()
            if text is None:
                return
            price = parse(text)

            def call(approval=None):
                return self._sale().override_price(self.ctx, self.user, lid, price, approval=approval)
            self._submit(call, "line", retry=call, done="price changed")

        self.app.push_screen(PromptDialog(f"New price for {line.name}", "price, Enter",
                                          check=parse), got)

    def action_discount_line(self) -> None:
        line = self._need_line()
        if line is None:
            return
        lid = line.id

        def got(text: str | None) -> None:
            self.focus_scan()
            if text is None:
                return
            bp = parse_percent(text)

            def call(approval=None):
                return self._sale().discount_line(self.ctx, self.user, lid, bp, approval=approval)
            self._submit(call, "line", retry=call, done=f"line discount {rate_text(bp)}")

        self.app.push_screen(PromptDialog(f"Discount on {line.name}", "percent, Enter",
                                          check=parse_percent), got)

    def action_discount_ticket(self) -> None:
        if self.view is None:
            self.set_status("no open ticket", "error")
            return

        def got(text: str | None) -> None:
            self.focus_scan()
            if text is None:
                return
            bp = parse_percent(text)

            def call(approval=None):
                return self._sale().discount_ticket(self.ctx, self.user, bp, approval=approval)
            self._submit(call, "line", retry=call, done=f"ticket discount {rate_text(bp)}")

        self.app.push_screen(PromptDialog("Discount on the whole ticket", "percent, Enter",
                                          check=parse_percent), got)

    def action_void_ticket(self) -> None:
        if self.view is None:
            self.set_status("no open ticket", "error")
            return

        def call(approval=None):
            return self._sale().void_ticket(self.ctx, self.user, approval=approval)
        self._submit(call, "void_ticket", retry=call)

    def action_park(self) -> None:
        if self.view is None:
            self.set_status("no open ticket to park", "error")
            return
        self._submit(lambda: self._sale().park(self.ctx, self.user), "park")

    def action_resume(self) -> None:
        if self.view is not None and self.view.lines:
            self.set_status("park or finish this ticket first", "error")
            self.app.bell()
            return
        self._submit(lambda: self._sale().list_parked(self.ctx), "list_parked")

    def action_tender(self) -> None:
        if self.view is None or not any(not ln.voided for ln in self.view.lines):
            # a ticket may still be on its way through the queue: the queue decides
            if not self.busy:
                self.set_status("nothing to pay: scan an item first", "error")
                self.app.bell()
                return
        self._submit(lambda: self._tender().begin_tender(self.ctx, self.user), "begin_tender")

    def _tender_done(self, result) -> None:
        self.focus_scan()
        if result is None:  # back without paying: the ticket is still open
            self._submit(lambda: self._sale().current_ticket(self.ctx, self.user), "restore")
            return
        self.last_result = result
        self.show_ticket(None)
        self.misses.clear()          # a new customer: the last basket's misses go
        self._show_misses()
        change = getattr(result, "change", 0)
        self._show_change(change)
        self.set_status(f"sale {getattr(result, 'receipt_no', '')} done"
                        + (f", change {money_text(self.ctx, change)}" if change else ""))

    def _show_change(self, change: int | None) -> None:
        text = f"CHANGE {self._config('store.currency_symbol', '')}" if change else ""
        self.query_one("#sale-change-label", Label).update(text, layout=False)
        self.query_one("#sale-change", Digits).update(money_text(self.ctx, change) if change else "")

    def action_reprint(self) -> None:
        printer = get_printer(self.app)
        if printer is None:
            self.set_status("no printer service", "error")
            return
        self._submit(lambda: printer.reprint_last(self.ctx, self.user), "reprint")

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()



# --------------------------------------------------------------- printing ---

def print_result(app, result) -> None:
    """Printer callback (any thread): a failure is a non-blocking warning."""
    ok = getattr(result, "ok", True)
    message = getattr(result, "message", "") or ""
    kicked = getattr(result, "kicked", None)
    kick_message = getattr(result, "kick_message", "") or ""

    def show() -> None:
        problems = []
        if not ok:
            problems.append(message or "the receipt did not print: F12 prints it again")
        if kicked is False:
            problems.append(kick_message or "the drawer did not open")
        if not problems:
            return
        text = "; ".join(problems)
        app.notify(text, title="Printer", severity="warning", timeout=8)
        screen = app.screen
        if isinstance(screen, SaleScreen):
            screen.set_status(f"printer: {text}", "warning")
    ui_call(app, show)


def get_printer(app):
    """The app's printing service (one per app, created on first use)."""
    ctx = app.ctx
    printer = ctx.extras.get("printer")
    if printer is None:
        try:
            from station import printing
        except ImportError:
            return None
        try:
            printer = printing.Printer(ctx, on_result=lambda r: print_result(app, r))
        except TypeError:
            printer = printing.Printer(ctx)
        ctx.extras["printer"] = printer
    return printer
