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

The commit is plain SQL, each statement once: the ticket (with the cashier's
fresh role), its lines only when this terminal's open ticket is not in memory
at that revision (``sale.OpenTicket``), the drawer session (locked), the next
receipt number, then the writes (tenders, cash movements, the session's running
figures, the completed ticket, the journal row: on PostgreSQL they travel with
the COMMIT). Everything read and decided is in one :class:`SaleCommit`;
:func:`write_sale` writes it, and is where other areas add their rows to the
same transaction (see ARCHITECTURE.md).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import peewee

from data import db as dbmod
from data.models import Tender, Ticket, utcnow
from station import authority, drawer, journal, money, printing, sale, seal
from station.errors import Conflict, InvalidInput, NotFound, Unavailable
from station.payments import sale_rules as provider_payments
from station.stock import movements as stock_moves


@dataclass
class Payment:
    method: str
    amount: int
    tendered: int | None = None
    reference: str = ""
    payment_ref: str | None = None   # the provider payment (station.payments) it is paid by


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
    return ctx.config.values["cash"]["rounding_step"]


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

_MINT_KEY = ("UPDATE ticket SET idem_key = COALESCE(idem_key, ?), rev = rev + 1, updated_at = ? "
             "WHERE terminal = ? AND status = 'open' RETURNING id, rev, discount_bp, cashier_id, idem_key, "
             "(SELECT CASE WHEN active THEN role END FROM \"user\" WHERE id = ?)")


def begin_tender(ctx, user) -> TenderStart:
    """Start tendering this terminal's open ticket: mint (or reuse) its key. One
    statement (a ticket edit) when the open ticket is in memory."""
    if user is None or not getattr(user, "active", False):
        authority.require_role(ctx, user, None, "sale.tender")

    def tx():
        db = dbmod.current()
        row = db.execute_sql(dbmod.q(_MINT_KEY), (uuid.uuid4().hex, dbmod.param_time(utcnow()), ctx.terminal,
                                                  user.id)).fetchone()
        if row is None:
            role = db.execute_sql(dbmod.q(authority.FRESH_ROLE_SQL), (user.id,)).fetchone()
            authority.require_role(ctx, user, role[0] if role else None, "sale.tender")
            raise NotFound("there is no open ticket to tender")
        tid, rev, bp, cashier_id, key, role = row
        authority.require_role(ctx, user, role, "sale.tender")
        o = sale.open_ticket_at(ctx, tid, rev - 1, bp, cashier_id, key)
        if not o.sums.lines_per_rate:
            raise InvalidInput("the ticket is empty: scan an item first")
        return sale.Edit(o, rev, role), key
    e, key = sale.run_write(tx, durable=False)
    e.base.idem_key = key
    view = sale.after_edit(ctx, e, None)
    return TenderStart(view.id, key, view.total, cash_due_for(ctx, view.total), _step(ctx))


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
    methods = ctx.config.values["cash"]["tender_methods"]
    max_amount = ctx.config.values["limits"]["max_amount"]
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


_NEXT_RECEIPT = ("INSERT INTO receipt_counter (terminal, last) VALUES (?, 1) ON CONFLICT (terminal) "
                 "DO UPDATE SET last = receipt_counter.last + 1 RETURNING last")


def _next_receipt_no(terminal: str) -> int:
    """The next receipt number of ``terminal``, gapless: the counter row is
    incremented in the sale's transaction (one statement; the row lock is held
    until COMMIT, so terminals sharing a counter queue; a rollback gives the
    number back)."""
    return dbmod.current().execute_sql(dbmod.q(_NEXT_RECEIPT), (terminal,)).fetchone()[0]


@dataclass
class SaleCommit:
    """Everything ``complete_sale`` read and decided inside its transaction, for
    :func:`write_sale` and for whatever else the sale's transaction writes
    (stock per line, cost and summaries, the sale's digest): no need to read any
    of it again."""
    ctx: object
    user: object
    ticket_id: int
    terminal: str
    lines: list                  # sale.LineView, in order (voided ones included: check .voided)
    totals: sale.Totals
    due: int
    receipt_no: int
    session: drawer.OpenSession  # locked
    posting: drawer.SessionPosting
    tenders: list[tuple]         # (method, amount applied, tendered, change, reference)
    cash_due: int
    tendered_cash: int
    change: int
    rounding: int
    now: object
    journal_data: dict = field(default_factory=dict)   # the sale.completed entry's data (add to it)


_TICKET = ("SELECT t.id, t.status, t.terminal, t.discount_bp, t.rev, t.cashier_id, t.idem_key, "
           "(SELECT CASE WHEN active THEN role END FROM \"user\" WHERE id = ?) FROM ticket t WHERE t.idem_key = ?")
_INSERT_TENDER = "INSERT INTO tender (ticket_id, method, amount, tendered, change, reference, created_at) VALUES "
_COMPLETE = ("UPDATE ticket SET status = 'completed', session_id = ?, receipt_no = ?, subtotal = ?, tax_total = ?, "
             "total = ?, rounding = ?, ticket_discount = ?, cashier_id = ?, completed_at = ?, updated_at = ?, "
             "rev = rev + 1 WHERE id = ? AND status = 'open'")


