"""Taking the money: exactly once, in ONE transaction.

``begin_tender`` mints an idempotency key and stores it on the open ticket
(UNIQUE ``ticket.idem_key``); a re-entered tender screen gets the same key back.
``complete_sale(idem_key, payments)`` commits the whole sale at once: tenders,
change, the cash posting into the open drawer session, the gapless receipt number
of this terminal, the completed ticket and the ``sale.completed`` journal entry.
Called again with the same key (Enter pressed twice, a retry after a database
error, a restart after a crash between the commit and the screen) it returns the
stored result with ``duplicate=True`` and changes nothing.

Payments
--------
``Payment(method, amount, tendered=None, reference="")``. For a non-cash method
``amount`` is what it pays; together the non-cash payments may not exceed what is
due. Cash pays the rest: that rest is rounded to ``cash.rounding_step`` (cash only;
with a split, only the part paid in cash is rounded), the cash handed over is
``tendered`` (or ``amount``) summed over the cash payments and must cover it, and
the change is the difference. Change comes only out of cash.

Stored: one Tender row per non-cash payment and one for cash (amount = the rounded
cash due, tendered = handed over, change). ``ticket.rounding`` = rounded cash due -
unrounded rest, so SUM(tender.amount) = ticket.total + ticket.rounding always.
Drawer: ``sale`` = cash handed over, ``change`` = minus the change, so the drawer's
expected cash grows by exactly the cash kept.

Lock order (same as the drawer service, no deadlocks between terminals): the
ticket row, the drawer session row, the receipt counter row, the journal head.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import peewee

from data import db as dbmod
from data.models import ReceiptCounter, Tender, Ticket, TicketLine, utcnow
from station import authority, drawer, journal, money, sale
from station.errors import Conflict, InvalidInput, NotFound, Unavailable


@dataclass
class Payment:
    method: str
    amount: int
    tendered: int | None = None
    reference: str = ""


@dataclass
class TenderStart:
    ticket_id: int
    idem_key: str
    due: int          # the total
    cash_due: int     # the total rounded for payment fully in cash
    rounding_step: int = 1


@dataclass
class SaleResult:
    ticket_id: int
    receipt_no: int
    total: int
    change: int
    paid_cash: int       # cash kept (applied to the sale)
    duplicate: bool = False
    rounding: int = 0
    tendered_cash: int = 0
    session_id: int | None = None


def _step(ctx) -> int:
    return ctx.config.cash.rounding_step


def cash_due_for(ctx, rest: int) -> int:
    return money.round_to_step(rest, _step(ctx))


# ------------------------------------------------------------ amounts ---

def parse_amount_input(ctx, text) -> int:
    """What the cashier typed -> minor units, or InvalidInput with a sentence.
    Separator per store.decimal_separator, at most limits.max_amount."""
    if not isinstance(text, str):
        raise InvalidInput("enter an amount")
    cfg = ctx.config
    s = text.strip()
    low = s.lower()
    if s and ("e" in low or "inf" in low or "nan" in low) and any(ch.isdigit() for ch in low):
        raise InvalidInput(f"'{s}' is not an amount: type digits only, e.g. 12.50")
    try:
        return money.parse_amount(s, minor_units=cfg.store.minor_units,
                                  decimal_sep=cfg.store.decimal_separator, maximum=cfg.limits.max_amount)
    except money.AmountError as e:
        raise InvalidInput(str(e)) from None


# -------------------------------------------------------------- begin ---

def begin_tender(ctx, user) -> TenderStart:
    """Start tendering this terminal's open ticket: mint (or reuse) its key."""
    def tx():
        authority.require(ctx, user, "sale.tender")
        t = sale._open_ticket(ctx)
        if t is None:
            raise NotFound("there is no open ticket to tender")
        live = TicketLine.select().where((TicketLine.ticket == t.id) & (~TicketLine.voided)).count()
        if not live:
            raise InvalidInput("the ticket is empty: scan an item first")
        key = t.idem_key
        if key is None:
            key = uuid.uuid4().hex
            Ticket.update(idem_key=key).where((Ticket.id == t.id) & Ticket.idem_key.is_null()).execute()
        tot = sale.totals_of(ctx, t)
        return TenderStart(t.id, key, tot.total, cash_due_for(ctx, tot.total), _step(ctx))
    return sale.run_write(tx)


