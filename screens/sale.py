"""The sale screen (area "sale"): scan, lines, totals, park/resume, tender.

Thin: every key becomes a call of ``station.sale`` / ``station.tender``; every
rule (quantities, merging, embedded EAN-13, limits, approvals) lives there.

All ticket changes (scans included) go through ONE serial consumer
(:class:`screens.widgets.SerialRunner`): a FIFO drained by a single thread
worker, so a slow database never loses, merges or reorders a scan and the UI
never freezes; it shows how many are waiting.
"""
from __future__ import annotations

from typing import Any, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Static

from screens.approval import ApprovalDialog
from screens.base import StationScreen
from screens.format import error_text, money_text, qty_text, rate_text
from screens.frames import PromptFrames
from screens.printer import get_printer
from screens.search import SearchScreen
from screens.stock import AddProductDialog, default_vat
from screens.tender import TenderScreen
from screens.ticket_lines import FixedDigits, TextRows, TicketLines
from screens.widgets import KeyFooter, PickDialog, PromptDialog, ScanField, SerialRunner, shown_code
from station import permissions, sale, tender
from station.context import release_thread_connection
from station.errors import NeedsApproval, NotFound, StationError
from station.payments import service as payments
from station.stock import products as stock_products

MAX_MISSES_SHOWN = 6

#: jobs whose answer opens a screen or a dialog: the keys typed after them wait for it
HOLDING_KINDS = ("begin_tender", "list_parked", "open_payments")

#: a scan with nothing queued ahead of it is waited for this long, so its line,
#: the totals and the cleared field reach the screen in one frame
SCAN_WAIT_S = 0.05


# ----------------------------------------------------------------- screen ---

