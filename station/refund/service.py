"""Returns, refunds, post-voids and exchanges: money going back out, exactly once
and never more than was paid.

Every operation is ONE write transaction that takes its locks in the order of the
sale commit: the sale's ticket row, the drawer session row, the refund counter of
this terminal, the journal head (``journal.append`` last). Inside it:

* the stored refund with the same idempotency key is returned as it is
  (``duplicate=True``): Enter pressed twice, a retry after an error, a restart
  after a crash between the commit and the screen never make a second refund;
* the lines and quantities are checked against what is still returnable, read
  under the sale's lock; the database checks it again (``data.refund``: a CHECK
  on the quantity returned per sale line, and on the amount refunded per sale
  and method), so two terminals can never return more than was sold;
* the approval rules (:mod:`station.refund.rules`) are applied and a manager's
  approval, bound to this refund's key and amount, is used up;
* the refund (its number gapless per terminal), its lines, one negative tender
  row per way the money goes back, the cash out of the drawer session (refused
  when the drawer's expected cash is short) and the ``refund.processed`` journal
  entry with the totals are written together.

A refund that needs a manager who is not at the till can be requested instead
(:func:`request_refund`): it waits, with its quantities held, until a manager
decides at any terminal (:func:`decide`), and the cashier then processes it
(:func:`process_request`). Status: requested -> approved -> processed, or rejected.
"""
from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass, field

import peewee

from data import db as dbmod
from data.models import Approval, ApprovalRequest, Ticket, User, utcnow
from data.refund import Refund, RefundLine, RefundTender
from station import authority, drawer, journal, money, permissions, sale
from station.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from station.refund import lookup, rules
from station.refund.amounts import cash_back, split_over_methods
from station.stock import movements as stock_moves

POST_VOID_REASON = "post-void"
#: the way an exchange's credit goes into the new sale (never offered as a tender)
EXCHANGE = "exchange"


def new_key() -> str:
    """A fresh idempotency key: the screen mints one per refund it starts."""
    return uuid.uuid4().hex


# ------------------------------------------------------------------ values ---

@dataclass
class ReturnItem:
    """``qty`` (thousandths) of sale line ``line_id`` comes back."""
    line_id: int
    qty: int


@dataclass
class ProductItem:
    """A return without a receipt: the product's code, the quantity, and the price
    it is refunded at (None: its current price; a lower one only)."""
    code: str
    qty: int = 1000
    price: int | None = None


@dataclass
class TenderOut:
    method: str            # how the money goes back
    against: str | None    # the sale's method it is charged against
    amount: int            # negative
    reference: str = ""


@dataclass
class RefundResult:
    refund_id: int
    refund_no: int | None
    terminal: str
    kind: str
    status: str
    reason: str
    total: int
    tax_total: int
    rounding: int
    tenders: list[TenderOut]
    session_id: int | None
    original_id: int | None
    duplicate: bool = False
    exchange_ticket: int | None = None
    why: str = ""
    needs: str | None = None

    @property
    def paid_out(self) -> int:
        """What went back, all methods (positive)."""
        return -sum(t.amount for t in self.tenders)

    @property
    def cash(self) -> int:
        """What went back in cash (positive)."""
        return -sum(t.amount for t in self.tenders if t.method == "cash")

    @property
    def code(self) -> str | None:
        return None if self.refund_no is None else lookup.refund_code(self.terminal, self.refund_no)


@dataclass
class PlannedLine:
    original_line: int | None
    product_id: int | None
    code: str
    name: str
    qty: int
    unit_price: int
    amount: int
    tax: int
    vat_rate: int


@dataclass
class Plan:
    """A refund worked out (amounts, methods, approval), before anything is written.
    :func:`preview` returns it for the screen; the commit works it out again under
    the sale's lock."""
    kind: str
    original: lookup.SaleInfo | None
    lines: list[PlannedLine]
    total: int
    tax: int
    tenders: list[TenderOut]
    action: str
    reasons: list[str]
    method: str | None = None
    settle: bool = False

    @property
    def paid_out(self) -> int:
        return -sum(t.amount for t in self.tenders)

    @property
    def rounding(self) -> int:
        return self.paid_out - self.total

    @property
    def cash(self) -> int:
        return -sum(t.amount for t in self.tenders if t.method == "cash")


class NotReturnable(Conflict):
    """More than is still returnable was asked for; ``returnable`` says what is
    (line id -> thousandths)."""

    def __init__(self, message: str, returnable: dict[int, int]):
        super().__init__(message)
        self.returnable = returnable


# ------------------------------------------------------------- validation ---

def qty_text(qty: int, unit: str = "pc") -> str:
    whole, frac = divmod(qty, 1000)
    if unit == "pc" and not frac:
        return str(whole)
    return f"{whole}.{frac:03d}" + (" kg" if unit == "kg" else "")


def _key(idem_key) -> str:
    if not isinstance(idem_key, str) or not idem_key.strip() or len(idem_key) > 64:
        raise InvalidInput("no refund was started (no key)")
    return idem_key


def _reason(ctx, reason) -> str:
    reasons = ctx.config.refund.reasons
    r = reason.strip() if isinstance(reason, str) else ""
    if not r:
        raise InvalidInput(f"choose a reason: {', '.join(reasons)}")
    if r not in reasons:
        raise InvalidInput(f"unknown reason {r!r}: choose one of {', '.join(reasons)}")
    return r


