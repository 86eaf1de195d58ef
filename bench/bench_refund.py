"""Refund commit latency and finding a sale by its receipt barcode, each beside
the raw limit measured in the same run.

1. Refund commit (``station.refund.service.refund``: 2 lines back of a 5-line
   cash sale, cash out of the drawer) p50/p99, on SQLite and PostgreSQL, vs the
   bare ``sqlite3`` / ``psycopg2`` transaction (the two interleaved, one of each in
   turn, so both meet the same load) doing the same reads and row locks
   and writing the same rows (refund, 2 lines, 1 tender, counter, cash movement,
   drawer session, journal row + head) into the same schema (same triggers), with
   the same pragmas (WAL, synchronous=FULL, BEGIN IMMEDIATE). Goal: <= 2x.
2. Finding a sale by the barcode on its receipt (``lookup.find_ticket``, and the
   whole ``lookup.find_sale``: lines, returnable quantities, tenders, refunds)
   among 1M sales, vs the bare indexed SELECT. Goal: < 5 ms.

Sizes: STATION_BENCH_FULL=1 for 1000 refund commits (default 200);
STATION_BENCH_SALES sets the number of sales for the lookup (default 1,000,000).
PostgreSQL from STATION_BENCH_PG (default STATION_TEST_PG or
postgresql://postgres@127.0.0.1:5432/postgres), skipped with a line when it cannot
be reached.
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import FULL, config, p50, p99, pg_connect, pg_create, pg_drop, size, target

COMMITS = size(1000, 200)
SALES = size(1_000_000, 1_000_000, "STATION_BENCH_SALES")
LOOKUPS = 2000
NAME = "refund"


def _config(home: Path, url: str):
    return config(home, url)


def _canon(d) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# ------------------------------------------------------------ refund commit ---

def _store(home: Path, url: str, sales: int):
    """Schema, 5 products, a cashier with an open drawer, ``sales`` cash sales of 5 items."""
    from data import db as dbmod
    from data.models import Barcode, Product, User
    from station import auth, drawer, sale, tender
    from station.context import open_station
    home.mkdir(parents=True, exist_ok=True)
    ctx = open_station(_config(home, url), upgrade=True)
    codes = []
    with dbmod.write():
        for i in range(5):
            body = f"40000000000{i}"
            code = body + str(sale.gtin_check_digit(body))
            p = Product.create(sku=f"S{i}", name=f"Item {i}", name_key=f"item {i}", price=100 + 37 * i,
                               vat_rate=700 if i % 2 else 1900)
            Barcode.create(code=code, product=p)
            codes.append(code)
    auth.add_user(ctx, None, "bench0", "cashier", "1111")
    user = User.get(User.name == "bench0")
    drawer.open_session(ctx, user, {5000: 200}, kick=False)
    out = []
    for _ in range(sales):
        for c in codes:
            sale.scan(ctx, user, c)
        st = tender.begin_tender(ctx, user)
        out.append(tender.complete_sale(ctx, user, st.idem_key, [tender.Payment("cash", st.cash_due)]).ticket_id)
    return ctx, user, out


def _raw_body(cur, ph: str, tid: int, line_ids: list[int], i: int, pg: bool) -> None:
    """The refund commit's work as bare SQL: the same reads, row locks and rows, and
    the same hashing (the session's running figures and digest, the journal entry's
    canonical JSON + SHA-256)."""
    lock = " FOR UPDATE" if pg else ""
    now = "2026-01-01 10:00:00"
    cur.execute(f"SELECT id, terminal, receipt_no, status, completed_at, cashier_id, session_id, total, rounding, "
                f"discount_bp FROM ticket WHERE id = {ph}{lock}", (tid,))
    cur.fetchone()
    cur.execute(f"SELECT id FROM refund WHERE idem_key = {ph}{lock}", (f"raw{i}",))
    cur.execute("SELECT active, role FROM \"user\" WHERE id = 1")
    cur.execute(f"SELECT l.id, l.qty, l.unit_price, l.discount, l.vat_rate, l.voided, r.returned FROM ticket_line l "
                f"LEFT JOIN returned_qty r ON r.line_id = l.id WHERE l.ticket_id = {ph} ORDER BY l.position", (tid,))
    cur.fetchall()
    cur.execute(f"SELECT 0, method, amount FROM tender WHERE ticket_id = {ph} UNION ALL "
                f"SELECT 1, method, refunded FROM refunded_amount WHERE ticket_id = {ph}", (tid, tid))
    cur.fetchall()
    cur.execute(f"SELECT id, expected_cash, totals, digest FROM drawer_session WHERE drawer = 'T1' "
                f"AND status = 'open'{lock}")
    sid, expected, totals, digest = cur.fetchone()
    cur.execute("INSERT INTO refund_counter (terminal, last) VALUES ('T1', 1) ON CONFLICT (terminal) "
                "DO UPDATE SET last = refund_counter.last + 1 RETURNING last")
    no = cur.fetchone()[0]
    cur.execute(f"INSERT INTO refund (terminal, refund_no, kind, status, original_id, reason, note, cashier_id, why, "
                f"idem_key, session_id, total, tax_total, rounding, created_at, processed_at) VALUES "
                f"('T1', {ph}, 'return', 'processed', {ph}, 'damaged', '', 1, '', {ph}, {ph}, 237, 25, 0, {ph}, {ph}) "
                f"RETURNING id", (no, tid, f"raw{i}", sid, now, now))
    rid = cur.fetchone()[0]
    cur.execute(f"INSERT INTO refund_line (refund_id, position, original_line_id, product_id, code, name, qty, "
                f"unit_price, amount, tax, vat_rate) VALUES ({ph}, 1, {ph}, NULL, 'c', 'Item 0', 1000, 100, 100, 16, "
                f"1900), ({ph}, 2, {ph}, NULL, 'c', 'Item 1', 1000, 137, 137, 9, 700)",
                (rid, line_ids[0], rid, line_ids[1]))
    cur.execute(f"INSERT INTO refund_tender (refund_id, method, against, amount, reference, created_at) "
                f"VALUES ({ph}, 'cash', 'cash', -237, '', {ph})", (rid, now))
    t = json.loads(totals or "{}")
    t["n"] = t.get("n", 0) + 1
    t.setdefault("moves", {}).setdefault("refund", [0, 0])[0] += 1
    r = t.setdefault("refunds", {"count": 0, "methods": {}, "reasons": {}})
    r["count"] += 1
    digest = hashlib.sha256(((digest or "") + _canon([t["n"], "refund", -237, 1, rid, "", ""])).encode()).hexdigest()
    cur.execute(f"INSERT INTO cash_movement (session_id, kind, amount, user_id, reason, note, ticket_id, created_at) "
                f"VALUES ({ph}, 'refund', -237, 1, '', '', {ph}, {ph})", (sid, rid, now))
    cur.execute(f"UPDATE drawer_session SET expected_cash = {ph}, totals = {ph}, digest = {ph} WHERE id = {ph}",
                (expected - 237, _canon(t), digest, sid))
    cur.execute(f"SELECT seq, hash FROM journal_head WHERE id = 1{lock}")
    seq, prev = cur.fetchone()
    seq += 1
    data = _canon({"refund": rid, "refund_no": no, "kind": "return", "reason": "damaged", "session": sid,
                   "total": 237, "tax": 25, "rounding": 0, "paid_out": 237, "approval": None,
                   "exchange_ticket": None, "original": {"ticket": tid, "terminal": "T1", "receipt_no": tid},
                   "lines": [{"line": line_ids[0], "product": None, "qty": 1000, "amount": 100, "tax": 16},
                             {"line": line_ids[1], "product": None, "qty": 1000, "amount": 137, "tax": 9}],
                   "tenders": [{"method": "cash", "against": "cash", "amount": -237, "reference": ""}]})
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    h = hashlib.sha256(_canon({"seq": seq, "ts": ts, "terminal": "T1", "user": "raw", "kind": "refund.processed",
                               "amount": 237, "ref": f"R{no}", "data": data, "prev": prev}).encode()).hexdigest()
    cur.execute(f"INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, hash) "
                f"VALUES ({ph}, {ph}, 'T1', 'raw', 'refund.processed', 237, {ph}, {ph}, {ph}, {ph})",
                (seq, ts, f"R{no}", data, prev, h))
    cur.execute(f"UPDATE journal_head SET seq = {ph}, hash = {ph} WHERE id = 1", (seq, h))


def _raw_targets(url: str, home: Path, n: int) -> list[tuple[int, list[int]]]:
    """A store made by the services (n + 5 sales), closed again: what the bare
    transactions refund (two lines of each sale)."""
    from data.models import TicketLine
    ctx, _user, tickets = _store(home, url, n + 5)
    out = [(tid, [ln.id for ln in TicketLine.select(TicketLine.id).where(TicketLine.ticket == tid)
                  .order_by(TicketLine.position)][:2]) for tid in tickets]
    ctx.db.close()
    return out


def refund_pairs(ours_url: str, raw_url: str, home: Path, n: int) -> tuple[list[float], list[float]]:
    """``n`` refund commits through the service and ``n`` bare ones, interleaved
    (one of each in turn, on two stores made alike), so both meet the same load."""
    from data import db as dbmod
    from data.models import TicketLine
    from station.refund import service
    from station.refund.service import ReturnItem
    pg = ours_url.startswith("postgres")
    targets = _raw_targets(raw_url, home / "raw", n)
    ctx, user, tickets = _store(home / "ours", ours_url, n + 5)
    ours_lines = [[ln.id for ln in TicketLine.select(TicketLine.id).where(TicketLine.ticket == tid)
                   .order_by(TicketLine.position)][:2] for tid in tickets]
    if pg:
        con = pg_connect(raw_url)
    else:
        import sqlite3
        con = sqlite3.connect(raw_url[len("sqlite:///"):], isolation_level=None, timeout=15)
        for k, v in dbmod.sqlite_pragmas().items():
            con.execute(f"PRAGMA {k}={v}")
    cur = con.cursor()
    ours, raw = [], []
    for i, ((tid, lines), otid, olines) in enumerate(zip(targets, tickets, ours_lines)):
        items = [ReturnItem(lid, 1000) for lid in olines]
        key = service.new_key()
        t0 = time.perf_counter()
        service.refund(ctx, user, key, otid, items, "damaged")
        t1 = time.perf_counter()
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        _raw_body(cur, "%s" if pg else "?", tid, lines, i, pg)
        if pg:
            con.commit()
        else:
            cur.execute("COMMIT")
        t2 = time.perf_counter()
        if i >= 5:
            ours.append(t1 - t0)
            raw.append(t2 - t1)
    con.close()
    ctx.db.close()
    return ours, raw


# ------------------------------------------------------- find by barcode ---

def _fill_sqlite(path: Path, sales: int) -> None:
    """``sales`` completed sales (1 line, 1 cash tender each) on terminals T1..T4,
    written in bulk with SQL: the shape the lookup reads. Tickets go in parked,
    get their line and tender, then complete (a completed sale is sealed: its
    lines and tenders can no longer be added)."""
    import sqlite3
    con = sqlite3.connect(str(path), isolation_level=None, timeout=15)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    con.execute("INSERT INTO user (name, full_name, role, pin_hash, active, failed_attempts, created_at) "
                "VALUES ('bulk', '', 'cashier', 'x', 1, 0, '2026-01-01')")
    con.execute(f"""INSERT INTO ticket (id, terminal, cashier_id, status, created_at, updated_at, ticket_discount,
        discount_bp, idem_key, receipt_no, subtotal, tax_total, total, rounding, completed_at, rev)
        WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {sales})
        SELECT i, 'T' || (i % 4 + 1), 1, 'parked', '2026-01-01', '2026-01-01', 0, 0, 'k' || i,
               i / 4 + 1, 100 + i % 900, 7, 100 + i % 900, 0, datetime('2026-01-01', '+' || (i / 20) || ' minutes'), 1
        FROM s""")
    con.execute("""INSERT INTO ticket_line (ticket_id, position, product_id, code, name, qty, unit_price,
        price_override, discount, discount_bp, vat_rate, line_total, voided)
        SELECT id, 1, NULL, 'c', 'Item', 1000, total, 0, 0, 0, 700, total, 0 FROM ticket""")
    con.execute("""INSERT INTO tender (ticket_id, method, amount, tendered, change, reference, created_at)
        SELECT id, 'cash', total, total, 0, '', '2026-01-01' FROM ticket""")
    con.execute("UPDATE ticket SET status = 'completed'")
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()


def _fill_pg(url: str, sales: int) -> None:
    """:func:`_fill_sqlite` on PostgreSQL."""
    con = pg_connect(url)
    cur = con.cursor()
    cur.execute("INSERT INTO \"user\" (name, full_name, role, pin_hash, active, failed_attempts, created_at) "
                "VALUES ('bulk', '', 'cashier', 'x', true, 0, now()) RETURNING id")
    uid = cur.fetchone()[0]
    cur.execute(f"""INSERT INTO ticket (terminal, cashier_id, status, created_at, updated_at, ticket_discount,
        discount_bp, idem_key, receipt_no, subtotal, tax_total, total, rounding, completed_at, rev)
        SELECT 'T' || (i % 4 + 1), {uid}, 'parked', now(), now(), 0, 0, 'k' || i, i / 4 + 1,
               100 + i % 900, 7, 100 + i % 900, 0, now() - (i || ' seconds')::interval, 1
        FROM generate_series(1, {sales}) AS i""")
    cur.execute("""INSERT INTO ticket_line (ticket_id, position, product_id, code, name, qty, unit_price,
        price_override, discount, discount_bp, vat_rate, line_total, voided)
        SELECT id, 1, NULL, 'c', 'Item', 1000, total, false, 0, 0, 700, total, false FROM ticket""")
    cur.execute("""INSERT INTO tender (ticket_id, method, amount, tendered, change, reference, created_at)
        SELECT id, 'cash', total, total, 0, '', now() FROM ticket""")
    cur.execute("UPDATE ticket SET status = 'completed'")
    con.commit()
    con.autocommit = True
    cur.execute("ANALYZE")
    con.close()


def _codes(sales: int, k: int) -> list[str]:
    rnd = random.Random(7)
    out = []
    for _ in range(k):
        i = rnd.randrange(1, sales + 1)
        out.append(f"T{i % 4 + 1}-{i // 4 + 1:06d}")
    return out


def lookups(url: str, home: Path, sales: int, raw_conn, ph: str) -> tuple[list, list, list]:
    from station.context import open_station
    from station.refund import lookup
    ctx = open_station(_config(home, url))
    codes = _codes(sales, LOOKUPS)
    for c in codes[:20]:
        lookup.find_sale(ctx, c)
    ticket_t, sale_t, raw_t = [], [], []
    for c in codes:
        t0 = time.perf_counter()
        lookup.find_ticket(ctx, c)
        ticket_t.append(time.perf_counter() - t0)
    for c in codes:
        t0 = time.perf_counter()
        info = lookup.find_sale(ctx, c)
        sale_t.append(time.perf_counter() - t0)
        assert info.lines
    cur = raw_conn.cursor()
    for c in codes:
        term, no = c.rsplit("-", 1)
        t0 = time.perf_counter()
        cur.execute(f"SELECT id, status, total FROM ticket WHERE terminal = {ph} AND receipt_no = {ph}",
                    (term, int(no)))
        cur.fetchone()
        raw_t.append(time.perf_counter() - t0)
    ctx.db.close()
    return ticket_t, sale_t, raw_t


def _lookup_targets(label: str, sales: int, res) -> None:
    ticket_t, sale_t, raw_t = res
    target(NAME, f"{label} find a sale by receipt barcode p50", p50(ticket_t), p50(raw_t), max_abs=0.005,
           raw_label="SELECT")
    target(NAME, f"{label} find a sale by receipt barcode p99", p99(ticket_t), p99(raw_t), max_abs=0.005,
           raw_label="SELECT")
    target(NAME, f"{label} the whole sale (lines, returnable) p50", p50(sale_t), p50(raw_t), raw_label="SELECT")


# -------------------------------------------------------------------- main ---

def main() -> None:
    print(f"bench_refund: {COMMITS} refund commits (2 of 5 lines back in cash), finding a sale by its receipt "
          f"barcode among {SALES:,} sales" + ("" if FULL else "; STATION_BENCH_FULL=1 for 1000 commits"))
    home = Path(tempfile.mkdtemp(prefix="station-bench-"))
    try:
        ours, raw = refund_pairs(f"sqlite:///{home / 'ours.db'}", f"sqlite:///{home / 'raw.db'}", home, COMMITS)
        target(NAME, "SQLite refund commit p50", p50(ours), p50(raw), max_ratio=2, raw_label="bare")
        target(NAME, "SQLite refund commit p99", p99(ours), p99(raw), max_ratio=2, raw_label="bare")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    ours_url = pg_create()
    raw_url = pg_create() if ours_url else None
    if ours_url and raw_url:
        home = Path(tempfile.mkdtemp(prefix="station-bench-"))
        try:
            ours, raw = refund_pairs(ours_url, raw_url, home, COMMITS)
        finally:
            pg_drop(ours_url)
            pg_drop(raw_url)
            shutil.rmtree(home, ignore_errors=True)
        target(NAME, "PostgreSQL refund commit p50", p50(ours), p50(raw), max_ratio=2, raw_label="bare")
        target(NAME, "PostgreSQL refund commit p99", p99(ours), p99(raw), max_ratio=2, raw_label="bare")

    import sqlite3
    from data import db as dbmod
    from station.context import open_station
    home = Path(tempfile.mkdtemp(prefix="station-bench-"))
    try:
        path = home / "big.db"
        open_station(_config(home, f"sqlite:///{path}"), upgrade=True).db.close()   # schema + the store's key
        t0 = time.perf_counter()
        _fill_sqlite(path, SALES)
        print(f"  ({SALES:,} sales written to SQLite in {time.perf_counter() - t0:.1f} s)")
        raw = sqlite3.connect(str(path))
        _lookup_targets("SQLite", SALES, lookups(f"sqlite:///{path}", home, SALES, raw, "?"))
        raw.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    url = pg_create()
    if url:
        home = Path(tempfile.mkdtemp(prefix="station-bench-"))
        try:
            open_station(_config(home, url), upgrade=True).db.close()
            t0 = time.perf_counter()
            _fill_pg(url, SALES)
            print(f"  ({SALES:,} sales written to PostgreSQL in {time.perf_counter() - t0:.1f} s)")
            raw = pg_connect(url)
            _lookup_targets("PostgreSQL", SALES, lookups(url, home, SALES, raw, "%s"))
            raw.close()
        finally:
            dbmod.proxy.obj.close()
            pg_drop(url)
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
