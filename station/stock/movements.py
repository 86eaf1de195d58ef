"""Stock as movements: every sale line, refund line, receipt, adjustment and
count correction is one insert-only ``stock_movement`` row; the product's cached
``on_hand`` follows in the same statement (a database trigger, ``data.stock``),
and low-stock alerts are raised and resolved by the database as it crosses the
reorder point.

The sale commit adds ONE statement (:func:`post_sale`: an ``INSERT ... SELECT``
of the ticket's live lines, in product order so two terminals lock products in
the same order); on PostgreSQL it travels with the COMMIT. With
``stock.negative = refuse`` it adds one read, after the insert (the product rows
are locked by then): a product gone below zero refuses the whole sale.
"""
from __future__ import annotations

from dataclasses import dataclass

from data import db as dbmod
from station import money
from station.errors import Conflict, InvalidInput
from station.stock.common import qty_text, run

_COLS = ("product_id, kind, qty, cost, user_id, terminal, created_at, ticket_id, ticket_line_id, refund_id, "
         "refund_line, delivery_id, count_id, reason, note")

_SALE = (f"INSERT INTO stock_movement ({_COLS}) SELECT product_id, 'sale', -qty, cost, ?, ?, ?, ticket_id, id, "
         "NULL, NULL, NULL, NULL, '', '' FROM ticket_line WHERE ticket_id = ? AND voided = FALSE "
         "AND product_id IS NOT NULL ORDER BY product_id, id")
_SHORT_SALE = ("SELECT name, on_hand, unit FROM product WHERE on_hand < 0 AND id IN (SELECT product_id FROM "
               "ticket_line WHERE ticket_id = ? AND voided = FALSE) ORDER BY id")

_REFUND = (f"INSERT INTO stock_movement ({_COLS}) SELECT rl.product_id, 'refund', rl.qty, "
           "COALESCE(tl.cost, p.cost), ?, ?, ?, NULL, NULL, rl.refund_id, rl.position, NULL, NULL, '', '' "
           "FROM refund_line rl JOIN product p ON p.id = rl.product_id "
           "LEFT JOIN ticket_line tl ON tl.id = rl.original_line_id "
           "WHERE rl.refund_id = ? ORDER BY rl.product_id, rl.position")


def refusing(ctx) -> bool:
    return ctx.config.values["stock"]["negative"] == "refuse"


def post_sale(sc) -> None:
    """Inside the sale's transaction (``tender.write_sale``): one sale movement
    per live line of the ticket. Refusing negative stock, a product that went
    below zero (another terminal sold the last one meanwhile) is a Conflict and
    the whole sale rolls back."""
    dbmod.defer(dbmod.q(_SALE), (sc.user.id, sc.terminal, dbmod.param_time(sc.now), sc.ticket_id))
    if refusing(sc.ctx):
        short = run(_SHORT_SALE, (sc.ticket_id,)).fetchall()
        if short:
            raise Conflict("not enough in stock: " + "; ".join(
                f"{name} is {qty_text(-oh, unit)} short" for name, oh, unit in short)
                + " (sold meanwhile at another till): void it or lower the quantity; nothing was charged")


def post_refund(ctx, user, refund_id: int, now) -> None:
    """Inside a refund's transaction, after its lines: one refund movement per
    refund line (the goods are back in stock, at the cost they were sold at)."""
    dbmod.defer(dbmod.q(_REFUND), (user.id, ctx.terminal, dbmod.param_time(now), refund_id))


def check_scan(ctx, item, qty: int, lines) -> None:
    """Refusing negative stock: ``qty`` more of ``item`` on a ticket that already
    has ``lines`` must be in stock (the commit checks again with the rows locked)."""
    if not refusing(ctx):
        return
    on_ticket = sum(ln.qty for ln in lines if ln.product_id == item.id and not ln.voided)
    if on_ticket + qty > item.on_hand:
        left = max(item.on_hand - on_ticket, 0)
        raise InvalidInput(f"{item.name}: only {qty_text(left, item.unit)} in stock"
                           + (" besides what is on the ticket" if on_ticket else "") + ": not added")