# ----------------------------------------------------------- complete ---

def _stored_result(t: Ticket) -> SaleResult:
    cash = [x for x in Tender.select().where(Tender.ticket == t.id) if x.method == "cash"]
    return SaleResult(ticket_id=t.id, receipt_no=t.receipt_no, total=t.total,
                      change=sum(x.change for x in cash), paid_cash=sum(x.amount for x in cash),
                      duplicate=True, rounding=t.rounding, tendered_cash=sum(x.tendered for x in cash),
                      session_id=t.session_id)


def _clean_payments(ctx, payments) -> tuple[list[Payment], list[Payment]]:
    if not isinstance(payments, (list, tuple)):
        raise InvalidInput("payments must be a list")
    methods = ctx.config.cash.tender_methods
    max_amount = ctx.config.limits.max_amount
    cash, other = [], []
    for p in payments:
        if p.method not in methods:
            raise InvalidInput(f"'{p.method}' is not a tender method here ({', '.join(methods)})")
        for label, v in (("amount", p.amount), ("tendered", p.tendered)):
            if v is None and label == "tendered":
                continue
            if not isinstance(v, int) or isinstance(v, bool):
                raise InvalidInput(f"the {p.method} {label} must be an amount in minor units")
            if v <= 0:
                raise InvalidInput(f"the {p.method} amount must be more than zero")
            if v > max_amount:
                raise InvalidInput(f"the {p.method} amount is more than the maximum "
                                   f"{money.format_amount(max_amount, minor_units=ctx.config.store.minor_units)}")
        if p.method != "cash" and p.tendered is not None and p.tendered != p.amount:
            raise InvalidInput(f"{p.method} pays exactly its amount: no change from {p.method}")
        if len(p.reference or "") > 64:
            raise InvalidInput("the payment reference is too long (64 characters at most)")
        (cash if p.method == "cash" else other).append(p)
    return cash, other


def _fmt(ctx, v: int) -> str:
    s = ctx.config.store
    return money.format_amount(v, minor_units=s.minor_units, currency=s.currency_symbol)


def _next_receipt_no(terminal: str) -> int:
    """The next receipt number of ``terminal``, gapless: the counter row is
    incremented in the sale's transaction (the UPDATE holds the row lock until
    COMMIT, so terminals sharing a counter queue; a rollback gives the number back)."""
    n = (ReceiptCounter.update(last=ReceiptCounter.last + 1)
         .where(ReceiptCounter.terminal == terminal).execute())
    if n == 0:
        ReceiptCounter.insert(terminal=terminal, last=1).execute()
        return 1
    return ReceiptCounter.select(ReceiptCounter.last).where(ReceiptCounter.terminal == terminal).scalar()


