"""Ringing up a sale: the open ticket of this terminal, its lines and totals.

Every change to the open ticket is ONE short write transaction (``data.db.write``)
that commits at once, so a killed process loses nothing that was shown: start
again on the same terminal and :func:`current_ticket` gives the ticket back.

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
from dataclasses import dataclass, field

from peewee import JOIN

from data import db as dbmod
from data.models import Barcode, Product, Ticket, TicketLine, User, utcnow
from station import authority, journal, money
from station.errors import Conflict, InvalidInput, NotFound, StationError, Unavailable


# ------------------------------------------------------------------ views ---

@dataclass
class LineView:
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


def compute_totals(lines, discount_bp: int, inclusive: bool) -> Totals:
    """Totals of ``lines`` (objects with qty, unit_price, discount, vat_rate, voided, unit)."""
    subtotal = line_disc = 0
    per_rate: dict[int, int] = {}
    items = 0
    for ln in lines:
        if ln.voided:
            continue
        gross = money.qty_times_price(ln.qty, ln.unit_price)
        subtotal += gross
        line_disc += ln.discount
        per_rate[ln.vat_rate] = per_rate.get(ln.vat_rate, 0) + gross - ln.discount
        items += ln.qty // 1000 if ln.unit == "pc" else 1
    ticket_disc = 0
    taxes, net, gross_r = {}, {}, {}
    total = 0
    for rate in sorted(per_rate):
        amount = per_rate[rate]
        d = money.percent_of(amount, discount_bp) if discount_bp else 0
        ticket_disc += d
        amount -= d
        if inclusive:
            tax = money.tax_included(amount, rate)
            net[rate], gross_r[rate] = amount - tax, amount
        else:
            tax = money.tax_on_net(amount, rate)
            net[rate], gross_r[rate] = amount, amount + tax
        taxes[rate] = tax
        total += gross_r[rate]
    return Totals(subtotal, line_disc, ticket_disc, taxes, net, gross_r, total, items)


def _line_view(ln: TicketLine, unit: str) -> LineView:
    return LineView(id=ln.id, position=ln.position, code=ln.code, name=ln.name, qty=ln.qty, unit=unit,
                    unit_price=ln.unit_price, discount=ln.discount, line_total=ln.line_total,
                    vat_rate=ln.vat_rate, voided=ln.voided, price_override=ln.price_override,
                    discount_bp=ln.discount_bp, product_id=ln.product_id)


def _lines_of(ticket_id: int) -> list[TicketLine]:
    q = (TicketLine.select(TicketLine, Product.unit)
         .join(Product, JOIN.LEFT_OUTER, on=(TicketLine.product == Product.id))
         .where(TicketLine.ticket == ticket_id).order_by(TicketLine.position))
    out = []
    for ln in q.objects():
        ln.unit = getattr(ln, "unit", None) or "pc"
        out.append(ln)
    return out


def view_of(ctx, ticket: Ticket) -> TicketView:
    lines = _lines_of(ticket.id)
    inclusive = ctx.config.store.prices_include_tax
    t = compute_totals(lines, ticket.discount_bp, inclusive)
    cashier = _user_name(ctx, ticket.cashier_id)
    return TicketView(
        id=ticket.id, status=ticket.status, lines=[_line_view(ln, ln.unit) for ln in lines],
        subtotal=t.subtotal, taxes=t.taxes, discount=t.discount, total=t.total, item_count=t.item_count,
        ticket_discount=t.ticket_discount, ticket_discount_bp=ticket.discount_bp, tax_inclusive=inclusive,
        terminal=ticket.terminal, cashier=cashier, idem_key=ticket.idem_key, receipt_no=ticket.receipt_no,
        net=t.net)


def _user_name(ctx, user_id: int) -> str:
    """User names by id, cached per process (a user is never renamed)."""
    cache = ctx.extras.setdefault("sale.user_names", {})
    name = cache.get(user_id)
    if name is None:
        name = User.select(User.name).where(User.id == user_id).scalar() or f"user {user_id}"
        cache[user_id] = name
    return name


def totals_of(ctx, ticket: Ticket) -> Totals:
    return compute_totals(_lines_of(ticket.id), ticket.discount_bp, ctx.config.store.prices_include_tax)


# ------------------------------------------------------------ transaction ---

def run_write(fn):
    """Run ``fn`` in ONE write transaction; a busy file or a dropped connection is
    retried as a whole (the transaction rolled back), then becomes Unavailable."""
    def attempt():
        with dbmod.write():
            return fn()
    try:
        return dbmod.retrying(attempt)
    except dbmod.DatabaseUnavailable as e:
        raise Unavailable(str(e)) from None


def _open_ticket(ctx, *, lock: bool = True) -> Ticket | None:
    q = Ticket.select().where((Ticket.terminal == ctx.terminal) & (Ticket.status == "open"))
    return (dbmod.locked(q) if lock else q).first()


def _open_or_create(ctx, user) -> Ticket:
    t = _open_ticket(ctx)
    if t is None:
        t = Ticket.create(terminal=ctx.terminal, cashier=user, status="open")
    return t


def _require_open(ctx) -> Ticket:
    t = _open_ticket(ctx)
    if t is None:
        raise NotFound("there is no open ticket on this terminal")
    return t


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


def _touch(ticket: Ticket) -> None:
    Ticket.update(updated_at=utcnow()).where(Ticket.id == ticket.id).execute()


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
    mx = ctx.config.limits.max_quantity
    if qty > mx * 1000:
        raise InvalidInput(f"a line may not have more than {mx} {'kg' if unit == 'kg' else 'pieces'}")


# ---------------------------------------------------------------- lookups ---

def _lookup_barcode(code: str) -> Product | None:
    """Engineer A's catalog lookup when present, else the one indexed query."""
    try:
        from station.catalog import lookup_barcode
    except ImportError:
        lookup_barcode = None
    if lookup_barcode is not None:
        try:
            return lookup_barcode(code)
        except StationError:
            return None
    return (Product.select().join(Barcode, on=(Barcode.product == Product.id))
            .where(Barcode.code == code).first())


