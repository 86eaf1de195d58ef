"""Receiving a delivery: the goods scanned with their quantities (``N*CODE``
from a scanner burst, the same item again adds up), the supplier and the
delivery note, the cost paid per unit. :func:`receive` posts the receipt
movements, the delivery and each product's costs in ONE transaction: the last
cost paid, and the weighted average cost (``product.cost``: what the stock on
hand is valued at; stock below zero counts as none) rounded by the one rule.
The receiving slip is text (to print) or CSV (to export).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from data import db as dbmod
from data.models import utcnow
from data.stock import Delivery
from station import authority, catalog, journal, money, sale
from station.errors import InvalidInput, NotFound
from station.stock import movements
from station.stock.common import check_money, check_qty, fmt, qty_text, run
from station.stock.products import _write


@dataclass
class ReceiptLine:
    product_id: int
    code: str
    name: str
    unit: str
    qty: int            # thousandths
    unit_cost: int      # per unit (per kg)

    @property
    def cost(self) -> int:
        return money.qty_times_price(self.qty, self.unit_cost)


@dataclass
class Receiving:
    """A delivery being scanned (in memory until :func:`receive`)."""
    lines: list[ReceiptLine] = field(default_factory=list)

    def scan(self, ctx, text: str, unit_cost: int | None = None) -> ReceiptLine:
        """``CODE`` adds one, ``N*CODE`` adds N; the same product adds to its line.
        Without ``unit_cost`` the line keeps its cost, or takes the product's last cost."""
        qty, code = sale.parse_scan(text)
        if not code:
            raise InvalidInput("nothing was scanned")
        item = catalog.item_by_code(code)
        if item is None:
            p = run("SELECT id FROM product WHERE sku = ?", (code,)).fetchone()
            item = catalog.item_by_id(p[0]) if p else None
        if item is None:
            raise NotFound(f"unknown barcode {code}: add the product first")
        qty = 1000 if qty is None else qty
        check_qty(qty, item.unit)
        if unit_cost is not None:
            check_money(ctx, unit_cost, "cost")
        for i, ln in enumerate(self.lines):
            if ln.product_id == item.id:
                self.lines[i] = ln = ReceiptLine(ln.product_id, ln.code, ln.name, ln.unit, ln.qty + qty,
                                                 ln.unit_cost if unit_cost is None else unit_cost)
                return ln
        last = run("SELECT last_cost FROM product WHERE id = ?", (item.id,)).fetchone()[0]
        ln = ReceiptLine(item.id, code, item.name, item.unit, qty, last if unit_cost is None else unit_cost)
        self.lines.append(ln)
        return ln

    @property
    def total(self) -> int:
        return sum(ln.cost for ln in self.lines)


@dataclass
class DeliveryView:
    id: int
    supplier: str
    reference: str
    user: str
    terminal: str
    created_at: object
    lines: list[ReceiptLine]
    total_cost: int
    note: str = ""


def average_cost(on_hand: int, cost: int, qty: int, unit_cost: int) -> int:
    """The weighted average cost after ``qty`` more at ``unit_cost`` (stock
    below zero counts as none)."""
    have = max(on_hand, 0)
    if have + qty <= 0:
        return unit_cost
    return money.round_div(have * cost + qty * unit_cost, have + qty)


