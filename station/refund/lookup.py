"""Finding a sale to return from, and what each of its lines can still give back.

A sale is found by the CODE128 receipt code printed on its receipt
(``T1-000042``: terminal, dash, receipt number), by a typed ``T1/42``, ``T1-42`` or
``42`` (this terminal), or by searching recent sales (a day, an amount, the last
four digits of a card reference). A refund receipt's code (``R/T1-000007``)
finds the refund's sale.

Reads only; no lock. The refund commit reads again under the sale's lock.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field

from peewee import fn

from data import db as dbmod
from data.models import Product, Tender, Ticket, utcnow
from data.refund import Refund, RefundTender
from station import sale
from station.errors import InvalidInput, NotFound
from station.refund.amounts import Paid, paid_per_line, part_of_line

REFUND_CODE_PREFIX = "R/"


@dataclass
class ReturnLine:
    """A sale line as the returns screen shows it (quantities in thousandths)."""
    line_id: int
    position: int
    code: str
    name: str
    unit: str
    unit_price: int
    vat_rate: int
    product_id: int | None
    sold: int
    returned: int
    returnable: int
    paid: int             # what the customer paid for the whole line, after line and ticket discounts
    tax: int              # the tax in it
    given: int            # what its returns gave back so far
    given_tax: int
    refund_now: int       # what returning all that is still returnable gives back

    def part(self, qty: int) -> Paid:
        """What returning ``qty`` more of this line gives back."""
        return part_of_line(Paid(self.paid, self.tax), self.sold, self.returned, qty, self.given, self.given_tax)


@dataclass
class RefundSummary:
    id: int
    refund_no: int | None
    terminal: str
    kind: str
    status: str
    reason: str
    total: int
    rounding: int
    cashier: str
    created_at: _dt.datetime
    processed_at: _dt.datetime | None
    tenders: list[tuple[str, int]] = field(default_factory=list)   # method, amount (negative)

    @property
    def paid_out(self) -> int:
        return self.total + self.rounding


@dataclass
class SaleInfo:
    ticket_id: int
    terminal: str
    receipt_no: int
    completed_at: _dt.datetime
    cashier: str
    session_id: int | None
    total: int
    rounding: int
    discount_bp: int
    tenders: list[tuple[str, int, str]]      # method, amount applied, reference
    paid: dict[str, int]                     # per method (tender amounts)
    refunded: dict[str, int]                 # per method of the sale, refunded against it so far
    lines: list[ReturnLine]
    refunds: list[RefundSummary]
    inclusive: bool = True

    @property
    def barcode(self) -> str:
        return receipt_code(self.terminal, self.receipt_no)

    @property
    def returnable(self) -> bool:
        return any(ln.returnable > 0 for ln in self.lines)

    def line(self, line_id: int) -> ReturnLine:
        for ln in self.lines:
            if ln.line_id == line_id:
                return ln
        raise NotFound(f"line {line_id} is not on receipt {self.terminal}/{self.receipt_no}")

    def age(self, now: _dt.datetime | None = None) -> _dt.timedelta:
        return (now or utcnow()) - self.completed_at


def receipt_code(terminal: str, receipt_no: int) -> str:
    """The code printed as CODE128 on a sale receipt (``station.receipt``)."""
    return f"{terminal}-{receipt_no:06d}"


def refund_code(terminal: str, refund_no: int) -> str:
    return f"{REFUND_CODE_PREFIX}{terminal}-{refund_no:06d}"


_CODE = re.compile(r"^(?P<t>.+?)[-/](?P<n>\d{1,12})$")
_STRIP = " \t\r\n\x1d"


def parse_code(ctx, text: str) -> tuple[str, str, int]:
    """(``sale`` or ``refund``, terminal, number) from a scanned or typed code."""
    s = (text or "").strip(_STRIP)
    if not s:
        raise InvalidInput("scan the receipt's barcode or type its number")
    kind = "sale"
    if s.upper().startswith(REFUND_CODE_PREFIX):
        kind, s = "refund", s[len(REFUND_CODE_PREFIX):]
    if s.isdigit() and len(s) <= 12:
        return kind, ctx.terminal, int(s)
    m = _CODE.match(s)
    if not m or len(m.group("t")) > 64:
        raise InvalidInput(f"'{text.strip(_STRIP)}' is not a receipt code (e.g. {receipt_code(ctx.terminal, 42)} "
                           f"or 42)")
    return kind, m.group("t"), int(m.group("n"))


def run(sql: str, params=()):
    """Execute plain SQL (``?`` placeholders) on this thread's connection; the cursor."""
    return dbmod.current().execute_sql(dbmod.q(sql), params)


def when(value) -> _dt.datetime | None:
    """A timestamp as read by plain SQL (text on SQLite) as a datetime."""
    return Ticket.completed_at.python_value(value)