def insert(rows: list[tuple]) -> None:
    """Movements as ONE multi-row INSERT, in product order (lock order), in
    chunks that keep under the database's parameter limit. Each row: product_id,
    kind, qty, cost, user_id, terminal, created_at, ticket_id, ticket_line_id,
    refund_id, refund_line, delivery_id, count_id, reason, note."""
    rows = sorted(rows, key=lambda r: r[0])
    one = "(" + ", ".join("?" * 15) + ")"
    for i in range(0, len(rows), 2000):
        part = rows[i:i + 2000]
        dbmod.defer(dbmod.q(f"INSERT INTO stock_movement ({_COLS}) VALUES " + ", ".join([one] * len(part))),
                    tuple(v for r in part for v in r))


def lock_products(ids) -> dict[int, tuple]:
    """Lock the products (PostgreSQL: FOR UPDATE, in id order) and read
    id -> (name, unit, on_hand, cost, last_cost, reorder_point, active)."""
    ids = sorted(set(ids))
    out = {}
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        sql = ("SELECT id, name, unit, on_hand, cost, last_cost, reorder_point, active FROM product WHERE id IN ("
               + ", ".join("?" * len(part)) + ") ORDER BY id" + (" FOR UPDATE" if dbmod.is_postgres() else ""))
        for r in run(sql, part).fetchall():
            out[r[0]] = r[1:]
    return out


# ------------------------------------------------------------------ reads ---

@dataclass
class StockLine:
    product_id: int
    sku: str
    name: str
    unit: str
    category: str
    on_hand: int
    reorder_point: int | None
    cost: int
    last_cost: int
    price: int
    active: bool

    @property
    def value(self) -> int:
        return money.qty_times_price(max(self.on_hand, 0), self.cost)


_STOCK = ("SELECT p.id, p.sku, p.name, p.unit, p.category, p.on_hand, p.reorder_point, p.cost, p.last_cost, "
          "p.price, p.active FROM product p")


def _line(r) -> StockLine:
    return StockLine(r[0], r[1], r[2], r[3], r[4] or "", r[5], r[6], r[7], r[8], r[9], bool(r[10]))


def on_hand(product_id: int) -> int:
    """The cached stock on hand of one product (one indexed read)."""
    row = run("SELECT on_hand FROM product WHERE id = ?", (product_id,)).fetchone()
    return 0 if row is None else row[0]


def stock_of(product_id: int) -> StockLine | None:
    row = run(_STOCK + " WHERE p.id = ?", (product_id,)).fetchone()
    return None if row is None else _line(row)


def stock_list(ctx, *, category_id: int | None = None, negative: bool = False, low: bool = False,
               limit: int = 500, offset: int = 0) -> list[StockLine]:
    """Stock on hand and value at cost, by name (a page of ``limit``)."""
    where, params = [], []
    if category_id is not None:
        where.append("p.category_id = ?")
        params.append(category_id)
    if negative:
        where.append("p.on_hand < 0")
    if low:
        where.append("p.reorder_point IS NOT NULL AND p.on_hand <= p.reorder_point")
    sql = _STOCK + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY p.name_key, p.id LIMIT ? OFFSET ?"
    return [_line(r) for r in run(sql, (*params, limit, offset)).fetchall()]


def valuation(ctx) -> tuple[int, int]:
    """(products with stock, value at cost of what is on hand)."""
    n, v = run("SELECT COUNT(*), COALESCE(SUM(on_hand * cost), 0) FROM product WHERE on_hand > 0").fetchone()
    return n, (int(v) + 500) // 1000


@dataclass
class MovementView:
    id: int
    created_at: object
    kind: str
    qty: int
    cost: int
    user: str
    terminal: str
    ref: str
    reason: str
    note: str


def movements(ctx, product_id: int, *, limit: int = 200) -> list[MovementView]:
    """A product's movements, newest first."""
    rows = run("SELECT m.id, m.created_at, m.kind, m.qty, m.cost, COALESCE(u.name, ''), m.terminal, m.ticket_id, "
               "m.refund_id, m.delivery_id, m.count_id, m.reason, m.note FROM stock_movement m "
               "LEFT JOIN \"user\" u ON u.id = m.user_id WHERE m.product_id = ? ORDER BY m.id DESC LIMIT ?",
               (product_id, limit)).fetchall()
    out = []
    for r in rows:
        ref = (f"ticket {r[7]}" if r[7] else f"refund {r[8]}" if r[8] else f"delivery {r[9]}" if r[9]
               else f"count {r[10]}" if r[10] else "")
        out.append(MovementView(r[0], r[1], r[2], r[3], r[4], r[5], r[6], ref, r[11], r[12]))
    return out