def gtin_check_digit(body: str) -> int:
    """GS1 check digit of the digits before it (EAN-8/UPC-A/EAN-13/GTIN-14)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def gtin_valid(code: str) -> bool:
    return code.isdigit() and len(code) in (8, 12, 13, 14) and gtin_check_digit(code[:-1]) == int(code[-1])


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
    m = re.fullmatch(r"(\d+)(I+)(P+|W+)(C)", pat)
    if not m or len(pat) != 13:
        raise InvalidInput(f"scanner pattern {spec!r} must be 13 characters: prefix digits, I.., P.. or W.., C")
    p0 = len(m.group(1))
    i1 = p0 + len(m.group(2))
    v1 = i1 + len(m.group(3))
    return EmbeddedPattern(spec, kind, m.group(1), (p0, i1), (i1, v1))


def _patterns(ctx) -> list[EmbeddedPattern]:
    cache = ctx.extras.setdefault("sale.patterns", {})
    specs = tuple(ctx.config.scanner.embedded)
    if specs not in cache:
        cache.clear()
        cache[specs] = [parse_pattern(s) for s in specs]
    return cache[specs]


def _embedded(ctx, code: str):
    """(product, qty, unit_price, kind) for a price/weight-embedded EAN-13, else None."""
    if not (len(code) == 13 and code.isdigit()):
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
            prod = Product.select().where(Product.sku.in_({item, item.lstrip("0") or "0"})).first()
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


_QTY = re.compile(r"^(\d{1,6})(?:[.,](\d{1,3}))?\*(.+)$")
_STRIP = " \t\r\n\x1d"


def parse_scan(code: str) -> tuple[int | None, str]:
    """(quantity in thousandths or None, code) from what the scanner/cashier typed."""
    s = (code or "").strip(_STRIP).replace("\x1d", "")
    m = _QTY.match(s)
    if m:
        whole, frac, rest = m.group(1), m.group(2) or "", m.group(3).strip(_STRIP)
        qty = int(whole) * 1000 + int((frac + "000")[:3])
        return qty, rest
    if "*" in s:
        raise InvalidInput(f"'{s}': a quantity is written as N*CODE, e.g. 3*4006381333931")
    return None, s


# ------------------------------------------------------------------ reads ---

def current_ticket(ctx, user=None) -> TicketView | None:
    """This terminal's open ticket (crash recovery: call it when the screen starts)."""
    t = _open_ticket(ctx, lock=False)
    return None if t is None else view_of(ctx, t)


def ticket_view(ctx, ticket_id: int) -> TicketView:
    t = Ticket.get_or_none(Ticket.id == ticket_id)
    if t is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return view_of(ctx, t)


def list_parked(ctx) -> list[ParkedView]:
    out = []
    inclusive = ctx.config.store.prices_include_tax
    for t in Ticket.select().where(Ticket.status == "parked").order_by(Ticket.parked_at, Ticket.id):
        lines = _lines_of(t.id)
        tt = compute_totals(lines, t.discount_bp, inclusive)
        names = ", ".join(ln.name for ln in lines if not ln.voided)
        out.append(ParkedView(id=t.id, terminal=t.terminal, cashier=_user_name(ctx, t.cashier_id),
                              parked_at=t.parked_at, total=tt.total, item_count=tt.item_count,
                              first_items=names[:60]))
    return out


