"""The sale hot path, each figure beside the raw limit measured in the same run.

1. Sale commit (``tender.complete_sale``: a 5-line basket, cash with change) vs a
   bare transaction doing the same work (:class:`Bare`): the same reads, row locks
   and rows (ticket, drawer session, receipt counter, tender, cash movements, the
   session's running totals and digest, completed ticket, print job, the stock
   movements of its lines, journal row + head), the same hashing (the sale's digest, the movements' digest, the
   journal row's HMAC, all over canonical JSON), same pragmas (WAL,
   synchronous=FULL, BEGIN IMMEDIATE), its ticket's lines written as ticket edits
   (synchronous=NORMAL) as the scans write them; on PostgreSQL the same
   statements and row locks through psycopg2, one round trip each. The two are
   interleaved (one of each in turn) so both meet the same load.
2. ``sale.scan`` (lookup + write of a new line) vs the bare scan (the barcode
   lookup, then in one NORMAL-synced transaction the ticket's revision advanced
   and read with the cashier's role and the line inserted), interleaved.
3. A scan's cost against the ticket's length: scans 1-50 vs 551-600 of one ticket
   of 600 distinct items (p50 of each window).
4. Sales per second (scan 5 + begin tender + commit) with 1, 4 and 8 terminal
   processes on one SQLite file and on PostgreSQL, each with the WAL
   checkpointer the app starts. The clock starts when every process has opened
   the store, logged in, opened its drawer and made one sale (first-call costs
   stay out); afterwards every sale is counted (0 lost) and receipt numbers
   checked gapless per terminal.

Quick by default; STATION_BENCH_FULL=1 for the full size (1000 commits, 1000
scans, 100 sales per terminal process).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing as mp
import shutil
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import (
    FULL, config, p50, p99, pg_connect, pg_create, pg_drop, size, target,
)

COMMITS = size(1000, 200)
SCANS = size(1000, 300)
LONG = 600
PER_PROC = size(100, 40)
PROCS = (1, 4, 8)
NAME = "sale"


# ------------------------------------------------------------------ store ---

def ean(i: int) -> str:
    body = f"41{i:010d}"
    total = sum(int(ch) * (3 if k % 2 == 0 else 1) for k, ch in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def setup_store(home: Path, url: str, cashiers: int, products: int = 5):
    """Schema, ``products`` products with one barcode each, cashiers bench0..;
    returns (ctx, codes)."""
    from data import db as dbmod
    from data.models import Barcode, Product
    from station import auth
    from station.context import open_station
    home.mkdir(parents=True, exist_ok=True)
    ctx = open_station(config(home, url), upgrade=True)
    codes = [ean(i) for i in range(products)]
    with dbmod.write():
        for i in range(0, products, 500):
            Product.insert_many([
                {"id": j + 1, "sku": f"S{j}", "name": f"Item {j}", "name_key": f"item {j}",
                 "price": 100 + 37 * (j % 50), "vat_rate": 700 if j % 2 else 1900}
                for j in range(i, min(products, i + 500))]).execute()
            Barcode.insert_many([{"code": codes[j], "product": j + 1}
                                 for j in range(i, min(products, i + 500))]).execute()
    if dbmod.is_postgres():
        ctx.db.execute_sql("SELECT setval(pg_get_serial_sequence('product', 'id'), %s)", (products,))
    for i in range(cashiers):
        auth.add_user(ctx, None, f"bench{i}", "cashier", "1111")
    return ctx, codes


def open_drawer(ctx, user):
    from station import drawer
    drawer.open_session(ctx, user, {5000: 2}, kick=False)


def _bench_user():
    from data.models import User
    return User.get(User.name == "bench0")


# ------------------------------------------------------- commit latency ---

def _canon(d) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_NOW = "2026-01-01 10:00:00"
_ROLE = "(SELECT CASE WHEN active THEN role END FROM {user} WHERE id = 1)"


class Bare:
    """The bare sale in plain DB-API calls (sqlite3 or psycopg2), doing the work
    ``complete_sale`` does: the same reads, row locks and rows, the same hashing
    and the same Python it cannot do without. Its ticket is rung up as the
    services ring one up (one NORMAL-synced transaction per scan, lines kept in
    memory), so its durable commit syncs the same WAL.

    The commit: the ticket with the cashier's role; the drawer session (locked);
    the next receipt number; the tender; the cash movements with the session's
    running digest; the session's running totals (JSON, as the service keeps
    them: movements, per person, sales, per method); the completed ticket; its
    receipt in the print queue; the sale's digest (canonical JSON + SHA-256 of
    the ticket, lines and tenders); the journal row (HMAC-SHA256 over its
    canonical JSON) and head."""

    KEY = b"k" * 32

    def __init__(self, con, pg: bool):
        self.con, self.pg = con, pg
        self.ph = "%s" if pg else "?"
        self.lock = " FOR UPDATE" if pg else ""
        self.user = '"user"' if pg else "user"
        self.lines: list[tuple] = []
        self.sync = None

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.pg else text

    def _sync(self, cur, level: str) -> None:
        if not self.pg and self.sync != level:
            cur.execute(f"PRAGMA synchronous={level}")
            self.sync = level

    def _begin(self, cur, level: str = "full"):
        if self.pg:
            if level == "normal":
                cur.execute("SET LOCAL synchronous_commit = off")
        else:
            self._sync(cur, level)
            cur.execute("BEGIN IMMEDIATE")

    def _commit(self, cur):
        if self.pg:
            self.con.commit()
        else:
            cur.execute("COMMIT")

    def setup(self):
        cur = self.con.cursor()
        t = "true" if self.pg else "1"
        self._begin(cur)
        cur.execute(f"INSERT INTO {self.user} (name, full_name, role, pin_hash, active, failed_attempts, created_at) "
                    f"VALUES ('raw', '', 'cashier', 'x', {t}, 0, '2026-01-01')")
        cur.execute("INSERT INTO drawer_session (drawer, terminal, cashier_id, status, opened_at, float_amount, "
                    "expected_cash, totals, digest) VALUES ('T1', 'T1', 1, 'open', '2026-01-01', 10000, 10000, "
                    "'{}', '')")
        cur.execute("INSERT INTO receipt_counter (terminal, last) VALUES ('T1', 0)")
        for pos in range(1, 6):     # the products of the 5 lines (their stock moves with the sale)
            cur.execute(self.sql(f"INSERT INTO product (id, sku, name, name_key, price, vat_rate, unit, category, "
                                 f"active, updated_at) VALUES (?, ?, 'Item', 'item', ?, 1900, 'pc', '', {t}, ?)"),
                        (pos, f"S{pos}", 100 + 37 * pos, _NOW))
        self._commit(cur)

    def ticket(self) -> str:
        """An open ticket of 5 lines, tendered (what 5 scans and begin_tender
        leave): one ticket edit per scan, synchronous=NORMAL (not timed)."""
        cur, ph, f = self.con.cursor(), self.ph, "false" if self.pg else "0"
        self.lines = []
        tid = None
        for pos in range(1, 6):
            self._begin(cur, "normal")
            if tid is None:
                cur.execute(self.sql("INSERT INTO ticket (terminal, cashier_id, status, created_at, updated_at, "
                                     "ticket_discount, discount_bp, rounding, rev) "
                                     "VALUES ('T1', 1, 'open', ?, ?, 0, 0, 0, 1) RETURNING id"), (_NOW, _NOW))
            else:
                cur.execute(self.sql("UPDATE ticket SET rev = rev + 1, updated_at = ? WHERE terminal = 'T1' "
                                     "AND status = 'open' RETURNING id"), (_NOW,))
            tid = cur.fetchone()[0]
            price = 100 + 37 * pos
            cur.execute(f"INSERT INTO ticket_line (ticket_id, position, product_id, code, name, qty, unit_price, "
                        f"price_override, discount, discount_bp, vat_rate, line_total, voided, cost) "
                        f"VALUES ({ph}, {ph}, {ph}, 'c', 'Item', 1000, {ph}, {f}, 0, 0, 1900, {ph}, {f}, 0) "
                        f"RETURNING id", (tid, pos, pos, price, price))
            self.lines.append((cur.fetchone()[0], pos, "c", "Item", 1000, price, 1900, price))
            self._commit(cur)
        key = uuid.uuid4().hex
        self._begin(cur, "normal")
        cur.execute(self.sql("UPDATE ticket SET idem_key = COALESCE(idem_key, ?), rev = rev + 1 WHERE id = ?"),
                    (key, tid))
        self._commit(cur)
        return key

    def commit(self, key: str) -> None:
        cur, ph, lock = self.con.cursor(), self.ph, self.lock
        self._begin(cur)
        cur.execute(self.sql(f"SELECT t.id, t.status, t.terminal, t.discount_bp, t.rev, t.cashier_id, t.idem_key, "
                             f"{_ROLE.format(user=self.user)} FROM ticket t WHERE t.idem_key = ?") + lock, (key,))
        tid, status, _term, _bp, _rev, _cashier, _key, role = cur.fetchone()
        assert status == "open" and role == "cashier"
        total = sum(ln[7] for ln in self.lines)
        tax = total * 1900 // 11900
        cash_due = (total + 2) // 5 * 5
        tendered = cash_due + 500
        change = tendered - cash_due
        cur.execute("SELECT id, drawer, terminal, cashier_id, float_amount, expected_cash, totals, digest, opened_at "
                    "FROM drawer_session WHERE drawer = 'T1' AND status = 'open'" + lock)
        srow = cur.fetchone()
        sid, expected, totals, digest = srow[0], srow[5], json.loads(srow[6] or "{}"), srow[7] or ""
        cur.execute("INSERT INTO receipt_counter (terminal, last) VALUES ('T1', 1) ON CONFLICT (terminal) "
                    "DO UPDATE SET last = receipt_counter.last + 1 RETURNING last")
        no = cur.fetchone()[0]
        cur.execute(self.sql("INSERT INTO tender (ticket_id, method, amount, tendered, change, reference, created_at) "
                             "VALUES (?, 'cash', ?, ?, ?, '', ?)"), (tid, cash_due, tendered, change, _NOW))
        for kind, amount in (("sale", tendered), ("change", -change)):
            n = totals["n"] = totals.get("n", 0) + 1
            m = totals.setdefault("moves", {}).setdefault(kind, [0, 0])
            m[0] += 1
            m[1] += amount
            u = totals.setdefault("users", {}).setdefault("1", {}).setdefault(kind, [0, 0])
            u[0] += 1
            u[1] += amount
            digest = hashlib.sha256((digest + _canon([n, kind, amount, 1, tid, "", ""])).encode()).hexdigest()
            expected += amount
            cur.execute(self.sql("INSERT INTO cash_movement (session_id, kind, amount, user_id, reason, note, "
                                 "ticket_id, approval_id, created_at) VALUES (?, ?, ?, 1, '', '', ?, NULL, ?)"),
                        (sid, kind, amount, tid, _NOW))
        sales = totals.setdefault("sales", [0, 0, None, None])
        sales[0] += 1
        sales[1] += total
        sales[2] = no if sales[2] is None else min(sales[2], no)
        sales[3] = no if sales[3] is None else max(sales[3], no)
        u = totals["users"]["1"].setdefault("sales", [0, 0])
        u[0] += 1
        u[1] += total
        m = totals.setdefault("tenders", {}).setdefault("cash", [0, 0])
        m[0] += 1
        m[1] += cash_due
        cur.execute(self.sql("UPDATE drawer_session SET expected_cash = ?, totals = ?, digest = ? "
                             "WHERE id = ? AND status = 'open'"),
                    (expected, json.dumps(totals, separators=(",", ":")), digest, sid))
        cur.execute(self.sql("UPDATE ticket SET status = 'completed', session_id = ?, receipt_no = ?, subtotal = ?, "
                             "tax_total = ?, total = ?, rounding = ?, ticket_discount = 0, cashier_id = 1, "
                             "completed_at = ?, updated_at = ?, rev = rev + 1 WHERE id = ? AND status = 'open'"),
                    (sid, no, total, tax, total, cash_due - total, _NOW, _NOW, tid))
        t = "true" if self.pg else "1"
        f = "false" if self.pg else "0"
        cur.execute(self.sql(f"INSERT INTO print_job (ticket_id, terminal, copy, kick, status, attempts, message, "
                             f"user_name, created_at, updated_at) VALUES (?, 'T1', {f}, {t}, 'queued', 0, '', "
                             f"'raw', ?, ?)"), (tid, _NOW, _NOW))
        cur.execute(self.sql("INSERT INTO stock_movement (product_id, kind, qty, cost, user_id, terminal, created_at, "
                             "ticket_id, ticket_line_id, refund_id, refund_line, delivery_id, count_id, reason, note) "
                             "SELECT product_id, 'sale', -qty, cost, 1, 'T1', ?, ticket_id, id, NULL, NULL, NULL, NULL, "
                             f"'', '' FROM ticket_line WHERE ticket_id = ? AND voided = {f} AND product_id IS NOT NULL "
                             "ORDER BY product_id, id"), (_NOW, tid))
        sale_digest = hashlib.sha256(_canon({
            "ticket": [tid, "T1", no, 1, sid, total, tax, total, cash_due - total, 0],
            "lines": sorted([pos, None, code, name, qty, price, 0, 0, 0, vat, lt, 0]
                            for _id, pos, code, name, qty, price, vat, lt in self.lines),
            "tenders": [["cash", cash_due, tendered, change, ""]]}).encode()).hexdigest()
        cur.execute("UPDATE journal_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        seq, prev = cur.fetchone()
        data = _canon({"ticket": tid, "receipt_no": no, "session": sid, "subtotal": total,
                       "taxes": {"1900": tax}, "discount": 0, "rounding": cash_due - total, "change": change,
                       "tenders": [{"method": "cash", "amount": cash_due, "tendered": tendered}],
                       "digest": sale_digest})
        ts = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        h = hmac.new(self.KEY, _canon({"seq": seq, "ts": ts, "terminal": "T1", "user": "raw",
                                       "kind": "sale.completed", "amount": total, "ref": str(no), "data": data,
                                       "prev": prev}).encode(), hashlib.sha256).hexdigest()
        cur.execute(f"INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, hash) "
                    f"VALUES ({ph}, {ph}, 'T1', 'raw', 'sale.completed', {ph}, {ph}, {ph}, {ph}, {ph})",
                    (seq, ts, total, str(no), data, prev, h))
        cur.execute(self.sql("UPDATE journal_head SET hash = ? WHERE id = 1"), (h,))
        self._commit(cur)


def _sqlite_raw(path: Path) -> sqlite3.Connection:
    """A bare sqlite3 connection with the store's own pragmas (WAL, FULL, ...)."""
    from data import db as dbmod
    con = sqlite3.connect(str(path), isolation_level=None, timeout=15)
    for k, v in dbmod.sqlite_pragmas().items():
        con.execute(f"PRAGMA {k}={v}")
    return con