@dataclass
class SaleHead:
    """The ticket row of a completed sale, as plain values."""
    id: int
    terminal: str
    receipt_no: int
    status: str
    completed_at: _dt.datetime
    cashier_id: int
    session_id: int | None
    total: int
    rounding: int
    discount_bp: int


HEAD_COLUMNS = ("SELECT id, terminal, receipt_no, status, completed_at, cashier_id, session_id, total, rounding, "
                "discount_bp")
_HEAD = HEAD_COLUMNS + " FROM ticket WHERE "


def head_of(row) -> SaleHead | None:
    """A :class:`SaleHead` from a row starting with ``HEAD_COLUMNS``."""
    if row is None:
        return None
    return SaleHead(row[0], row[1], row[2], row[3], when(row[4]), row[5], row[6], row[7], row[8], row[9])


def sale_head(ticket_id: int, *, lock: bool = False) -> SaleHead | None:
    """A ticket's row by id (``lock``: FOR UPDATE on PostgreSQL, inside the write)."""
    sql = _HEAD + "id = ?" + (" FOR UPDATE" if lock and dbmod.is_postgres() else "")
    return head_of(run(sql, (ticket_id,)).fetchone())


def find_ticket(ctx, text: str, terminal: str | None = None) -> SaleHead:
    """The completed sale a scanned or typed code names (one indexed lookup)."""
    kind, term, no = parse_code(ctx, text)
    if terminal and kind == "sale" and (text or "").strip(_STRIP).isdigit():
        term = terminal
    if kind == "refund":
        row = run("SELECT original_id FROM refund WHERE terminal = ? AND refund_no = ?", (term, no)).fetchone()
        if row is None:
            raise NotFound(f"there is no refund {no} on terminal {term}")
        if row[0] is None:
            raise NotFound(f"refund {term}/{no} was a return without a receipt: it has no sale")
        return sale_head(row[0])
    t = head_of(run(_HEAD + "terminal = ? AND receipt_no = ?", (term, no)).fetchone())
    if t is None or t.status != "completed":
        raise NotFound(f"there is no sale {no} on terminal {term}")
    return t


def find_sale(ctx, text: str, terminal: str | None = None) -> SaleInfo:
    """The sale behind a scanned receipt code or a typed number, with every line's
    returnable quantity and amount and the sale's refunds."""
    return sale_info(ctx, find_ticket(ctx, text, terminal))


def tax_inclusive(ctx, t, lines) -> bool:
    """Whether the sale's prices were gross: decided from its stored total (the
    setting may have changed since), the configured way first."""
    first = ctx.config.store.prices_include_tax
    for inclusive in (first, not first):
        if sale.compute_totals(lines, t.discount_bp, inclusive).total == t.total:
            return inclusive
    return first


@dataclass
class _Line:
    id: int
    position: int
    code: str
    name: str
    qty: int
    unit_price: int
    discount: int
    vat_rate: int
    voided: bool
    product_id: int | None
    unit: str
    returned: int
    given: int
    given_tax: int


_LINES = ("SELECT l.id, l.position, l.code, l.name, l.qty, l.unit_price, l.discount, l.vat_rate, l.voided, "
          "l.product_id, COALESCE(p.unit, 'pc'), COALESCE(r.returned, 0), COALESCE(r.amount, 0), "
          "COALESCE(r.tax, 0) FROM ticket_line l LEFT JOIN product p ON p.id = l.product_id "
          "LEFT JOIN returned_qty r ON r.line_id = l.id WHERE l.ticket_id = ? ORDER BY l.position")
_MONEY = ("SELECT 0, method, amount, reference, id FROM tender WHERE ticket_id = ? "
          "UNION ALL SELECT 1, method, refunded, '', 0 FROM refunded_amount WHERE ticket_id = ? ORDER BY 1, 5")


