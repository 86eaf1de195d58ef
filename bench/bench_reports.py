"""Reports over a large history, each beside the raw SQL aggregate over the same
rows measured in the same run (SQLite, WAL, the store's own pragmas):

1. the month report by day (``service.sales``, a 31-day month), vs one
   ``GROUP BY`` day over that month's completed tickets (the ``completed_at`` index).
   Target < 200 ms.
2. the top 100 products over a year (``service.products``, by net sales, with each
   product's trend), vs one ``GROUP BY`` product over the year's sale lines joined
   to their tickets. Target < 500 ms.
3. the dashboard's figures (``service.dashboard``: today and the same weekday last
   week by the hour, alerts), vs the hourly ``GROUP BY`` of today's tickets.
   Target < 300 ms.

Each service call includes bringing the summaries up to date (nothing new: one
read of the watermark). Also printed: the initial catch-up (the summaries filled
from the journal for the whole history, as the first report after the upgrade
does it) and the catch-up of 1,000 sales made after it.

The history is written in bulk with SQL in the shape the sale commit leaves it
(completed tickets, 5 lines each with their cost, a cash or a card tender, a
``sale.completed`` journal row naming the ticket), spread over 13 months.
Sizes: STATION_BENCH_FULL=1 for 1,000,000 sales (5,000,000 lines) and 5,000
products; default 20,000 sales and 500 products (STATION_BENCH_REPORT_SALES=N).
"""
from __future__ import annotations

import datetime as _dt
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import FULL, config, p50, size, target

SALES = size(1_000_000, 20_000, "STATION_BENCH_REPORT_SALES")
PRODUCTS = size(5_000, 500)
LINES = 5
DAYS = 396                           # 2025-01-01 .. 2026-01-31
FIRST = _dt.datetime(2025, 1, 1)
NAME = "reports"
REPEAT = 15


def _fill(path: Path, first_id: int, sales: int, start: _dt.datetime, days: float) -> None:
    """``sales`` completed sales with ids from ``first_id``, spread evenly over ``days``
    from ``start`` (UTC), and their journal rows after the journal's head."""
    con = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN IMMEDIATE")
    step = days * 86400 / sales
    last = first_id + sales - 1
    seq0 = con.execute("SELECT seq FROM journal_head WHERE id = 1").fetchone()[0]
    con.execute(f"""INSERT INTO ticket (id, terminal, cashier_id, status, created_at, updated_at, ticket_discount,
        discount_bp, idem_key, receipt_no, subtotal, tax_total, total, rounding, completed_at, rev)
        WITH RECURSIVE s(i) AS (SELECT {first_id} UNION ALL SELECT i + 1 FROM s WHERE i < {last})
        SELECT i, 'T' || (i % 4 + 1), 1 + i % 3, 'parked', '{start:%Y-%m-%d}', '{start:%Y-%m-%d}', 0, 0, 'k' || i,
               i, 0, 0, 0, 0, datetime('{start:%Y-%m-%d %H:%M:%S}', '+' || CAST((i - {first_id}) * {step} AS INTEGER)
               || ' seconds'), 1 FROM s""")
    for k in range(LINES):
        con.execute(f"""INSERT INTO ticket_line (ticket_id, position, product_id, code, name, qty, unit_price,
            price_override, discount, discount_bp, vat_rate, line_total, voided, cost)
            SELECT t.id, {k + 1}, p.id, p.sku, p.name, 1000 * (1 + (t.id + {k}) % 3), p.price, 0, 0, 0, p.vat_rate,
                   p.price * (1 + (t.id + {k}) % 3), 0, p.cost
            FROM ticket t JOIN product p ON p.id = 1 + ((t.id * 7919 + {k} * 104729) % {PRODUCTS})
                          * ((t.id + {k}) % 5 + 1) % {PRODUCTS}
            WHERE t.id BETWEEN {first_id} AND {last}""")
    con.execute(f"""UPDATE ticket SET subtotal = s.t, total = s.t, tax_total = s.x FROM
        (SELECT ticket_id, SUM(line_total) AS t, SUM(line_total - line_total * 10000 / (10000 + vat_rate)) AS x
         FROM ticket_line WHERE ticket_id BETWEEN {first_id} AND {last} GROUP BY ticket_id) s
        WHERE s.ticket_id = ticket.id""")
    con.execute(f"""INSERT INTO tender (ticket_id, method, amount, tendered, change, reference, created_at)
        SELECT id, CASE WHEN id % 3 = 0 THEN 'card' ELSE 'cash' END, total, total, 0, '', completed_at
        FROM ticket WHERE id BETWEEN {first_id} AND {last}""")
    con.execute(f"""INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, hash)
        SELECT {seq0} + id - {first_id} + 1, strftime('%Y-%m-%dT%H:%M:%fZ', completed_at), terminal, 'boss',
               'sale.completed', total, CAST(receipt_no AS TEXT), '{{"ticket":' || id || '}}', 'p', 'h' || id
        FROM ticket WHERE id BETWEEN {first_id} AND {last}""")
    con.execute(f"UPDATE journal_head SET seq = {seq0 + sales} WHERE id = 1")
    con.execute(f"UPDATE ticket SET status = 'completed' WHERE id BETWEEN {first_id} AND {last}")
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()