def _note(note) -> str:
    n = note.strip() if isinstance(note, str) else ""
    if len(n) > 500:
        raise InvalidInput("the note is longer than 500 characters")
    return n


def _method(ctx, method) -> str | None:
    if method is None:
        return None
    methods = ctx.config.cash.tender_methods
    if method not in methods:
        raise InvalidInput(f"'{method}' is not a way to refund here ({', '.join(methods)})")
    return method


def _references(ctx, tenders: list[TenderOut], references) -> None:
    """Every non-cash way back carries the reference of its refund (the card
    terminal's slip, the voucher's number), typed by the cashier."""
    refs = dict(references or {})
    for t in tenders:
        if t.method in ("cash", EXCHANGE):
            continue
        ref = refs.get(t.method)
        ref = ref.strip() if isinstance(ref, str) else ""
        if not ref:
            raise InvalidInput(f"a {t.method} refund needs its reference (from the {t.method} terminal's slip)")
        if len(ref) > 64:
            raise InvalidInput("the reference is too long (64 characters at most)")
        t.reference = ref


def _qty(qty) -> int:
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise InvalidInput("the quantity must be a number")
    if qty <= 0:
        raise InvalidInput("the quantity must be more than zero")
    return qty


def _approval_ref(info: lookup.SaleInfo | None, idem_key: str) -> str:
    return rules.approval_ref(idem_key, *((info.terminal, info.receipt_no) if info is not None else ()))


def _probe(ctx, point: str) -> None:
    """A named point inside the commit where tests inject a pause or a failure."""
    hook = ctx.extras.get("refund.probe")
    if hook is not None:
        hook(point)


# ------------------------------------------------------------------- plans ---

def _wanted(info: lookup.SaleInfo, items) -> list[tuple[lookup.ReturnLine, int]]:
    if not isinstance(items, (list, tuple)) or not items:
        raise InvalidInput("choose what comes back: at least one line and a quantity")
    want: dict[int, int] = {}
    for it in items:
        if not isinstance(it, ReturnItem):
            raise InvalidInput("a return names a line of the sale and a quantity")
        ln = info.line(it.line_id)
        want[ln.line_id] = want.get(ln.line_id, 0) + _qty(it.qty)
    out, short = [], []
    for lid, qty in want.items():
        ln = info.line(lid)
        if ln.unit == "pc" and qty % 1000:
            raise InvalidInput(f"{ln.name} is sold by the piece: give a whole quantity")
        if qty > ln.returnable:
            short.append(ln)
        out.append((ln, qty))
    if short:
        raise NotReturnable(
            "; ".join(f"{ln.name}: only {qty_text(ln.returnable, ln.unit)} of {qty_text(ln.sold, ln.unit)} "
                      f"can still be returned" for ln in short),
            {ln.line_id: ln.returnable for ln in short})
    return out


def _methods_in_order(info: lookup.SaleInfo) -> list[str]:
    """The sale's methods: non-cash first (in tender order), cash last."""
    seen = []
    for m, _a, _r in info.tenders:
        if m not in seen:
            seen.append(m)
    return [m for m in seen if m != "cash"] + (["cash"] if "cash" in seen else [])


def _back(ctx, info: lookup.SaleInfo, amount: int, *, settle: bool, method: str | None,
          credit: int = 0) -> list[TenderOut]:
    """The negative tender rows of ``amount`` going back over the sale's methods;
    ``credit`` of it goes into an exchange's new sale instead of back."""
    order = _methods_in_order(info)
    remaining = {m: info.paid[m] - info.refunded.get(m, 0) for m in order}
    parts = split_over_methods(amount, {m: info.paid[m] for m in order}, info.refunded, settle=settle)
    credits = dict(zip(parts, money.allocate(min(credit, sum(parts.values())), list(parts.values())))) \
        if credit and parts else {}
    step = ctx.config.cash.rounding_step
    out = []
    for against, part in parts.items():
        c = credits.get(against, 0)
        if c:
            out.append(TenderOut(EXCHANGE, against, -c))
        back = part - c
        if back <= 0:
            continue
        # credit from an earlier exchange goes back as cash unless another way is chosen
        phys = method or ("cash" if against == EXCHANGE else against)
        if phys == "cash":
            back = cash_back(back, step, remaining[against] - c)
        if back > 0:
            out.append(TenderOut(phys, against, -back))
    return out


def _method_changes(tenders: list[TenderOut]) -> list[tuple[str, str]]:
    seen = []
    for t in tenders:
        if t.against is not None and t.method not in (t.against, EXCHANGE) and (t.against, t.method) not in seen:
            seen.append((t.against, t.method))
    return seen


def _plan_return(ctx, info: lookup.SaleInfo, items, *, method: str | None, kind: str = "return",
                 credit: int = 0, now: _dt.datetime | None = None) -> Plan:
    wanted = _wanted(info, items)
    lines = []
    for ln, qty in wanted:
        part = ln.part(qty)
        lines.append(PlannedLine(ln.line_id, ln.product_id, ln.code, ln.name, qty, ln.unit_price, part.amount,
                                 part.tax, ln.vat_rate))
    total = sum(pl.amount for pl in lines)
    taken = {ln.line_id: qty for ln, qty in wanted}
    settle = all(ln.returnable - taken.get(ln.line_id, 0) == 0 for ln in info.lines)
    tenders = _back(ctx, info, total, settle=settle, method=method, credit=credit)
    age = info.age(now)
    if kind == "post_void":
        action, reasons = rules.post_void_action(ctx, age)
    else:
        action, reasons = rules.return_action(ctx, age=age, method_changes=_method_changes(tenders))
    return Plan(kind, info, lines, total, sum(pl.tax for pl in lines), tenders, action, reasons, method, settle)