def _schema(url: str) -> None:
    from data import db as dbmod
    from data import migrations
    db = dbmod.open_database(url)
    migrations.upgrade(db)
    db.close()


def commit_pairs(ours_url: str, raw_url: str, home: Path, n: int) -> tuple[list[float], list[float]]:
    """``n`` sale commits through ``complete_sale`` and ``n`` bare ones,
    interleaved (one of each in turn, on two stores), so both meet the same load."""
    from station import sale, tender
    pg = ours_url.startswith("postgres")
    _schema(raw_url)
    con = pg_connect(raw_url) if pg else _sqlite_raw(Path(raw_url[len("sqlite:///"):]))
    b = Bare(con, pg)
    b.setup()
    ctx, codes = setup_store(home, ours_url, 1)
    user = _bench_user()
    open_drawer(ctx, user)
    ours, raw = [], []
    for i in range(n + 10):
        for c in codes:
            sale.scan(ctx, user, c)
        st = tender.begin_tender(ctx, user)
        pay = [tender.Payment("cash", st.cash_due + 500)]
        key = b.ticket()
        t0 = time.perf_counter()
        tender.complete_sale(ctx, user, st.idem_key, pay)
        t1 = time.perf_counter()
        b.commit(key)
        t2 = time.perf_counter()
        if i >= 10:
            ours.append(t1 - t0)
            raw.append(t2 - t1)
    ctx.db.close()
    con.close()
    return ours, raw


