"""The returns screen (area "returns"): find the sale, pick what comes back, give
the money back; a return without a receipt; a post-void of this terminal's last
sale; an exchange against the ticket rung up on the sale screen; the refund
requests waiting for a manager.

Thin: every key is a call of :mod:`station.refund` (returnable quantities, what a
line gives back, the methods, approvals, exactly once) and the screen shows what
it answers. Scans and typed numbers go through the scan field: a receipt's code
(``T1-000042``) or number finds the sale; with a sale shown, scanning an item of
it marks one more of its line to return. The refund's idempotency key is minted
when the return starts and kept until it is done, so Enter twice, a retry or an
approval round never refunds twice. Every service call runs in a thread worker
and holds the input stream until its answer is on screen (keys typed ahead go
where they would have gone typed slowly).
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Label, Static

from screens.approval import ApprovalDialog
from screens.base import StationScreen
from screens.format import error_text, money_text, qty_text
from screens.printer import get_printer
from screens.widgets import KeyFooter, PickDialog, PromptDialog, ScanField
from station import permissions, sale, tender
from station.context import release_thread_connection
from station.errors import InvalidInput, NeedsApproval, StationError
from station.refund import lookup, receipt as refund_receipt, service

MODES = {"receipt": "Return with a receipt", "no_receipt": "Return without a receipt",
         "post_void": "Post-void the last sale", "exchange": "Exchange"}


@dataclass
class Pending:
    """A service call of this screen: run in a worker, then ``on_ok`` (UI thread)."""
    fn: Callable[[], Any]
    on_ok: Callable[[Any], None]
    retry: Callable[[Any], Callable[[], Any]] | None = None   # approval -> the call again


class ReturnsScreen(StationScreen):
    AREA = "returns"
    TITLE = "Returns"

    DEFAULT_CSS = """
    ReturnsScreen { layout: vertical; }
    ReturnsScreen #ret-title { height: 1; text-style: bold; padding: 0 1; }
    ReturnsScreen #ret-scan { height: 3; }
    ReturnsScreen #ret-sale { height: 2; padding: 0 1; }
    ReturnsScreen #ret-lines { height: 1fr; padding: 0 1; }
    ReturnsScreen #ret-plan { height: 3; padding: 0 1; border-top: solid $primary; }
    ReturnsScreen #ret-message { height: 1; padding: 0 1; }
    ReturnsScreen #ret-message.error { color: $error; text-style: bold; }
    ReturnsScreen #ret-message.warning { color: $warning; }
    """

    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False, id="returns_up"),
        Binding("down", "move(1)", "Down", show=False, id="returns_down"),
        Binding("f2", "find", "Find", id="returns_find"),
        Binding("f3", "quantity", "Qty", id="returns_quantity"),
        Binding("f4", "toggle", "All/none", id="returns_toggle"),
        Binding("f5", "reason", "Reason", id="returns_reason"),
        Binding("f6", "method", "Back by", id="returns_method"),
        Binding("f7", "no_receipt", "No receipt", id="returns_no_receipt"),
        Binding("f8", "exchange", "Exchange", id="returns_exchange"),
        Binding("f9", "post_void", "Post-void", id="returns_post_void"),
        Binding("f10", "refund", "Refund", id="returns_refund"),
        Binding("f11", "requests", "Requests", id="returns_requests"),
        Binding("f12", "reprint", "Reprint", id="returns_reprint"),
        Binding("escape", "back", "Back", id="returns_back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.mode = "receipt"
        self.info: lookup.SaleInfo | None = None
        self.want: dict[int, int] = {}          # sale line id -> thousandths to return
        self.items: list[service.ProductItem] = []
        self.cursor = 0
        self.reason: str | None = None
        self.method: str | None = None
        self.key = service.new_key()
        self.plan: service.Plan | None = None
        self.exchange_start: tender.TenderStart | None = None
        self.busy = False
        self.last_message = ""
        self.last_result: service.RefundResult | None = None

    @property
    def ctx(self):
        return self.app.ctx

    @property
    def user(self):
        return self.app.user

    # ------------------------------------------------------------- layout ---
    def compose(self) -> ComposeResult:
        yield Label("", id="ret-title")
        yield ScanField(id="ret-scan", placeholder="scan the receipt's barcode or type its number, Enter",
                        suffixes=self.app.ctx.config.scanner.suffix)
        yield Static("", id="ret-sale")
        yield Static("", id="ret-lines")
        yield Static("", id="ret-plan")
        yield Label("", id="ret-message")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#ret-scan", ScanField).focus()
        self.render_all()

    def on_screen_resume(self) -> None:
        self.query_one("#ret-scan", ScanField).focus()

    # ------------------------------------------------------------ display ---
    def show(self, message: str, level: str = "info") -> None:
        self.last_message = message
        m = self.query_one("#ret-message", Label)
        m.update(message)
        m.set_class(level == "error", "error")
        m.set_class(level == "warning", "warning")
        if level == "error":
            self.app.bell()

    def _money(self, v: int | None) -> str:
        return money_text(self.ctx, v)

    def render_all(self) -> None:
        who = f"{self.user.name}" if self.user is not None else ""
        self.query_one("#ret-title", Label).update(f"{MODES[self.mode]} - terminal {self.ctx.terminal}  {who}")
        self.query_one("#ret-sale", Static).update(self._sale_text())
        self.query_one("#ret-lines", Static).update(self._lines_text())
        self.query_one("#ret-plan", Static).update(self._plan_text())

    def _sale_text(self) -> str:
        i = self.info
        if self.mode == "no_receipt":
            return "Scan each item that comes back (N*CODE for several).  F7: back to returns with a receipt"
        if i is None:
            return "Scan the receipt, type its number (42 or T1/42), or F2 to find it.  F9: post-void the last sale"
        paid = ", ".join(f"{m} {self._money(a)}" for m, a in i.paid.items())
        back = ", ".join(f"{m} {self._money(a)}" for m, a in i.refunded.items() if a)
        return (f"Sale {i.terminal}/{i.receipt_no}  {i.completed_at:%Y-%m-%d %H:%M}  {i.cashier}  "
                f"total {self._money(i.total)}\npaid {paid}" + (f"; refunded {back}" if back else ""))

    def _lines_text(self) -> str:
        if self.mode == "no_receipt":
            if not self.items:
                return ""
            rows = [f"  {'#':>2} {'Item':<28} {'Qty':>8} {'Price':>9}"]
            for n, it in enumerate(self.items):
                mark = ">" if n == self.cursor else " "
                price = "current" if it.price is None else self._money(it.price)
                rows.append(f"{mark} {n + 1:>2} {it.code[:28]:<28} {qty_text(it.qty):>8} {price:>9}")
            return "\n".join(rows)
        if self.info is None:
            return ""
        rows = [f"  {'#':>2} {'Item':<22} {'Sold':>7} {'Back':>7} {'Left':>7} {'Paid':>8} {'Return':>7}"]
        for n, ln in enumerate(self.info.lines):
            mark = ">" if n == self.cursor else " "
            w = self.want.get(ln.line_id, 0)
            rows.append(f"{mark} {ln.position:>2} {ln.name[:22]:<22} {qty_text(ln.sold, ln.unit):>7} "
                        f"{qty_text(ln.returned, ln.unit):>7} {qty_text(ln.returnable, ln.unit):>7} "
                        f"{self._money(ln.paid):>8} {qty_text(w, ln.unit) if w else '':>7}")
        if self.info.refunds:
            done = "; ".join(f"{r.terminal}/{r.refund_no or '?'} {r.status} {self._money(r.paid_out)}"
                             for r in self.info.refunds)
            rows.append(f"  refunds: {done}")
        return "\n".join(rows)

    def _plan_text(self) -> str:
        reason = self.reason or "(F5: choose)"
        method = self.method or ("as paid" if self.mode != "no_receipt" else "cash")
        head = f"Reason: {reason}    Back by: {method}"
        p = self.plan
        if p is None:
            return head
        ways = ", ".join(f"{'credit' if t.method == service.EXCHANGE else t.method} {self._money(-t.amount)}"
                         for t in p.tenders) or "-"
        text = f"{head}\nBACK {self._money(p.paid_out)}: {ways}"
        if self.mode == "exchange" and self.exchange_start is not None:
            diff = self.exchange_start.due - p.paid_out
            text += (f"    new sale {self._money(self.exchange_start.due)}: customer pays {self._money(diff)}"
                     if diff > 0 else "")
        if p.reasons:
            text += "\nneeds a manager: " + "; ".join(p.reasons)
        return text

    # ------------------------------------------------------------ workers ---
    def _run(self, job: Pending, reason: str = "returns") -> None:
        """``job`` in a thread worker; the input stream holds until its answer is
        on screen (a next call started by the answer takes its own hold first)."""
        if self.busy:
            self.show("busy: wait for the last step to finish", "warning")
            return
        self.busy = True
        self._worker(job, self.hold(reason))

    @work(thread=True, exit_on_error=False, group="returns")
    def _worker(self, job: Pending, hold) -> None:
        try:
            outcome = ("ok", job.fn())
        except Exception as e:  # noqa: BLE001 - shown on the UI thread, never a traceback
            outcome = ("error", e)
        finally:
            release_thread_connection(self.ctx)
        self.from_thread(self._finish, job, outcome, hold)

    def _finish(self, job: Pending, outcome, hold) -> None:
        self.busy = False
        try:
            kind, value = outcome
            if kind == "ok":
                job.on_ok(value)
            elif isinstance(value, NeedsApproval):
                self._needs_approval(value, job)
            elif isinstance(value, StationError):
                self.show(str(value), "error")
            else:
                self.show(f"something went wrong: {error_text(value)}", "error")
        except StationError as e:
            self.show(str(e), "error")
        finally:
            hold.release()

    def _needs_approval(self, e: NeedsApproval, job: Pending) -> None:
        self.show(str(e), "warning")
        if job.retry is None:
            return
        options = [("here", "A manager approves here (PIN)")]
        if e.action in ("refund.process", "refund.override") and self.mode in ("receipt", "no_receipt"):
            options.append(("request", "Send it to a manager at another terminal (customer waits)"))
        options.append(("cancel", "Cancel: nothing is refunded"))

        def picked(choice) -> None:
            if choice == "here":
                self.app.push_screen(ApprovalDialog(e.action, e.amount, e.ref), approved)
            elif choice == "request":
                self._request()
            else:
                self.show("cancelled: nothing was refunded", "warning")

        def approved(approval) -> None:
            if approval is None:
                self.show("cancelled: nothing was refunded", "warning")
                return
            self._run(Pending(job.retry(approval), job.on_ok, None), "refund after approval")
        self.app.push_screen(PickDialog(str(e), options), picked)

    # -------------------------------------------------------------- scans ---
    @on(ScanField.Scanned, "#ret-scan")
    def _scanned(self, event: ScanField.Scanned) -> None:
        event.stop()
        code = event.code
        if self.mode == "no_receipt":
            self._add_product(code)
            return
        if self.info is not None and self.mode == "receipt":
            qty, c = sale.parse_scan(code)
            for n, ln in enumerate(self.info.lines):
                if ln.code and ln.code == c:
                    self.cursor = n
                    self._set_want(ln, self.want.get(ln.line_id, 0) + (qty or 1000))
                    return
        self._load(lambda: lookup.find_sale(self.ctx, code))

    def _load(self, fn: Callable[[], lookup.SaleInfo], mode: str = "receipt") -> None:
        def loaded(info: lookup.SaleInfo) -> None:
            self.mode = mode
            self.info = info
            self.want = {}
            self.cursor = 0
            self.plan = None
            self.key = service.new_key()
            if mode == "post_void":
                self.want = {ln.line_id: ln.returnable for ln in info.lines if ln.returnable}
                self.reason = service.POST_VOID_REASON
                self.show(f"F10 post-voids receipt {info.terminal}/{info.receipt_no}: everything goes back")
                self._preview()
            elif not info.returnable:
                self.show(f"everything of receipt {info.terminal}/{info.receipt_no} is already returned", "warning")
            else:
                self.show("choose what comes back: F4 all of a line, F3 a quantity, or scan the item")
            self.render_all()
        self._run(Pending(fn, loaded), "find the sale")

    def _add_product(self, code: str) -> None:
        qty, c = sale.parse_scan(code)

        def found(prod) -> None:
            self.items.append(service.ProductItem(c, qty or 1000))
            self.cursor = len(self.items) - 1
            self.show(f"{prod.name} ({money_text(self.ctx, prod.price)}) added")
            self._preview()
        self._run(Pending(lambda: lookup.product_for_return(self.ctx, c), found), "find the product")

    # ----------------------------------------------------------- choosing ---
    def _current_line(self) -> lookup.ReturnLine | None:
        if self.info is None or not self.info.lines:
            return None
        return self.info.lines[min(self.cursor, len(self.info.lines) - 1)]

    def action_move(self, step: int) -> None:
        n = len(self.items) if self.mode == "no_receipt" else (len(self.info.lines) if self.info else 0)
        if n:
            self.cursor = max(0, min(n - 1, self.cursor + int(step)))
            self.render_all()

    def _set_want(self, ln: lookup.ReturnLine, qty: int) -> None:
        if self.mode != "receipt" and self.mode != "exchange":
            return
        if qty > ln.returnable:
            self.show(f"{ln.name}: only {qty_text(ln.returnable, ln.unit)} can still be returned", "warning")
            qty = ln.returnable
        if qty <= 0:
            self.want.pop(ln.line_id, None)
        else:
            self.want[ln.line_id] = qty
        self._preview()

    def action_toggle(self) -> None:
        if self.mode == "no_receipt":
            self._item_price()
            return
        ln = self._current_line()
        if ln is None or self.mode == "post_void":
            return
        self._set_want(ln, 0 if self.want.get(ln.line_id) else ln.returnable)

    def action_quantity(self) -> None:
        if self.mode == "no_receipt":
            if not self.items:
                return
            it = self.items[self.cursor]

            def typed_item(text) -> None:
                if text is not None:
                    it.qty = sale.parse_quantity_input(text)
                    self._preview()
            self.app.push_screen(PromptDialog("Quantity", it.code, qty_text(it.qty),
                                              check=sale.parse_quantity_input), typed_item)
            return
        ln = self._current_line()
        if ln is None or self.mode == "post_void":
            return

        def check(text: str) -> None:
            q = sale.parse_quantity_input(text)
            if q > ln.returnable:
                raise InvalidInput(f"only {qty_text(ln.returnable, ln.unit)} can still be returned")

        def typed(text) -> None:
            if text is not None:
                self._set_want(ln, sale.parse_quantity_input(text))
        self.app.push_screen(PromptDialog(f"Return how many {ln.name}?",
                                          f"at most {qty_text(ln.returnable, ln.unit)}",
                                          qty_text(ln.returnable, ln.unit), check=check), typed)

    def _item_price(self) -> None:
        if not self.items:
            return
        it = self.items[self.cursor]

        def check(text: str) -> None:
            tender.parse_amount_input(self.ctx, text) if text.strip() else None

        def typed(text) -> None:
            if text is not None:
                it.price = tender.parse_amount_input(self.ctx, text) if text.strip() else None
                self._preview()
        self.app.push_screen(PromptDialog("Refund price (at most the current price; empty: current)", it.code,
                                          "" if it.price is None else money_text(self.ctx, it.price),
                                          check=check), typed)

    def action_reason(self, then: Callable[[], None] | None = None) -> None:
        if self.mode == "post_void":
            return
        reasons = list(self.ctx.config.refund.reasons)

        def picked(r) -> None:
            if r is not None:
                self.reason = r
                self.render_all()
                if then is not None:
                    then()
        self.app.push_screen(PickDialog("Why does it come back?", [(r, r) for r in reasons]), picked)

    def action_method(self) -> None:
        if self.mode == "post_void":
            return
        options = [] if self.mode == "no_receipt" else [("", "As the sale was paid (default)")]
        options += [(m, m) for m in self.ctx.config.cash.tender_methods]

        def picked(m) -> None:
            if m is not None:
                self.method = m or None
                self._preview()
        self.app.push_screen(PickDialog("Give the money back by", options), picked)

    def _items(self) -> list[service.ReturnItem]:
        return [service.ReturnItem(lid, q) for lid, q in self.want.items() if q > 0]

    def _preview(self) -> None:
        """Work out what would go back (read only) and show it."""
        self.render_all()
        mode, method = self.mode, self.method
        if mode == "no_receipt":
            if not self.items:
                self.plan = None
                return
            items = list(self.items)
            fn = lambda: service.preview_without_receipt(self.ctx, items, method=method or "cash")  # noqa: E731
        else:
            if self.info is None or not self.want:
                self.plan = None
                self.render_all()
                return
            tid, items = self.info.ticket_id, self._items()
            credit = self.exchange_start.due if mode == "exchange" and self.exchange_start else 0
            kind = "post_void" if mode == "post_void" else "return"
            fn = lambda: service.preview(self.ctx, tid, items, method=method, credit=credit, kind=kind)  # noqa: E731

        def shown(plan) -> None:
            self.plan = plan
            self.render_all()
        self._run(Pending(fn, shown), "work out the refund")

    # ------------------------------------------------------------ refund ---
    def _references(self, plan: service.Plan, then: Callable[[dict], None]) -> None:
        """Ask the reference of every non-cash way back (the card terminal's slip)."""
        methods = [t.method for t in plan.tenders if t.method not in ("cash", service.EXCHANGE)]
        refs: dict[str, str] = {}

        def ask(i: int) -> None:
            if i >= len(methods):
                then(refs)
                return
            m = methods[i]

            def typed(text) -> None:
                if text is None:
                    self.show("cancelled: nothing was refunded", "warning")
                    return
                refs[m] = text.strip()
                ask(i + 1)

            def check(text: str) -> None:
                if not text.strip():
                    raise InvalidInput(f"type the reference of the {m} refund")
            self.app.push_screen(PromptDialog(f"{m.capitalize()} refund of {self._money(self._back_by(plan, m))}",
                                              "reference from the slip", check=check), typed)
        ask(0)

    @staticmethod
    def _back_by(plan: service.Plan, method: str) -> int:
        return -sum(t.amount for t in plan.tenders if t.method == method)

    def action_refund(self) -> None:
        if self.busy:
            self.app.input.retry_key()
            return
        plan = self.plan
        if self.mode == "no_receipt":
            if not self.items:
                self.show("scan what comes back first", "warning")
                return
        elif self.info is None or not self.want:
            self.show("choose what comes back first (F4 or F3 on a line)", "warning")
            return
        if plan is None:
            self.show("still working out the amounts: press F10 again", "warning")
            return
        if self.reason is None:
            self.action_reason(then=self.action_refund)
            return
        if self.mode == "exchange":
            self._exchange_pay(plan)
            return
        self._references(plan, lambda refs: self._commit(refs))

    def _commit(self, refs: dict) -> None:
        ctx, user, key, reason, method = self.ctx, self.user, self.key, self.reason, self.method
        if self.mode == "no_receipt":
            items = list(self.items)
            m = method or "cash"
            ref = refs.get(m, "")

            def call(approval=None):
                return service.return_without_receipt(ctx, user, key, items, reason, method=m, reference=ref,
                                                      approval=approval)
        elif self.mode == "post_void":
            tid = self.info.ticket_id

            def call(approval=None):
                return service.post_void(ctx, user, key, tid, approval=approval, references=refs)
        else:
            tid, items = self.info.ticket_id, self._items()

            def call(approval=None):
                return service.refund(ctx, user, key, tid, items, reason, method=method, references=refs,
                                      approval=approval)
        self._run(Pending(call, self._refunded, lambda a: (lambda: call(a))), "refund")

    def _refunded(self, r: service.RefundResult) -> None:
        self.last_result = r
        ways = ", ".join(f"{t.method} {self._money(-t.amount)}" + (f" ({t.reference})" if t.reference else "")
                         for t in r.tenders)
        again = " (already done)" if r.duplicate else ""
        try:
            refund_receipt.submit(get_printer(self.app), self.ctx, r.refund_id, cash=r.cash > 0, user=self.user)
        except Exception as e:  # noqa: BLE001 - printing never undoes the refund
            self.app.notify(f"the refund receipt was not sent to the printer: {e}", severity="warning")
        self._reset()
        self.show(f"refund {r.terminal}/{r.refund_no}{again}: {self._money(r.paid_out)} back - {ways}")

    def _request(self) -> None:
        ctx, user, key, reason, method = self.ctx, self.user, self.key, self.reason, self.method
        if self.mode == "no_receipt":
            tid, items = None, list(self.items)
        else:
            tid, items = self.info.ticket_id, self._items()

        def sent(r: service.RefundResult) -> None:
            self._reset()
            self.show(f"request {r.refund_id} sent: a manager grants it on any dashboard; F11, then F10 "
                      f"gives the money back")
        self._run(Pending(lambda: service.request_refund(ctx, user, key, tid, items, reason, method=method), sent),
                  "request")

    def _reset(self) -> None:
        self.mode = "receipt"
        self.info, self.want, self.items, self.plan = None, {}, [], None
        self.reason = self.method = None
        self.exchange_start = None
        self.cursor = 0
        self.key = service.new_key()
        self.render_all()

    # -------------------------------------------------------------- modes ---
    def action_find(self) -> None:
        def typed(text) -> None:
            if text is None:
                return
            t = text.strip()
            kw: dict = {}
            if t.isdigit() and len(t) == 4:
                kw["last4"] = t
            elif len(t) == 10 and t[4] == "-" and t[7] == "-":
                try:
                    kw["day"] = _dt.date.fromisoformat(t)
                except ValueError:
                    self.show(f"'{t}' is not a date (2026-05-31)", "error")
                    return
            elif t:
                try:
                    kw["amount"] = tender.parse_amount_input(self.ctx, t)
                except StationError:
                    kw["last4"] = t
            self._run(Pending(lambda: lookup.search_sales(self.ctx, **kw), self._pick_sale), "search sales")
        self.app.push_screen(PromptDialog("Find a sale", "a day (2026-05-31), an amount (12.50), the card's last "
                                                         "4 digits, or nothing: the latest"), typed)

    def _pick_sale(self, rows) -> None:
        options = [(str(r.ticket_id), f"{r.terminal}/{r.receipt_no}  {r.completed_at:%m-%d %H:%M}  "
                    f"{money_text(self.ctx, r.total):>9}  {r.methods}  {r.cashier}") for r in rows]

        def picked(tid) -> None:
            if tid is not None:
                self._load(lambda: lookup.sale_info(self.ctx, lookup.sale_head(int(tid))))
        self.app.push_screen(PickDialog("Recent sales", options, empty="no sale found"), picked)

    def action_no_receipt(self) -> None:
        if self.mode == "no_receipt":
            self._reset()
            self.show("returns with a receipt")
            return
        self._reset()
        self.mode = "no_receipt"
        self.render_all()
        self.show("scan what comes back; it needs a manager; F4 sets a lower price")

    def action_post_void(self) -> None:
        if permissions.decide(self.user.role, "refund.post_void") == permissions.REFUSE:
            self.show(f"{self.user.role} may not post-void", "error")
            return
        self._reset()

        def last():
            info = service.last_sale(self.ctx)
            if info is None:
                raise InvalidInput("there is no sale on this terminal to post-void")
            return info
        self._load(last, mode="post_void")

    def action_exchange(self) -> None:
        if self.mode not in ("receipt", "exchange") or self.info is None or not self.want:
            self.show("first the sale and what comes back; the new items are rung up on the sale screen", "warning")
            return
        if self.mode == "exchange":
            self.mode = "receipt"
            self.exchange_start = None
            self._preview()
            self.show("exchange off: a plain return")
            return

        def started(st: tender.TenderStart) -> None:
            self.mode = "exchange"
            self.exchange_start = st
            self._preview()
            self.show(f"exchange against this terminal's open ticket ({money_text(self.ctx, st.due)}): F10 completes")
        self._run(Pending(lambda: tender.begin_tender(self.ctx, self.user), started), "exchange")

    def _exchange_pay(self, plan: service.Plan) -> None:
        st = self.exchange_start
        diff = st.due - plan.paid_out

        def go(payments: list, refs: dict) -> None:
            ctx, user, tid, items, reason, method = (self.ctx, self.user, self.info.ticket_id, self._items(),
                                                     self.reason, self.method)

            def call(approval=None):
                return service.exchange(ctx, user, st.idem_key, tid, items, reason, payments, method=method,
                                        references=refs, approval=approval)
            self._run(Pending(call, self._exchanged, lambda a: (lambda: call(a))), "exchange")
        if diff <= 0:
            self._references(plan, lambda refs: go([], refs))
            return
        due = diff

        def how(m) -> None:
            if m is None:
                self.show("cancelled: nothing was recorded", "warning")
            elif m == "cash":
                cash = tender.cash_due_for(self.ctx, due)

                def handed(text) -> None:
                    if text is not None:
                        amount = tender.parse_amount_input(self.ctx, text) if text.strip() else cash
                        go([tender.Payment("cash", cash, tendered=amount)], {})
                self.app.push_screen(PromptDialog(f"Cash: {money_text(self.ctx, cash)} due", "handed over (empty: "
                                                  "exact)", check=lambda t: tender.parse_amount_input(self.ctx, t)
                                                  if t.strip() else None), handed)
            else:
                def ref(text) -> None:
                    if text is not None:
                        go([tender.Payment(m, due, reference=text.strip())], {})
                self.app.push_screen(PromptDialog(f"{m.capitalize()}: {money_text(self.ctx, due)}", "reference"),
                                     ref)
        self.app.push_screen(PickDialog(f"The customer pays {money_text(self.ctx, due)}",
                                        [(m, m) for m in self.ctx.config.cash.tender_methods]), how)

    def _exchanged(self, x: service.ExchangeResult) -> None:
        r = x.refund
        try:
            printer = get_printer(self.app)
            refund_receipt.submit(printer, self.ctx, r.refund_id, cash=r.cash > 0, user=self.user)
            printer.submit_receipt(self.ctx, x.sale.ticket_id, kick=x.sale.paid_cash > 0, user=self.user)
        except Exception as e:  # noqa: BLE001
            self.app.notify(f"the receipts were not sent to the printer: {e}", severity="warning")
        self._reset()
        if x.difference > 0:
            change = f", change {money_text(self.ctx, x.sale.change)}" if x.sale.change else ""
            self.show(f"exchange done: sale {x.sale.receipt_no}, the customer paid "
                      f"{money_text(self.ctx, x.difference)}{change}")
        else:
            self.show(f"exchange done: sale {x.sale.receipt_no}, {money_text(self.ctx, -x.difference)} back "
                      f"(refund {r.terminal}/{r.refund_no})")

    def action_reprint(self) -> None:
        """A copy (marked COPY) of this terminal's last refund receipt."""
        ctx, user, printer = self.ctx, self.user, get_printer(self.app)

        def last():
            no = service.last_refund_no(ctx)
            if no is None:
                raise InvalidInput("no refund on this terminal yet")
            rid = refund_receipt.mark_reprint(ctx, user, no)
            printer.submit_job(lambda: refund_receipt.print_refund_now(ctx, rid, copy=True,
                                                                                    user=user))
            return no
        self._run(Pending(last, lambda no: self.show(f"a copy of refund {ctx.terminal}/{no} is on its way to "
                                                     f"the printer")), "reprint")

    def action_requests(self) -> None:
        from screens.refund_requests import RequestsScreen
        self.app.push_screen(RequestsScreen())

    def action_back(self) -> None:
        if self.mode != "receipt" or self.info is not None or self.items:
            self._reset()
            self.show("cleared: nothing was refunded")
            return
        self.dismiss()