def _plan_without_receipt(ctx, items, *, method: str | None) -> Plan:
    if not isinstance(items, (list, tuple)) or not items:
        raise InvalidInput("scan what comes back")
    inclusive = ctx.config.store.prices_include_tax
    lines = []
    for it in items:
        if not isinstance(it, ProductItem):
            raise InvalidInput("a return without a receipt names a product and a quantity")
        prod = lookup.product_for_return(ctx, it.code)
        qty = _qty(it.qty)
        if prod.unit == "pc" and qty % 1000:
            raise InvalidInput(f"{prod.name} is sold by the piece: give a whole quantity")
        if qty > ctx.config.limits.max_quantity * 1000:
            raise InvalidInput("that is more than a line may hold")
        price = prod.price if it.price is None else it.price
        if isinstance(price, bool) or not isinstance(price, int) or price < 0:
            raise InvalidInput("the price must be an amount of zero or more")
        if price > prod.price:
            raise InvalidInput(f"{prod.name} is refunded at its current price "
                               f"({rules.fmt(ctx, prod.price)}) or less")
        gross = money.qty_times_price(qty, price)
        if inclusive:
            amount, tax = gross, money.tax_included(gross, prod.vat_rate)
        else:
            tax = money.tax_on_net(gross, prod.vat_rate)
            amount = gross + tax
        lines.append(PlannedLine(None, prod.id, it.code.strip()[:64], prod.name, qty, price, amount, tax,
                                 prod.vat_rate))
    total = sum(pl.amount for pl in lines)
    if total > ctx.config.limits.max_amount:
        raise InvalidInput(f"a return without a receipt of more than {rules.fmt(ctx, ctx.config.limits.max_amount)}")
    phys = method or "cash"
    back = money.round_to_step(total, ctx.config.cash.rounding_step) if phys == "cash" else total
    tenders = [TenderOut(phys, None, -back)] if back > 0 else []
    action, reasons = rules.return_action(ctx, age=None, method_changes=[])
    return Plan("return", None, lines, total, sum(pl.tax for pl in lines), tenders, action, reasons, phys)


# ----------------------------------------------------------------- storage ---

def _lock_sale(ticket_id) -> lookup.SaleHead:
    try:
        ticket_id = int(ticket_id)
    except (TypeError, ValueError):
        raise InvalidInput("no sale was chosen") from None
    t = lookup.sale_head(ticket_id, lock=True)
    if t is None or t.status != "completed":
        raise NotFound(f"ticket {ticket_id} is not a completed sale")
    return t


_LOCK_SALE = (lookup.HEAD_COLUMNS + ", (SELECT id FROM refund WHERE idem_key = ?), (" + authority.FRESH_ROLE_SQL
              + ") FROM ticket WHERE id = ?")


def _lock_sale_for(ticket_id, idem_key: str, user) -> tuple[lookup.SaleHead, Refund | None, str | None]:
    """ONE statement: the sale's row locked, the refund already made with this key
    (if any) and the user's fresh role. (The key's UNIQUE index settles a race the
    read cannot see.)"""
    try:
        ticket_id = int(ticket_id)
    except (TypeError, ValueError):
        raise InvalidInput("no sale was chosen") from None
    sql = _LOCK_SALE + (" FOR UPDATE" if dbmod.is_postgres() else "")
    row = lookup.run(sql, (idem_key, user.id if user is not None else 0, ticket_id)).fetchone()
    if row is None or row[3] != "completed":
        raise NotFound(f"ticket {ticket_id} is not a completed sale")
    return lookup.head_of(row), (Refund.get_by_id(row[-2]) if row[-2] is not None else None), row[-1]


def _by_key(idem_key: str) -> Refund | None:
    lock = " FOR UPDATE" if dbmod.is_postgres() else ""
    row = lookup.run("SELECT id FROM refund WHERE idem_key = ?" + lock, (idem_key,)).fetchone()
    return None if row is None else Refund.get_by_id(row[0])


def _next_refund_no(terminal: str) -> int:
    """The next refund number of ``terminal``, gapless (its own series): the counter
    row is incremented in the refund's transaction (a rollback gives it back)."""
    return lookup.run("INSERT INTO refund_counter (terminal, last) VALUES (?, 1) ON CONFLICT (terminal) "
                      "DO UPDATE SET last = refund_counter.last + 1 RETURNING last", (terminal,)).fetchone()[0]


_REFUND_COLS = ("terminal", "refund_no", "kind", "status", "original_id", "reason", "note", "cashier_id",
                "approver_id", "approval_id", "needs", "why", "idem_key", "session_id", "method", "total",
                "tax_total", "rounding", "exchange_ticket_id", "created_at", "decided_at", "processed_at")
_INSERT_REFUND = (f"INSERT INTO refund ({', '.join(_REFUND_COLS)}) VALUES "
                  f"({', '.join('?' * len(_REFUND_COLS))}) RETURNING id")