# ------------------------------------------------------------------ scans ---

_LOOKUP = ("SELECT p.id, p.sku, p.name, p.price, p.vat_rate, p.unit, p.active, p.cost FROM barcode b "
           "JOIN product p ON p.id = b.product_id WHERE b.code = ?")


def scan_pairs(ours_url: str, raw_path: Path, home: Path, n: int, basket: int) -> tuple[list[float], list[float]]:
    """``n`` scans of distinct items through ``sale.scan`` and ``n`` bare ones,
    interleaved, each side parking its ticket every ``basket`` lines (not timed).
    The bare scan: the barcode lookup, then in one NORMAL-synced BEGIN IMMEDIATE
    transaction the ticket's revision advanced and read with the cashier's role,
    and the line inserted (its id returned); the line kept in memory."""
    from station import sale
    ctx, codes = setup_store(home / "raw", f"sqlite:///{raw_path}", 1, products=max(n, basket))
    ctx.db.close()
    ctx, codes = setup_store(home / "ours", ours_url, 1, products=max(n, basket))
    user = _bench_user()
    con = _sqlite_raw(raw_path)
    con.execute("PRAGMA synchronous=NORMAL")
    bump = ("UPDATE ticket SET rev = rev + 1, updated_at = ? WHERE terminal = 'T1' AND status = 'open' "
            "RETURNING id, rev, discount_bp, cashier_id, idem_key, " + _ROLE.format(user="user"))
    new = ("INSERT INTO ticket (terminal, cashier_id, status, created_at, updated_at, ticket_discount, discount_bp, "
           "rounding, rev) VALUES ('T1', 1, 'open', ?, ?, 0, 0, 0, 1) RETURNING id")
    insert = ("INSERT INTO ticket_line (ticket_id, position, product_id, code, name, qty, unit_price, price_override, "
              "discount, discount_bp, vat_rate, line_total, voided, cost) "
              "VALUES (?, ?, ?, ?, ?, 1000, ?, 0, 0, 0, ?, ?, 0, ?) RETURNING id")
    lines: list[tuple] = []
    ours, raw = [], []
    for i, c in enumerate(codes[:n]):
        if i and i % basket == 0:
            sale.park(ctx, user)
            con.execute("UPDATE ticket SET status = 'parked' WHERE terminal = 'T1' AND status = 'open'")
            lines = []
        t0 = time.perf_counter()
        sale.scan(ctx, user, c)
        t1 = time.perf_counter()
        pid, _sku, name, price, vat, _unit, active, cost = con.execute(_LOOKUP, (c,)).fetchone()
        con.execute("BEGIN IMMEDIATE")
        row = con.execute(bump, (_NOW,)).fetchone()
        tid = row[0] if row else con.execute(new, (_NOW, _NOW)).fetchone()[0]
        pos = len(lines) + 1
        lid = con.execute(insert, (tid, pos, pid, c, name, price, vat, price, cost)).fetchone()[0]
        con.execute("COMMIT")
        lines.append((lid, pos, c, name, price, vat))
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        raw.append(t2 - t1)
    ctx.db.close()
    con.close()
    return ours, raw