def _store(home: Path):
    from data import db as dbmod
    from data.models import Product, User
    from station import auth
    from station.context import open_station
    url = f"sqlite:///{home / 'store.db'}"
    ctx = open_station(config(home, url, **{"reports.timezone": "Europe/Berlin", "reports.day_starts": "04:00"}),
                       upgrade=True)
    auth.add_user(ctx, None, "boss", "manager", "1111")
    for n in ("c1", "c2"):
        auth.add_user(ctx, None, n, "cashier", "1111")
    with dbmod.write():
        Product.insert_many([{"sku": f"P{i:05d}", "name": f"Product {i}", "name_key": f"product {i}",
                              "price": 99 + (i * 37) % 2000, "vat_rate": 700 if i % 3 else 1900,
                              "cost": 50 + (i * 37) % 1200, "category": f"cat {i % 40}"}
                             for i in range(1, PRODUCTS + 1)]).execute()
    return ctx, User.get(User.name == "boss"), home / "store.db"


def _times(fn) -> list[float]:
    out = []
    for _ in range(REPEAT):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    from station.reporting import service, summary
    from station.reporting.periods import Period
    print(f"bench_reports: {SALES:,} sales of {LINES} lines, {PRODUCTS:,} products over 13 months"
          + ("" if FULL else "; STATION_BENCH_FULL=1 for 1,000,000 sales"))
    home = Path(tempfile.mkdtemp(prefix="bench_reports_"))
    try:
        ctx, boss, path = _store(home)
        t0 = time.perf_counter()
        _fill(path, 1, SALES, FIRST, DAYS)
        print(f"  history written in {time.perf_counter() - t0:.1f} s")
        r = summary.refresh(ctx)
        print(f"  initial catch-up: {r.events:,} journal entries in {r.seconds:.2f} s "
              f"({r.seconds / max(r.events, 1) * 1e6:.0f} us per sale)")
        _fill(path, SALES + 1, 1000, _dt.datetime(2026, 1, 31, 8), 0.4)
        r = summary.refresh(ctx)
        print(f"  catch-up of {r.events:,} new sales: {r.seconds * 1000:.1f} ms")
        raw = sqlite3.connect(str(path))

        month = Period(_dt.date(2025, 10, 1), _dt.date(2025, 10, 31), "custom")
        ours = _times(lambda: service.sales(ctx, boss, month, by="day"))
        rawt = _times(lambda: raw.execute(
            "SELECT substr(completed_at, 1, 10) AS d, COUNT(*), SUM(total), SUM(tax_total) FROM ticket "
            "WHERE status = 'completed' AND completed_at >= '2025-10-01' AND completed_at < '2025-11-01' "
            "GROUP BY d").fetchall())
        target(NAME, "month report by day (p50)", p50(ours), p50(rawt), max_abs=0.200, raw_label="raw GROUP BY")

        year = Period(_dt.date(2025, 1, 1), _dt.date(2025, 12, 31), "custom")
        ours = _times(lambda: service.products(ctx, boss, year, order="revenue", limit=100))
        rawt = _times(lambda: raw.execute(
            "SELECT l.product_id, SUM(l.qty), SUM(l.line_total) AS r FROM ticket_line l JOIN ticket t "
            "ON t.id = l.ticket_id WHERE t.status = 'completed' AND t.completed_at >= '2025-01-01' "
            "AND t.completed_at < '2026-01-01' AND NOT l.voided GROUP BY l.product_id ORDER BY r DESC "
            "LIMIT 100").fetchall()) if SALES <= 200_000 else _times_once(raw)
        target(NAME, "top 100 products over a year (p50)", p50(ours), p50(rawt), max_abs=0.500,
               raw_label="raw GROUP BY")

        now = _dt.datetime(2026, 1, 31, 17, 0)
        ours = _times(lambda: service.dashboard(ctx, boss, now=now))
        rawt = _times(lambda: raw.execute(
            "SELECT substr(completed_at, 12, 2) AS h, COUNT(*), SUM(total) FROM ticket WHERE status = 'completed' "
            "AND completed_at >= '2026-01-31 03:00' AND completed_at < '2026-01-31 17:00' GROUP BY h").fetchall())
        target(NAME, "dashboard (p50)", p50(ours), p50(rawt), max_abs=0.300, raw_label="raw GROUP BY")
        raw.close()
        ctx.db.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _times_once(raw) -> list[float]:
    """The year's raw aggregate over millions of lines: timed once (it takes seconds)."""
    t0 = time.perf_counter()
    raw.execute("SELECT l.product_id, SUM(l.qty), SUM(l.line_total) AS r FROM ticket_line l JOIN ticket t "
                "ON t.id = l.ticket_id WHERE t.status = 'completed' AND t.completed_at >= '2025-01-01' "
                "AND t.completed_at < '2026-01-01' AND NOT l.voided GROUP BY l.product_id ORDER BY r DESC "
                "LIMIT 100").fetchall()
    return [time.perf_counter() - t0]
