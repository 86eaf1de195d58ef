"""Stock adjustments: breakage, theft found, a correction outside a count. A
signed quantity with a reason; worth more at cost than ``stock.adjust_alone``
a supervisor needs a manager's approval for exactly this product and value."""
from __future__ import annotations

from data import db as dbmod
from data.models import utcnow
from station import authority, journal, money
from station.errors import InvalidInput, NotFound
from station.stock import movements
from station.stock.common import check_qty, qty_text
from station.stock.products import _write

REASONS = ("damaged", "expired", "theft", "found", "own use", "correction", "other")


def adjust(ctx, user, product_id: int, qty: int, reason: str, note: str = "", approval=None) -> int:
    """Post ``qty`` (thousandths, + or -) of ``product_id``; returns the new on hand."""
    if reason not in REASONS:
        raise InvalidInput(f"the reason is one of: {', '.join(REASONS)}")
    if len(note or "") > 500:
        raise InvalidInput("the note is 500 characters at most")

    def tx():
        prods = movements.lock_products([product_id])
        if product_id not in prods:
            raise NotFound(f"product {product_id} does not exist")
        name, unit, on_hand, cost, _last, _rp, _active = prods[product_id]
        check_qty(qty, unit, signed=True)
        value = money.qty_times_price(abs(qty), cost)
        a = authority.require(ctx, user, "stock.adjust", amount=value, ref=f"product {product_id} {qty}",
                              approval=approval)
        if movements.refusing(ctx) and on_hand + qty < 0:
            raise InvalidInput(f"{name}: only {qty_text(max(on_hand, 0), unit)} in stock, cannot take "
                               f"{qty_text(-qty, unit)} away")
        movements.insert([(product_id, "adjustment", qty, cost, user.id, ctx.terminal, dbmod.param_time(utcnow()),
                           None, None, None, None, None, None, reason, note or "")])
        journal.append("stock.adjusted", terminal=ctx.terminal, user=user, amount=value, ref=f"product {product_id}",
                       data={"product": product_id, "qty": qty, "reason": reason, "note": note or "",
                             "approval": a.id if a else None})
        return on_hand + qty
    return _write(tx)