def ours_scans(url: str, home: Path, n: int, basket: int) -> list[float]:
    """n scans of distinct items in baskets of ``basket`` lines (each basket parked, untimed)."""
    from station import sale
    ctx, codes = setup_store(home, url, 1, products=max(n, basket))
    user = _bench_user()
    out = []
    for i, c in enumerate(codes[:n]):
        if i and i % basket == 0:
            sale.park(ctx, user)
        t0 = time.perf_counter()
        sale.scan(ctx, user, c)
        out.append(time.perf_counter() - t0)
    ctx.db.close()
    return out


# -------------------------------------------------------- sales per second ---

def _terminal(home, url, idx, n, ready, start, out):
    from data import db as dbmod
    from data.models import Barcode, User
    from station import sale, tender
    from station.context import open_station
    try:
        ctx = open_station(config(Path(home), url, terminal=f"B{idx}"))
        dbmod.start_checkpointer(ctx.db)        # what the app starts next to its database
        user = User.get(User.name == f"bench{idx}")
        open_drawer(ctx, user)
        codes = [b.code for b in Barcode.select().order_by(Barcode.code)]

        def one_sale():
            for c in codes:
                sale.scan(ctx, user, c)
            st = tender.begin_tender(ctx, user)
            tender.complete_sale(ctx, user, st.idem_key, [tender.Payment("cash", st.cash_due + 500)])
        one_sale()                              # warm: first-call costs stay out of the window
        ready.put(idx)
        start.wait(300)
        t0 = time.perf_counter()
        for _ in range(n):
            one_sale()
        out.put((idx, t0, time.perf_counter(), None))
    except BaseException as e:  # noqa: BLE001
        ready.put(idx)
        out.put((idx, 0.0, 0.0, f"{e.__class__.__name__}: {e}"))


