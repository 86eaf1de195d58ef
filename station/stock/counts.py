"""Stock counts by scanner.

:func:`start` freezes the expected quantity of every product in the count's
scope (the whole store, a category with its sub-categories, or a list) and the
last movement id (the watermark); on PostgreSQL it first waits for every
transaction that is writing movements (``LOCK TABLE ... EXCLUSIVE``) so the two
agree. :func:`scan` adds one (``N*CODE``: N) as its own row, so the same item
counted twice adds up and two terminals counting into one count lose nothing.

Sales (and receipts, refunds, adjustments) during the count are accounted for,
not double-counted: the expected quantity now is the frozen one plus the
movements after the watermark. :func:`complete` posts, in ONE transaction, one
count correction per product whose counted quantity differs (what is not
counted counts as none), valued at cost; above ``stock.count_approval_value``
it needs a manager. At most one count is open (partial UNIQUE index).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from data import db as dbmod
from data.models import utcnow
from data.stock import StockCount
from station import authority, catalog, journal, money, sale
from station.errors import Conflict, InvalidInput, NotFound, Unavailable
from station.stock.common import check_qty, run
from station.stock.products import _write, category_named


@dataclass
class CountView:
    id: int
    scope: str
    category: str
    status: str
    started_by: str
    started_at: object
    finished_by: str
    finished_at: object
    items: int
    scans: int
    note: str


@dataclass
class CountLine:
    product_id: int
    sku: str
    name: str
    unit: str
    cost: int
    expected: int      # frozen at the start
    since: int         # movements since the start (sales negative)
    counted: int
    scanned: bool

    @property
    def expected_now(self) -> int:
        return self.expected + self.since

    @property
    def difference(self) -> int:
        return self.counted - self.expected_now

    @property
    def value(self) -> int:
        return money.qty_times_price(self.difference, self.cost)


@dataclass
class CountReview:
    count: CountView
    lines: list[CountLine] = field(default_factory=list)   # the differences (all lines with ``every``)
    items: int = 0
    counted_items: int = 0
    differences: int = 0
    gain: int = 0          # value at cost of what was found more
    loss: int = 0          # value at cost of what is missing (shrinkage), positive

    @property
    def value(self) -> int:
        return self.gain + self.loss


@dataclass
class ScanResult:
    count_id: int
    product_id: int
    name: str
    unit: str
    added: int
    counted: int       # of this product so far, every terminal together


_VIEW = ("SELECT c.id, c.scope, COALESCE(g.name, ''), c.status, s.name, c.started_at, COALESCE(f.name, ''), "
         "c.finished_at, (SELECT COUNT(*) FROM stock_count_item i WHERE i.count_id = c.id), "
         "(SELECT COUNT(*) FROM count_scan x WHERE x.count_id = c.id), c.note FROM stock_count c "
         "JOIN \"user\" s ON s.id = c.started_by_id LEFT JOIN \"user\" f ON f.id = c.finished_by_id "
         "LEFT JOIN category g ON g.id = c.category_id")


def count_view(count_id: int) -> CountView:
    r = run(_VIEW + " WHERE c.id = ?", (count_id,)).fetchone()
    if r is None:
        raise NotFound(f"count {count_id} does not exist")
    return CountView(*r)


def counts(ctx, limit: int = 50) -> list[CountView]:
    return [CountView(*r) for r in run(_VIEW + " ORDER BY c.id DESC LIMIT ?", (limit,)).fetchall()]


def open_count(ctx) -> CountView | None:
    r = run("SELECT id FROM stock_count WHERE status = 'open'").fetchone()
    return None if r is None else count_view(r[0])


def _product_of(code: str):
    item = catalog.item_by_code(code)
    if item is None:
        r = run("SELECT id FROM product WHERE sku = ?", (code,)).fetchone()
        item = catalog.item_by_id(r[0]) if r else None
    if item is None:
        raise NotFound(f"unknown barcode {code}")
    return item


def start(ctx, user, scope: str = "store", *, category: str | None = None, codes: list[str] | None = None,
          note: str = "") -> CountView:
    """Start a count of the whole store, a category, or the products of ``codes``."""
    if scope not in ("store", "category", "list"):
        raise InvalidInput("a count is of the store, a category or a list")
    if scope == "category" and not (category or "").strip():
        raise InvalidInput("name the category to count")
    ids: list[int] = []
    if scope == "list":
        ids = sorted({_product_of(c.strip()).id for c in (codes or []) if c.strip()})
        if not ids:
            raise InvalidInput("the list of products to count is empty")

    def tx():
        authority.require(ctx, user, "stock.count_manage")
        if dbmod.is_postgres():
            run("LOCK TABLE stock_movement IN EXCLUSIVE MODE")
        if run("SELECT 1 FROM stock_count WHERE status = 'open'").fetchone():
            raise Conflict("a count is already open: complete or cancel it first")
        cat = category_named(category) if scope == "category" else None
        mark = run("SELECT COALESCE(MAX(id), 0) FROM stock_movement").fetchone()[0]
        c = StockCount.create(scope=scope, category=cat.id if cat else None, status="open", watermark=mark,
                              started_by=user.id, started_at=utcnow(), terminal=ctx.terminal, note=note or "")
        if scope == "store":
            where, params = "(active OR on_hand <> 0)", ()
        elif scope == "category":
            where, params = "category_id IN (SELECT id FROM category WHERE id = ? OR parent_id = ?)", (cat.id, cat.id)
        else:
            where, params = "id IN (" + ", ".join("?" * len(ids)) + ")", tuple(ids)
        n = run(f"INSERT INTO stock_count_item (count_id, product_id, expected) SELECT ?, id, on_hand FROM product "
                f"WHERE {where}", (c.id, *params)).rowcount
        if not n:
            raise InvalidInput("there is nothing to count in that scope")
        journal.append("stock.count_started", terminal=ctx.terminal, user=user, ref=f"count {c.id}",
                       data={"count": c.id, "scope": scope, "category": cat.name if cat else None, "items": n})
        return c.id
    return count_view(_write(tx))


def scan(ctx, user, count_id: int, text: str) -> ScanResult:
    """One scan into an open count: ``CODE`` adds 1, ``N*CODE`` adds N."""
    qty, code = sale.parse_scan(text)
    if not code:
        raise InvalidInput("nothing was scanned")
    item = _product_of(code)
    qty = 1000 if qty is None else qty
    check_qty(qty, item.unit)

    def tx():
        authority.require(ctx, user, "stock.count")
        st = run("SELECT status FROM stock_count WHERE id = ?" + (" FOR SHARE" if dbmod.is_postgres() else ""),
                 (count_id,)).fetchone()
        if st is None:
            raise NotFound(f"count {count_id} does not exist")
        if st[0] != "open":
            raise Conflict(f"count {count_id} is {st[0]}: the scan was not recorded")
        if not run("SELECT 1 FROM stock_count_item WHERE count_id = ? AND product_id = ?",
                   (count_id, item.id)).fetchone():
            raise InvalidInput(f"{item.name} is not part of count {count_id}: not counted")
        run("INSERT INTO count_scan (count_id, product_id, qty, user_id, terminal, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (count_id, item.id, qty, user.id, ctx.terminal, dbmod.param_time(utcnow())))
        return run("SELECT SUM(qty) FROM count_scan WHERE count_id = ? AND product_id = ?",
                   (count_id, item.id)).fetchone()[0]

    def attempt():
        with dbmod.edit():
            return tx()
    try:
        total = dbmod.retrying(attempt)
    except dbmod.DatabaseUnavailable as e:
        raise Unavailable(str(e)) from None
    return ScanResult(count_id, item.id, item.name, item.unit, qty, int(total))


_LINES = ("SELECT i.product_id, p.sku, p.name, p.unit, p.cost, i.expected, COALESCE(m.since, 0), "
          "COALESCE(s.counted, 0), CASE WHEN s.product_id IS NULL THEN 0 ELSE 1 END "
          "FROM stock_count_item i JOIN product p ON p.id = i.product_id "
          "LEFT JOIN (SELECT product_id, SUM(qty) AS counted FROM count_scan WHERE count_id = ? "
          "GROUP BY product_id) s ON s.product_id = i.product_id "
          "LEFT JOIN (SELECT product_id, SUM(qty) AS since FROM stock_movement WHERE id > ? AND kind <> 'count' "
          "GROUP BY product_id) m ON m.product_id = i.product_id WHERE i.count_id = ?")


def _watermark(count_id: int) -> tuple[str, int]:
    r = run("SELECT status, watermark FROM stock_count WHERE id = ?", (count_id,)).fetchone()
    if r is None:
        raise NotFound(f"count {count_id} does not exist")
    return r


def review(ctx, count_id: int, *, every: bool = False) -> CountReview:
    """The differences of a count (every line with ``every``), valued at cost.
    An open count: against the frozen expectation plus the movements since; a
    completed one: the corrections it posted."""
    status, mark = _watermark(count_id)
    rv = CountReview(count_view(count_id))
    if status == "completed":
        rows = run("SELECT m.product_id, p.sku, p.name, p.unit, m.cost, 0, 0, m.qty, 1 FROM stock_movement m "
                   "JOIN product p ON p.id = m.product_id WHERE m.count_id = ? ORDER BY p.name_key",
                   (count_id,)).fetchall()
    else:
        rows = run(_LINES + " ORDER BY p.name_key, p.id", (count_id, mark, count_id)).fetchall()
    for r in rows:
        ln = CountLine(*r[:5], int(r[5]), int(r[6]), int(r[7]), bool(r[8]))
        rv.items += 1
        rv.counted_items += ln.scanned
        if ln.difference:
            rv.differences += 1
            if ln.value > 0:
                rv.gain += ln.value
            else:
                rv.loss -= ln.value
        if every or ln.difference:
            rv.lines.append(ln)
    if status == "completed":
        rv.items = rv.count.items
    return rv


_CORRECT = ("INSERT INTO stock_movement (product_id, kind, qty, cost, user_id, terminal, created_at, ticket_id, "
            "ticket_line_id, refund_id, refund_line, delivery_id, count_id, reason, note) "
            "SELECT product_id, 'count', diff, cost, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?, 'count', '' FROM ("
            "SELECT i.product_id, p.cost, COALESCE(s.counted, 0) - i.expected - COALESCE(m.since, 0) AS diff "
            "FROM stock_count_item i JOIN product p ON p.id = i.product_id "
            "LEFT JOIN (SELECT product_id, SUM(qty) AS counted FROM count_scan WHERE count_id = ? "
            "GROUP BY product_id) s ON s.product_id = i.product_id "
            "LEFT JOIN (SELECT product_id, SUM(qty) AS since FROM stock_movement WHERE id > ? AND kind <> 'count' "
            "GROUP BY product_id) m ON m.product_id = i.product_id WHERE i.count_id = ?) d "
            "WHERE diff <> 0 ORDER BY product_id")


def complete(ctx, user, count_id: int, approval=None) -> CountReview:
    """Post the count's corrections in one transaction and close it. Worth more
    at cost than ``stock.count_approval_value`` it needs a manager (approval
    for exactly this count and value)."""
    threshold = ctx.config.values["stock"]["count_approval_value"]

    def tx():
        st = run("SELECT status FROM stock_count WHERE id = ?" + (" FOR UPDATE" if dbmod.is_postgres() else ""),
                 (count_id,)).fetchone()
        if st is None:
            raise NotFound(f"count {count_id} does not exist")
        if st[0] != "open":
            raise Conflict(f"count {count_id} is already {st[0]}")
        rv = review(ctx, count_id)
        action = "stock.count_large" if rv.value > threshold else "stock.count_manage"
        a = authority.require(ctx, user, action, amount=rv.value, ref=f"count {count_id}", approval=approval)
        mark = _watermark(count_id)[1]
        run(_CORRECT, (user.id, ctx.terminal, dbmod.param_time(utcnow()), count_id, count_id, mark, count_id))
        StockCount.update(status="completed", finished_by=user.id, finished_at=utcnow(),
                          approval=a.id if a else None).where(StockCount.id == count_id).execute()
        journal.append("stock.count_completed", terminal=ctx.terminal, user=user, amount=rv.gain - rv.loss,
                       ref=f"count {count_id}", data={"count": count_id, "items": rv.items,
                                                      "counted": rv.counted_items, "differences": rv.differences,
                                                      "gain": rv.gain, "loss": rv.loss,
                                                      "approval": a.id if a else None})
        return rv
    rv = _write(tx)
    rv.count = count_view(count_id)
    return rv


def cancel(ctx, user, count_id: int, note: str = "") -> CountView:
    def tx():
        authority.require(ctx, user, "stock.count_manage", ref=f"count {count_id}")
        n = (StockCount.update(status="cancelled", finished_by=user.id, finished_at=utcnow(),
                               note=(note or "")[:500])
             .where((StockCount.id == count_id) & (StockCount.status == "open")).execute())
        if n != 1:
            count_view(count_id)
            raise Conflict(f"count {count_id} is not open")
        journal.append("stock.count_cancelled", terminal=ctx.terminal, user=user, ref=f"count {count_id}",
                       data={"count": count_id, "note": note or ""})
        return count_id
    return count_view(_write(tx))