# ------------------------------------------------------------ ringing up ---

def _add(ctx, user, ticket: Ticket, product: Product, qty: int, unit_price: int, code: str,
         mergeable: bool) -> TicketLine:
    if not product.active:
        raise NotFound(f"{product.name} is no longer sold (code {code})")
    _check_qty(ctx, qty, product.unit)
    if mergeable and product.unit == "pc" and ctx.config.scanner.merge_lines:
        last = (TicketLine.select().where(
            (TicketLine.ticket == ticket.id) & (TicketLine.product == product.id) & (~TicketLine.voided)
            & (~TicketLine.price_override) & (TicketLine.discount_bp == 0)
            & (TicketLine.unit_price == unit_price))
            .order_by(TicketLine.position.desc()).first())
        if last is not None:
            new_qty = last.qty + qty
            _check_qty(ctx, new_qty, product.unit)
            last.qty = new_qty
            _recompute_line(last)
            last.save()
            return last
    pos = (TicketLine.select(TicketLine.position).where(TicketLine.ticket == ticket.id)
           .order_by(TicketLine.position.desc()).scalar() or 0) + 1
    ln = TicketLine(ticket=ticket.id, position=pos, product=product.id, code=code[:64], name=product.name,
                    qty=qty, unit_price=unit_price, vat_rate=product.vat_rate)
    _recompute_line(ln)
    ln.save(force_insert=True)
    return ln


def resolve_code(ctx, code: str, qty: int | None):
    """(product, qty, unit price, mergeable) for a scanned code, or NotFound /
    InvalidInput. Read-only: runs before the write transaction (a short lock)."""
    prod = _lookup_barcode(code)
    if prod is not None:
        return prod, (1000 if qty is None else qty), prod.price, True
    emb = _embedded(ctx, code)
    if emb is None:
        if code.isdigit() and len(code) in (8, 12, 13, 14) and not gtin_valid(code):
            raise InvalidInput(f"{code}: wrong check digit (scan it again)")
        raise NotFound(f"unknown barcode {code}")
    prod, q, price, kind = emb
    if kind == "weight" and qty is not None:
        raise InvalidInput("a weighed item carries its own weight: scan it without N*")
    return prod, (q if qty is None else qty), price, kind == "price"


def scan(ctx, user, code: str) -> TicketView:
    """Ring up what was scanned or typed (see the module doc). Unknown or invalid:
    NotFound / InvalidInput and nothing changes."""
    qty, code = parse_scan(code)
    if not code:
        raise InvalidInput("nothing was scanned")
    if len(code) > 64:
        raise InvalidInput("the code is too long to be a barcode")
    prod, q, price, mergeable = resolve_code(ctx, code, qty)

    def tx():
        authority.require(ctx, user, "sale.ring_up")
        ticket = _open_or_create(ctx, user)
        _add(ctx, user, ticket, prod, q, price, code, mergeable)
        _touch(ticket)
        return ticket
    # the view is read after the commit: the write lock is held only for the change
    return view_of(ctx, run_write(tx))


def add_product(ctx, user, product_id: int, qty: int = 1000) -> TicketView:
    """Ring up a product picked by search (no barcode)."""
    def tx():
        authority.require(ctx, user, "sale.ring_up")
        prod = Product.get_or_none(Product.id == product_id)
        if prod is None:
            raise NotFound(f"product {product_id} does not exist")
        ticket = _open_or_create(ctx, user)
        _add(ctx, user, ticket, prod, qty, prod.price, prod.sku, True)
        _touch(ticket)
        return view_of(ctx, ticket)
    return run_write(tx)


def set_quantity(ctx, user, line_id: int, qty: int) -> TicketView:
    def tx():
        authority.require(ctx, user, "sale.ring_up")
        ticket = _require_open(ctx)
        ln = _line_of(ticket, line_id)
        unit = Product.get_by_id(ln.product_id).unit if ln.product_id else "pc"
        _check_qty(ctx, qty, unit)
        ln.qty = qty
        _recompute_line(ln)
        ln.save()
        _touch(ticket)
        return view_of(ctx, ticket)
    return run_write(tx)


