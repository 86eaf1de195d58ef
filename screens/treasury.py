"""The treasury (area "treasury", home key Y), for treasurers and managers, at
the till or over SSH, at 80x24, keyboard only:

* 1 funds: balance, reorder level, the last 30 days as a sparkline, items
  waiting; Enter opens the fund's ledger (newest first, PgDn/PgUp page, F
  filters by date, kind and reference), C counts the fund, T transfers
* 2 payments: N asks for one, A approves, R rejects, X executes (the
  executor's TOTP code is asked in a dialog)
* 3 bags in transit: Enter receives the bag into the safe by counting it,
  D takes a bank deposit out of the safe, S enters the bank's slip of one
* 4 variances: A approves, R rejects   5 replenishments: A, R, U funds it

Every rule (who may request, approve, execute, decide; not one's own; once;
the TOTP code inside the payment's transaction) lives in ``station.treasury``;
this screen only asks and shows, and does not offer what the rules refuse
(executing one's own request, deciding one's own variance).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any, Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Label, Static

from screens.base import StationModal, StationScreen
from screens.count import CountScreen
from screens.format import error_text, money_text
from screens.widgets import KeyFooter
from station.context import release_thread_connection
from station.errors import InvalidInput, StationError
from station.treasury import bags, funds, payments, queries, replenish, variances

VIEWS = {"1": "funds", "2": "payments", "3": "bags", "4": "variances", "5": "replenishments"}
TITLES = {"funds": "Funds", "payments": "Payments", "bags": "Bags in transit", "variances": "Variances",
          "replenishments": "Replenishments", "ledger": "Ledger"}
#: rows of a list that fit at 80x24 under the title and above the detail, message and keys
ROWS = 14
SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi == lo:
        return SPARK[0] * len(values)
    return "".join(SPARK[(v - lo) * (len(SPARK) - 1) // (hi - lo)] for v in values)


class FormDialog(StationModal):
    """A few fields, one under the other: Enter goes to the next field, Enter on
    the last one submits. ``check(values)`` may raise: its message is shown and
    the dialog stays. Dismisses with ``{key: text}`` or None (Escape)."""

    DEFAULT_CSS = """
    FormDialog { align: center middle; }
    FormDialog > Vertical { width: 60; max-width: 100%; height: auto; border: thick $accent;
                            background: $surface; padding: 0 1; }
    FormDialog #form-title { text-style: bold; }
    FormDialog Input { height: 1; border: none; padding: 0 1; background: $accent 30%; }
    FormDialog #form-error { color: $error; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="form_cancel")]

    def __init__(self, title: str, fields: list[tuple[str, str, str]], *, secret: tuple[str, ...] = (),
                 check: Callable[[dict], Any] | None = None) -> None:
        super().__init__()
        self._title, self._fields, self._secret, self._check = title, fields, secret, check

    def help_name(self) -> str:
        return self._title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self._title, id="form-title")
            for key, label, value in self._fields:
                yield Label(label)
                yield Input(value, id=f"form-{key}", password=key in self._secret)
            yield Label("", id="form-error")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#form-{key}", Input).value for key, _l, _v in self._fields}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        i = inputs.index(event.input)
        if i + 1 < len(inputs):
            inputs[i + 1].focus()
            return
        values = self.values()
        if self._check is not None:
            try:
                self._check(values)
            except Exception as e:  # noqa: BLE001 - shown in the dialog
                self.query_one("#form-error", Label).update(error_text(e))
                self.app.bell()
                return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TreasuryScreen(StationScreen):
    AREA = "treasury"
    TITLE = "Treasury"

    DEFAULT_CSS = """
    TreasuryScreen { layout: vertical; }
    TreasuryScreen #tr-title { height: 1; text-style: bold; padding: 0 1; }
    TreasuryScreen #tr-list { height: 1fr; padding: 0 1; }
    TreasuryScreen #tr-detail { height: 3; padding: 0 1; border-top: solid $primary; }
    TreasuryScreen #tr-message { height: 1; padding: 0 1; }
    TreasuryScreen #tr-message.error { color: $error; text-style: bold; }
    """

    BINDINGS = [
        Binding("1", "view('funds')", "Funds", id="treasury_funds"),
        Binding("2", "view('payments')", "Payments", id="treasury_payments"),
        Binding("3", "view('bags')", "Bags", id="treasury_bags"),
        Binding("4", "view('variances')", "Variances", id="treasury_variances"),
        Binding("5", "view('replenishments')", "Replenish", id="treasury_replenishments"),
        Binding("up", "move(-1)", "Up", show=False, id="treasury_up"),
        Binding("down", "move(1)", "Down", show=False, id="treasury_down"),
        Binding("enter", "open", "Open", id="treasury_open"),
        Binding("n", "new", "New", id="treasury_new"),
        Binding("a", "approve", "Approve", id="treasury_approve"),
        Binding("r", "reject", "Reject", id="treasury_reject"),
        Binding("x", "execute", "Execute", id="treasury_execute"),
        Binding("c", "count", "Count", id="treasury_count"),
        Binding("t", "transfer", "Transfer", id="treasury_transfer"),
        Binding("d", "deposit", "Deposit", id="treasury_deposit"),
        Binding("s", "slip", "Slip", id="treasury_slip"),
        Binding("u", "fund_it", "Fund it", id="treasury_fund_it"),
        Binding("f", "filter", "Filter", id="treasury_filter"),
        Binding("pagedown", "page(1)", "Older", id="treasury_older"),
        Binding("pageup", "page(-1)", "Newer", id="treasury_newer"),
        Binding("escape", "back", "Back", id="treasury_back"),
    ]

    #: the actions each view offers (the footer shows only these)
    OFFERS = {
        "funds": {"open", "count", "transfer"},
        "payments": {"new", "approve", "reject", "execute"},
        "bags": {"open", "deposit", "slip"},
        "variances": {"approve", "reject"},
        "replenishments": {"approve", "reject", "fund_it"},
        "ledger": {"filter", "page"},
    }

    def __init__(self) -> None:
        super().__init__()
        self.mode = "funds"
        self.rows: list = []
        self.cursor = 0
        self.busy = False
        self.last_message = ""
        self.ledger_fund: queries.FundView | None = None
        self.pages: list[int | None] = [None]      # the ``before`` seq of each ledger page shown
        self.filters: dict = {}
        self.exec_keys: dict[int, str] = {}        # requisition -> the idempotency key of its execution

    @property
    def ctx(self):
        return self.app.ctx

    @property
    def user(self):
        return self.app.user

    def compose(self) -> ComposeResult:
        yield Label("", id="tr-title")
        yield Static("", id="tr-list")
        yield Static("", id="tr-detail")
        yield Label("", id="tr-message")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        offers = self.OFFERS.get(self.mode, set())
        if action in ("open", "new", "approve", "reject", "execute", "count", "transfer", "deposit", "slip",
                      "fund_it", "filter", "page"):
            return action in offers
        return True

    def show(self, message: str, error: bool = False) -> None:
        self.last_message = message
        m = self.query_one("#tr-message", Label)
        m.update(message)
        m.set_class(error, "error")

    def money(self, v) -> str:
        return money_text(self.ctx, v)

    # ------------------------------------------------------------ loading ---
    def reload(self, *, hold: bool = True) -> None:
        """Read the view again; keys typed meanwhile wait for the rows (they move over them)."""
        mode = self.mode
        if mode == "ledger":
            f, before, flt = self.ledger_fund, self.pages[-1], dict(self.filters)
            fn = (lambda: queries.ledger(f.id, limit=ROWS, before=before, **flt))
        else:
            fn = {
                "funds": lambda: queries.funds(spark_days=30),
                "payments": lambda: queries.requisitions(status=("requested", "approved", "failed"), limit=ROWS * 4),
                "bags": lambda: queries.bags(status=("in_transit",), limit=ROWS * 4),
                "variances": lambda: queries.variances(status=("pending",), limit=ROWS * 4),
                "replenishments": lambda: queries.replenishments(status=("pending", "approved"), limit=ROWS * 4),
            }[mode]
        self._run(fn, lambda rows: self._loaded(mode, rows), hold=hold)

    def _loaded(self, mode: str, rows) -> None:
        if mode != self.mode:
            return
        self.rows = rows
        self.cursor = min(self.cursor, max(0, len(rows) - 1))
        self._paint()

    def _run(self, fn: Callable[[], Any], on_ok: Callable[[Any], None], *, hold: bool = True) -> None:
        if self.busy:
            self.show("busy: one moment", True)
            return
        self.busy = True
        self._worker(fn, on_ok, self.hold("treasury") if hold else None)

    @work(thread=True, exit_on_error=False, group="treasury")
    def _worker(self, fn, on_ok, hold) -> None:
        try:
            outcome = ("ok", fn())
        except Exception as e:  # noqa: BLE001 - shown, never a traceback
            outcome = ("error", e)
        finally:
            release_thread_connection(self.ctx)
        self.from_thread(self._finish, on_ok, outcome, hold)

    def _finish(self, on_ok, outcome, hold) -> None:
        self.busy = False
        try:
            kind, value = outcome
            if kind == "ok":
                on_ok(value)
            else:
                self.show(str(value) if isinstance(value, StationError) else error_text(value), True)
        finally:
            if hold is not None:
                hold.release()

    def _then(self, message: str) -> Callable[[Any], None]:
        def done(_value) -> None:
            self.show(message)
            self.reload()
        return done

    # ------------------------------------------------------------ display ---
    def _paint(self) -> None:
        title = TITLES[self.mode]
        if self.mode == "ledger":
            f = self.ledger_fund
            flt = ", ".join(f"{k} {v:%Y-%m-%d}" if isinstance(v, _dt.datetime) else f"{k} {v}"
                            for k, v in self.filters.items())
            title = f"Ledger of {f.name} (page {len(self.pages)}{'; ' + flt if flt else ''})"
        self.query_one("#tr-title", Label).update(f"{title}   [1] funds [2] payments [3] bags [4] variances "
                                                  f"[5] replenish"[:78])
        lines = getattr(self, f"_lines_{self.mode}")()
        self.query_one("#tr-list", Static).update("\n".join(lines) if lines else "Nothing here.")
        self.query_one("#tr-detail", Static).update(self._detail())
        self.refresh_bindings()

    def _mark(self, n: int) -> str:
        return ">" if n == self.cursor else " "

    def _window(self):
        start = max(0, self.cursor - ROWS + 1)
        return list(enumerate(self.rows))[start:start + ROWS]

    def _lines_funds(self) -> list[str]:
        out = [f"  {'Fund':<9} {'Kind':<7} {'Balance':>11} {'Reorder':>9} {'last 30 days':<30} Wait"]
        for n, f in self._window():
            low = "!" if f.balance < f.reorder_level else " "
            kind = "petty" if f.kind == "petty_cash" else f.kind
            out.append(f"{self._mark(n)} {f.name:<9.9} {kind:<7.7} {self.money(f.balance):>11}{low}"
                       f"{self.money(f.reorder_level):>9} {sparkline(f.spark):<30} {f.pending:>3}")
        return out

    def _lines_ledger(self) -> list[str]:
        out = [f"  {'#':>5} {'When (UTC)':<11} {'Kind':<6} {'Amount':>10} {'Balance':>11}  What"]
        for n, e in self._window():
            what = f"{e.ref_type}{' ' + str(e.ref_id) if e.ref_id else ''} {e.memo}".strip()
            out.append(f"{self._mark(n)} {e.seq:>5} {e.created_at:%m-%d %H:%M} {e.kind[:6]:<6} "
                       f"{self.money(e.amount):>10} {self.money(e.balance_after):>11}  {what[:28]}")
        return out

    def _lines_payments(self) -> list[str]:
        out = [f"  {'#':>4} {'Status':<9} {'Fund':<8} {'Amount':>10}  {'Payee':<22} {'Asked by':<10}"]
        for n, r in self._window():
            out.append(f"{self._mark(n)} {r.id:>4} {r.status:<9} {r.fund:<8.8} {self.money(r.amount):>10}  "
                       f"{r.payee:<22.22} {r.requester:<10.10}")
        return out

    def _lines_bags(self) -> list[str]:
        out = [f"  {'Bag':<12} {'Kind':<8} {'Declared':>10}  {'Sealed by':<10} {'When (UTC)':<11}"]
        for n, b in self._window():
            out.append(f"{self._mark(n)} {b.number:<12.12} {b.kind:<8} {self.money(b.declared):>10}  "
                       f"{b.sealed_by:<10.10} {b.sealed_at:%m-%d %H:%M}")
        return out

    def _lines_variances(self) -> list[str]:
        out = [f"  {'#':>4} {'Fund':<8} {'Source':<10} {'Variance':>10} {'Recorded by':<11} Reason"]
        for n, v in self._window():
            out.append(f"{self._mark(n)} {v.id:>4} {v.fund:<8.8} {v.source:<10} {self.money(v.variance):>10} "
                       f"{v.recorded_by:<11.11} {v.reason[:26]}")
        return out

    def _lines_replenishments(self) -> list[str]:
        out = [f"  {'#':>4} {'Fund':<8} {'From':<8} {'Amount':>10} {'Status':<9} Asked by"]
        for n, r in self._window():
            out.append(f"{self._mark(n)} {r.id:>4} {r.fund:<8.8} {(r.source or '-'):<8.8} {self.money(r.amount):>10} "
                       f"{r.status:<9} {'automatic' if r.automatic else r.requested_by}")
        return out

    def _detail(self) -> str:
        r = self.selected()
        if r is None:
            return {"funds": "", "payments": "N asks for a payment", "bags": "D takes a deposit out of the safe",
                    }.get(self.mode, "")
        if self.mode == "funds":
            return (f"{r.name}: {self.money(r.balance)}, reorder {self.money(r.reorder_level)}, target "
                    f"{self.money(r.target_level)}{', replenished automatically' if r.auto_replenish else ''}\n"
                    f"Enter: its ledger   C: count it   T: transfer from it")
        if self.mode == "payments":
            mine = r.requester_id == self.user.id
            return (f"#{r.id} {r.purpose or '-'}; {r.method}{' to ' + r.destination if r.destination else ''}"
                    f"{'; approved by ' + r.approver if r.approver else ''}"
                    f"{'; tries ' + str(r.retry_count) + '/' + str(r.max_retries) if r.retry_count else ''}\n"
                    + (f"last error: {r.last_error[:70]}\n" if r.last_error else "")
                    + ("your own request: someone else approves and executes it" if mine else
                       "A approve  R reject  X execute (TOTP)"))
        if self.mode == "bags":
            return f"bag {r.number}: {r.kind}, declared {self.money(r.declared)}\nEnter: count it into the safe" \
                if r.kind != "deposit" else f"deposit bag {r.number}: S enters the bank's slip"
        if self.mode == "variances":
            mine = r.recorded_by_id == self.user.id
            return (f"{r.fund}: was {self.money(r.original)}, found {self.money(r.adjusted)}\n"
                    + ("you recorded it: someone else decides" if mine else "A approve (adjusts the fund)  R reject"))
        if self.mode == "replenishments":
            return (f"{r.fund} had {self.money(r.balance_snapshot)}; {self.money(r.amount)} from {r.source or '-'}\n"
                    f"A approve  R reject  U transfer it (approved)")
        if self.mode == "ledger":
            return (f"entry {r.seq} by {r.user} at {r.terminal}{', with ' + r.counter if r.counter else ''}"
                    f"{', reconciled' if r.reconciled else ''}\nPgDn older  PgUp newer  F filter")
        return ""

    def selected(self):
        return self.rows[self.cursor] if self.rows and self.cursor < len(self.rows) else None

    # ------------------------------------------------------------ actions ---
    def action_view(self, name: str) -> None:
        self.mode, self.rows, self.cursor = name, [], 0
        self.show("")
        self._paint()
        self.reload()

    def action_move(self, step: int) -> None:
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + int(step)))
            self._paint()

    def action_back(self) -> None:
        if self.mode == "ledger":
            self.action_view("funds")
        else:
            self.dismiss()

    def action_open(self) -> None:
        r = self.selected()
        if r is None:
            return
        if self.mode == "funds":
            self.ledger_fund, self.pages, self.filters = r, [None], {}
            self.mode, self.rows, self.cursor = "ledger", [], 0
            self._paint()
            self.reload()
        elif self.mode == "bags":
            if r.kind == "deposit":
                self.show(f"bag {r.number} is a bank deposit: S enters the bank's slip", True)
                return
            self._count(f"Receive bag {r.number} into the safe", lambda c: bags.receive(
                self.ctx, self.user, r.number, c), lambda res: self._then(
                f"bag {res.number}: counted {self.money(res.counted)} of {self.money(res.declared)}"
                + ("" if res.variance_id is None else f"; variance #{res.variance_id} waits for a decision"))(res))

    def _count(self, title: str, fn, done) -> None:
        def counted(c) -> None:
            if c is not None:
                self._run(lambda: fn(c), done)
        self.app.push_screen(CountScreen(title, self.ctx.config.get("cash.denominations"),
                                         fmt=lambda d: money_text(self.ctx, d)), counted)

    def _form(self, title: str, fields, then: Callable[[dict], None], *, secret=(), check=None) -> None:
        def got(values) -> None:
            if values is not None:
                then(values)
        self.app.push_screen(FormDialog(title, fields, secret=secret, check=check), got)

    def action_new(self) -> None:
        self._form("Ask for a payment", [("fund", "Fund", "petty"), ("amount", "Amount", ""),
                                         ("payee", "Payee", ""), ("purpose", "Purpose", "")],
                   lambda v: self._run(lambda: payments.request(self.ctx, self.user, v["fund"], v["amount"],
                                                                v["payee"], v["purpose"]),
                                       lambda rid: self._then(f"requisition #{rid} waits for approval")(rid)))

    def action_approve(self) -> None:
        self._decide(True)

    def action_reject(self) -> None:
        self._decide(False)

    def _decide(self, yes: bool) -> None:
        r = self.selected()
        if r is None:
            return
        word = "approved" if yes else "rejected"
        if self.mode == "payments":
            if r.requester_id == self.user.id:
                self.show("your own request: someone else decides it", True)
                return
            fn = payments.approve if yes else payments.reject
            self._run(lambda: fn(self.ctx, self.user, r.id), self._then(f"requisition #{r.id} {word}"))
        elif self.mode == "variances":
            if r.recorded_by_id == self.user.id:
                self.show("you recorded this variance: someone else decides it", True)
                return
            self._run(lambda: variances.decide(self.ctx, self.user, r.id, yes),
                      self._then(f"variance #{r.id} {word}"))
        elif self.mode == "replenishments":
            self._run(lambda: replenish.decide(self.ctx, self.user, r.id, yes),
                      self._then(f"replenishment #{r.id} {word}"))

    def action_execute(self) -> None:
        r = self.selected()
        if r is None:
            return
        if r.requester_id == self.user.id:
            self.show("your own request: someone else executes it", True)
            return
        if r.status != "approved":
            self.show(f"requisition #{r.id} is {r.status}: only an approved one is paid", True)
            return
        key = self.exec_keys.setdefault(r.id, payments.new_key())

        def check(v: dict) -> None:
            code = v["code"].strip()
            if not (code.isdigit() and len(code) == 6):
                raise InvalidInput("a TOTP code is 6 digits")

        def paid(x: payments.ExecutionView) -> None:
            self.exec_keys.pop(r.id, None)
            self._then(f"#{x.requisition_id} paid: {self.money(x.amount)} from {x.fund}, "
                       f"{self.money(x.balance)} left")(x)

        self._form(f"Pay #{r.id}: {self.money(r.amount)} to {r.payee[:24]}", [("code", "Your TOTP code", "")],
                   lambda v: self._run(lambda: payments.execute(self.ctx, self.user, r.id, v["code"].strip(),
                                                                key=key), paid),
                   secret=("code",), check=check)

    def action_count(self) -> None:
        f = self.selected()
        if f is None:
            return
        self._count(f"Count {f.name}", lambda c: variances.count_fund(self.ctx, self.user, f.id, c),
                    lambda res: self._then(
                        f"{res.fund}: counted {self.money(res.counted)}"
                        + (" as expected" if res.variance_id is None else
                           f", expected {self.money(res.expected)}: variance #{res.variance_id} waits"))(res))

    def action_transfer(self) -> None:
        f = self.selected()
        if f is None:
            return
        self._form(f"Transfer from {f.name}", [("to", "To fund", ""), ("amount", "Amount", ""), ("memo", "Memo", "")],
                   lambda v: self._run(lambda: replenish.transfer(self.ctx, self.user, f.name, v["to"], v["amount"],
                                                                  v["memo"]),
                                       self._then(f"moved from {f.name} to {v['to']}")))

    def action_deposit(self) -> None:
        self._form("Bank deposit out of the safe", [("amount", "Amount", ""), ("bag", "Bag number (empty: given)", "")],
                   lambda v: self._run(lambda: bags.prepare_deposit(self.ctx, self.user, v["amount"], v["bag"]),
                                       lambda n: self._then(f"deposit bag {n} sealed, in transit")(n)))

    def action_slip(self) -> None:
        r = self.selected()
        if r is None or r.kind != "deposit":
            self.show("choose a deposit bag", True)
            return
        self._form(f"Bank slip of bag {r.number}", [("slip", "Slip reference", ""),
                                                    ("amount", "Amount on the slip (empty: as declared)", "")],
                   lambda v: self._run(lambda: bags.bank_deposit(self.ctx, self.user, r.number, v["slip"],
                                                                 v["amount"]),
                                       self._then(f"bag {r.number} banked")))

    def action_fund_it(self) -> None:
        r = self.selected()
        if r is None:
            return
        self._run(lambda: replenish.fund(self.ctx, self.user, r.id), self._then(f"replenishment #{r.id} funded"))

    def action_page(self, step: int) -> None:
        if self.mode != "ledger":
            return
        if int(step) > 0:
            if len(self.rows) < ROWS:
                self.show("no older entries", True)
                return
            self.pages.append(self.rows[-1].seq)
        elif len(self.pages) > 1:
            self.pages.pop()
        else:
            return
        self.cursor = 0
        self.reload()

    def action_filter(self) -> None:
        def parse(v: dict) -> dict:
            out = {}
            if v["since"].strip():
                try:
                    out["since"] = _dt.datetime.fromisoformat(v["since"].strip())
                except ValueError:
                    raise InvalidInput(f"'{v['since'].strip()}' is not a date (YYYY-MM-DD)") from None
            if v["kind"].strip():
                if v["kind"].strip() not in queries.ENTRY_FILTERS:
                    raise InvalidInput("kind: debit, credit or adjustment")
                out["kind"] = v["kind"].strip()
            if v["ref"].strip():
                ref_type, _s, ref_id = v["ref"].strip().partition(" ")
                out["ref_type"] = ref_type
                if ref_id:
                    if not ref_id.isdigit():
                        raise InvalidInput("the reference is a kind and a number, e.g. requisition 12")
                    out["ref_id"] = int(ref_id)
            return out

        def apply(v: dict) -> None:
            self.filters, self.pages, self.cursor = parse(v), [None], 0
            self.reload()

        self._form("Filter the ledger", [("since", "From date (YYYY-MM-DD)", ""),
                                         ("kind", "Kind (debit, credit, adjustment)", ""),
                                         ("ref", "Reference (e.g. requisition 12, bag, drop)", "")],
                   apply, check=parse)
