"""Ringing up a sale: the open ticket of this terminal, its lines and totals.

Every change to the open ticket is ONE short write transaction that commits at
once, so a killed process loses nothing that was shown: start again on the same
terminal and :func:`current_ticket` gives the ticket back. Scans and quantity
changes are ticket edits (``data.db.edit``: no fsync; a power cut may lose the
newest edits, never a committed sale); everything that writes the journal or
uses an approval is durable (``data.db.write``).

The hot path (scan, quantity, void line; begin_tender and complete_sale in
``station.tender``) is plain SQL: its first statement advances the open ticket's
revision and returns it with the cashier's fresh role (the permission check);
then ONE statement writes the line. The terminal's open ticket is kept in memory
(:class:`OpenTicket`: its lines, the running sums of its totals, which line a
repeated item merges into) and trusted only when its revision is the one before
this change, else read again; so a scan costs the same at the 600th line as at
the first, and the view is built after COMMIT from what was read inside.

One open ticket per terminal (partial unique index ``ticket_one_open_per_terminal``);
it is created by the first scan. Parked tickets can be resumed on any terminal; the
resume is a conditional ``UPDATE ... WHERE status = 'parked'`` so of two terminals
racing for one parked ticket exactly one wins and the other gets :class:`Conflict`.

Scanning (``scan``)
-------------------
* The code is trimmed (spaces, CR, LF, Tab and the GS1 separator are dropped).
* ``N*CODE`` rings up N of the item (``3*4006381333931``); for items sold by the kg
  ``0.350*CODE`` (or ``0,350*CODE``) is accepted too (up to 3 decimals).
* Price- and weight-embedded EAN-13 codes follow ``scanner.embedded`` patterns such as
  ``22IIIIIPPPPPC:price`` and ``23IIIIIWWWWWC:weight``: literal prefix digits, ``I`` the
  item code, ``P`` the price in minor units, ``W`` the weight in grams, ``C`` the check
  digit. The item is found by, in this order: (1) a barcode equal to the scanned code
  with the price/weight digits set to 0 and the check digit recomputed
  (``2212345000007`` for ``22 12345 PPPPP C``); (2) a barcode equal to prefix + item
  digits (``2212345``); (3) a product whose sku is the item digits (``12345``, also
  without leading zeros). Weight: qty = grams (thousandths of a kg), the line total is
  grams x per-kg price / 1000 rounded by :func:`station.money.round_div`.
* The same item scanned again adds to its line when ``scanner.merge_lines`` is on and
  the line has the same price, no override and no discount (items sold by the kg and
  weight-embedded codes always get their own line).
* An exact barcode match always wins; otherwise a GTIN (8, 12, 13 or 14 digits) whose
  check digit is wrong is :class:`InvalidInput`, anything else unknown :class:`NotFound`.
  Either way nothing changes.

Totals
------
``subtotal`` = sum of qty x unit price of the live lines (before any discount);
``discount`` = line discounts + the ticket discount; ``taxes`` = tax per rate (basis
points); ``total`` = what the customer owes (before cash rounding, which the tender
applies to cash only). With ``store.prices_include_tax`` the prices are gross and the
tax is contained (``money.tax_included`` per rate); otherwise the prices are net and
tax is added per rate (``money.tax_on_net``). A ticket discount of p % is taken off
each rate's amount (``money.percent_of`` per rate) so the tax per rate stays exact.
All rounding goes through :mod:`station.money`.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import NamedTuple

from data import db as dbmod
from data.models import Ticket, TicketLine, User, utcnow
from station import authority, catalog, journal, money
from station.catalog import Item
from station.errors import Conflict, InvalidInput, NotFound, Unavailable
from station.payments import sale_rules as provider_payments
from station.stock import movements as stock_moves


# ------------------------------------------------------------------ views ---

class LineView(NamedTuple):
    """One line of a ticket as shown (immutable: a change is a new LineView)."""
    id: int
    position: int
    code: str
    name: str
    qty: int            # thousandths
    unit: str
    unit_price: int
    discount: int       # amount
    line_total: int     # qty x price - discount
    vat_rate: int       # basis points
    voided: bool
    price_override: bool
    discount_bp: int = 0
    product_id: int | None = None


@dataclass
class TicketView:
    id: int
    status: str
    lines: list[LineView]
    subtotal: int
    taxes: dict[int, int]
    discount: int
    total: int
    item_count: int
    ticket_discount: int = 0
    ticket_discount_bp: int = 0
    tax_inclusive: bool = True
    terminal: str = ""
    cashier: str = ""
    idem_key: str | None = None
    receipt_no: int | None = None
    net: dict[int, int] = field(default_factory=dict)   # net amount per rate
    #: the line this change added or changed (None: a whole ticket was read)
    changed: LineView | None = field(default=None, compare=False)

    @property
    def live_lines(self) -> list[LineView]:
        return [ln for ln in self.lines if not ln.voided]


@dataclass
class ParkedView:
    id: int
    terminal: str
    cashier: str
    parked_at: object
    total: int
    item_count: int
    first_items: str


@dataclass
class Totals:
    subtotal: int
    line_discount: int
    ticket_discount: int
    taxes: dict[int, int]
    net: dict[int, int]
    gross: dict[int, int]
    total: int
    item_count: int

    @property
    def discount(self) -> int:
        return self.line_discount + self.ticket_discount

    @property
    def tax_total(self) -> int:
        return sum(self.taxes.values())


class Sums:
    """The additive part of a ticket's totals (per line, + or -): subtotal, line
    discounts, item count, and per VAT rate the amount and the number of lines.
    :meth:`totals` does the per-rate rounding (:func:`compute_totals`)."""

    __slots__ = ("subtotal", "line_discount", "items", "per_rate", "lines_per_rate", "_rated")

    def __init__(self):
        self.subtotal = self.line_discount = self.items = 0
        self.per_rate: dict[int, int] = {}
        self.lines_per_rate: dict[int, int] = {}
        #: (rate, amount, discount bp, inclusive) -> (ticket discount, tax): a change
        #: to one rate's lines leaves the others' rounding as it was
        self._rated: dict[tuple, tuple[int, int]] = {}

    def add(self, ln, sign: int = 1) -> None:
        if ln.voided:
            return
        gross = money.qty_times_price(ln.qty, ln.unit_price)
        self.subtotal += sign * gross
        self.line_discount += sign * ln.discount
        rate = ln.vat_rate
        self.per_rate[rate] = self.per_rate.get(rate, 0) + sign * (gross - ln.discount)
        n = self.lines_per_rate[rate] = self.lines_per_rate.get(rate, 0) + sign
        if n == 0:
            del self.per_rate[rate], self.lines_per_rate[rate]
        self.items += sign * (ln.qty // 1000 if ln.unit == "pc" else 1)

    def copy(self) -> "Sums":
        c = Sums()
        c.subtotal, c.line_discount, c.items = self.subtotal, self.line_discount, self.items
        c.per_rate, c.lines_per_rate = dict(self.per_rate), dict(self.lines_per_rate)
        return c

    def totals(self, discount_bp: int, inclusive: bool) -> Totals:
        ticket_disc = total = 0
        taxes, net, gross_r = {}, {}, {}
        rated = self._rated
        for rate in sorted(self.per_rate):
            amount = self.per_rate[rate]
            key = (rate, amount, discount_bp, inclusive)
            known = rated.get(key)
            if known is None:
                d = money.percent_of(amount, discount_bp) if discount_bp else 0
                known = d, (money.tax_included(amount - d, rate) if inclusive else money.tax_on_net(amount - d, rate))
                if len(rated) > 64:
                    rated.clear()
                rated[key] = known
            d, tax = known
            ticket_disc += d
            amount -= d
            if inclusive:
                net[rate], gross_r[rate] = amount - tax, amount
            else:
                net[rate], gross_r[rate] = amount, amount + tax
            taxes[rate] = tax
            total += gross_r[rate]
        return Totals(self.subtotal, self.line_discount, ticket_disc, taxes, net, gross_r, total, self.items)


def compute_totals(lines, discount_bp: int, inclusive: bool) -> Totals:
    """Totals of ``lines`` (objects with qty, unit_price, discount, vat_rate, voided, unit)."""
    sums = Sums()
    for ln in lines:
        sums.add(ln)
    return sums.totals(discount_bp, inclusive)


def _user_name(ctx, user_id: int) -> str:
    """User names by id, cached per process (a user is never renamed)."""
    cache = ctx.extras.setdefault("sale.user_names", {})
    name = cache.get(user_id)
    if name is None:
        name = User.select(User.name).where(User.id == user_id).scalar() or f"user {user_id}"
        cache[user_id] = name
    return name


# ------------------------------------------------------ the open ticket ---

_LINE_COLUMNS = ("SELECT l.id, l.position, l.code, l.name, l.qty, COALESCE(p.unit, 'pc'), l.unit_price, l.discount, "
                 "l.line_total, l.vat_rate, l.voided, l.price_override, l.discount_bp, l.product_id "
                 "FROM ticket_line l LEFT JOIN product p ON p.id = l.product_id "
                 "WHERE l.ticket_id = ? ORDER BY l.position")


def _read_lines(ticket_id: int) -> list[LineView]:
    rows = dbmod.current().execute_sql(dbmod.q(_LINE_COLUMNS), (ticket_id,)).fetchall()
    return [LineView(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], bool(r[10]), bool(r[11]),
                     r[12], r[13]) for r in rows]


def _mergeable(ln: LineView) -> bool:
    return ln.product_id is not None and not ln.voided and not ln.price_override and ln.discount_bp == 0


class OpenTicket:
    """A terminal's open ticket as committed at revision ``rev``: its lines in
    order, their running :class:`Sums`, and for each (product, price) the last
    line a repeated scan adds to."""

    __slots__ = ("id", "rev", "discount_bp", "cashier_id", "idem_key", "lines", "index", "merge", "sums")

    def __init__(self, ticket_id: int, rev: int, discount_bp: int, cashier_id: int, idem_key, lines):
        self.id, self.rev, self.discount_bp = ticket_id, rev, discount_bp
        self.cashier_id, self.idem_key = cashier_id, idem_key
        self.lines: list[LineView] = list(lines)
        self.index = {ln.id: i for i, ln in enumerate(self.lines)}
        self.sums = Sums()
        self.merge: dict[tuple[int, int], int] = {}
        for i, ln in enumerate(self.lines):
            self.sums.add(ln)
            if _mergeable(ln):
                self.merge[(ln.product_id, ln.unit_price)] = i

    def line(self, line_id) -> tuple[int, LineView]:
        try:
            line_id = int(line_id)
        except (TypeError, ValueError):
            raise InvalidInput("no line selected") from None
        i = self.index.get(line_id)
        if i is None:
            raise NotFound(f"line {line_id} is not on the open ticket")
        ln = self.lines[i]
        if ln.voided:
            raise Conflict(f"line {ln.position} ({ln.name}) is already voided")
        return i, ln

    def apply(self, rev: int, change: LineView | None) -> None:
        """This ticket at revision ``rev``: ``change`` added or replaced (by id)."""
        self.rev = rev
        if change is None:
            return
        i = self.index.get(change.id)
        if i is None:
            self.index[change.id] = len(self.lines)
            self.lines.append(change)
            self.sums.add(change)
            if _mergeable(change):
                self.merge[(change.product_id, change.unit_price)] = len(self.lines) - 1
            return
        old = self.lines[i]
        self.sums.add(old, -1)
        self.sums.add(change)
        self.lines[i] = change
        if _mergeable(old) != _mergeable(change) or old.unit_price != change.unit_price:
            self.merge = {(ln.product_id, ln.unit_price): j for j, ln in enumerate(self.lines) if _mergeable(ln)}

    def view(self, ctx, changed: LineView | None = None) -> TicketView:
        inclusive = ctx.config.values["store"]["prices_include_tax"]
        t = self.sums.totals(self.discount_bp, inclusive)
        return TicketView(
            id=self.id, status="open", lines=list(self.lines), subtotal=t.subtotal, taxes=t.taxes,
            discount=t.discount, total=t.total, item_count=t.item_count, ticket_discount=t.ticket_discount,
            ticket_discount_bp=self.discount_bp, tax_inclusive=inclusive, terminal=ctx.terminal,
            cashier=_user_name(ctx, self.cashier_id), idem_key=self.idem_key, receipt_no=None, net=t.net,
            changed=changed)


def _cache(ctx) -> tuple[threading.Lock, dict]:
    c = ctx.extras.get("sale.open")
    if c is None:
        c = ctx.extras.setdefault("sale.open", (threading.Lock(), {}))
    return c


def cached_open(ctx, ticket_id: int, rev: int) -> OpenTicket | None:
    """This terminal's open ticket from memory if it is ticket ``ticket_id`` at
    revision ``rev``, else None (the caller reads it)."""
    lock, c = _cache(ctx)
    with lock:
        o = c.get("ticket")
        return o if o is not None and o.id == ticket_id and o.rev == rev else None


def remember_open(ctx, o: OpenTicket | None) -> None:
    lock, c = _cache(ctx)
    with lock:
        c["ticket"] = o


def open_ticket_at(ctx, ticket_id: int, rev: int, discount_bp: int, cashier_id: int, idem_key) -> OpenTicket:
    """Inside the transaction: the open ticket as it stands at ``rev`` (from
    memory, or its lines read now)."""
    o = cached_open(ctx, ticket_id, rev)
    if o is None:
        o = OpenTicket(ticket_id, rev, discount_bp, cashier_id, idem_key, _read_lines(ticket_id))
    return o


#: advances this terminal's open ticket and reads it, with the user's fresh role
_BUMP = ("UPDATE ticket SET rev = rev + 1, updated_at = ? WHERE terminal = ? AND status = 'open' "
         "RETURNING id, rev, discount_bp, cashier_id, idem_key, "
         "(SELECT CASE WHEN active THEN role END FROM \"user\" WHERE id = ?)")
_NEW_TICKET = ("INSERT INTO ticket (terminal, cashier_id, status, created_at, updated_at, ticket_discount, "
               "discount_bp, rounding, rev) VALUES (?, ?, 'open', ?, ?, 0, 0, 0, 1) RETURNING id")


@dataclass
class Edit:
    """One change to the open ticket, inside its transaction: the ticket as it
    stood before (``base``), its new revision, the user's fresh role, and on
    PostgreSQL the id a new line will have (taken in the first statement, so
    the line's INSERT can travel with the COMMIT)."""
    base: OpenTicket
    rev: int
    role: str | None
    line_id: int | None = None


#: on PostgreSQL a scan takes its new line's id in its first statement
_NEXT_LINE_ID = ", nextval('ticket_line_id_seq')"


def begin_edit(ctx, user, action: str, *, create: bool = False, missing: str = "there is no open ticket "
               "on this terminal", ref_ticket: bool = False) -> Edit:
    """The first statement of every change to this terminal's open ticket:
    advance its revision, check ``action`` with the fresh role, and (with
    ``create``, a scan) open a ticket when there is none."""
    if user is None or not getattr(user, "active", False):
        authority.require_role(ctx, user, None, action)
    db = dbmod.current()
    now = dbmod.param_time(utcnow())
    next_id = _NEXT_LINE_ID if create and dbmod.is_postgres(db) else ""
    row = db.execute_sql(dbmod.q(_BUMP + next_id), (now, ctx.terminal, user.id)).fetchone()
    if row is None:
        role = db.execute_sql(dbmod.q(authority.FRESH_ROLE_SQL), (user.id,)).fetchone()
        authority.require_role(ctx, user, role[0] if role else None, action)
        if not create:
            raise NotFound(missing)
        new = db.execute_sql(dbmod.q(_NEW_TICKET + next_id), (ctx.terminal, user.id, now, now)).fetchone()
        return Edit(OpenTicket(new[0], 0, 0, user.id, None, []), 1, role[0], new[1] if next_id else None)
    tid, rev, bp, cashier_id, key, role = row[:6]
    if not ref_ticket:
        authority.require_role(ctx, user, role, action)
    return Edit(open_ticket_at(ctx, tid, rev - 1, bp, cashier_id, key), rev, role, row[6] if next_id else None)


def after_edit(ctx, e: Edit, change: LineView | None) -> TicketView:
    """After COMMIT: remember the ticket at its new revision; its view."""
    e.base.apply(e.rev, change)
    remember_open(ctx, e.base)
    return e.base.view(ctx, change)


def run_write(fn, *, durable: bool = True):
    """Run ``fn`` in ONE write transaction (a ticket edit when not ``durable``);
    a busy file or a dropped connection is retried as a whole (the transaction
    rolled back), then becomes Unavailable."""
    begin = dbmod.write if durable else dbmod.edit

    def attempt():
        with begin():
            return fn()
    try:
        return dbmod.retrying(attempt)
    except dbmod.DatabaseUnavailable as e:
        raise Unavailable(str(e)) from None


def _open_ticket(ctx, *, lock: bool = True) -> Ticket | None:
    q = Ticket.select().where((Ticket.terminal == ctx.terminal) & (Ticket.status == "open"))
    return (dbmod.locked(q) if lock else q).first()


def _require_open(ctx) -> Ticket:
    t = _open_ticket(ctx)
    if t is None:
        raise NotFound("there is no open ticket on this terminal")
    return t


def _bump(ticket_id: int) -> None:
    dbmod.current().execute_sql(dbmod.q("UPDATE ticket SET rev = rev + 1, updated_at = ? WHERE id = ?"),
                                (dbmod.param_time(utcnow()), ticket_id))


def _line_of(ticket: Ticket, line_id) -> TicketLine:
    try:
        line_id = int(line_id)
    except (TypeError, ValueError):
        raise InvalidInput("no line selected") from None
    ln = dbmod.locked(TicketLine.select().where(
        (TicketLine.id == line_id) & (TicketLine.ticket == ticket.id))).first()
    if ln is None:
        raise NotFound(f"line {line_id} is not on the open ticket")
    if ln.voided:
        raise Conflict(f"line {ln.position} ({ln.name}) is already voided")
    return ln


def _recompute_line(ln: TicketLine) -> None:
    gross = money.qty_times_price(ln.qty, ln.unit_price)
    ln.discount = money.percent_of(gross, ln.discount_bp) if ln.discount_bp else 0
    ln.line_total = gross - ln.discount


def _check_qty(ctx, qty: int, unit: str) -> None:
    if not isinstance(qty, int) or isinstance(qty, bool):
        raise InvalidInput("the quantity must be a number")
    if qty <= 0:
        raise InvalidInput("the quantity must be more than zero (void the line to remove it)")
    if unit == "pc" and qty % 1000:
        raise InvalidInput("this item is sold by the piece: give a whole quantity")
    mx = ctx.config.values["limits"]["max_quantity"]
    if qty > mx * 1000:
        raise InvalidInput(f"a line may not have more than {mx} {'kg' if unit == 'kg' else 'pieces'}")


# ----------------------------------------------------------------- reads ---

def view_of(ctx, ticket: Ticket) -> TicketView:
    """The view of any ticket, read whole."""
    lines = _read_lines(ticket.id)
    inclusive = ctx.config.store.prices_include_tax
    t = compute_totals(lines, ticket.discount_bp, inclusive)
    return TicketView(
        id=ticket.id, status=ticket.status, lines=lines, subtotal=t.subtotal, taxes=t.taxes, discount=t.discount,
        total=t.total, item_count=t.item_count, ticket_discount=t.ticket_discount,
        ticket_discount_bp=ticket.discount_bp, tax_inclusive=inclusive, terminal=ticket.terminal,
        cashier=_user_name(ctx, ticket.cashier_id), idem_key=ticket.idem_key, receipt_no=ticket.receipt_no,
        net=t.net)


def totals_of(ctx, ticket: Ticket) -> Totals:
    return compute_totals(_read_lines(ticket.id), ticket.discount_bp, ctx.config.store.prices_include_tax)


def _reread(ctx) -> TicketView | None:
    """This terminal's open ticket read whole (and remembered), or None."""
    t = _open_ticket(ctx, lock=False)
    if t is None:
        remember_open(ctx, None)
        return None
    o = OpenTicket(t.id, t.rev, t.discount_bp, t.cashier_id, t.idem_key, _read_lines(t.id))
    remember_open(ctx, o)
    return o.view(ctx)


def current_ticket(ctx, user=None) -> TicketView | None:
    """This terminal's open ticket (crash recovery: call it when the screen starts)."""
    return _reread(ctx)


def ticket_view(ctx, ticket_id: int) -> TicketView:
    t = Ticket.get_or_none(Ticket.id == ticket_id)
    if t is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return view_of(ctx, t)


def list_parked(ctx) -> list[ParkedView]:
    out = []
    inclusive = ctx.config.store.prices_include_tax
    for t in Ticket.select().where(Ticket.status == "parked").order_by(Ticket.parked_at, Ticket.id):
        lines = _read_lines(t.id)
        tt = compute_totals(lines, t.discount_bp, inclusive)
        names = ", ".join(ln.name for ln in lines if not ln.voided)
        out.append(ParkedView(id=t.id, terminal=t.terminal, cashier=_user_name(ctx, t.cashier_id),
                              parked_at=t.parked_at, total=tt.total, item_count=tt.item_count,
                              first_items=names[:60]))
    return out


# ---------------------------------------------------------------- lookups ---

def _lookup_barcode(code: str) -> Item | None:
    """The catalog item with this barcode (inactive ones too: the scan says so)."""
    return catalog.item_by_code(code)

def gtin_check_digit(body: str) -> int:
    """GS1 check digit of the digits before it (EAN-8/UPC-A/EAN-13/GTIN-14)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def gtin_valid(code: str) -> bool:
    return (code.isascii() and code.isdigit() and len(code) in (8, 12, 13, 14)
            and gtin_check_digit(code[:-1]) == int(code[-1]))


@dataclass
class EmbeddedPattern:
    text: str
    kind: str        # price | weight
    prefix: str
    item: tuple[int, int]
    value: tuple[int, int]


def parse_pattern(spec: str) -> EmbeddedPattern:
    try:
        pat, kind = spec.split(":", 1)
    except ValueError:
        raise InvalidInput(f"scanner pattern {spec!r} needs ':price' or ':weight'") from None
    kind = kind.strip().lower()
    pat = pat.strip().upper()
    if kind not in ("price", "weight"):
        raise InvalidInput(f"scanner pattern {spec!r}: kind must be price or weight")
    m = re.fullmatch(r"([0-9]+)(I+)(P+|W+)(C)", pat)
    if not m or len(pat) != 13:
        raise InvalidInput(f"scanner pattern {spec!r} must be 13 characters: prefix digits, I.., P.. or W.., C")
    p0 = len(m.group(1))
    i1 = p0 + len(m.group(2))
    v1 = i1 + len(m.group(3))
    return EmbeddedPattern(spec, kind, m.group(1), (p0, i1), (i1, v1))


def _patterns(ctx) -> list[EmbeddedPattern]:
    """The ``scanner.embedded`` patterns, parsed once per setting."""
    specs = ctx.config.values["scanner"]["embedded"]
    cached = ctx.extras.get("sale.patterns")
    if cached is None or cached[0] != specs:
        cached = ctx.extras["sale.patterns"] = (specs[:], [parse_pattern(s) for s in specs])
    return cached[1]


def _embedded(ctx, code: str):
    """(product, qty, unit_price, kind) for a price/weight-embedded EAN-13, else None."""
    if not (len(code) == 13 and code.isascii() and code.isdigit()):
        return None
    for p in _patterns(ctx):
        if not code.startswith(p.prefix):
            continue
        if not gtin_valid(code):
            raise InvalidInput(f"{code}: wrong check digit (scan it again)")
        item = code[p.item[0]:p.item[1]]
        value = int(code[p.value[0]:p.value[1]])
        zeroed = code[:p.value[0]] + "0" * (p.value[1] - p.value[0])
        zeroed = zeroed + str(gtin_check_digit(zeroed))
        prod = _lookup_barcode(zeroed) or _lookup_barcode(p.prefix + item)
        if prod is None:
            prod = catalog.item_by_sku({item, item.lstrip("0") or "0"})
        if prod is None:
            raise NotFound(f"unknown barcode {code} (item {item})")
        if p.kind == "price":
            return prod, 1000, value, "price"
        if value <= 0:
            raise InvalidInput(f"{code}: the weight is zero")
        if prod.unit != "kg":
            raise InvalidInput(f"{code}: {prod.name} is not sold by weight")
        return prod, value, prod.price, "weight"
    return None


_QTY = re.compile(r"^([0-9]{1,6})(?:[.,]([0-9]{1,3}))?\*(.+)$")
_STRIP = " \t\r\n\x1d"


def parse_scan(code: str) -> tuple[int | None, str]:
    """(quantity in thousandths or None, code) from what the scanner/cashier typed."""
    s = (code or "").strip(_STRIP).replace("\x1d", "")
    if "*" not in s:
        return None, s
    m = _QTY.match(s)
    if m:
        whole, frac, rest = m.group(1), m.group(2) or "", m.group(3).strip(_STRIP)
        qty = int(whole) * 1000 + int((frac + "000")[:3])
        return qty, rest
    if "*" in s:
        raise InvalidInput(f"'{s}': a quantity is written as N*CODE, e.g. 3*4006381333931")
    return None, s


# ------------------------------------------------------------ ringing up ---

_INSERT_LINE = ("INSERT INTO ticket_line (ticket_id, position, product_id, code, name, qty, unit_price, price_override, "
                "discount, discount_bp, vat_rate, line_total, voided, cost) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, FALSE, 0, 0, ?, ?, FALSE, ?) RETURNING id")
_INSERT_LINE_WITH_ID = ("INSERT INTO ticket_line (id, ticket_id, position, product_id, code, name, qty, unit_price, "
                        "price_override, discount, discount_bp, vat_rate, line_total, voided, cost) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, FALSE, 0, 0, ?, ?, FALSE, ?)")
_SET_QTY = "UPDATE ticket_line SET qty = ?, discount = ?, line_total = ? WHERE id = ?"


def _add(ctx, e: Edit, item: Item, qty: int, unit_price: int, code: str, mergeable: bool) -> LineView:
    """The line a scan adds (or the line it adds to), written."""
    o = e.base
    if mergeable and item.unit == "pc" and ctx.config.values["scanner"]["merge_lines"]:
        i = o.merge.get((item.id, unit_price))
        if i is not None:
            last = o.lines[i]
            new_qty = last.qty + qty
            _check_qty(ctx, new_qty, item.unit)
            gross = money.qty_times_price(new_qty, unit_price)
            dbmod.defer(dbmod.q(_SET_QTY), (new_qty, 0, gross, last.id))
            return last._replace(qty=new_qty, line_total=gross, discount=0)
    pos = o.lines[-1].position + 1 if o.lines else 1
    gross = money.qty_times_price(qty, unit_price)
    code = code[:64]
    if e.line_id is not None:       # PostgreSQL: the id is known, the INSERT goes with the COMMIT
        lid = e.line_id
        dbmod.defer(dbmod.q(_INSERT_LINE_WITH_ID), (
            lid, o.id, pos, item.id, code, item.name, qty, unit_price, item.vat_rate, gross, item.cost))
    else:
        lid = dbmod.current().execute_sql(dbmod.q(_INSERT_LINE), (
            o.id, pos, item.id, code, item.name, qty, unit_price, item.vat_rate, gross, item.cost)).fetchone()[0]
    return LineView(lid, pos, code, item.name, qty, item.unit, unit_price, 0, gross, item.vat_rate, False, False,
                    0, item.id)


def _refuse_zero_weight(ctx, code: str) -> None:
    """A scale label that says 0 g is refused, even when its code (weight digits
    all 0) is the item's own barcode: it would ring up 1 kg."""
    if len(code) == 13 and code.isdigit() and code.isascii():
        for p in _patterns(ctx):
            if p.kind == "weight" and code.startswith(p.prefix) and not int(code[p.value[0]:p.value[1]]):
                raise InvalidInput(f"{code}: the weight is zero (the scale label says 0 g): weigh the item again")


def resolve_code(ctx, code: str, qty: int | None):
    """(item, qty, unit price, mergeable) for a scanned code, or NotFound /
    InvalidInput. Read-only: runs before the write transaction (a short lock)."""
    _refuse_zero_weight(ctx, code)
    prod = _lookup_barcode(code)
    if prod is not None:
        return prod, (1000 if qty is None else qty), prod.price, True
    emb = _embedded(ctx, code)
    if emb is None:
        if code.isascii() and code.isdigit() and len(code) in (8, 12, 13, 14) and not gtin_valid(code):
            raise InvalidInput(f"{code}: wrong check digit (scan it again)")
        raise NotFound(f"unknown barcode {code}")
    prod, q, price, kind = emb
    if kind == "weight" and qty is not None:
        raise InvalidInput("a weighed item carries its own weight: scan it without N*")
    return prod, (q if qty is None else qty), price, kind == "price"


def _ring_up(ctx, user, item: Item, qty: int, price: int, code: str, mergeable: bool) -> TicketView:
    if not item.active:
        raise NotFound(f"{item.name} is no longer sold (code {code})")
    _check_qty(ctx, qty, item.unit)

    def tx():
        e = begin_edit(ctx, user, "sale.ring_up", create=True)
        stock_moves.check_scan(ctx, item, qty, e.base.lines)
        return e, _add(ctx, e, item, qty, price, code, mergeable)
    e, line = run_write(tx, durable=False)
    return after_edit(ctx, e, line)


#: the longest thing a scan may be: a 64-character code with an ``N.NNN*`` quantity
MAX_SCAN_LENGTH = 80


def scan(ctx, user, code: str) -> TicketView:
    """Ring up what was scanned or typed (see the module doc). Unknown or invalid:
    NotFound / InvalidInput and nothing changes. Two statements in one ticket
    edit: the ticket's revision with the fresh role, then the line."""
    if len(code or "") > MAX_SCAN_LENGTH:
        raise InvalidInput(f"that is not a code: more than {MAX_SCAN_LENGTH} characters")
    qty, code = parse_scan(code)
    if not code:
        raise InvalidInput("nothing was scanned")
    if len(code) > 64:
        raise InvalidInput("the code is too long to be a barcode")
    item, q, price, mergeable = resolve_code(ctx, code, qty)
    return _ring_up(ctx, user, item, q, price, code, mergeable)


def add_product(ctx, user, product_id: int, qty: int = 1000) -> TicketView:
    """Ring up a product picked by search (no barcode)."""
    item = catalog.item_by_id(product_id)
    if item is None:
        raise NotFound(f"product {product_id} does not exist")
    return _ring_up(ctx, user, item, qty, item.price, item.sku, True)


def set_quantity(ctx, user, line_id: int, qty: int) -> TicketView:
    def tx():
        e = begin_edit(ctx, user, "sale.ring_up")
        _i, ln = e.base.line(line_id)
        _check_qty(ctx, qty, ln.unit)
        if qty > ln.qty and ln.product_id is not None and stock_moves.refusing(ctx):
            stock_moves.check_scan(ctx, catalog.item_by_id(ln.product_id), qty - ln.qty, e.base.lines)
        gross = money.qty_times_price(qty, ln.unit_price)
        disc = money.percent_of(gross, ln.discount_bp) if ln.discount_bp else 0
        dbmod.defer(dbmod.q(_SET_QTY), (qty, disc, gross - disc, ln.id))
        return e, ln._replace(qty=qty, discount=disc, line_total=gross - disc)
    e, line = run_write(tx, durable=False)
    return after_edit(ctx, e, line)


def void_line(ctx, user, line_id: int) -> TicketView:
    def tx():
        e = begin_edit(ctx, user, "sale.void_line", ref_ticket=True)
        _i, ln = e.base.line(line_id)
        authority.require_role(ctx, user, e.role, "sale.void_line", ref=e.base.id)
        dbmod.defer(dbmod.q("UPDATE ticket_line SET voided = TRUE WHERE id = ?"), (ln.id,))
        journal.append("sale.line_voided", terminal=ctx.terminal, user=user, amount=ln.line_total,
                       ref=str(e.base.id), data={"line": ln.position, "name": ln.name, "qty": ln.qty,
                                                 "unit_price": ln.unit_price})
        return e, ln._replace(voided=True)
    e, line = run_write(tx)
    return after_edit(ctx, e, line)


def override_price(ctx, user, line_id: int, price: int, approval=None) -> TicketView:
    """Set a line's unit price (permission sale.price_override; a cashier needs approval
    for exactly this line and price: ``NeedsApproval.ref`` is ``"<ticket>:<line>"``)."""
    if not isinstance(price, int) or isinstance(price, bool) or price < 0:
        raise InvalidInput("the price must be an amount of zero or more")
    if price > ctx.config.limits.max_amount:
        raise InvalidInput("the price is more than the maximum amount")

    def tx():
        ticket = _require_open(ctx)
        ln = _line_of(ticket, line_id)
        a = authority.require(ctx, user, "sale.price_override", amount=price, ref=f"{ticket.id}:{ln.id}",
                              approval=approval)
        old = ln.unit_price
        ln.unit_price = price
        ln.price_override = True
        _recompute_line(ln)
        ln.save()
        journal.append("sale.price_override", terminal=ctx.terminal, user=user, amount=price,
                       ref=str(ticket.id), data={"line": ln.position, "name": ln.name, "old_price": old,
                                                 "new_price": price, "approval": a.id if a else None})
        _bump(ticket.id)
    run_write(tx)
    return _reread(ctx)


def parse_quantity_input(text: str, max_quantity: int | None = None) -> int:
    """What a cashier typed as a quantity (``3``, ``0.350`` or ``0,350``) ->
    thousandths, or InvalidInput; the services check the limits again."""
    try:
        return money.parse_amount(text, minor_units=3, decimal_sep="either",
                                  maximum=None if max_quantity is None else max_quantity * 1000)
    except money.AmountError as e:
        raise InvalidInput(str(e).replace("amount", "quantity")) from None


def parse_percent_input(text: str) -> int:
    """What a cashier typed as a discount (``10``, ``7.5``, ``7,5 %``) -> basis
    points, more than 0; the services check the range again."""
    try:
        bp = money.parse_rate((text or "").strip().rstrip("%").strip().replace(",", "."))
    except money.AmountError as e:
        raise InvalidInput(str(e)) from None
    if bp <= 0:
        raise InvalidInput("the discount must be more than 0 %")
    return bp


def _check_bp(bp) -> None:
    if not isinstance(bp, int) or isinstance(bp, bool) or not 0 <= bp <= 10000:
        raise InvalidInput("a discount is between 0 and 100 %")


def discount_line(ctx, user, line_id: int, basis_points: int, approval=None) -> TicketView:
    """A line discount in basis points (10 % = 1000). Above the cashier's limit
    (limits.cashier_line_discount_pct) it needs approval; 0 removes it."""
    _check_bp(basis_points)

    def tx():
        ticket = _require_open(ctx)
        ln = _line_of(ticket, line_id)
        a = authority.require(ctx, user, "sale.discount", amount=basis_points, ref=f"{ticket.id}:{ln.id}",
                              approval=approval)
        ln.discount_bp = basis_points
        _recompute_line(ln)
        ln.save()
        journal.append("sale.discount", terminal=ctx.terminal, user=user, amount=ln.discount,
                       ref=str(ticket.id), data={"line": ln.position, "name": ln.name, "basis_points": basis_points,
                                                 "approval": a.id if a else None})
        _bump(ticket.id)
    run_write(tx)
    return _reread(ctx)


def discount_ticket(ctx, user, basis_points: int, approval=None) -> TicketView:
    _check_bp(basis_points)

    def tx():
        ticket = _require_open(ctx)
        a = authority.require(ctx, user, "sale.discount", amount=basis_points, ref=str(ticket.id),
                              approval=approval)
        ticket.discount_bp = basis_points
        t = totals_of(ctx, ticket)
        Ticket.update(discount_bp=basis_points, ticket_discount=t.ticket_discount, rev=Ticket.rev + 1,
                      updated_at=utcnow()).where(Ticket.id == ticket.id).execute()
        journal.append("sale.discount", terminal=ctx.terminal, user=user, amount=t.ticket_discount,
                       ref=str(ticket.id), data={"line": None, "basis_points": basis_points,
                                                 "approval": a.id if a else None})
    run_write(tx)
    return _reread(ctx)


def _live_count(ticket_id: int) -> int:
    return TicketLine.select().where((TicketLine.ticket == ticket_id) & (~TicketLine.voided)).count()


def void_ticket(ctx, user, approval=None) -> None:
    """Void the whole open ticket (a cashier needs approval: amount = its total,
    ref = the ticket id). An empty ticket is simply discarded."""
    def tx():
        ticket = _require_open(ctx)
        provider_payments.refuse_leaving(ctx, ticket.id, "void the ticket")
        t = totals_of(ctx, ticket)
        live = _live_count(ticket.id)
        a = None
        if live:
            a = authority.require(ctx, user, "sale.void_ticket", amount=t.total, ref=str(ticket.id),
                                  approval=approval)
        Ticket.update(status="voided", rev=Ticket.rev + 1, updated_at=utcnow()).where(
            Ticket.id == ticket.id).execute()
        journal.append("sale.voided", terminal=ctx.terminal, user=user, amount=t.total, ref=str(ticket.id),
                       data={"lines": live, "approval": a.id if a else None})
    run_write(tx)
    remember_open(ctx, None)


def park(ctx, user) -> int:
    """Park the open ticket (to serve the next customer). Returns its id."""
    def tx():
        authority.require(ctx, user, "sale.park")
        ticket = _require_open(ctx)
        provider_payments.refuse_leaving(ctx, ticket.id, "park it")
        live = _live_count(ticket.id)
        if not live:
            raise InvalidInput("there is nothing on the ticket to park")
        t = totals_of(ctx, ticket)
        # a tender begun before parking is abandoned: the resumed ticket gets a fresh key
        Ticket.update(status="parked", parked_at=utcnow(), updated_at=utcnow(), idem_key=None,
                      rev=Ticket.rev + 1).where(Ticket.id == ticket.id).execute()
        journal.append("sale.parked", terminal=ctx.terminal, user=user, amount=t.total, ref=str(ticket.id),
                       data={"lines": live})
        return ticket.id
    tid = run_write(tx)
    remember_open(ctx, None)
    return tid


def resume(ctx, user, ticket_id: int) -> TicketView:
    """Take a parked ticket onto this terminal. Exactly one of two terminals racing
    for the same ticket wins; the other gets Conflict."""
    def tx():
        authority.require(ctx, user, "sale.park")
        cur = _open_ticket(ctx)
        if cur is not None:
            if _live_count(cur.id):
                raise Conflict("finish or park the current ticket first")
            Ticket.update(status="voided", rev=Ticket.rev + 1, updated_at=utcnow()).where(
                Ticket.id == cur.id).execute()
        n = (Ticket.update(status="open", terminal=ctx.terminal, cashier=user.id, parked_at=None,
                           updated_at=utcnow(), rev=Ticket.rev + 1)
             .where((Ticket.id == ticket_id) & (Ticket.status == "parked")).execute())
        if n != 1:
            if Ticket.get_or_none(Ticket.id == ticket_id) is None:
                raise NotFound(f"ticket {ticket_id} does not exist")
            raise Conflict(f"ticket {ticket_id} is no longer parked (another terminal took it)")
        journal.append("sale.resumed", terminal=ctx.terminal, user=user, ref=str(ticket_id))
    run_write(tx)
    return _reread(ctx)
