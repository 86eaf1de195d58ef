"""The tender screen: take the money, exactly once.

Thin: amounts are parsed by ``station.tender.parse_amount_input`` (bad input: a
clear message, nothing changes) and the sale is committed by
``station.tender.complete_sale`` with the idempotency key minted by
``begin_tender`` (UNIQUE in the database): Enter pressed twice, a retry after a
database error, or a crash between the commit and the screen can never make two
sales. The screen also refuses keys while a commit is under way.

The payments are collected here and sent together at the commit: cash (typed,
"exact", quick amounts), card (reference / last four typed), the other methods
of ``cash.tender_methods``; any split. The figures shown (still due, cash
rounding, change) follow the service's documented rule; the service decides.

After the commit the receipt (+ drawer kick on cash) goes to the background
printer; a failure is a non-blocking warning; the screen closes at once so the
next sale can start, and the sale screen shows the change.

Payments that finish elsewhere (``station.payments``: M-Pesa, Airtel Money, a
card gateway) are asked for from here (the phone number typed in a dialog), then
WAIT in the pending panel with a countdown while the screen keeps taking keys:
Escape cancels; cash or another method cancels it first (if it was paid
meanwhile, that payment is taken instead); F5 / F4 try again. A worker reads the
payment from the store every ``payments.poll_ms`` (the receiver wrote the
callback; the service asks the provider when none came). Paid: it joins the
payments and, when they cover the total, the sale completes (exactly once: the
sale uses it in its own transaction). Re-entered (or after a restart), the
screen takes up the ticket's payments that are paid or still waiting.
"""
from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Digits, Input, Label
from textual.worker import get_current_worker

from screens.base import StationScreen
from screens.format import error_text, money_text
from screens.printer import get_printer
from screens.tender_pending import PendingPanel
from screens.widgets import KeyFooter, PickDialog, PromptDialog
from station import drawer, tender
from station.payments import phone, registry, service
from station.context import release_thread_connection
from station.errors import InvalidInput, StationError