_LINE_COLS = "(refund_id, position, original_line_id, product_id, code, name, qty, unit_price, amount, tax, vat_rate)"
_TENDER_COLS = "(refund_id, method, against, amount, reference, created_at)"


def _many(table: str, cols: str, width: int, rows: list[tuple]) -> None:
    """One multi-row INSERT (the database's triggers run per row)."""
    one = "(" + ", ".join("?" * width) + ")"
    dbmod.defer(dbmod.q(f"INSERT INTO {table} {cols} VALUES " + ", ".join([one] * len(rows))),
                tuple(v for r in rows for v in r))


def _insert_lines(refund_id: int, lines: list[PlannedLine]) -> None:
    _many("refund_line", _LINE_COLS, 11, [
        (refund_id, i, pl.original_line, pl.product_id, pl.code[:64], pl.name[:200], pl.qty, pl.unit_price,
         pl.amount, pl.tax, pl.vat_rate) for i, pl in enumerate(lines, 1)])


def _insert_tenders(refund_id: int, tenders: list[TenderOut], now) -> None:
    if tenders:
        _many("refund_tender", _TENDER_COLS, 6, [
            (refund_id, t.method, t.against, t.amount, t.reference[:64], dbmod.param_time(now)) for t in tenders])


def stored(r: Refund, *, duplicate: bool = False) -> RefundResult:
    tenders = [TenderOut(x.method, x.against, x.amount, x.reference)
               for x in RefundTender.select().where(RefundTender.refund == r.id).order_by(RefundTender.id)]
    return RefundResult(r.id, r.refund_no, r.terminal, r.kind, r.status, r.reason, r.total, r.tax_total, r.rounding,
                        tenders, r.session_id, r.original_id, duplicate, r.exchange_ticket_id, r.why, r.needs)


def _journal_data(r_fields: dict, plan_lines, tenders: list[TenderOut], info) -> dict:
    return {**r_fields,
            "original": None if info is None else {"ticket": info.ticket_id, "terminal": info.terminal,
                                                   "receipt_no": info.receipt_no},
            "lines": [{"line": pl.original_line, "product": pl.product_id, "qty": pl.qty, "amount": pl.amount,
                       "tax": pl.tax} for pl in plan_lines],
            "tenders": [{"method": t.method, "against": t.against, "amount": t.amount, "reference": t.reference}
                        for t in tenders]}


def _post(s: drawer.OpenSession, user, refund_id: int, reason: str, plan: Plan) -> None:
    """The refund in its drawer session: the cash out (a ``refund`` movement) and
    the session's running refund figures (by method, by reason)."""
    posting = drawer.SessionPosting(s, user.id)
    if plan.cash:
        posting.cash("refund", -plan.cash, ticket_id=refund_id)
    posting.refund(reason, [(t.method, -t.amount) for t in plan.tenders])
    posting.write()


def _cash_available(ctx, s, cash: int) -> None:
    if cash > s.expected_cash:
        raise InvalidInput(f"a cash refund of {drawer._fmt(ctx, cash)} is more than the expected cash in the "
                           f"drawer ({drawer._fmt(ctx, s.expected_cash)}): refund by another way or ask for "
                           f"cash to be paid in")


def _commit(ctx, user, idem_key: str, plan: Plan, reason: str, note: str, approval: Approval | None, *,
            exchange_ticket: int | None = None, before_journal=None) -> RefundResult:
    """Write the refund of ``plan`` (locks: the drawer session, the refund counter,
    the journal head: the sale's ticket is already locked by the caller)."""
    s = drawer.lock_open_session(ctx)
    cash = plan.cash
    _cash_available(ctx, s, cash)
    no = _next_refund_no(ctx.terminal)
    now = utcnow()
    info = plan.original
    original = None if info is None else info.ticket_id
    approval_id = approval.id if approval is not None else None
    needs = plan.action if approval is not None else None
    why = "; ".join(plan.reasons)
    stamp = dbmod.param_time(now)
    rid = lookup.run(_INSERT_REFUND, (
        ctx.terminal, no, plan.kind, "processed", original, reason, note, user.id,
        approval.approver_id if approval is not None else None, approval_id, needs, why, idem_key, s.id,
        plan.method, plan.total, plan.tax, plan.rounding, exchange_ticket, stamp,
        stamp if approval is not None else None, stamp)).fetchone()[0]
    _insert_lines(rid, plan.lines)
    stock_moves.post_refund(ctx, user, rid, now)
    _insert_tenders(rid, plan.tenders, now)
    _post(s, user, rid, reason, plan)
    if before_journal is not None:
        before_journal(rid)
    _probe(ctx, "before_journal")
    journal.append("refund.processed", terminal=ctx.terminal, user=user, amount=plan.paid_out, ref=f"R{no}",
                   data=_journal_data({"refund": rid, "refund_no": no, "kind": plan.kind, "reason": reason,
                                       "session": s.id, "total": plan.total, "tax": plan.tax,
                                       "rounding": plan.rounding, "paid_out": plan.paid_out,
                                       "approval": approval_id, "exchange_ticket": exchange_ticket},
                                      plan.lines, plan.tenders, info))
    return RefundResult(rid, no, ctx.terminal, plan.kind, "processed", reason, plan.total, plan.tax, plan.rounding,
                        plan.tenders, s.id, original, False, exchange_ticket, why, needs)