def sale_info(ctx, t, *, refunds: bool = True) -> SaleInfo:
    """The sale (a :class:`SaleHead` or a ``Ticket``) with what each line can still
    give back; ``refunds``: and the list of its refunds (the refund commit does not
    need it). Two queries (three with the refunds)."""
    lines = [_Line(*r[:8], bool(r[8]), *r[9:]) for r in run(_LINES, (t.id,)).fetchall()]
    lines = [ln for ln in lines if not ln.voided]
    inclusive = tax_inclusive(ctx, t, lines)
    paid = paid_per_line(lines, t.discount_bp, inclusive)
    out_lines = []
    for ln in lines:
        p = paid[ln.id]
        rl = ReturnLine(line_id=ln.id, position=ln.position, code=ln.code, name=ln.name, unit=ln.unit,
                        unit_price=ln.unit_price, vat_rate=ln.vat_rate, product_id=ln.product_id, sold=ln.qty,
                        returned=ln.returned, returnable=ln.qty - ln.returned, paid=p.amount, tax=p.tax,
                        given=ln.given, given_tax=ln.given_tax, refund_now=0)
        rl.refund_now = rl.part(rl.returnable).amount if rl.returnable else 0
        out_lines.append(rl)
    tenders, refunded, paid_by = [], {}, {}
    for kind, method, amount, ref, _id in run(_MONEY, (t.id, t.id)).fetchall():
        if kind == 0:
            tenders.append((method, amount, ref))
            paid_by[method] = paid_by.get(method, 0) + amount
        else:
            refunded[method] = amount
    return SaleInfo(
        ticket_id=t.id, terminal=t.terminal, receipt_no=t.receipt_no, completed_at=t.completed_at,
        cashier=sale._user_name(ctx, t.cashier_id), session_id=t.session_id, total=t.total, rounding=t.rounding,
        discount_bp=t.discount_bp, tenders=tenders, paid=paid_by, refunded=refunded, lines=out_lines,
        refunds=refunds_of(ctx, t.id) if refunds else [], inclusive=inclusive)


def refunds_of(ctx, ticket_id: int) -> list[RefundSummary]:
    rows = list(Refund.select().where(Refund.original == ticket_id).order_by(Refund.id))
    return summaries(ctx, rows)


def summaries(ctx, rows) -> list[RefundSummary]:
    ids = [r.id for r in rows]
    tenders: dict[int, list[tuple[str, int]]] = {}
    if ids:
        for rid, method, amount in (RefundTender.select(RefundTender.refund, RefundTender.method, RefundTender.amount)
                                    .where(RefundTender.refund.in_(ids)).order_by(RefundTender.id).tuples()):
            tenders.setdefault(rid, []).append((method, amount))
    return [RefundSummary(id=r.id, refund_no=r.refund_no, terminal=r.terminal, kind=r.kind, status=r.status,
                          reason=r.reason, total=r.total, rounding=r.rounding,
                          cashier=sale._user_name(ctx, r.cashier_id), created_at=r.created_at,
                          processed_at=r.processed_at, tenders=tenders.get(r.id, [])) for r in rows]


@dataclass
class SaleRow:
    ticket_id: int
    terminal: str
    receipt_no: int
    completed_at: _dt.datetime
    total: int
    methods: str
    cashier: str


def search_sales(ctx, *, day: _dt.date | None = None, amount: int | None = None, last4: str | None = None,
                 terminal: str | None = None, days: int = 90, limit: int = 50) -> list[SaleRow]:
    """Recent completed sales, newest first: on ``day`` (else the last ``days``
    days), of total ``amount``, paid by a card whose reference ends in ``last4``."""
    if last4 is not None:
        last4 = last4.strip()
        if not (last4.isdigit() and len(last4) == 4):
            raise InvalidInput("give the last four digits of the card")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount < 0):
        raise InvalidInput("the amount must be an amount of zero or more")
    query = Ticket.select(Ticket.id, Ticket.terminal, Ticket.receipt_no, Ticket.completed_at, Ticket.total,
                      Ticket.cashier).where(Ticket.status == "completed")
    if day is not None:
        start = _dt.datetime.combine(day, _dt.time())
        query = query.where((Ticket.completed_at >= start) & (Ticket.completed_at < start + _dt.timedelta(days=1)))
    else:
        query = query.where(Ticket.completed_at >= utcnow() - _dt.timedelta(days=days))
    if amount is not None:
        query = query.where(Ticket.total == amount)
    if terminal:
        query = query.where(Ticket.terminal == terminal)
    if last4 is not None:
        query = query.where(fn.EXISTS(Tender.select(Tender.id).where(
            (Tender.ticket == Ticket.id) & (Tender.method != "cash") & (Tender.reference.endswith(last4)))))
    rows = list(query.order_by(Ticket.completed_at.desc(), Ticket.id.desc()).limit(limit))
    methods: dict[int, set] = {}
    if rows:
        for tid, m in (Tender.select(Tender.ticket, Tender.method)
                       .where(Tender.ticket.in_([r.id for r in rows])).tuples()):
            methods.setdefault(tid, set()).add(m)
    return [SaleRow(r.id, r.terminal, r.receipt_no, r.completed_at, r.total,
                    ", ".join(sorted(methods.get(r.id, ()))), sale._user_name(ctx, r.cashier_id)) for r in rows]


def product_for_return(ctx, code: str) -> Product:
    """The product a scanned code names (a return without a receipt)."""
    _qty, c = sale.parse_scan(code)
    if not c:
        raise InvalidInput("scan the product")
    prod = sale._lookup_barcode(c)
    if prod is None:
        prod = Product.get_or_none(Product.sku == c)
    if prod is None:
        raise NotFound(f"unknown product {c}")
    return prod