def void_line(ctx, user, line_id: int) -> TicketView:
    def tx():
        ticket = _require_open(ctx)
        ln = _line_of(ticket, line_id)
        authority.require(ctx, user, "sale.void_line", ref=ticket.id)
        TicketLine.update(voided=True).where(TicketLine.id == ln.id).execute()
        journal.append("sale.line_voided", terminal=ctx.terminal, user=user, amount=ln.line_total,
                       ref=str(ticket.id), data={"line": ln.position, "name": ln.name, "qty": ln.qty,
                                                 "unit_price": ln.unit_price})
        _touch(ticket)
        return view_of(ctx, ticket)
    return run_write(tx)


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
        _touch(ticket)
        return view_of(ctx, ticket)
    return run_write(tx)


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
        _touch(ticket)
        return view_of(ctx, ticket)
    return run_write(tx)


def discount_ticket(ctx, user, basis_points: int, approval=None) -> TicketView:
    _check_bp(basis_points)

    def tx():
        ticket = _require_open(ctx)
        a = authority.require(ctx, user, "sale.discount", amount=basis_points, ref=str(ticket.id),
                              approval=approval)
        Ticket.update(discount_bp=basis_points, updated_at=utcnow()).where(Ticket.id == ticket.id).execute()
        ticket.discount_bp = basis_points
        t = totals_of(ctx, ticket)
        Ticket.update(ticket_discount=t.ticket_discount).where(Ticket.id == ticket.id).execute()
        journal.append("sale.discount", terminal=ctx.terminal, user=user, amount=t.ticket_discount,
                       ref=str(ticket.id), data={"line": None, "basis_points": basis_points,
                                                 "approval": a.id if a else None})
        return view_of(ctx, ticket)
    return run_write(tx)


def void_ticket(ctx, user, approval=None) -> None:
    """Void the whole open ticket (a cashier needs approval: amount = its total,
    ref = the ticket id). An empty ticket is simply discarded."""
    def tx():
        ticket = _require_open(ctx)
        t = totals_of(ctx, ticket)
        live = TicketLine.select().where((TicketLine.ticket == ticket.id) & (~TicketLine.voided)).count()
        a = None
        if live:
            a = authority.require(ctx, user, "sale.void_ticket", amount=t.total, ref=str(ticket.id),
                                  approval=approval)
        Ticket.update(status="voided", updated_at=utcnow()).where(Ticket.id == ticket.id).execute()
        journal.append("sale.voided", terminal=ctx.terminal, user=user, amount=t.total, ref=str(ticket.id),
                       data={"lines": live, "approval": a.id if a else None})
    run_write(tx)


def park(ctx, user) -> int:
    """Park the open ticket (to serve the next customer). Returns its id."""
    def tx():
        authority.require(ctx, user, "sale.park")
        ticket = _require_open(ctx)
        live = TicketLine.select().where((TicketLine.ticket == ticket.id) & (~TicketLine.voided)).count()
        if not live:
            raise InvalidInput("there is nothing on the ticket to park")
        t = totals_of(ctx, ticket)
        # a tender begun before parking is abandoned: the resumed ticket gets a fresh key
        Ticket.update(status="parked", parked_at=utcnow(), updated_at=utcnow(), idem_key=None).where(
            Ticket.id == ticket.id).execute()
        journal.append("sale.parked", terminal=ctx.terminal, user=user, amount=t.total, ref=str(ticket.id),
                       data={"lines": live})
        return ticket.id
    return run_write(tx)


def resume(ctx, user, ticket_id: int) -> TicketView:
    """Take a parked ticket onto this terminal. Exactly one of two terminals racing
    for the same ticket wins; the other gets Conflict."""
    def tx():
        authority.require(ctx, user, "sale.park")
        cur = _open_ticket(ctx)
        if cur is not None:
            live = TicketLine.select().where((TicketLine.ticket == cur.id) & (~TicketLine.voided)).count()
            if live:
                raise Conflict("finish or park the current ticket first")
            Ticket.update(status="voided", updated_at=utcnow()).where(Ticket.id == cur.id).execute()
        n = (Ticket.update(status="open", terminal=ctx.terminal, cashier=user.id, parked_at=None,
                           updated_at=utcnow())
             .where((Ticket.id == ticket_id) & (Ticket.status == "parked")).execute())
        if n != 1:
            if Ticket.get_or_none(Ticket.id == ticket_id) is None:
                raise NotFound(f"ticket {ticket_id} does not exist")
            raise Conflict(f"ticket {ticket_id} is no longer parked (another terminal took it)")
        ticket = Ticket.get_by_id(ticket_id)
        journal.append("sale.resumed", terminal=ctx.terminal, user=user, ref=str(ticket_id))
        return view_of(ctx, ticket)
    return run_write(tx)