def _run(idem_key: str, fn):
    """One write transaction (retried whole on a transient error). A race on the
    same key that the database settles (UNIQUE) answers with the stored refund."""
    try:
        return sale.run_write(fn)
    except peewee.IntegrityError as e:
        r = Refund.get_or_none(Refund.idem_key == idem_key)
        if r is not None and r.status == "processed":
            return stored(r, duplicate=True)
        raise Conflict(f"the refund could not be recorded: {dbmod.first_line(e)}: nothing was refunded") from None


def _again(r: Refund) -> RefundResult:
    """The same key again: the stored refund, or why it is not done yet."""
    if r.status == "processed":
        return stored(r, duplicate=True)
    if r.status == "rejected":
        q = ApprovalRequest.get_or_none(ApprovalRequest.id == r.approval_request_id) \
            if r.approval_request_id is not None else None
        if q is not None and q.status in ("expired", "cancelled"):
            raise Conflict(f"the request for this refund {q.status} before a manager decided: nothing was "
                           f"refunded (ask again)")
        who = User.get_by_id(r.approver_id).name if r.approver_id else "a manager"
        raise Conflict(f"this refund was refused by {who}: nothing was refunded")
    if r.status == "requested":
        raise Conflict(f"refund request {r.id} is waiting for a manager (the dashboard of any terminal)")
    raise Conflict(f"refund request {r.id} is approved: process it")


# ---------------------------------------------------------------- returns ---

def preview(ctx, ticket_id: int, items, *, method: str | None = None, credit: int = 0,
            kind: str = "return") -> Plan:
    """What returning ``items`` of the sale would give back, by which methods, and
    whether it needs a manager (read only, no lock). ``credit``: an exchange's new
    sale takes that much of it; ``kind`` "post_void": the post-void's rules."""
    t = lookup.sale_head(ticket_id)
    if t is None or t.status != "completed":
        raise NotFound(f"ticket {ticket_id} is not a completed sale")
    return _plan_return(ctx, lookup.sale_info(ctx, t, refunds=False), items, method=_method(ctx, method),
                        credit=credit, kind=kind)


def preview_without_receipt(ctx, items, *, method: str | None = None) -> Plan:
    return _plan_without_receipt(ctx, items, method=_method(ctx, method))


def refund(ctx, user, idem_key: str, ticket_id: int, items, reason: str, *, method: str | None = None,
           references: dict | None = None, approval=None, note: str = "") -> RefundResult:
    """Return ``items`` (:class:`ReturnItem`) of the completed sale ``ticket_id``
    and give the money back: by the sale's own methods in proportion (default), or
    all by ``method`` (approval when the sale was paid otherwise). Non-cash ways
    back need ``references[method]``. Exactly once per ``idem_key``."""
    idem_key, reason, note, method = _key(idem_key), _reason(ctx, reason), _note(note), _method(ctx, method)

    def tx():
        t, again, role = _lock_sale_for(ticket_id, idem_key, user)
        if again is not None:
            return _again(again)
        _probe(ctx, "locked")
        plan = _plan_return(ctx, lookup.sale_info(ctx, t, refunds=False), items, method=method)
        _references(ctx, plan.tenders, references)
        a = rules.gate(ctx, user, plan.action, plan.reasons, plan.total, _approval_ref(plan.original, idem_key),
                       approval, role=role)
        return _commit(ctx, user, idem_key, plan, reason, note, a)
    return _run(idem_key, tx)


def return_without_receipt(ctx, user, idem_key: str, items, reason: str, *, method: str | None = "cash",
                           reference: str = "", approval=None, note: str = "") -> RefundResult:
    """Take back ``items`` (:class:`ProductItem`) with no receipt: always with a
    manager's approval for this refund and amount, at the current price or less."""
    idem_key, reason, note, method = _key(idem_key), _reason(ctx, reason), _note(note), _method(ctx, method)

    def tx():
        again = _by_key(idem_key)
        if again is not None:
            return _again(again)
        plan = _plan_without_receipt(ctx, items, method=method)
        _references(ctx, plan.tenders, {plan.method: reference})
        a = rules.gate(ctx, user, plan.action, plan.reasons, plan.total, _approval_ref(plan.original, idem_key),
                       approval)
        return _commit(ctx, user, idem_key, plan, reason, note, a)
    return _run(idem_key, tx)


def last_sale(ctx) -> lookup.SaleInfo | None:
    """This terminal's last completed sale (the one a post-void would reverse)."""
    t = (Ticket.select().where((Ticket.terminal == ctx.terminal) & (Ticket.status == "completed"))
         .order_by(Ticket.receipt_no.desc()).first())
    return None if t is None else lookup.sale_info(ctx, t)


def last_refund_no(ctx) -> int | None:
    """The number of this terminal's last refund (None: none yet)."""
    row = lookup.run("SELECT MAX(refund_no) FROM refund WHERE terminal = ?", (ctx.terminal,)).fetchone()
    return None if row is None else row[0]


