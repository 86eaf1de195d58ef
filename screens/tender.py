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
"""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Digits, Input, Label

from data import db as dbmod
from screens.widgets import KeyFooter, PickDialog, PromptDialog, error_text
from station.errors import InvalidInput, StationError


class TenderScreen(Screen):
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

    # -- layout -----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="tender-head"):
            yield Label("DUE", classes="big-label", id="tender-due-label")
            yield Digits("", id="tender-due")
        yield Label("", id="tender-info")
        table = DataTable(id="tender-payments", cursor_type="none")
        table.can_focus = False
        yield table
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
        self._check_drawer()

    def _check_drawer(self) -> None:
        """Say at once when no drawer session is open (the commit would refuse)."""
        try:
            from station import drawer
            if drawer.current_session(self.ctx) is None:
                self.say(f"no drawer session is open on drawer {self.ctx.drawer}: open the drawer "
                         "first (Escape, home F3); nothing can be recorded", "warning")
        except Exception:  # noqa: BLE001 - only a hint; the service decides at the commit
            pass

    @work(thread=True, exit_on_error=False, group="tender")
    def _begin(self) -> None:
        from station import tender
        try:
            start = tender.begin_tender(self.ctx, self.user)
        except Exception as e:  # noqa: BLE001
            self.app.call_from_thread(self._begin_failed, e)
            return
        self.app.call_from_thread(self._begun, start)

    def _begun(self, start) -> None:
        self.start = start
        self.refresh_figures()

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
        from screens.sale import money_text
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
        from station import tender
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
        if self._blocked():
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
        if self._blocked():
            return
        if not event.value.strip():
            if self.figures()["covered"]:
                self.action_complete()
            else:
                self.fail("type the cash handed over (F3: exact amount)")
            return
        self.action_cash()

    def action_exact(self) -> None:
        if self._blocked():
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
        if self._blocked():
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
        if self._blocked():
            return
        if "card" not in self._config("cash.tender_methods", []):
            self.fail("card is not a tender method here")
            return
        self._noncash("card")

    def action_other(self) -> None:
        if self._blocked():
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
        if not self.payments:
            self.fail("no payment to remove")
            return
        p = self.payments.pop()
        self.refresh_figures()
        self.say(f"{p.method} {self.fmt(p.amount)} removed")

    def action_back(self) -> None:
        if self.committing:
            self.app.bell()
            self.say("the sale is being recorded...", "warning")
            return
        self.dismiss(self.result)

    # -- commit: exactly once -------------------------------------------------------
    def action_complete(self) -> None:
        if self.committing or self.result is not None or self.start is None:
            self.app.bell()
            return
        if not self.figures()["covered"]:
            self.fail(f"{self.fmt(self.figures()['still'])} is still due")
            return
        self.committing = True
        self.commits_started += 1
        self.query_one("#tender-amount", Input).disabled = True
        self.say("recording the sale...", "warning")
        self._commit(self.start.idem_key, list(self.payments))

    @work(thread=True, exit_on_error=False, group="tender-commit")
    def _commit(self, idem_key: str, payments: list) -> None:
        try:
            result = self._tender().complete_sale(self.ctx, self.user, idem_key, payments)
        except Exception as e:  # noqa: BLE001 - shown, the payments stay for a retry (F10)
            self.app.call_from_thread(self._commit_failed, e)
        else:
            self.app.call_from_thread(self._committed, result)
        finally:
            dbmod.release(self.ctx.db)

    def _commit_failed(self, e: BaseException) -> None:
        self.committing = False
        entry = self.query_one("#tender-amount", Input)
        entry.disabled = False
        entry.focus()
        self.fail(f"{error_text(e)}: nothing was charged; F10 tries again")

    def _committed(self, result) -> None:
        self.result = result
        self.committing = False
        kick = bool(getattr(result, "tendered_cash", 0) or getattr(result, "paid_cash", 0))
        # printed also when duplicate=True: that is a retry whose first answer was
        # lost (this screen never got it, so it never printed it)
        from screens.sale import get_printer
        printer = get_printer(self.app)
        if printer is not None:
            try:
                printer.submit_receipt(self.ctx, result.ticket_id, kick=kick, user=self.user)
            except Exception as e:  # noqa: BLE001 - never blocks the next sale
                self.app.notify(f"the receipt was not sent to the printer: {e}", severity="warning")
        self.dismiss(result)