class SaleScreen(PromptFrames, StationScreen):
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
        self.unknown: str | None = None   # the last scan's unknown barcode: F5 adds it as a product
        self.runner = SerialRunner(self, on_thread_exit=self._close_thread_db)
        self.last_result = None       # last SaleResult
        self.last_error: str = ""
        self._queue_hold = None       # keys waiting for the queue to be shown
        self._shown: dict[str, object] = {}   # what some labels show (repainted only on change)

    # -- layout -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        suffixes = self._config("scanner.suffix", ["enter", "ctrl+j", "tab"])
        with Horizontal(id="sale-top"):
            yield ScanField(id="sale-scan", suffixes=suffixes, on_scan=self.scanned)
            yield Label("", id="sale-busy")
        with Horizontal(id="sale-body"):
            yield TicketLines(id="sale-lines")
            with Vertical(id="sale-side"):
                yield Label("TOTAL", id="sale-total-label")
                yield FixedDigits("", id="sale-total")
                yield TextRows(id="sale-totals")
                yield Label("", id="sale-change-label")
                yield FixedDigits("", id="sale-change")
                yield Label("", id="sale-misses-title")
                yield Static("", id="sale-misses")
        yield Label("", id="sale-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.runner.start()
        self.focus_scan()
        self._show_totals()
        # crash-safe resume: this terminal's open ticket, exactly as committed
        self._submit(lambda: self._sale().current_ticket(self.ctx, self.user), "restore", first=True)

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
        return sale

    @staticmethod
    def _tender():
        return tender

    def _close_thread_db(self) -> None:
        release_thread_connection(self.app.ctx)

    def focus_scan(self) -> None:
        self.query_one("#sale-scan", ScanField).focus()

    def set_status(self, text: str, kind: str = "") -> None:
        if kind == "error":
            self.last_error = text
        if self._shown.get("status") == (text, kind):
            return                             # the same text: no repaint
        self._shown["status"] = (text, kind)
        label = self.query_one("#sale-status", Label)
        label.update(text, layout=False)   # fixed size: repaint only (no relayout per scan)
        label.set_class(kind == "error", "error")
        label.set_class(kind == "warning", "warning")

    def _submit(self, fn: Callable[[], Any], kind: str, *, wait: float = 0.0, **data) -> None:
        if kind in HOLDING_KINDS or "retry" in data:
            # the answer opens a screen or a dialog (an approval): keys wait for it
            data["hold"] = self.hold(kind)
        idle = self.runner.pending == 0
        job = self.runner.submit(fn, kind, **data)
        if wait and idle and self.runner.wait(job, wait):
            self._handle(job, job.result, job.error)    # shown now, in the same frame
            return
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

    def _wait_for_queue(self) -> bool:
        """A key that acts on the ticket as shown (a line, the total) while scans
        or changes are still on their way: it is handed out again once they are
        all shown, so keys typed ahead act as they would typed slowly."""
        if not self.runner.pending:
            return False
        stream = getattr(self.app, "input", None)
        if stream is None or not stream.retry_key():
            return False
        if self._queue_hold is None:
            self._queue_hold = self.hold("ticket changes on their way")
        return True

    def selected_line(self):
        """The LineView under the table cursor (not voided), or None."""
        if self.view is None:
            return None
        key = self.query_one("#sale-lines", TicketLines).selected_key
        for line in self.view.lines:
            if str(line.id) == key:
                return None if line.voided else line
        return None

    # -- scans ----------------------------------------------------------------
    def scanned(self, code: str) -> None:
        """A code from the scan field, in the Enter key's own handler: with nothing
        queued, its line, the totals and the cleared field are one frame."""
        if self.last_result is not None:   # a new sale: the last change goes away
            self._show_change(None)
            self.last_result = None
        self._submit(lambda: self._sale().scan(self.ctx, self.user, code), "scan", code=code, wait=SCAN_WAIT_S)

    @on(ScanField.Refused)
    def _refused(self, event: ScanField.Refused) -> None:
        event.stop()
        self.set_status(event.reason, "error")

    # -- results (UI thread, in submission order) ----------------------------
    @on(SerialRunner.Done)
    def _done(self, event: SerialRunner.Done) -> None:
        event.stop()
        if not event.job.handled:
            self._handle(event.job, event.result, event.error)

    def _handle(self, job, result, error) -> None:
        self.runner.finished(job)
        self._show_busy()
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
        finally:
            hold = job.data.get("hold")
            if hold is not None:
                hold.release()
            if self.runner.pending == 0 and self._queue_hold is not None:
                self._queue_hold.release()
                self._queue_hold = None

    def _failed(self, job, error: BaseException) -> None:
        if isinstance(error, NeedsApproval):
            self._ask_approval(job, error)
            return
        msg = error_text(error)
        if job.kind == "scan":
            code = job.data.get("code", "")
            self.misses.append(code)
            self._show_misses()
            if code not in msg:
                msg = f"{shown_code(code)}: {msg}"
            self.unknown = None
            if isinstance(error, NotFound) and msg.startswith("unknown barcode") and self._may_add():
                self.unknown = code
                msg = f"unknown: {shown_code(code)}  F5 add"
        self.set_status(msg, "error")
        self.app.bell()

    def _did_restore(self, job, view) -> None:
        self.show_ticket(view)
        if view is not None and view.lines:
            self.set_status(f"open ticket restored ({view.item_count} items)")
            if job.data.get("first"):   # after a restart: a mobile payment paid or waiting takes us to the tender
                self._submit(lambda: payments.open_here(self.ctx), "open_payments")

    def _did_open_payments(self, job, found) -> None:
        if found:
            v = found[-1]
            self.set_status(f"{v.label} {money_text(self.ctx, v.amount)} of this ticket is "
                            f"{'paid' if v.paid else 'still waiting'}: back to the tender", "warning")
            self._submit(lambda: self._tender().begin_tender(self.ctx, self.user), "begin_tender")

    def _did_scan(self, job, view) -> None:
        self.unknown = None
        self.show_ticket(view, select_last=True)
        self.set_status("")        # the new line says it; an older message goes

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
        self.app.push_screen(TenderScreen(start, self.view), self._tender_done)

    def _did_reprint(self, job, result) -> None:
        if result is not None:
            self.set_status("a copy of the last receipt is on its way to the printer")

    # -- ticket display (the changed line only, see screens.ticket_lines) -------
    def show_ticket(self, view, *, select_last: bool = False) -> None:
        self.view = view
        self.query_one("#sale-lines", TicketLines).show(self.ctx, view, select_last=select_last)
        self._show_totals()

    def _show_totals(self) -> None:
        ctx = self.ctx
        v = self.view
        total = self.query_one("#sale-total", FixedDigits)
        totals = self.query_one("#sale-totals", TextRows)
        label = f"TOTAL {self._config('store.currency_symbol', '')}"
        if self._shown.get("total-label") != label:
            self._shown["total-label"] = label
            self.query_one("#sale-total-label", Label).update(label, layout=False)
        if v is None:
            total.update(money_text(ctx, 0))
            totals.update("no open ticket" if not self.last_result else "")
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
        totals.update("\n".join(rows))

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

        def approved(approval) -> None:
            self.focus_scan()
            if approval is None:
                self.set_status("cancelled: nothing changed")
                return
            self._submit(lambda: retry(approval), job.kind,
                         **{k: v for k, v in job.data.items() if k != "hold"})

        self.app.push_screen(ApprovalDialog(e.action, e.amount, e.ref), approved)

    # -- actions ------------------------------------------------------------------
    def action_line_up(self) -> None:
        if self._wait_for_queue():
            return
        table = self.query_one("#sale-lines", TicketLines)
        table.move_cursor(row=table.cursor_row - 1)

    def action_line_down(self) -> None:
        if self._wait_for_queue():
            return
        table = self.query_one("#sale-lines", TicketLines)
        table.move_cursor(row=table.cursor_row + 1)

    def _need_line(self):
        line = self.selected_line()
        if line is None:
            self.set_status("select a line first (Up/Down)", "error")
            self.app.bell()
        return line

    def _typed(self) -> str:
        """What was typed in the scan field before an F-key: that key consumes it
        (it never stays to be glued onto the next scan)."""
        return self.query_one("#sale-scan", ScanField).take().strip()

    def _value_or_prompt(self, typed: str, parse: Callable[[str], Any], use: Callable[[Any], None],
                         title: str, label: str, value: str = "") -> None:
        """Use the number typed before the F-key, or ask for it in a dialog."""
        if typed:
            try:
                parsed = parse(typed)
            except StationError as e:
                self.set_status(f"{typed}: {e}", "error")
                self.app.bell()
                return
            use(parsed)
            return

        def got(text: str | None) -> None:
            self.focus_scan()
            if text is not None:
                use(parse(text))

        self.app.push_screen(PromptDialog(title, label, value, check=parse), got)

    def action_search(self) -> None:
        def picked(product_id) -> None:
            self.focus_scan()
            if product_id is not None:
                pid = int(product_id)
                self._submit(lambda: self._sale().add_product(self.ctx, self.user, pid), "scan_product",
                             product_id=pid)

        self.app.push_screen(SearchScreen(self._typed()), picked)

    def _did_scan_product(self, job, view) -> None:
        self.show_ticket(view, select_last=True)
        self.set_status("item added")

    def action_quantity(self) -> None:
        if self._wait_for_queue():
            return
        typed = self._typed()
        line = self._need_line()
        if line is None:
            return
        maxq = self._config("limits.max_quantity", None)
        lid = line.id
        self._value_or_prompt(typed, lambda t: sale.parse_quantity_input(t, maxq),
                              lambda qty: self._set_qty(lid, qty),
                              f"Quantity for {line.name}", "new quantity, Enter", qty_text(line.qty, line.unit))

    def _set_qty(self, line_id: int, qty: int) -> None:
        self._submit(lambda: self._sale().set_quantity(self.ctx, self.user, line_id, qty), "line")

    def _did_line(self, job, view) -> None:
        self.show_ticket(view)
        self.set_status(job.data.get("done", "line changed"))

    def action_void_line(self) -> None:
        if self._wait_for_queue():
            return
        line = self._need_line()
        if line is None:
            return
        lid = line.id
        self._submit(lambda: self._sale().void_line(self.ctx, self.user, lid), "line",
                     done=f"line {line.position} voided")

    def _may_add(self) -> bool:
        return (self.user is not None
                and permissions.decide(self.user.role, "product.add") != permissions.REFUSE)

    def _add_unknown(self, code: str) -> None:
        """F5 after an unknown scan: the new product's name, price and VAT, then it
        is added (a cashier with a manager's approval) and rung up at once."""
        def got(values) -> None:
            self.focus_scan()
            if values is None:
                self.set_status("not added")
                return
            name, price, vat = values

            def call(approval=None):
                stock_products.add_product(self.ctx, self.user, name=name, price=price, vat_rate=vat, barcode=code,
                                     approval=approval)
                return self._sale().scan(self.ctx, self.user, code)
            self._submit(call, "add_product", retry=call, code=code, name=name)

        self.app.push_screen(AddProductDialog(self.ctx, code, default_vat(self.ctx)), got)

    def _did_add_product(self, job, view) -> None:
        self.unknown = None
        self.show_ticket(view, select_last=True)
        if job.data.get("code") in self.misses:
            self.misses.remove(job.data["code"])
            self._show_misses()
        self.set_status(f"{job.data.get('name')} added to the catalog and rung up")

    def action_price(self) -> None:
        if self._wait_for_queue():
            return
        typed = self._typed()
        if self.unknown is not None and not typed:
            code, self.unknown = self.unknown, None
            self._add_unknown(code)
            return
        line = self._need_line()
        if line is None:
            return
        lid = line.id

        def use(price: int) -> None:
            def call(approval=None):
                return self._sale().override_price(self.ctx, self.user, lid, price, approval=approval)
            self._submit(call, "line", retry=call, done="price changed")

        self._value_or_prompt(typed, lambda t: self._tender().parse_amount_input(self.ctx, t), use,
                              f"New price for {line.name}", "price, Enter")

    def action_discount_line(self) -> None:
        if self._wait_for_queue():
            return
        typed = self._typed()
        line = self._need_line()
        if line is None:
            return
        lid = line.id

        def use(bp: int) -> None:
            def call(approval=None):
                return self._sale().discount_line(self.ctx, self.user, lid, bp, approval=approval)
            self._submit(call, "line", retry=call, done=f"line discount {rate_text(bp)}")

        self._value_or_prompt(typed, sale.parse_percent_input, use, f"Discount on {line.name}", "percent, Enter")

    def action_discount_ticket(self) -> None:
        if self._wait_for_queue():
            return
        typed = self._typed()
        if self.view is None:
            self.set_status("no open ticket", "error")
            return

        def use(bp: int) -> None:
            def call(approval=None):
                return self._sale().discount_ticket(self.ctx, self.user, bp, approval=approval)
            self._submit(call, "line", retry=call, done=f"ticket discount {rate_text(bp)}")

        self._value_or_prompt(typed, sale.parse_percent_input, use, "Discount on the whole ticket", "percent, Enter")

    def action_void_ticket(self) -> None:
        if self._wait_for_queue():
            return
        if self.view is None:
            self.set_status("no open ticket", "error")
            return

        def call(approval=None):
            return self._sale().void_ticket(self.ctx, self.user, approval=approval)
        self._submit(call, "void_ticket", retry=call)

    def action_park(self) -> None:
        if self._wait_for_queue():
            return
        if self.view is None:
            self.set_status("no open ticket to park", "error")
            return
        self._submit(lambda: self._sale().park(self.ctx, self.user), "park")

    def action_resume(self) -> None:
        if self._wait_for_queue():
            return
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
        self.query_one("#sale-change", FixedDigits).update(money_text(self.ctx, change) if change else "")

    def action_reprint(self) -> None:
        printer = get_printer(self.app)
        self._submit(lambda: printer.reprint_last(self.ctx, self.user), "reprint")

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.dismiss()