def post_void(ctx, user, idem_key: str, ticket_id: int | None = None, *, approval=None,
              references: dict | None = None) -> RefundResult:
    """Reverse this terminal's last sale as a whole (tenders, drawer): a refund of
    kind ``post_void`` with reason "post-void". ``ticket_id``: the sale the screen
    showed, refused if it is no longer the last one."""
    idem_key = _key(idem_key)

    def tx():
        last = dbmod.locked(Ticket.select().where((Ticket.terminal == ctx.terminal) &
                                                  (Ticket.status == "completed"))
                            .order_by(Ticket.receipt_no.desc()).limit(1)).first()
        again = _by_key(idem_key)
        if again is not None:
            return _again(again)
        if last is None:
            raise NotFound("there is no sale on this terminal to post-void")
        if ticket_id is not None and last.id != ticket_id:
            raise Conflict(f"receipt {last.terminal}/{last.receipt_no} is the last sale of this terminal now: "
                           f"only the last sale can be post-voided (return the other one instead)")
        info = lookup.sale_info(ctx, last)
        if any(r.status != "rejected" for r in info.refunds):
            raise Conflict(f"receipt {info.terminal}/{info.receipt_no} already has returns: return the rest "
                           f"instead of a post-void")
        if EXCHANGE in info.paid:
            raise Conflict("a sale paid with an exchange credit is not post-voided: return its lines instead")
        items = [ReturnItem(ln.line_id, ln.returnable) for ln in info.lines if ln.returnable]
        if not items:
            raise Conflict("nothing on that sale can be returned")
        plan = _plan_return(ctx, info, items, method=None, kind="post_void")
        _references(ctx, plan.tenders, references)
        a = rules.gate(ctx, user, plan.action, plan.reasons, plan.total, _approval_ref(plan.original, idem_key),
                       approval)
        return _commit(ctx, user, idem_key, plan, POST_VOID_REASON, "", a)
    return _run(idem_key, tx)


# ---------------------------------------------------------------- requests ---

def request_refund(ctx, user, idem_key: str, ticket_id: int | None, items, reason: str, *,
                   method: str | None = None, note: str = "") -> RefundResult:
    """Leave a refund that needs a manager for one who is not at the till: it is
    stored as ``requested`` with its quantities held (no other return can take
    them), and an approval request (``station.authority.request_approval``) waits
    for a manager at any terminal, on the dashboard. The manager's decision is
    the request's; :func:`process_request` gives the money back once it is
    granted. ``ticket_id`` None: ``items`` are :class:`ProductItem` (no receipt)."""
    idem_key, reason, note, method = _key(idem_key), _reason(ctx, reason), _note(note), _method(ctx, method)

    def tx():
        info = None
        if ticket_id is not None:
            info = lookup.sale_info(ctx, _lock_sale(ticket_id), refunds=False)
        again = _by_key(idem_key)
        if again is not None:
            return stored(again, duplicate=True)
        plan = (_plan_return(ctx, info, items, method=method) if info is not None
                else _plan_without_receipt(ctx, items, method=method))
        if permissions.decide(user.role, plan.action, amount=plan.total, config=ctx.config) == permissions.REFUSE:
            raise PermissionDenied(f"{user.role} may not refund")
        if not rules.needs_approval(ctx, user, plan.action, plan.total):
            raise InvalidInput("this refund needs no manager: refund it now")
        why = "; ".join(plan.reasons) or f"more than {rules.fmt(ctx, ctx.config.limits.refund_alone)}"
        items_text = ", ".join(f"{qty_text(pl.qty)} x {pl.name}" for pl in plan.lines)
        req = authority.request_approval(ctx, user, plan.action, amount=plan.total,
                                         ref=_approval_ref(info, idem_key),
                                         reason=f"{reason}: {items_text}; {why}"[:500])
        now = utcnow()
        fields = dict(terminal=ctx.terminal, kind="return", status="requested",
                      original=None if info is None else info.ticket_id, reason=reason, note=note,
                      cashier=user.id, needs=plan.action, why=why, idem_key=idem_key,
                      approval_request=req.id, method=plan.method, total=plan.total, tax_total=plan.tax,
                      created_at=now)
        rid = Refund.insert(**fields).execute()
        _insert_lines(rid, plan.lines)
        journal.append("refund.requested", terminal=ctx.terminal, user=user, amount=plan.total, ref=f"Q{rid}",
                       data=_journal_data({"refund": rid, "reason": reason, "needs": plan.action, "why": why,
                                           "approval_request": req.id}, plan.lines, [], info))
        return RefundResult(rid, None, ctx.terminal, "return", "requested", reason, plan.total, plan.tax, 0, [],
                            None, fields["original"], False, None, why, plan.action)
    return _run(idem_key, tx)


def _follow(ctx, r: Refund) -> Refund:
    """Inside a write: a requested refund takes its approval request's outcome
    (granted: approved, with its approval; refused, cancelled or expired:
    rejected, its quantities free again). Journalled once, by the first to see it."""
    if r.status != "requested" or r.approval_request_id is None:
        return r
    authority.expire_requests(ctx)
    q = ApprovalRequest.get_by_id(r.approval_request_id)
    if q.status == "pending":
        return r
    now = utcnow()
    if q.status == "granted":
        n = (Refund.update(status="approved", approver=q.decided_by_id, approval=q.approval_id, decided_at=now)
             .where((Refund.id == r.id) & (Refund.status == "requested")).execute())
        kind = "refund.approved"
    else:
        n = (Refund.update(status="rejected", approver=q.decided_by_id, decided_at=now)
             .where((Refund.id == r.id) & (Refund.status == "requested")).execute())
        kind = "refund.rejected"
    if n == 1:
        journal.append(kind, terminal=ctx.terminal, user=None, amount=r.total, ref=f"Q{r.id}",
                       data={"refund": r.id, "approval_request": q.id, "request": q.status,
                             "decided_by": q.decided_by_id, "note": q.note})
    return Refund.get_by_id(r.id)