def write_sale(sc: SaleCommit) -> None:
    """The sale's rows, inside its transaction: tenders, the drawer posting (cash
    movements, the session's running figures), the completed ticket, its receipt
    in the print queue, its stock movements, the ``sale.completed`` journal entry with the sale's
    digest (last: it takes the journal head)."""
    now = dbmod.param_time(sc.now)
    if sc.tenders:
        dbmod.defer(dbmod.q(_INSERT_TENDER + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(sc.tenders))),
                    [v for m, a, td, ch, ref in sc.tenders for v in (sc.ticket_id, m, a, td, ch, ref, now)])
    sc.posting.sale(sc.receipt_no, sc.due, [(m, a) for m, a, *_r in sc.tenders])
    sc.posting.write()
    tot = sc.totals
    dbmod.defer(dbmod.q(_COMPLETE), (sc.session.id, sc.receipt_no, tot.subtotal, tot.tax_total, sc.due,
                                     sc.rounding, tot.ticket_discount, sc.user.id, now, now, sc.ticket_id))
    stock_moves.post_sale(sc)
    printing.queue_sale_receipt(sc)
    seal.seal_sale(sc)
    journal.append("sale.completed", terminal=sc.terminal, user=sc.user, amount=sc.due, ref=str(sc.receipt_no),
                   data=sc.journal_data)


def complete_sale(ctx, user, idem_key: str, payments, *, credit: int = 0, credit_ref: str = "") -> SaleResult:
    """Commit the sale of the ticket tendered under ``idem_key`` exactly once.
    ``credit``: an exchange's returned goods paying that much of it (tender
    ``exchange``; only ``station.refund.exchange`` passes it, inside its own
    transaction)."""
    if not idem_key or not isinstance(idem_key, str):
        raise InvalidInput("no tender was started for this sale")

    def tx():
        db = dbmod.current()
        sql = _TICKET + (" FOR UPDATE OF t" if dbmod.is_postgres() else "")
        row = db.execute_sql(dbmod.q(sql), (user.id if user is not None else 0, idem_key)).fetchone()
        if row is None:
            raise NotFound("no sale is being tendered with this key (start the tender again)")
        tid, status, terminal, bp, rev, cashier_id, key, role = row
        if status == "completed":
            return _stored_result(Ticket.get_by_id(tid))      # whatever payments come with the retry
        cash_p, other_p = _clean_payments(ctx, payments)
        if credit:
            other_p.insert(0, Payment("exchange", credit, reference=credit_ref[:64]))
        if status != "open":
            raise Conflict(f"the ticket was {status} meanwhile: nothing was charged")
        if terminal != ctx.terminal:
            raise Conflict(f"the ticket is open on terminal {terminal}, not here")
        authority.require_role(ctx, user, role, "sale.tender", ref=tid)
        o = sale.open_ticket_at(ctx, tid, rev, bp, cashier_id, key)
        if not o.sums.lines_per_rate:
            raise InvalidInput("the ticket is empty: nothing to pay")
        tot = o.sums.totals(bp, ctx.config.values["store"]["prices_include_tax"])
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
        if other_p:   # mobile money / card gateway payments: each paid, used by this sale only
            provider_payments.use_in_sale(ctx, tid, other_p)

        # lock order: the drawer session row (no open session: Conflict, nothing
        # charged), the receipt counter, then the journal head (write_sale)
        session = drawer.lock_open_session(ctx, user=user)
        receipt_no = _next_receipt_no(ctx.terminal)
        posting = drawer.SessionPosting(session, user.id)
        if cash_p:
            posting.cash("sale", tendered_cash, ticket_id=tid)
            if change:
                posting.cash("change", -change, ticket_id=tid)
        tenders = [(p.method, p.amount, p.amount, 0, (p.reference or "")[:64]) for p in other_p]
        if cash_p:
            tenders.append(("cash", cash_due, tendered_cash, change, ""))
        sc = SaleCommit(ctx, user, tid, ctx.terminal, o.lines, tot, due, receipt_no, session, posting, tenders,
                        cash_due if cash_p else 0, tendered_cash, change, rounding, utcnow())
        sc.journal_data = {
            "ticket": tid, "receipt_no": receipt_no, "session": session.id, "subtotal": tot.subtotal,
            "taxes": {str(k): v for k, v in tot.taxes.items()}, "discount": tot.discount, "rounding": rounding,
            "change": change,
            "tenders": [{"method": p.method, "amount": p.amount} for p in other_p]
            + ([{"method": "cash", "amount": cash_due, "tendered": tendered_cash}] if cash_p else [])}
        write_sale(sc)
        return SaleResult(ticket_id=tid, receipt_no=receipt_no, total=due, change=change,
                          paid_cash=sc.cash_due, duplicate=False, rounding=rounding, tendered_cash=tendered_cash,
                          session_id=session.id)

    if user is None or not getattr(user, "active", False):
        authority.require_role(ctx, user, None, "sale.tender")
    try:
        result = sale.run_write(tx)
    except peewee.IntegrityError as e:
        # another process committed this very key meanwhile: answer with its result
        t = Ticket.select().where(Ticket.idem_key == idem_key).first()
        if t is not None and t.status == "completed":
            return _stored_result(t)
        raise Unavailable(f"the sale could not be recorded: {dbmod.first_line(e)}") from None
    if not result.duplicate:
        sale.remember_open(ctx, None)      # the ticket is no longer open
    return result


def sale_result(ctx, idem_key: str) -> SaleResult | None:
    """The stored result of a completed sale by its key (after a restart), or None."""
    t = Ticket.select().where((Ticket.idem_key == idem_key) & (Ticket.status == "completed")).first()
    return _stored_result(t) if t else None


def last_sale(ctx) -> SaleResult | None:
    """This terminal's last completed sale."""
    t = (Ticket.select().where((Ticket.terminal == ctx.terminal) & (Ticket.status == "completed"))
         .order_by(Ticket.receipt_no.desc()).first())
    return _stored_result(t) if t else None
