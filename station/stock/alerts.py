"""Low-stock alerts. The database raises one when a product's stock falls to or
below its reorder point (once, not per sale: one active alert per product) and
resolves it when the stock is back above (``data.stock`` triggers); a manager
may resolve one with a note (a reorder placed, the item delisted)."""
from __future__ import annotations

from dataclasses import dataclass

from data.models import utcnow
from data.stock import StockAlert
from station import authority, journal
from station.errors import Conflict, InvalidInput, NotFound
from station.stock.common import run
from station.stock.products import _write


@dataclass
class AlertView:
    id: int
    product_id: int
    sku: str
    name: str
    unit: str
    status: str
    on_hand_at_raise: int
    reorder_point: int
    on_hand: int
    raised_at: object
    resolved_at: object
    resolved_by: str
    note: str


_ALERTS = ("SELECT a.id, a.product_id, p.sku, p.name, p.unit, a.status, a.on_hand, a.reorder_point, p.on_hand, "
           "a.raised_at, a.resolved_at, COALESCE(u.name, ''), a.note FROM stock_alert a "
           "JOIN product p ON p.id = a.product_id LEFT JOIN \"user\" u ON u.id = a.resolved_by_id")


def alerts(ctx, *, active: bool = True, limit: int = 500) -> list[AlertView]:
    """Active alerts, the lowest stock first (``active=False``: all, newest first)."""
    sql = _ALERTS + (" WHERE a.status = 'active' ORDER BY p.on_hand - a.reorder_point, p.name_key"
                     if active else " ORDER BY a.id DESC") + " LIMIT ?"
    return [AlertView(*r) for r in run(sql, (limit,)).fetchall()]


def resolve(ctx, user, alert_id: int, note: str) -> None:
    note = (note or "").strip()
    if not note:
        raise InvalidInput("say why the alert is resolved (e.g. reorder placed)")
    if len(note) > 500:
        raise InvalidInput("the note is 500 characters at most")

    def tx():
        authority.require(ctx, user, "stock.alert_resolve", ref=alert_id)
        a = StockAlert.get_or_none(StockAlert.id == alert_id)
        if a is None:
            raise NotFound(f"alert {alert_id} does not exist")
        n = (StockAlert.update(status="resolved", resolved_at=utcnow(), resolved_by=user.id, note=note)
             .where((StockAlert.id == alert_id) & (StockAlert.status == "active")).execute())
        if n != 1:
            raise Conflict(f"alert {alert_id} is already resolved")
        journal.append("stock.alert_resolved", terminal=ctx.terminal, user=user, ref=f"product {a.product_id}",
                       data={"alert": alert_id, "note": note})
    _write(tx)