def _check_sales(url: str, home: Path, procs: int, per: int) -> str:
    """'' when every sale is there with gapless receipts per terminal, else what is wrong."""
    from data.models import Ticket
    from station.context import open_station
    ctx = open_station(config(home, url))
    try:
        problems = []
        for i in range(procs):
            nos = [r for (r,) in Ticket.select(Ticket.receipt_no).where(
                (Ticket.terminal == f"B{i}") & (Ticket.status == "completed")).order_by(Ticket.receipt_no).tuples()]
            if nos != list(range(1, per + 2)):        # + the warm-up sale
                problems.append(f"B{i}: {len(nos)} of {per + 1} sales, receipts gapless: "
                                f"{nos == list(range(1, len(nos) + 1))}")
        return "; ".join(problems)
    finally:
        ctx.db.close()


def sales_per_second(make_url, label: str) -> dict[int, float]:
    rates = {}
    for procs in PROCS:
        home = Path(tempfile.mkdtemp(prefix="station-bench-"))
        url = make_url(home)
        if url is None:
            return rates
        try:
            ctx, _codes = setup_store(home, url, procs)
            ctx.db.close()
            spawn = mp.get_context("spawn")
            out, ready, start = spawn.Queue(), spawn.Queue(), spawn.Event()
            ps = [spawn.Process(target=_terminal, args=(str(home), url, i, PER_PROC, ready, start, out))
                  for i in range(procs)]
            for p in ps:
                p.start()
            for _ in ps:
                ready.get(timeout=300)       # every terminal is open, logged in, drawer open, one sale made
            start.set()                      # the clock of each starts here
            got = [out.get(timeout=900) for _ in ps]
            for p in ps:
                p.join(30)
            errs = [e for *_x, e in got if e]
            if errs:
                print(f"  {label} {procs} terminal(s): FAILED: {errs[0]}")
                continue
            wall = max(t1 for _i, _t0, t1, _e in got) - min(t0 for _i, t0, _t1, _e in got)
            total = procs * PER_PROC
            rates[procs] = total / wall
            lost = _check_sales(url, home, procs, PER_PROC)
            print(f"  {label} {procs} terminal(s): {total} sales in {wall:.2f} s = {total / wall:.1f} sales/s "
                  f"(scan 5 + tender + commit each); {'0 lost, receipts gapless' if not lost else 'LOST: ' + lost}",
                  flush=True)
        finally:
            if url.startswith("postgres"):
                from data import db as dbmod
                if dbmod.proxy.obj is not None:
                    dbmod.proxy.obj.close()
                pg_drop(url)
            shutil.rmtree(home, ignore_errors=True)
    return rates


