"""``verify`` checks of stock: the cached figure, a movement for every sold and
refunded line, count corrections, barcodes, alerts."""
from __future__ import annotations

from data.models import SchemaMeta
from station.checks import check
from station.stock.common import run


def _from(key: str) -> int:
    row = SchemaMeta.get_or_none(SchemaMeta.key == key)
    return int(row.value) if row else 0


@check("stock.on_hand")
def on_hand_is_sum(ctx) -> list[str]:
    """every product's cached stock on hand equals the sum of its movements"""
    rows = run("SELECT p.id, p.sku, p.on_hand, COALESCE(m.total, 0) FROM product p LEFT JOIN "
               "(SELECT product_id, SUM(qty) AS total FROM stock_movement GROUP BY product_id) m "
               "ON m.product_id = p.id WHERE p.on_hand <> COALESCE(m.total, 0) ORDER BY p.id").fetchall()
    return [f"product {pid} (sku {sku}): cached on hand {oh}, movements add up to {total}"
            for pid, sku, oh, total in rows]


@check("stock.sale_movements")
def sale_lines_moved(ctx) -> list[str]:
    """every live line of a completed sale has exactly its sale movement"""
    rows = run("SELECT t.id, l.id, l.qty, m.qty, m.product_id, l.product_id, m.n FROM ticket_line l "
               "JOIN ticket t ON t.id = l.ticket_id LEFT JOIN (SELECT ticket_line_id, MIN(qty) AS qty, "
               "MIN(product_id) AS product_id, COUNT(*) AS n FROM stock_movement WHERE kind = 'sale' "
               "GROUP BY ticket_line_id) m ON m.ticket_line_id = l.id "
               "WHERE t.status = 'completed' AND t.id > ? AND l.voided = FALSE AND l.product_id IS NOT NULL "
               "AND (m.qty IS NULL OR m.qty <> -l.qty OR m.product_id <> l.product_id OR m.n <> 1)",
               (_from("stock_from_ticket"),)).fetchall()
    out = [f"sale {tid} line {lid}: " + ("no stock movement" if mq is None else
                                         f"movement of {mq} for a line of {lq}") for tid, lid, lq, mq, *_ in rows]
    stray = run("SELECT m.id, m.ticket_line_id FROM stock_movement m LEFT JOIN ticket_line l ON "
                "l.id = m.ticket_line_id LEFT JOIN ticket t ON t.id = l.ticket_id WHERE m.kind = 'sale' AND "
                "(t.status IS NULL OR t.status <> 'completed' OR l.voided = TRUE)").fetchall()
    out += [f"sale movement {mid} belongs to no live line of a completed sale (line {lid})" for mid, lid in stray]
    return out


@check("stock.refund_movements")
def refund_lines_moved(ctx) -> list[str]:
    """every line of a processed refund has exactly its refund movement"""
    rows = run("SELECT r.id, rl.position, rl.qty, m.qty, m.n FROM refund_line rl JOIN refund r ON "
               "r.id = rl.refund_id LEFT JOIN (SELECT refund_id, refund_line, MIN(qty) AS qty, COUNT(*) AS n FROM "
               "stock_movement WHERE kind = 'refund' GROUP BY refund_id, refund_line) m ON "
               "m.refund_id = rl.refund_id AND m.refund_line = rl.position WHERE r.status = 'processed' AND "
               "r.id > ? AND rl.product_id IS NOT NULL AND (m.qty IS NULL OR m.qty <> rl.qty OR m.n <> 1)",
               (_from("stock_from_refund"),)).fetchall()
    out = [f"refund {rid} line {pos}: " + ("no stock movement" if mq is None else f"movement of {mq} for {q}")
           for rid, pos, q, mq, _n in rows]
    stray = run("SELECT m.id, m.refund_id FROM stock_movement m LEFT JOIN refund r ON r.id = m.refund_id "
                "WHERE m.kind = 'refund' AND (r.status IS NULL OR r.status <> 'processed')").fetchall()
    out += [f"refund movement {mid} belongs to no processed refund ({rid})" for mid, rid in stray]
    return out


@check("stock.count_corrections")
def corrections_of_completed_counts(ctx) -> list[str]:
    """every count correction belongs to a completed count"""
    rows = run("SELECT m.id, m.count_id, c.status FROM stock_movement m LEFT JOIN stock_count c ON "
               "c.id = m.count_id WHERE m.kind = 'count' AND (c.status IS NULL OR c.status <> 'completed')").fetchall()
    return [f"count correction {mid} belongs to count {cid} ({st or 'missing'})" for mid, cid, st in rows]


@check("stock.barcodes")
def no_shared_barcode(ctx) -> list[str]:
    """no barcode is on two products (a UPC-A and its 13-digit form are one code)"""
    rows = run("SELECT a.code, a.product_id, b.code, b.product_id FROM barcode a JOIN barcode b ON "
               "b.code = '0' || a.code WHERE LENGTH(a.code) = 12 AND a.product_id <> b.product_id").fetchall()
    return [f"barcode {a} (product {pa}) and {b} (product {pb}) are one code on two products"
            for a, pa, b, pb in rows]


@check("stock.alerts")
def one_active_alert(ctx) -> list[str]:
    """at most one active low-stock alert per product"""
    rows = run("SELECT product_id, COUNT(*) FROM stock_alert WHERE status = 'active' GROUP BY product_id "
               "HAVING COUNT(*) > 1").fetchall()
    return [f"product {pid} has {n} active alerts" for pid, n in rows]
