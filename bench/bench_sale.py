"""Sale commit latency and sales per second, each beside the raw limit.

1. Sale commit (``tender.complete_sale``: a 5-line basket, one cash tender with
   change) p50/p99 on SQLite, vs a bare ``sqlite3`` transaction writing the same
   rows (receipt counter, tender, 2 cash movements, drawer session, ticket, journal
   row + head) into the same schema with the same pragmas (WAL, synchronous=FULL,
   BEGIN IMMEDIATE). The same on PostgreSQL vs bare psycopg2.
2. Sales per second (scan 5 items + begin tender + complete) with 1, 4 and 8
   terminal processes (spawn) on one SQLite file and on PostgreSQL.

Sizes: STATION_BENCH_FULL=1 for the full size (1000 commits, 100 sales per
process); default 200 commits and 25 sales per process. PostgreSQL from
STATION_BENCH_PG (default STATION_TEST_PG or postgresql://postgres@127.0.0.1:5432/postgres);
skipped with a line when it cannot be reached.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

FULL = os.environ.get("STATION_BENCH_FULL") == "1"
COMMITS = 1000 if FULL else 200
PER_PROC = 100 if FULL else 25
PROCS = (1, 4, 8)
PG_ADMIN = os.environ.get("STATION_BENCH_PG") or os.environ.get(
    "STATION_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------- helpers ---

def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _fmt_ms(xs: list[float]) -> str:
    return f"p50 {statistics.median(xs) * 1000:7.2f} ms   p99 {_pct(xs, 99) * 1000:7.2f} ms"


def _pg_admin():
    import psycopg2
    p = urlparse(PG_ADMIN)
    c = psycopg2.connect(host=p.hostname, port=p.port or 5432, user=p.username or "postgres",
                         dbname=p.path.lstrip("/") or "postgres", connect_timeout=3)
    c.autocommit = True
    return c, p


def pg_create() -> str | None:
    try:
        c, p = _pg_admin()
    except Exception as e:  # noqa: BLE001
        print(f"  (PostgreSQL skipped: {str(e).strip().splitlines()[0]})")
        return None
    name = "station_b_" + uuid.uuid4().hex[:10]
    with c.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    c.close()
    return f"postgresql://{p.username or 'postgres'}@{p.hostname}:{p.port or 5432}/{name}"


def pg_drop(url: str) -> None:
    c, _ = _pg_admin()
    with c.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    c.close()


def _config(home: Path, url: str, terminal: str = "T1"):
    from station import config as configmod
    return configmod.load(env={"STATION_HOME": str(home)}, overrides={
        "database.url": url, "security.scrypt_n": 2 ** 10, "terminal.id": terminal})


BARCODES = []


def _setup_store(home: Path, url: str, cashiers: int):
    """Schema, 5 products, ``cashiers`` cashiers (bench0..); returns the context."""
    from data import db as dbmod
    from data.models import Barcode, Product
    from station import auth, sale
    from station.context import open_station
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
    for i in range(cashiers):
        auth.add_user(ctx, None, f"bench{i}", "cashier", "1111")
    return ctx, codes


def _open_drawer(ctx, user):
    from station import drawer
    drawer.open_session(ctx, user, {5000: 2}, kick=False)


# ------------------------------------------------------- commit latency ---

def ours_commit(url: str, home: Path, n: int) -> list[float]:
    from data.models import User
    from station import sale, tender
    ctx, codes = _setup_store(home, url, 1)
    user = User.get(User.name == "bench0")
    _open_drawer(ctx, user)
    out = []
    for i in range(n + 5):
        for c in codes:
            sale.scan(ctx, user, c)
        st = tender.begin_tender(ctx, user)
        pay = [tender.Payment("cash", st.cash_due + 500)]
        t0 = time.perf_counter()
        tender.complete_sale(ctx, user, st.idem_key, pay)
        dt = time.perf_counter() - t0
        if i >= 5:
            out.append(dt)
    ctx.db.close()
    return out


def _raw_prepare_sqlite(path: Path):
    """The same schema (made by our migrations), a drawer session, a receipt counter."""
    from data import db as dbmod
    from data import migrations
    db = dbmod.open_database(f"sqlite:///{path}")
    migrations.upgrade(db)
    db.close()
    import sqlite3
    con = sqlite3.connect(str(path), isolation_level=None, timeout=15)
    for k, v in dbmod.sqlite_pragmas().items():
        con.execute(f"PRAGMA {k}={v}")
    return con


RAW_SETUP = [
    "INSERT INTO user (name, full_name, role, pin_hash, active, failed_attempts, created_at) "
    "VALUES ('raw', '', 'cashier', 'x', 1, 0, '2026-01-01')",
    "INSERT INTO drawer_session (drawer, terminal, cashier_id, status, opened_at, float_amount, expected_cash) "
    "VALUES ('T1', 'T1', 1, 'open', '2026-01-01', 10000, 10000)",
    "INSERT INTO receipt_counter (terminal, last) VALUES ('T1', 0)",
]


def _raw_ticket(cur, ph: str, i: int, returning: bool) -> int:
    """An open ticket with 5 lines (as the scans would leave it; not timed)."""
    sql = (f"INSERT INTO ticket (terminal, cashier_id, status, created_at, updated_at, ticket_discount, discount_bp, "
           f"idem_key, rounding) VALUES ('T1', 1, 'open', {ph}, {ph}, 0, 0, {ph}, 0)")
    args = ("2026-01-01", "2026-01-01", uuid.uuid4().hex)
    if returning:
        cur.execute(sql + " RETURNING id", args)
        tid = cur.fetchone()[0]
    else:
        cur.execute(sql, args)
        tid = cur.lastrowid
    for pos in range(1, 6):
        cur.execute(f"INSERT INTO ticket_line (ticket_id, position, product_id, code, name, qty, unit_price, "
                    f"price_override, discount, discount_bp, vat_rate, line_total, voided) "
                    f"VALUES ({ph}, {ph}, NULL, 'c', 'Item', 1000, 137, {'false' if returning else '0'}, 0, 0, "
                    f"1900, 137, {'false' if returning else '0'})", (tid, pos))
    return tid


def _raw_commit_body(cur, ph: str, tid: int, seq: int, pg: bool):
    lock = " FOR UPDATE" if pg else ""
    cur.execute(f"SELECT id, status FROM ticket WHERE idem_key IS NOT NULL AND id = {ph}{lock}", (tid,))
    cur.execute(f"SELECT qty, unit_price, discount, vat_rate, voided FROM ticket_line WHERE ticket_id = {ph}", (tid,))
    cur.fetchall()
    cur.execute(f"SELECT id, expected_cash FROM drawer_session WHERE drawer = 'T1' AND status = 'open'{lock}")
    sid = cur.fetchone()[0]
    cur.execute(f"UPDATE receipt_counter SET last = last + 1 WHERE terminal = 'T1'")
    cur.execute(f"SELECT last FROM receipt_counter WHERE terminal = 'T1'")
    no = cur.fetchone()[0]
    cur.execute(f"INSERT INTO tender (ticket_id, method, amount, tendered, change, reference, created_at) "
                f"VALUES ({ph}, 'cash', 685, 1185, 500, '', {ph})", (tid, "2026-01-01"))
    for kind, amount in (("sale", 1185), ("change", -500)):
        cur.execute(f"INSERT INTO cash_movement (session_id, kind, amount, user_id, reason, note, ticket_id, "
                    f"created_at) VALUES ({ph}, {ph}, {ph}, 1, '', '', {ph}, {ph})",
                    (sid, kind, amount, tid, "2026-01-01"))
        cur.execute(f"UPDATE drawer_session SET expected_cash = expected_cash + {ph} WHERE id = {ph}", (amount, sid))
    cur.execute(f"UPDATE ticket SET status = 'completed', session_id = {ph}, receipt_no = {ph}, subtotal = 685, "
                f"tax_total = 109, total = 685, completed_at = {ph} WHERE id = {ph}", (sid, no, "2026-01-01", tid))
    cur.execute(f"SELECT seq, hash FROM journal_head WHERE id = 1{lock}")
    cur.execute(f"INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, hash) "
                f"VALUES ({ph}, 'ts', 'T1', 'raw', 'sale.completed', 685, {ph}, '{{}}', 'p', {ph})",
                (seq, str(no), uuid.uuid4().hex))
    cur.execute(f"UPDATE journal_head SET seq = {ph}, hash = 'h' WHERE id = 1", (seq,))


def raw_sqlite_commit(path: Path, n: int) -> list[float]:
    con = _raw_prepare_sqlite(path)
    cur = con.cursor()
    cur.execute("BEGIN IMMEDIATE")
    for s in RAW_SETUP:
        cur.execute(s)
    cur.execute("COMMIT")
    out = []
    for i in range(n + 5):
        cur.execute("BEGIN IMMEDIATE")
        tid = _raw_ticket(cur, "?", i, False)
        cur.execute("COMMIT")
        t0 = time.perf_counter()
        cur.execute("BEGIN IMMEDIATE")
        _raw_commit_body(cur, "?", tid, i + 1, False)
        cur.execute("COMMIT")
        dt = time.perf_counter() - t0
        if i >= 5:
            out.append(dt)
    con.close()
    return out


def raw_pg_commit(url: str, n: int) -> list[float]:
    import psycopg2
    from data import db as dbmod
    from data import migrations
    db = dbmod.open_database(url)
    migrations.upgrade(db)
    db.close()
    p = urlparse(url)
    con = psycopg2.connect(host=p.hostname, port=p.port, user=p.username, dbname=p.path.lstrip("/"))
    cur = con.cursor()
    for s in RAW_SETUP:
        cur.execute(s.replace("INSERT INTO user ", 'INSERT INTO "user" ').replace(", 1, 0, '2026", ", true, 0, '2026"))
    con.commit()
    out = []
    for i in range(n + 5):
        tid = _raw_ticket(cur, "%s", i, True)
        con.commit()
        t0 = time.perf_counter()
        _raw_commit_body(cur, "%s", tid, i + 1, True)
        con.commit()
        dt = time.perf_counter() - t0
        if i >= 5:
            out.append(dt)
    con.close()
    return out


# ----------------------------------------------------- sales per second ---

def _terminal(home, url, idx, n, start, out):
    sys.path.insert(0, str(ROOT))
    from data.models import User
    from station import sale, tender
    from station.context import open_station
    try:
        ctx = open_station(_config(Path(home), url, terminal=f"B{idx}"))
        user = User.get(User.name == f"bench{idx}")
        _open_drawer(ctx, user)
        from data.models import Barcode
        codes = [b.code for b in Barcode.select().order_by(Barcode.code)]
        start.wait(120)
        t0 = time.perf_counter()
        for _ in range(n):
            for c in codes:
                sale.scan(ctx, user, c)
            st = tender.begin_tender(ctx, user)
            tender.complete_sale(ctx, user, st.idem_key, [tender.Payment("cash", st.cash_due + 500)])
        out.put((idx, time.perf_counter() - t0, None))
    except BaseException as e:  # noqa: BLE001
        out.put((idx, 0.0, f"{e.__class__.__name__}: {e}"))


def sales_per_second(make_url, label: str) -> None:
    for procs in PROCS:
        home = Path(tempfile.mkdtemp(prefix="station-bench-"))
        url = make_url(home)
        if url is None:
            return
        try:
            ctx, _codes = _setup_store(home, url, procs)
            ctx.db.close()
            spawn = mp.get_context("spawn")
            out, start = spawn.Queue(), spawn.Event()
            ps = [spawn.Process(target=_terminal, args=(str(home), url, i, PER_PROC, start, out))
                  for i in range(procs)]
            for p in ps:
                p.start()
            time.sleep(1.0 + 0.2 * procs)
            t0 = time.perf_counter()
            start.set()
            got = [out.get(timeout=600) for _ in ps]
            wall = time.perf_counter() - t0
            for p in ps:
                p.join(30)
            errs = [e for _i, _t, e in got if e]
            if errs:
                print(f"  {label:10s} {procs} terminal(s): FAILED: {errs[0]}")
                continue
            total = procs * PER_PROC
            print(f"  {label:10s} {procs} terminal(s): {total:5d} sales in {wall:6.2f} s = "
                  f"{total / wall:7.1f} sales/s (scan 5 + tender + commit each)")
        finally:
            if url.startswith("postgres"):
                pg_drop(url)
            shutil.rmtree(home, ignore_errors=True)


# ------------------------------------------------------------------ main ---

def main() -> None:
    print(f"bench_sale: sale commit latency ({COMMITS} commits, 5-line basket, cash with change) "
          f"and sales per second ({PER_PROC} sales per terminal process)"
          + ("" if FULL else "; STATION_BENCH_FULL=1 for the full size"))
    home = Path(tempfile.mkdtemp(prefix="station-bench-"))
    try:
        ours = ours_commit(f"sqlite:///{home / 'ours.db'}", home, COMMITS)
        raw = raw_sqlite_commit(home / "raw.db", COMMITS)
        print(f"  SQLite     complete_sale      {_fmt_ms(ours)}")
        print(f"  SQLite     bare sqlite3 tx    {_fmt_ms(raw)}   (same rows, WAL, synchronous=FULL)")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    url = pg_create()
    if url:
        home = Path(tempfile.mkdtemp(prefix="station-bench-"))
        try:
            ours = ours_commit(url, home, COMMITS)
        finally:
            shutil.rmtree(home, ignore_errors=True)
            pg_drop(url)
        url = pg_create()
        try:
            raw = raw_pg_commit(url, COMMITS)
        finally:
            pg_drop(url)
        print(f"  PostgreSQL complete_sale      {_fmt_ms(ours)}")
        print(f"  PostgreSQL bare psycopg2 tx   {_fmt_ms(raw)}   (same rows and row locks)")
    sales_per_second(lambda h: f"sqlite:///{h / 'store.db'}", "SQLite")
    sales_per_second(lambda h: pg_create(), "PostgreSQL")


if __name__ == "__main__":
    main()