# ------------------------------------------------------------------ main ---

def main() -> None:
    print(f"bench_sale: {COMMITS} commits (5-line basket, cash with change), {SCANS} scans, a {LONG}-line ticket, "
          f"{PER_PROC} sales per terminal process" + ("" if FULL else "; STATION_BENCH_FULL=1 for the full size"))
    home = Path(tempfile.mkdtemp(prefix="station-bench-"))
    try:
        ours, raw = commit_pairs(f"sqlite:///{home / 'ours.db'}", f"sqlite:///{home / 'raw.db'}", home / "o", COMMITS)
        target(NAME, "SQLite sale commit p50", p50(ours), p50(raw), max_ratio=2, raw_label="bare")
        target(NAME, "SQLite sale commit p99", p99(ours), p99(raw), max_ratio=2, raw_label="bare")

        ours, raw = scan_pairs(f"sqlite:///{home / 'scan.db'}", home / "rawscan.db", home / "s", SCANS, 25)
        target(NAME, "SQLite sale.scan (lookup + write) p50", p50(ours), p50(raw), max_ratio=2, raw_label="bare")
        target(NAME, "SQLite sale.scan (lookup + write) p99", p99(ours), p99(raw), max_ratio=2, raw_label="bare")

        long = ours_scans(f"sqlite:///{home / 'long.db'}", home / "l", LONG, LONG)
        target(NAME, f"scan of lines {LONG - 49}-{LONG} vs 1-50 (p50)", p50(long[-50:]), p50(long[:50]),
               max_ratio=1.2, raw_label="1-50")
    finally:
        shutil.rmtree(home, ignore_errors=True)

    ours_url = pg_create()
    raw_url = pg_create() if ours_url else None
    if ours_url and raw_url:
        home = Path(tempfile.mkdtemp(prefix="station-bench-"))
        try:
            ours, raw = commit_pairs(ours_url, raw_url, home, COMMITS)
        finally:
            from data import db as dbmod
            dbmod.proxy.obj.close()
            shutil.rmtree(home, ignore_errors=True)
            pg_drop(ours_url)
            pg_drop(raw_url)
        target(NAME, "PostgreSQL sale commit p50", p50(ours), p50(raw), raw_label="bare")
        target(NAME, "PostgreSQL sale commit p99", p99(ours), p99(raw), raw_label="bare")

    rates = sales_per_second(lambda h: f"sqlite:///{h / 'store.db'}", "SQLite")
    if rates:
        target(NAME, "SQLite sales/s, 1 terminal", rates.get(1, 0), None, min_abs=300, unit="sales/s")
        target(NAME, "SQLite sales/s, 8 terminals", rates.get(8, 0), None, min_abs=250, unit="sales/s")
        target(NAME, "SQLite sales/s, 8 vs 4 terminals", rates.get(8, 0), rates.get(4), min_ratio=1.0,
               unit="sales/s", raw_label="4 t")
    rates = sales_per_second(lambda h: pg_create(), "PostgreSQL")
    if rates:
        target(NAME, "PostgreSQL sales/s, 8 terminals", rates.get(8, 0), rates.get(1), unit="sales/s",
               raw_label="1 t")


if __name__ == "__main__":
    main()