def receive(ctx, user, supplier: str, reference: str, lines: list[ReceiptLine], note: str = "") -> DeliveryView:
    """Post a delivery: one receipt movement per line, the costs of each
    product, the delivery and the ``stock.received`` journal entry, at once."""
    supplier = (supplier or "").strip()
    reference = (reference or "").strip()
    if not supplier or len(supplier) > 100:
        raise InvalidInput("name the supplier (100 characters at most)")
    if len(reference) > 64:
        raise InvalidInput("the delivery note reference is 64 characters at most")
    if not lines:
        raise InvalidInput("nothing was scanned: the delivery is empty")
    merged: dict[int, ReceiptLine] = {}
    for ln in lines:
        check_qty(ln.qty, ln.unit)
        check_money(ctx, ln.unit_cost, "cost")
        if ln.product_id in merged:
            m = merged[ln.product_id]
            if m.unit_cost != ln.unit_cost:
                raise InvalidInput(f"{ln.name} is on the delivery twice at different costs")
            merged[ln.product_id] = ReceiptLine(m.product_id, m.code, m.name, m.unit, m.qty + ln.qty, m.unit_cost)
        else:
            merged[ln.product_id] = ln
    lines = sorted(merged.values(), key=lambda x: x.product_id)
    total = sum(ln.cost for ln in lines)

    def tx():
        authority.require(ctx, user, "stock.receive")
        prods = movements.lock_products([ln.product_id for ln in lines])
        missing = [ln.name for ln in lines if ln.product_id not in prods]
        if missing:
            raise NotFound(f"{missing[0]} no longer exists")
        now = utcnow()
        d = Delivery.create(supplier=supplier, reference=reference, user=user.id, terminal=ctx.terminal,
                            lines=len(lines), total_cost=total, note=note or "", created_at=now)
        stamp = dbmod.param_time(now)
        for ln in lines:
            _name, _unit, on_hand, cost, _last, _rp, _act = prods[ln.product_id]
            avg = average_cost(on_hand, cost, ln.qty, ln.unit_cost)
            run("UPDATE product SET cost = ?, last_cost = ? WHERE id = ?", (avg, ln.unit_cost, ln.product_id))
        movements.insert([(ln.product_id, "receipt", ln.qty, ln.unit_cost, user.id, ctx.terminal, stamp, None, None,
                           None, None, d.id, None, "", "") for ln in lines])
        journal.append("stock.received", terminal=ctx.terminal, user=user, amount=total, ref=reference or None,
                       data={"delivery": d.id, "supplier": supplier, "lines": len(lines),
                             "items": [[ln.product_id, ln.qty, ln.unit_cost] for ln in lines]})
        return d.id
    return delivery(ctx, _write(tx))


def delivery(ctx, delivery_id: int) -> DeliveryView:
    d = Delivery.get_or_none(Delivery.id == delivery_id)
    if d is None:
        raise NotFound(f"delivery {delivery_id} does not exist")
    rows = run("SELECT m.product_id, COALESCE((SELECT MIN(code) FROM barcode b WHERE b.product_id = p.id), p.sku), "
               "p.name, p.unit, m.qty, m.cost FROM stock_movement m JOIN product p ON p.id = m.product_id "
               "WHERE m.delivery_id = ? ORDER BY p.name_key, m.id", (delivery_id,)).fetchall()
    who = run('SELECT name FROM "user" WHERE id = ?', (d.user_id,)).fetchone()
    return DeliveryView(d.id, d.supplier, d.reference, who[0] if who else "", d.terminal, d.created_at,
                        [ReceiptLine(*r) for r in rows], d.total_cost, d.note)


def slip_text(ctx, d: DeliveryView, width: int = 42) -> str:
    """The receiving slip, for the printer or the screen."""
    out = [ctx.config.store.name[:width], f"RECEIVING SLIP  delivery {d.id}".center(width)[:width],
           f"supplier: {d.supplier}"[:width], f"note: {d.reference or '-'}"[:width],
           f"{str(d.created_at)[:16]}  {d.terminal}  {d.user}"[:width], "-" * width]
    for ln in d.lines:
        out.append(ln.name[:width])
        right = f"{fmt(ctx, ln.cost)}"
        left = f"  {qty_text(ln.qty, ln.unit)} x {fmt(ctx, ln.unit_cost)}"
        out.append(left + right.rjust(max(width - len(left), 1)))
    out += ["-" * width, "TOTAL AT COST" + fmt(ctx, d.total_cost).rjust(width - 13),
            f"{len(d.lines)} line(s)", "", "received by: ____________________"]
    return "\n".join(out) + "\n"


def slip_csv(ctx, d: DeliveryView) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    minor = ctx.config.store.minor_units
    w.writerow(["delivery", "supplier", "reference", "date", "code", "name", "qty", "unit", "unit_cost", "cost"])
    for ln in d.lines:
        w.writerow([d.id, d.supplier, d.reference, str(d.created_at)[:19], ln.code, ln.name,
                    qty_text(ln.qty).replace(" kg", "") if ln.unit == "pc" else f"{ln.qty / 1000:.3f}", ln.unit,
                    money.format_amount(ln.unit_cost, minor_units=minor),
                    money.format_amount(ln.cost, minor_units=minor)])
    return buf.getvalue()