class TenderScreen(StationScreen):
    """Dismisses with the SaleResult, or None (Escape: back to the ticket)."""

    AREA = "tender"
    TITLE = "Tender"

    DEFAULT_CSS = """
    TenderScreen { layout: vertical; }
    TenderScreen #tender-head { height: 4; }
    TenderScreen .big-label { width: 12; height: 3; content-align: left middle; text-style: bold; }
    TenderScreen #tender-due { width: 1fr; color: $accent; }
    TenderScreen #tender-info { height: 2; }
    TenderScreen #tender-payments { height: 1fr; }
    TenderScreen #tender-change-row { height: 3; }
    TenderScreen #tender-change { width: 1fr; color: $warning; }
    TenderScreen #tender-entry { height: 3; }
    TenderScreen #tender-method { width: 14; height: 3; content-align: left middle; text-style: bold; }
    TenderScreen #tender-amount { width: 1fr; }
    TenderScreen #tender-message { height: 1; }
    TenderScreen #tender-message.error { color: $error; text-style: bold; }
    TenderScreen #tender-message.warning { color: $warning; }
    """

    BINDINGS = [
        Binding("f2", "cash", "Cash", id="tender_cash"),
        Binding("f3", "exact", "Exact", id="tender_exact"),
        Binding("f4", "card", "Card", id="tender_card"),
        Binding("f5", "other", "Other", id="tender_other"),
        Binding("f6", "quick(0)", "Quick 1", id="tender_quick_1"),
        Binding("f7", "quick(1)", "Quick 2", id="tender_quick_2"),
        Binding("f8", "quick(2)", "Quick 3", id="tender_quick_3"),
        Binding("f9", "undo", "Undo pay", id="tender_undo"),
        Binding("f10", "complete", "Complete", id="tender_complete"),
        Binding("escape", "back", "Back", id="tender_back"),
    ]

    def __init__(self, start=None, view=None) -> None:
        super().__init__()
        self.start = start            # station.tender.TenderStart
        self.view = view              # the TicketView (for the header)
        self.payments: list = []      # station.tender.Payment, in order
        self.committing = False
        self.result = None            # SaleResult once committed
        self.commits_started = 0
        self._hold = None
        self.pending = None           # the provider payment being waited on (service.PaymentView)
        self._asking = None           # (method, amount) while the provider has not answered the request
        self._cancel_asked = False    # Escape pressed while asking: cancel as soon as it answers
        self._cancel_hold = None
        self._undo_armed = None       # ref of a paid provider payment F9 will take off (pressed once)
        self._last_phone = ""

    # -- layout -----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="tender-head"):
            yield Label("DUE", classes="big-label", id="tender-due-label")
            yield Digits("", id="tender-due")
        yield Label("", id="tender-info")
        table = DataTable(id="tender-payments", cursor_type="none")
        table.can_focus = False
        yield table
        yield PendingPanel()
        with Horizontal(id="tender-change-row"):
            yield Label("CHANGE", classes="big-label")
            yield Digits("", id="tender-change")
        with Horizontal(id="tender-entry"):
            yield Label("cash", id="tender-method")
            yield Input(id="tender-amount", placeholder="amount handed over, Enter (F3 exact)")
        yield Label("", id="tender-message")
        yield KeyFooter()

    def on_mount(self) -> None:
        t = self.query_one("#tender-payments", DataTable)
        t.add_column("Method", key="method", width=10)
        t.add_column("Amount", key="amount", width=12)
        t.add_column("Handed", key="tendered", width=12)
        t.add_column("Reference", key="ref", width=20)
        self.query_one("#tender-amount", Input).focus()
        if self.start is None:
            self._begin()
        else:
            self.refresh_figures()
            self._load_payments(self.start.ticket_id)
        self._check_drawer()
        self.set_interval(1.0, self._tick)

    def _check_drawer(self) -> None:
        """Say at once when no drawer session is open (the commit would refuse)."""
        try:
            if drawer.current_session(self.ctx) is None:
                self.say(f"no drawer session is open on drawer {self.ctx.drawer}: open the drawer "
                         "first (Escape, home F3); nothing can be recorded", "warning")
        except Exception:  # noqa: BLE001 - only a hint; the service decides at the commit
            pass

    @work(thread=True, exit_on_error=False, group="tender")
    def _begin(self) -> None:
        try:
            start = tender.begin_tender(self.ctx, self.user)
        except Exception as e:  # noqa: BLE001
            self.from_thread(self._begin_failed, e)
            return
        finally:
            release_thread_connection(self.ctx)
        self.from_thread(self._begun, start)

    def _begun(self, start) -> None:
        self.start = start
        self.refresh_figures()
        self._load_payments(start.ticket_id)

    def _begin_failed(self, e) -> None:
        self.say(error_text(e), "error")
        self.app.bell()

    # -- helpers ------------------------------------------------------------------
    @property
    def ctx(self):
        return self.app.ctx

    @property
    def user(self):
        return self.app.user

    def fmt(self, amount: int, currency: bool = False) -> str:
        return money_text(self.ctx, amount, currency=currency)

    def say(self, text: str, kind: str = "") -> None:
        label = self.query_one("#tender-message", Label)
        label.update(text)
        label.set_class(kind == "error", "error")
        label.set_class(kind == "warning", "warning")

    def fail(self, text: str) -> None:
        self.say(text, "error")
        self.app.bell()

    @staticmethod
    def _tender():
        return tender

    # -- the figures (documented rule of station.tender; the service decides) ----
    def figures(self) -> dict:
        tender = self._tender()
        due = self.start.due if self.start else 0
        other = sum(p.amount for p in self.payments if p.method != "cash")
        cash_in = sum((p.tendered if p.tendered is not None else p.amount)
                      for p in self.payments if p.method == "cash")
        rest = due - other
        cash_due = tender.cash_due_for(self.ctx, rest) if rest > 0 else 0
        has_cash = any(p.method == "cash" for p in self.payments)
        if has_cash:
            still = max(0, cash_due - cash_in)
            change = max(0, cash_in - cash_due)
            covered = cash_in >= cash_due and cash_due > 0
        else:
            still = max(0, rest)
            change = 0
            covered = rest == 0 and due > 0
        return dict(due=due, other=other, cash_in=cash_in, rest=rest, cash_due=cash_due, still=still,
                    change=change, covered=covered, has_cash=has_cash,
                    rounding=(cash_due - rest) if rest > 0 else 0)

    def refresh_figures(self) -> None:
        f = self.figures()
        self.query_one("#tender-due", Digits).update(self.fmt(f["due"]))
        self.query_one("#tender-change", Digits).update(self.fmt(f["change"]) if f["change"] else "")
        info = [f"Paid {self.fmt(f['other'] + f['cash_in'])}   Still due {self.fmt(f['still'])}"]
        step = getattr(self.start, "rounding_step", 1) if self.start else 1
        if step > 1 and f["rest"] > 0:
            info.append(f"in cash (rounded to {self.fmt(step)}): {self.fmt(f['cash_due'])}"
                        + (f"  rounding {'+' if f['rounding'] >= 0 else ''}{self.fmt(f['rounding'])}"
                           if f["rounding"] else ""))
        quick = self._config("cash.quick_amounts", [])[:3]
        if quick:
            info.append("   ".join(f"F{6 + i} {self.fmt(q)}" for i, q in enumerate(quick)))
        self.query_one("#tender-info", Label).update("\n".join(info[:1] + ["   ".join(info[1:])]))
        table = self.query_one("#tender-payments", DataTable)
        for i, p in enumerate(self.payments):
            key = str(i)
            cells = (p.method, self.fmt(p.amount), self.fmt(p.tendered if p.tendered is not None else p.amount),
                     p.reference or "")
            if key not in table.rows:
                table.add_row(*cells, key=key)
        for rk in list(table.rows.keys()):
            if int(rk.value) >= len(self.payments):
                table.remove_row(rk)

    def _config(self, key, default):
        try:
            return self.ctx.config.get(key)
        except Exception:
            return default

    # -- entering payments ------------------------------------------------------
    def _blocked(self) -> bool:
        if self.committing or self.result is not None:
            self.app.bell()
            return True
        if self.start is None:
            self.fail("the tender has not started (see the message)")
            return True
        return False

    def _typed_amount(self) -> int | None:
        """The typed amount (None if empty); InvalidInput on bad input."""
        text = self.query_one("#tender-amount", Input).value
        if not text.strip():
            return None
        return self._tender().parse_amount_input(self.ctx, text)

    def _clear_entry(self) -> None:
        self.query_one("#tender-amount", Input).value = ""

    def add_payment(self, method: str, amount: int, tendered: int | None = None, reference: str = "") -> None:
        tender = self._tender()
        f = self.figures()
        if method != "cash":
            if f["other"] + amount > f["due"]:
                self.fail(f"{method} may not pay more than is due ({self.fmt(max(0, f['due'] - f['other']))}): "
                          "nothing added")
                return
        if method == "cash" and f["covered"]:
            self.fail("the sale is already paid: F10 completes it")
            return
        self.payments.append(tender.Payment(method, amount, tendered, reference))
        self._clear_entry()
        self.refresh_figures()
        f = self.figures()
        if f["covered"]:
            self.action_complete()
        else:
            self.say(f"{method} {self.fmt(amount)} added; still due {self.fmt(f['still'])}")

    def _cash(self, amount: int) -> None:
        self.add_payment("cash", amount, amount)

    def action_cash(self) -> None:
        if self._blocked() or self._switching(self.action_cash):
            return
        try:
            amount = self._typed_amount()
        except StationError as e:
            self.fail(str(e))
            return
        if amount is None:
            self.fail("type the cash handed over (F3: exact amount)")
            return
        self._cash(amount)

    @on(Input.Submitted, "#tender-amount")
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        if self._blocked() or self._switching(self.action_cash):
            return
        if not event.value.strip():
            if self.figures()["covered"]:
                self.action_complete()
            else:
                self.fail("type the cash handed over (F3: exact amount)")
            return
        self.action_cash()

    def action_exact(self) -> None:
        if self._blocked() or self._switching(self.action_exact):
            return
        f = self.figures()
        if f["covered"]:
            self.action_complete()
            return
        amount = f["cash_due"] - f["cash_in"] if f["has_cash"] else f["cash_due"]
        if amount <= 0:
            self.fail("nothing is due in cash")
            return
        self._cash(amount)

    def action_quick(self, index: int) -> None:
        if self._blocked() or self._switching(lambda: self.action_quick(index)):
            return
        quick = self._config("cash.quick_amounts", [])
        if index >= len(quick):
            self.fail("no quick amount on this key")
            return
        self._cash(int(quick[index]))

    def _noncash(self, method: str) -> None:
        try:
            amount = self._typed_amount()
        except StationError as e:
            self.fail(str(e))
            return
        f = self.figures()
        if amount is None:
            amount = f["rest"] - f["cash_in"]
            if amount <= 0:
                self.fail("nothing is left to pay")
                return
        if registry.waits(self.ctx.config, method):
            self._clear_entry()
            self._start_provider(method, amount)
            return
        word = "reference / last four digits" if method == "card" else "reference (voucher number...)"

        def got(ref: str | None) -> None:
            self.query_one("#tender-amount", Input).focus()
            if ref is None:
                self.say("cancelled: nothing added")
                return
            self.add_payment(method, amount, None, ref.strip())

        def check(text: str) -> None:
            if len(text.strip()) > 64:
                raise InvalidInput("the reference is too long (64 characters at most)")
            if method == "card" and not text.strip():
                raise InvalidInput("type the card reference or the last four digits")

        self.app.push_screen(PromptDialog(f"{method.capitalize()} {self.fmt(amount)}", word, check=check), got)

    def action_card(self) -> None:
        if self._blocked() or self._switching(self.action_card):
            return
        if "card" not in self._config("cash.tender_methods", []):
            self.fail("card is not a tender method here")
            return
        self._noncash("card")

    def action_other(self) -> None:
        if self._blocked() or self._switching(self.action_other):
            return
        methods = [m for m in self._config("cash.tender_methods", []) if m not in ("cash", "card")]
        if not methods:
            self.fail("no other tender methods are configured")
            return

        def picked(method: str | None) -> None:
            self.query_one("#tender-amount", Input).focus()
            if method:
                self._noncash(method)

        if len(methods) == 1:
            self._noncash(methods[0])
        else:
            self.app.push_screen(PickDialog("Tender method", [(m, m) for m in methods]), picked)

    def action_undo(self) -> None:
        if self.committing or self.result is not None:
            self.app.bell()
            return
        if self._switching(None):
            return
        if not self.payments:
            self.fail("no payment to remove")
            return
        p = self.payments[-1]
        if p.payment_ref:     # paid through a provider: the money is there; taking it off means a refund
            if self._undo_armed != p.payment_ref:
                self._undo_armed = p.payment_ref
                self.say(f"{p.method} {self.fmt(p.amount)} is PAID: F9 again takes it off this sale and flags it "
                         "for a refund", "warning")
                return
            self._undo_armed = None
            self._give_back(p.payment_ref)
            return
        self.payments.pop()
        self.refresh_figures()
        self.say(f"{p.method} {self.fmt(p.amount)} removed")

    def action_back(self) -> None:
        if self.committing:
            self.app.bell()
            self.say("the sale is being recorded...", "warning")
            return
        if self._asking is not None:
            self._cancel_asked = True
            self.say(f"cancelling as soon as {self._label(self._asking[0])} answers...", "warning")
            return
        if self.pending is not None:
            self._cancel_pending(None)
            return
        paid = [p for p in self.payments if p.payment_ref]
        if paid and self.result is None:
            self.fail(f"{paid[0].method} {self.fmt(paid[0].amount)} is paid: F10 completes the sale "
                      "(F9 twice takes it off, flagged for a refund)")
            return
        self.dismiss(self.result)

    # -- commit: exactly once -------------------------------------------------------
    def action_complete(self) -> None:
        if self.committing or self.result is not None or self.start is None:
            self.app.bell()
            return
        if self._asking is not None or self.pending is not None:
            label = self._label(self._asking[0] if self._asking else self.pending.method)
            self.fail(f"waiting for {label}: Esc cancels it, or wait for the customer")
            return
        if not self.figures()["covered"]:
            self.fail(f"{self.fmt(self.figures()['still'])} is still due")
            return
        self.committing = True
        self.commits_started += 1
        # keys typed from now on belong to what follows the commit (the next
        # customer's sale, or this screen again after an error): they wait for it
        self._hold = self.hold("recording the sale")
        self.query_one("#tender-amount", Input).disabled = True
        self.say("recording the sale...", "warning")
        self._commit(self.start.idem_key, list(self.payments))

    @work(thread=True, exit_on_error=False, group="tender-commit")
    def _commit(self, idem_key: str, payments: list) -> None:
        try:
            result = self._tender().complete_sale(self.ctx, self.user, idem_key, payments)
        except Exception as e:  # noqa: BLE001 - shown, the payments stay for a retry (F10)
            # did it commit anyway (the answer lost on the way)? The database knows,
            # by the ticket's idempotency key; never guess "nothing was charged".
            try:
                recorded = self._tender().sale_result(self.ctx, idem_key)
            except Exception as check:  # noqa: BLE001 - the database cannot be asked either
                self.from_thread(self._commit_failed, e, "unknown", check)
            else:
                if recorded is not None:
                    self.from_thread(self._committed, recorded, e)
                else:
                    self.from_thread(self._commit_failed, e, "not recorded", None)
        else:
            self.from_thread(self._committed, result)
        finally:
            release_thread_connection(self.ctx)

    def _release(self) -> None:
        if self._hold is not None:
            self._hold.release()
            self._hold = None

    def _commit_failed(self, e: BaseException, recorded: str, check: BaseException | None) -> None:
        self.committing = False
        entry = self.query_one("#tender-amount", Input)
        entry.disabled = False
        entry.focus()
        if recorded == "not recorded":
            self.fail(f"{error_text(e)}: the sale is NOT recorded, nothing was charged; F10 tries again")
        else:
            self.fail(f"{error_text(e)}; cannot tell whether the sale was recorded (the database does not "
                      f"answer: {error_text(check)}): F10 retries safely, it never charges twice")
        self._release()

    def _committed(self, result, error: BaseException | None = None) -> None:
        if error is not None:   # the commit had gone through: say so, then on as usual
            self.app.notify(f"{error_text(error)}; but the sale IS recorded (receipt "
                            f"{getattr(result, 'receipt_no', '')})", severity="warning", timeout=8)
        self.result = result
        self.committing = False
        kick = bool(getattr(result, "tendered_cash", 0) or getattr(result, "paid_cash", 0))
        # printed also when duplicate=True: that is a retry whose first answer was
        # lost (this screen never got it, so it never printed it)
        try:
            get_printer(self.app).submit_receipt(self.ctx, result.ticket_id, kick=kick, user=self.user)
        except Exception as e:  # noqa: BLE001 - never blocks the next sale
            self.app.notify(f"the receipt was not sent to the printer: {error_text(e)}", severity="warning")
        self.dismiss(result)
        self._release()

    # -- payments that finish elsewhere (station.payments) ---------------------------
    def _label(self, method: str) -> str:
        try:
            return registry.provider_for(self.ctx, method).label
        except Exception:  # noqa: BLE001 - a label only
            return method

    def _switching(self, then) -> bool:
        """A key that pays another way (or undoes) while a payment waits: the
        waiting one is cancelled first, then ``then`` runs - unless it turned out
        paid meanwhile (then it is taken, and ``then`` does not run)."""
        if self._asking is not None:
            self.fail(f"asking {self._label(self._asking[0])}...: Esc cancels it")
            return True
        if self.pending is None:
            return False
        self._cancel_pending(then)
        return True

    def _start_provider(self, method: str, amount: int) -> None:
        prov = registry.provider_for(self.ctx, method)
        if not prov.needs_phone:
            self._request(method, amount, None)
            return

        def got(text: str | None) -> None:
            self.query_one("#tender-amount", Input).focus()
            if text is None:
                self.say(f"{prov.label}: nothing was sent")
                return
            self._last_phone = text.strip()
            self._request(method, amount, text)

        self.app.push_screen(PromptDialog(f"{prov.label} {self.fmt(amount)}",
                                          "customer's phone number (e.g. 0712 345 678)", self._last_phone,
                                          check=phone.normalise), got)

    def _request(self, method: str, amount: int, phone_text: str | None) -> None:
        label = self._label(method)
        self._asking = (method, amount)
        shown = phone.display(phone.normalise(phone_text)) if phone_text else ""
        self.query_one(PendingPanel).asking(self.ctx, label, amount, shown)
        self.say(f"asking {label}...", "warning")
        self._send(self.start.ticket_id, method, amount, phone_text)

    @work(thread=True, exit_on_error=False, group="tender-pay")
    def _send(self, ticket_id: int, method: str, amount: int, phone_text: str | None) -> None:
        try:
            v = service.start(self.ctx, self.user, ticket_id, method, amount, phone_text)
        except Exception as e:  # noqa: BLE001 - shown; nothing was sent
            self.from_thread(self._send_failed, method, e)
        else:
            self.from_thread(self._pending_update, v)
        finally:
            release_thread_connection(self.ctx)

    def _send_failed(self, method: str, e: BaseException) -> None:
        self._asking = None
        self._cancel_asked = False
        self.query_one(PendingPanel).hide()
        self.fail(f"{self._label(method)}: {error_text(e)}")

    def _pending_update(self, v) -> None:
        """What the provider (or the store) says about the payment asked for."""
        self._asking = None
        panel = self.query_one(PendingPanel)
        if v.waiting:
            first = self.pending is None or self.pending.ref != v.ref
            self.pending = v
            panel.show(self.ctx, v, self._config("payments.wait_seconds", 120))
            if self._cancel_asked:
                self._cancel_asked = False
                self._cancel_pending(None)
                return
            if first:
                self.say(f"{v.label}: {v.message}", "warning")
                self._watch(v.ref)
            return
        self.pending = None
        panel.hide()
        self.workers.cancel_group(self, "tender-watch")
        if v.paid:
            self._take(v)
        elif v.status == "failed":
            again = "F4" if v.method == "card" else "F5"
            self.fail(f"{v.label}: {v.message}. Nothing was charged: take another method, or {again} to try again")
        elif v.status == "abandoned":
            self.say(f"{v.label} request cancelled: if the customer still pays, it is flagged for a refund")
        elif v.status == "refund_due":
            self.fail(f"{v.label}: {v.flag}")
        else:
            self.say(f"{v.label}: {v.status}")

    def _take(self, v, *, complete: bool = True) -> None:
        """A paid provider payment joins this sale's payments (once)."""
        if any(p.payment_ref == v.ref for p in self.payments):
            return
        self.payments.append(tender.Payment(v.method, v.paid_amount or v.amount, None, v.receipt or v.ref,
                                            payment_ref=v.ref))
        self.refresh_figures()
        f = self.figures()
        self.say(f"{v.label} {self.fmt(v.paid_amount or v.amount)} PAID"
                 + (f" (receipt {v.receipt})" if v.receipt else "")
                 + ("" if f["covered"] else f"; still due {self.fmt(f['still'])}"))
        if complete and f["covered"]:
            self.action_complete()

    @work(thread=True, exit_on_error=False, group="tender-watch", exclusive=True)
    def _watch(self, ref: str) -> None:
        """Read the payment from the store until it is settled (the service asks
        the provider when no callback came)."""
        worker = get_current_worker()
        pause = max(50, int(self._config("payments.poll_ms", 300))) / 1000
        try:
            while not worker.is_cancelled and not self.gone:
                try:
                    v = service.watch(self.ctx, ref)
                except Exception as e:  # noqa: BLE001 - shown; the wait goes on
                    self.from_thread(self._watch_failed, ref, e)
                else:
                    self.from_thread(self._watched, v)
                    if not v.waiting:
                        return
                time.sleep(pause)
        finally:
            release_thread_connection(self.ctx)

    def _watched(self, v) -> None:
        if self.pending is None or self.pending.ref != v.ref:
            return               # cancelled or replaced meanwhile
        if v.waiting:
            self.pending = v
            panel = self.query_one(PendingPanel)
            panel.view, panel.note = v, v.message
            return
        self._pending_update(v)

    def _watch_failed(self, ref: str, e: BaseException) -> None:
        if self.pending is not None and self.pending.ref == ref:
            self.query_one(PendingPanel).note = f"cannot read the payment just now ({error_text(e)}): still waiting"

    def _tick(self) -> None:
        self.query_one(PendingPanel).tick()

    def _cancel_pending(self, then) -> None:
        v = self.pending
        self._cancel_hold = self.hold(f"cancelling the {v.label} request")
        self.say(f"cancelling the {v.label} request...", "warning")
        self._cancel(v.ref, then)

    @work(thread=True, exit_on_error=False, group="tender-cancel")
    def _cancel(self, ref: str, then) -> None:
        try:
            v = service.cancel(self.ctx, self.user, ref)
        except Exception as e:  # noqa: BLE001 - shown; still waiting
            self.from_thread(self._cancel_failed, e)
        else:
            self.from_thread(self._cancelled, v, then)
        finally:
            release_thread_connection(self.ctx)

    def _release_cancel(self) -> None:
        if self._cancel_hold is not None:
            self._cancel_hold.release()
            self._cancel_hold = None

    def _cancelled(self, v, then) -> None:
        self.workers.cancel_group(self, "tender-watch")
        self.pending = None
        self.query_one(PendingPanel).hide()
        try:
            if v.paid:
                self._take(v)
                if not self.committing:
                    self.say(f"{v.label} was PAID meanwhile: taken for this sale "
                             f"(still due {self.fmt(self.figures()['still'])})", "warning")
                return
            if v.status == "failed":
                self.say(f"{v.label}: {v.message}")
            else:
                self.say(f"{v.label} request cancelled: if the customer still pays, it is flagged for a refund")
            if then is not None:
                then()
        finally:
            self._release_cancel()

    def _cancel_failed(self, e: BaseException) -> None:
        self._release_cancel()
        self.fail(f"could not cancel: {error_text(e)}; still waiting")

    @work(thread=True, exit_on_error=False, group="tender-giveback")
    def _give_back(self, ref: str) -> None:
        try:
            v = service.give_back(self.ctx, self.user, ref)
        except Exception as e:  # noqa: BLE001
            self.from_thread(self.fail, f"not taken off: {error_text(e)}")
        else:
            self.from_thread(self._given_back, v)
        finally:
            release_thread_connection(self.ctx)

    def _given_back(self, v) -> None:
        self.payments = [p for p in self.payments if p.payment_ref != v.ref]
        self.refresh_figures()
        self.say(f"{v.label} {self.fmt(v.paid_amount or v.amount)} taken off: flagged for a refund", "warning")

    @work(thread=True, exit_on_error=False, group="tender-load")
    def _load_payments(self, ticket_id: int) -> None:
        try:
            views = service.for_ticket(self.ctx, ticket_id)
        except Exception as e:  # noqa: BLE001
            self.from_thread(self.fail, f"cannot read this sale's payments: {error_text(e)}")
            return
        finally:
            release_thread_connection(self.ctx)
        if views:
            self.from_thread(self._loaded, views)

    def _loaded(self, views) -> None:
        """The ticket's provider payments made before this screen (re-entered, restarted)."""
        for v in views:
            if v.paid:
                self._take(v, complete=False)
        waiting = [v for v in views if v.waiting]
        if waiting and self.pending is None and self._asking is None:
            self._pending_update(waiting[-1])
            self.say(f"{waiting[-1].label} {self.fmt(waiting[-1].amount)} asked for before is still waiting",
                     "warning")
        elif self.figures()["covered"] and any(p.payment_ref for p in self.payments):
            self.action_complete()