def complete_sale(ctx, user, idem_key: str, payments) -> SaleResult:
    """Commit the sale of the ticket tendered under ``idem_key`` exactly once."""
    if not idem_key or not isinstance(idem_key, str):
        raise InvalidInput("no tender was started for this sale")

    def tx():
        t = dbmod.locked(Ticket.select().where(Ticket.idem_key == idem_key)).first()
        if t is None:
            raise NotFound("no sale is being tendered with this key (start the tender again)")
        if t.status == "completed":
            return _stored_result(t)      # whatever payments come with the retry
        cash_p, other_p = _clean_payments(ctx, payments)
        if t.status != "open":
            raise Conflict(f"the ticket was {t.status} meanwhile: nothing was charged")
        if t.terminal != ctx.terminal:
            raise Conflict(f"the ticket is open on terminal {t.terminal}, not here")
        authority.require(ctx, user, "sale.tender", ref=t.id)
        lines = sale._lines_of(t.id)
        if not any(not ln.voided for ln in lines):
            raise InvalidInput("the ticket is empty: nothing to pay")
        tot = sale.compute_totals(lines, t.discount_bp, ctx.config.store.prices_include_tax)
        due = tot.total
        other_sum = sum(p.amount for p in other_p)
        if other_sum > due:
            raise InvalidInput(f"card and other payments ({_fmt(ctx, other_sum)}) may not exceed what is due "
                               f"({_fmt(ctx, due)})")
        rest = due - other_sum
        cash_due = cash_due_for(ctx, rest) if cash_p else rest
        tendered_cash = sum(p.tendered if p.tendered is not None else p.amount for p in cash_p)
        if cash_p and cash_due == 0:
            raise InvalidInput("the other payments already cover the total: no cash is needed")
        if not cash_p and rest > 0:
            raise InvalidInput(f"{_fmt(ctx, rest)} is still due")
        if cash_p and tendered_cash < cash_due:
            raise InvalidInput(f"{_fmt(ctx, cash_due - tendered_cash)} is still due in cash")
        change = tendered_cash - cash_due if cash_p else 0
        rounding = cash_due - rest if cash_p else 0

        # the drawer session row (locked by post_cash / lock_open_session: refused when
        # no session is open), then the receipt counter, then the journal
        if cash_p:
            session_id = drawer.post_cash(ctx, user, "sale", tendered_cash, t.id).session_id
            if change:
                drawer.post_cash(ctx, user, "change", -change, t.id)
        else:
            session_id = drawer.lock_open_session(ctx).id
        receipt_no = _next_receipt_no(ctx.terminal)
        for p in other_p:
            Tender.create(ticket=t.id, method=p.method, amount=p.amount, tendered=p.amount, change=0,
                          reference=(p.reference or "")[:64])
        if cash_p:
            Tender.create(ticket=t.id, method="cash", amount=cash_due, tendered=tendered_cash, change=change,
                          reference="")
        now = utcnow()
        n = (Ticket.update(status="completed", session=session_id, receipt_no=receipt_no,
                           subtotal=tot.subtotal, tax_total=tot.tax_total, total=due, rounding=rounding,
                           ticket_discount=tot.ticket_discount, cashier=user.id, completed_at=now, updated_at=now)
             .where((Ticket.id == t.id) & (Ticket.status == "open")).execute())
        if n != 1:
            raise Conflict("the ticket changed meanwhile: nothing was charged")
        journal.append("sale.completed", terminal=ctx.terminal, user=user, amount=due, ref=str(receipt_no),
                       data={"ticket": t.id, "receipt_no": receipt_no, "session": session_id,
                             "subtotal": tot.subtotal, "taxes": {str(k): v for k, v in tot.taxes.items()},
                             "discount": tot.discount, "rounding": rounding, "change": change,
                             "tenders": [{"method": p.method, "amount": p.amount} for p in other_p]
                             + ([{"method": "cash", "amount": cash_due, "tendered": tendered_cash}]
                                if cash_p else [])})
        return SaleResult(ticket_id=t.id, receipt_no=receipt_no, total=due, change=change,
                          paid_cash=cash_due if cash_p else 0, duplicate=False, rounding=rounding, tendered_cash=tendered_cash,
                          session_id=session_id)

    try:
        return sale.run_write(tx)
    except peewee.IntegrityError as e:
        # another process committed this very key meanwhile: answer with its result
        t = Ticket.select().where(Ticket.idem_key == idem_key).first()
        if t is not None and t.status == "completed":
            return _stored_result(t)
        raise Unavailable(f"the sale could not be recorded: {dbmod.first_line(e)}") from None


def sale_result(ctx, idem_key: str) -> SaleResult | None:
    """The stored result of a completed sale by its key (after a restart), or None."""
    t = Ticket.select().where((Ticket.idem_key == idem_key) & (Ticket.status == "completed")).first()
    return _stored_result(t) if t else None


def last_sale(ctx) -> SaleResult | None:
    """This terminal's last completed sale."""
    t = (Ticket.select().where((Ticket.terminal == ctx.terminal) & (Ticket.status == "completed"))
         .order_by(Ticket.receipt_no.desc()).first())
    return _stored_result(t) if t else None
