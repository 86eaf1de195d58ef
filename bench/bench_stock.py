"""Stock, each figure beside the raw limit measured in the same run.

1. Sale commit (``tender.complete_sale``, a 5-line basket, cash with change)
   with its stock movements vs the same commit without them (the stock posting
   switched off), interleaved one of each in turn on one store so both meet the
   same load; SQLite and PostgreSQL. Goal: <= 1.2x.
2. Stock on hand of one product with 10M movements (``movements.on_hand``: the
   cached figure) vs the bare round trip (``SELECT 1`` on the same connection);
   the independent sum of its movements is printed beside (what the cache
   saves). Goal: p50 < 1 ms (the p99 is shown beside the p99 of the bare round
   trip: on a loaded machine both are scheduling delays).
3. A count of 50,000 items completed (``counts.complete``: the differences,
   50,000 count corrections, the cached on-hand of each, the journal) vs a bare
   transaction inserting the same 50,000 rows into a table of the same columns
   without triggers. Goal: < 5 s.

Quick by default (200 commits, 1M movements, 10,000 items); STATION_BENCH_FULL=1
for 1000 commits, 10M movements and 50,000 items. PostgreSQL from
STATION_BENCH_PG (default STATION_TEST_PG), skipped with a line when unreachable.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from bench.common import FULL, p50, p99, pg_create, pg_drop, size, target

COMMITS = size(1000, 200)
MOVEMENTS = size(10_000_000, 1_000_000, "STATION_BENCH_MOVEMENTS")
ITEMS = size(50_000, 10_000, "STATION_BENCH_COUNT_ITEMS")
READS = 2000
NAME = "stock"


def _store(home: Path, url: str, products: int):
    from bench.bench_sale import setup_store
    home.mkdir(parents=True, exist_ok=True)
    return setup_store(home, url, 1, products)


# ------------------------------------------------------------ 1. commit ---

def commit_with_and_without(url: str, home: Path, n: int) -> tuple[list[float], list[float]]:
    from data.models import User
    from station import drawer, sale, tender
    from station.stock import movements
    ctx, codes = _store(home, url, 5)
    user = User.get(User.name == "bench0")
    drawer.open_session(ctx, user, {5000: 2}, kick=False)
    post_sale = movements.post_sale
    with_, without = [], []
    try:
        for i in range(2 * (n + 10)):
            stock = i % 2 == 0
            movements.post_sale = post_sale if stock else (lambda sc: None)
            for c in codes:
                sale.scan(ctx, user, c)
            st = tender.begin_tender(ctx, user)
            pay = [tender.Payment("cash", st.cash_due + 500)]
            t0 = time.perf_counter()
            tender.complete_sale(ctx, user, st.idem_key, pay)
            dt = time.perf_counter() - t0
            if i >= 20:
                (with_ if stock else without).append(dt)
    finally:
        movements.post_sale = post_sale
    ctx.db.close()
    return with_, without


# ------------------------------------------------------------ 2. on hand ---

def on_hand_reads(url: str, home: Path, n_movements: int) -> tuple[list[float], list[float], float]:
    """(on_hand read times, bare round trips, one independent SUM) over a product
    with ``n_movements`` movements (loaded in bulk: the on-hand trigger is set
    aside for the load and the cached figure set to their sum)."""
    from data import db as dbmod
    from data import stock as stock_tables
    from station.stock import movements
    ctx, _codes = _store(home, url, 2)
    db = ctx.db
    pg = dbmod.is_postgres(db)
    with dbmod.write():
        if pg:
            db.execute_sql("DROP TRIGGER stock_movement_guard_on_hand ON stock_movement")
            db.execute_sql("INSERT INTO stock_movement (product_id, kind, qty, cost, terminal, created_at, reason, "
                           "note) SELECT 1 + (g %% 2), CASE WHEN g %% 3 = 0 THEN 'receipt' ELSE 'sale' END, "
                           "CASE WHEN g %% 3 = 0 THEN 2000 ELSE -1000 END, 10, 'T1', now(), '', '' "
                           "FROM generate_series(1, %s) g", (n_movements,))
        else:
            db.execute_sql("DROP TRIGGER stock_movement_guard_on_hand")
            db.execute_sql("WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?) "
                           "INSERT INTO stock_movement (product_id, kind, qty, cost, terminal, created_at, reason, "
                           "note) SELECT 1 + (i % 2), CASE WHEN i % 3 = 0 THEN 'receipt' ELSE 'sale' END, "
                           "CASE WHEN i % 3 = 0 THEN 2000 ELSE -1000 END, 10, 'T1', '2026-01-01', '', '' FROM g",
                           (n_movements,))
        db.execute_sql("UPDATE product SET on_hand = (SELECT COALESCE(SUM(qty), 0) FROM stock_movement m "
                       "WHERE m.product_id = product.id)")
    stock_tables.create_schema(db)           # the trigger back
    if pg:
        db.execute_sql("ANALYZE stock_movement")
    ours, raw = [], []
    for _ in range(READS):
        t0 = time.perf_counter()
        movements.on_hand(1)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        db.execute_sql("SELECT 1").fetchone()
        raw.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    total = db.execute_sql(dbmod.q("SELECT SUM(qty) FROM stock_movement WHERE product_id = ?"), (1,)).fetchone()[0]
    summed = time.perf_counter() - t0
    assert total == movements.on_hand(1), (total, movements.on_hand(1))
    db.close()
    return ours, raw, summed


# --------------------------------------------------------------- 3. count ---

def count_complete(url: str, home: Path, items: int) -> tuple[float, float]:
    """(seconds to complete a count of ``items`` products, seconds of the bare
    insert of the same rows)."""
    from data import db as dbmod
    from data.models import User, utcnow
    from station import auth
    from station.stock import counts
    ctx, _codes = _store(home, url, items)
    db = ctx.db
    mia = auth.add_user(ctx, None, "mia", "manager", "3333")
    cnt = counts.start(ctx, mia, "store")
    with dbmod.write():      # the counting: 1 to 7 of each item, as if scanned
        db.execute_sql(dbmod.q("INSERT INTO count_scan (count_id, product_id, qty, user_id, terminal, created_at) "
                               "SELECT ?, id, 1000 + (id - 7 * (id / 7)) * 1000, ?, 'T1', ? FROM product"),
                       (cnt.id, mia.id, dbmod.param_time(utcnow())))
    ctx.config.set("stock.count_approval_value", 10 ** 12)
    t0 = time.perf_counter()
    rv = counts.complete(ctx, User.get_by_id(mia.id), cnt.id)
    ours = time.perf_counter() - t0
    assert rv.differences == items, (rv.differences, items)
    db.execute_sql("CREATE TABLE bare_movement (id INTEGER PRIMARY KEY, product_id INTEGER, kind VARCHAR(12), "
                   "qty BIGINT, cost BIGINT, user_id INTEGER, terminal VARCHAR(64), created_at TIMESTAMP, "
                   "count_id INTEGER, reason VARCHAR(64), note TEXT)" if not dbmod.is_postgres(db) else
                   "CREATE TABLE bare_movement (id SERIAL PRIMARY KEY, product_id INTEGER, kind VARCHAR(12), "
                   "qty BIGINT, cost BIGINT, user_id INTEGER, terminal VARCHAR(64), created_at TIMESTAMP, "
                   "count_id INTEGER, reason VARCHAR(64), note TEXT)")
    t0 = time.perf_counter()
    with dbmod.write():
        db.execute_sql(dbmod.q("INSERT INTO bare_movement (product_id, kind, qty, cost, user_id, terminal, "
                               "created_at, count_id, reason, note) SELECT product_id, 'count', qty, 0, ?, 'T1', "
                               "created_at, count_id, 'count', '' FROM count_scan WHERE count_id = ?"),
                       (mia.id, cnt.id))
    raw = time.perf_counter() - t0
    db.close()
    return ours, raw


def _run(label: str, make_url, cleanup) -> None:
    home = Path(tempfile.mkdtemp(prefix="station-bench-"))
    try:
        url = make_url(home, "c")
        if url is None:
            return
        try:
            w, wo = commit_with_and_without(url, home / "c", COMMITS)
        finally:
            cleanup(url)
        target(NAME, f"{label} sale commit with stock p50", p50(w), p50(wo), max_ratio=1.2, raw_label="without")
        target(NAME, f"{label} sale commit with stock p99", p99(w), p99(wo), raw_label="without")

        url = make_url(home, "m")
        try:
            ours, raw, summed = on_hand_reads(url, home / "m", MOVEMENTS)
        finally:
            cleanup(url)
        target(NAME, f"{label} on hand, {MOVEMENTS:,} movements p50", p50(ours), p50(raw), max_abs=0.001,
               raw_label="SELECT 1")
        target(NAME, f"{label} on hand, {MOVEMENTS:,} movements p99", p99(ours), p99(raw), raw_label="SELECT 1")
        print(f"  (the same figure summed from its movements instead: {summed * 1000:.1f} ms)")

        url = make_url(home, "k")
        try:
            ours, raw = count_complete(url, home / "k", ITEMS)
        finally:
            cleanup(url)
        target(NAME, f"{label} count of {ITEMS:,} items completed", ours, raw, max_abs=5.0, unit="s",
               raw_label="bare insert")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    print(f"bench_stock: {COMMITS} commits each way, {MOVEMENTS:,} movements, a count of {ITEMS:,} items"
          + ("" if FULL else "; STATION_BENCH_FULL=1 for the full size"))
    _run("SQLite", lambda home, tag: f"sqlite:///{home / (tag + '.db')}", lambda url: None)

    def pg_url(home, tag):
        return pg_create()

    def pg_cleanup(url):
        from data import db as dbmod
        if dbmod.proxy.obj is not None:
            dbmod.proxy.obj.close()
        pg_drop(url)
    _run("PostgreSQL", pg_url, pg_cleanup)


if __name__ == "__main__":
    main()