@dataclass
class RequestView:
    id: int
    terminal: str
    cashier: str
    created_at: _dt.datetime
    status: str
    total: int
    needs: str
    why: str
    reason: str
    original: str | None          # "T1/42", None without a receipt
    approver: str | None = None
    lines: list[tuple[str, int]] = field(default_factory=list)   # name, qty


def list_requests(ctx, *, include_done: bool = False, limit: int = 100) -> list[RequestView]:
    """The refunds waiting for a manager (requested) or for their cashier
    (approved), oldest first: the queue every manager's terminal shows."""
    waiting = list(Refund.select().where(Refund.status == "requested"))
    if waiting:
        def follow():
            for r in waiting:
                _follow(ctx, dbmod.locked(Refund.select().where(Refund.id == r.id)).get())
        sale.run_write(follow)
    q = Refund.select().where(Refund.needs.is_null(False))
    if not include_done:
        q = q.where(Refund.status.in_(("requested", "approved")))
    rows = list(q.order_by(Refund.id).limit(limit))
    out = []
    for r in rows:
        orig = None
        if r.original_id is not None:
            t = Ticket.get_by_id(r.original_id)
            orig = f"{t.terminal}/{t.receipt_no}"
        lines = [(ln.name, ln.qty) for ln in RefundLine.select(RefundLine.name, RefundLine.qty)
                 .where(RefundLine.refund == r.id).order_by(RefundLine.position)]
        out.append(RequestView(r.id, r.terminal, sale._user_name(ctx, r.cashier_id), r.created_at, r.status, r.total,
                               r.needs, r.why, r.reason, orig,
                               sale._user_name(ctx, r.approver_id) if r.approver_id else None, lines))
    return out


def _request_plan(ctx, r: Refund, t) -> Plan:
    """How a waiting request's money would go back now (its held quantities count
    as returned already)."""
    lines = [PlannedLine(ln.original_line_id, ln.product_id, ln.code, ln.name, ln.qty, ln.unit_price, ln.amount,
                         ln.tax, ln.vat_rate)
             for ln in RefundLine.select().where(RefundLine.refund == r.id).order_by(RefundLine.position)]
    if t is not None:
        info = lookup.sale_info(ctx, t, refunds=False)
        settle = all(ln.returnable == 0 for ln in info.lines)
        tenders = _back(ctx, info, r.total, settle=settle, method=r.method)
    else:
        info = None
        back = money.round_to_step(r.total, ctx.config.cash.rounding_step) if r.method == "cash" else r.total
        tenders = [TenderOut(r.method, None, -back)] if back > 0 else []
    return Plan(r.kind, info, lines, r.total, r.tax_total, tenders, r.needs, r.why.split("; ") if r.why else [],
                r.method)


def request_plan(ctx, refund_id: int) -> Plan:
    """What processing request ``refund_id`` would give back, by which ways (read
    only: the screen asks the references of the non-cash ones first)."""
    r = Refund.get_or_none(Refund.id == refund_id)
    if r is None or r.needs is None:
        raise NotFound(f"there is no refund request {refund_id}")
    t = lookup.sale_head(r.original_id) if r.original_id is not None else None
    return _request_plan(ctx, r, t)


def process_request(ctx, user, refund_id: int, *, references: dict | None = None) -> RefundResult:
    """Give the money back for an approved request (its cashier, at any terminal
    with an open drawer). Exactly once: processing it again returns it as stored."""
    r0 = Refund.get_or_none(Refund.id == refund_id)
    if r0 is None or r0.needs is None:
        raise NotFound(f"there is no refund request {refund_id}")
    # the manager's decision first, in its own transaction (a refusal stays recorded)
    sale.run_write(lambda: _follow(ctx, dbmod.locked(Refund.select().where(Refund.id == refund_id)).get()))

    def tx():
        t = _lock_sale(r0.original_id) if r0.original_id is not None else None
        r = _follow(ctx, dbmod.locked(Refund.select().where(Refund.id == refund_id)).first())
        if r.status != "approved":
            return _again(r)
        plan = _request_plan(ctx, r, t)
        lines, tenders, info = plan.lines, plan.tenders, plan.original
        _references(ctx, tenders, references)
        a = authority.require(ctx, user, r.needs, amount=r.total, ref=_approval_ref(info, r.idem_key),
                              approval=r.approval_id)
        s = drawer.lock_open_session(ctx)
        _cash_available(ctx, s, plan.cash)
        no = _next_refund_no(ctx.terminal)
        now = utcnow()
        n = (Refund.update(status="processed", refund_no=no, terminal=ctx.terminal, session=s.id,
                           rounding=plan.rounding, processed_at=now)
             .where((Refund.id == r.id) & (Refund.status == "approved")).execute())
        if n != 1:
            raise Conflict(f"refund request {r.id} changed meanwhile")
        stock_moves.post_refund(ctx, user, r.id, now)
        _insert_tenders(r.id, tenders, now)
        _post(s, user, r.id, r.reason, plan)
        _probe(ctx, "before_journal")
        journal.append("refund.processed", terminal=ctx.terminal, user=user, amount=plan.paid_out, ref=f"R{no}",
                       data=_journal_data({"refund": r.id, "refund_no": no, "kind": r.kind, "reason": r.reason,
                                           "session": s.id, "total": r.total, "tax": r.tax_total,
                                           "rounding": plan.rounding, "paid_out": plan.paid_out,
                                           "approval": a.id if a else None, "exchange_ticket": None},
                                          lines, tenders, info))
        return stored(Refund.get_by_id(r.id))
    return _run(r0.idem_key, tx)


# ---------------------------------------------------------------- exchange ---

@dataclass
class ExchangeResult:
    refund: RefundResult
    sale: object                  # station.tender.SaleResult of the new sale
    credit: int                   # of the returned goods, what went into the new sale
    difference: int               # > 0: the customer paid it; < 0: it went back to them

    @property
    def duplicate(self) -> bool:
        return self.refund.duplicate


def exchange(ctx, user, sale_key: str, ticket_id: int, items, reason: str, payments=(), *,
             method: str | None = None, references: dict | None = None, approval=None,
             note: str = "") -> ExchangeResult:
    """Return ``items`` of sale ``ticket_id`` and sell this terminal's open ticket
    (tendered under ``sale_key``, from ``tender.begin_tender``) in ONE transaction.
    The returned goods' value pays the new sale first (tender ``exchange``); the
    customer pays what is left with ``payments``, or gets the rest back as a
    refund would give it. The return follows every refund rule. Exactly once per
    ``sale_key`` (it is the refund's key too)."""
    from station import tender   # noqa: PLC0415 - the sale commit, called inside this transaction
    sale_key, reason, note, method = _key(sale_key), _reason(ctx, reason), _note(note), _method(ctx, method)

    def tx():
        new = dbmod.locked(Ticket.select().where(Ticket.idem_key == sale_key)).first()
        if new is None:
            raise NotFound("no sale is being tendered with this key (start the tender again)")
        t = _lock_sale(ticket_id)
        again = _by_key(sale_key)
        if again is not None:
            if again.status != "processed" or new.status != "completed":
                return _again(again)
            return _exchange_result(stored(again, duplicate=True), new)
        if new.status != "open" or new.terminal != ctx.terminal:
            raise Conflict("the new sale is not open on this terminal")
        due = sale.totals_of(ctx, new).total
        if due <= 0:
            raise InvalidInput("ring up what the customer takes instead first")
        info = lookup.sale_info(ctx, t, refunds=False)
        plan = _plan_return(ctx, info, items, method=method, credit=due)
        plan.kind = "exchange"
        _references(ctx, plan.tenders, references)
        a = rules.gate(ctx, user, plan.action, plan.reasons, plan.total, _approval_ref(info, sale_key),
                       approval)
        credit = -sum(x.amount for x in plan.tenders if x.method == EXCHANGE)
        pays = list(payments or ())
        if credit >= due and pays:
            raise InvalidInput("the returned goods pay for all of it: nothing more to pay")

        def sell(refund_id: int) -> None:
            res = tender.complete_sale(ctx, user, sale_key, pays, credit=credit,
                                       credit_ref=f"refund {refund_id}")
            holder["sale"] = res
        holder: dict = {}
        r = _commit(ctx, user, sale_key, plan, reason, note, a, exchange_ticket=new.id, before_journal=sell)
        return ExchangeResult(r, holder["sale"], credit, due - plan.paid_out)
    return _run_exchange(sale_key, tx)


def _run_exchange(sale_key, tx) -> ExchangeResult:
    res = _run(sale_key, tx)
    if isinstance(res, RefundResult):     # settled by the database: the stored exchange
        return _exchange_result(res, Ticket.get(Ticket.idem_key == sale_key))
    return res


def _exchange_result(r: RefundResult, new: Ticket) -> ExchangeResult:
    from station import tender   # noqa: PLC0415
    credit = -sum(x.amount for x in r.tenders if x.method == EXCHANGE)
    return ExchangeResult(r, tender.sale_result(None, new.idem_key), credit, new.total - r.paid_out)


# ------------------------------------------------------------------- views ---

@dataclass
class RefundView:
    result: RefundResult
    lines: list[RefundLine]
    cashier: str
    approver: str | None
    original: lookup.SaleInfo | None
    created_at: _dt.datetime
    processed_at: _dt.datetime | None
    note: str


def refund_view(ctx, refund_id: int | None = None, *, refund_no: int | None = None,
                terminal: str | None = None) -> RefundView:
    """A stored refund by id, or by its number on a terminal."""
    if refund_id is not None:
        r = Refund.get_or_none(Refund.id == refund_id)
        what = f"refund {refund_id}"
    else:
        term = terminal or ctx.terminal
        r = Refund.get_or_none((Refund.terminal == term) & (Refund.refund_no == refund_no))
        what = f"refund {refund_no} of terminal {term}"
    if r is None:
        raise NotFound(f"there is no {what}")
    lines = list(RefundLine.select().where(RefundLine.refund == r.id).order_by(RefundLine.position))
    orig = lookup.sale_info(ctx, Ticket.get_by_id(r.original_id)) if r.original_id is not None else None
    return RefundView(stored(r), lines, sale._user_name(ctx, r.cashier_id),
                      sale._user_name(ctx, r.approver_id) if r.approver_id else None, orig, r.created_at,
                      r.processed_at, r.note)

