"""Treasury: executing a payment, and reading a fund's balance and its ledger's
first page, each beside the raw limit measured in the same run.

1. Execute a payment (``station.treasury.payments.execute``: TOTP checked and
   stored, requisition, fund and executor locked, ledger entry + journal row,
   execution, status) p50/p99 on SQLite and PostgreSQL, vs the bare ``sqlite3`` /
   ``psycopg2`` transaction (interleaved, one of each in turn) doing the same
   reads and row locks and writing the same rows (user step, ledger entry with its
   SHA-256, fund, execution, requisition, journal row with its HMAC + head) into
   the same schema, with the same pragmas (WAL, synchronous=FULL, BEGIN
   IMMEDIATE). Goal: <= 2x.
2. A fund's balance and its ledger's first page (50 entries, newest first, with
   the user and counter-fund names) with N entries in that fund
   (``queries.balance`` / ``queries.ledger``) vs the bare SELECTs. Goal: < 10 ms.

Sizes: quick by default (200 payments, 100,000 ledger entries);
STATION_BENCH_FULL=1 for 1000 payments and 1,000,000 entries
(STATION_BENCH_LEDGER sets the entries). PostgreSQL from STATION_BENCH_PG
(default STATION_TEST_PG), skipped with a line when it cannot be reached.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import config, p50, p99, pg_connect, pg_create, pg_drop, size, target

PAYMENTS = size(1000, 200)
ENTRIES = size(1_000_000, 100_000, "STATION_BENCH_LEDGER")
READS = 1000
NAME = "treasury"
SECRET = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"


def _canon(d) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _store(home: Path, url: str, n: int):
    """A store with a funded petty cash, a requester, an approver, an executor with
    TOTP, and ``n`` approved requisitions (ids returned)."""
    from data.models import User
    from station import auth, totp_enrol
    from station.context import open_station
    from station.treasury import funds, payments
    home.mkdir(parents=True, exist_ok=True)
    ctx = open_station(config(home, url, **{"treasury.execute_window_minutes": 24 * 60}), upgrade=True)
    for name, role in (("mia", "manager"), ("theo", "treasurer"), ("ada", "admin")):
        auth.add_user(ctx, None, name, role, "1234")
    totp_enrol.enrol_known_secret(ctx, "theo", SECRET)
    who = {n_: User.get(User.name == n_) for n_ in ("mia", "theo", "ada")}
    funds.opening_balance(ctx, who["ada"], "petty", 10 ** 6)
    reqs = []
    for i in range(n):
        rid = payments.request(ctx, who["mia"], "petty", 100 + i % 50, f"Supplier {i % 7}", "goods")
        payments.approve(ctx, who["ada"], rid)
        reqs.append(rid)
    return ctx, who, reqs


def _raw_body(cur, ph: str, rid: int, step: int, key: bytes, pg: bool) -> None:
    """The execution's work as bare SQL: the same locks, reads and rows, and the same
    hashing (the ledger entry's SHA-256, the journal row's HMAC)."""
    lock = " FOR NO KEY UPDATE" if pg else ""
    now = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime())
    cur.execute(f"SELECT id, requester_id, status, approved_at, fund_id, amount, payee, retry_count, max_retries "
                f"FROM requisition WHERE id = {ph}{lock}", (rid,))
    _id, requester, _st, _at, fid, amount, payee, _rc, _mr = cur.fetchone()
    cur.execute(f"SELECT id, name, kind, balance, entries, head, reorder_level, target_level, auto_replenish, "
                f"replenish_from_id, active FROM fund WHERE id IN ({ph}) ORDER BY id{lock}", (fid,))
    _f, fname, _k, balance, entries, head, *_rest = cur.fetchone()
    cur.execute(f'SELECT active, role, totp_last_step FROM "user" WHERE id = 2{lock}')
    cur.fetchone()
    cur.execute(f'UPDATE "user" SET totp_last_step = {ph}, failed_attempts = 0 WHERE id = 2', (step,))
    new, seq = balance - amount, entries + 1
    h = hashlib.sha256(_canon({"fund": fid, "seq": seq, "kind": "debit", "amount": -amount, "balance": new,
                               "counter": None, "ref_type": "requisition", "ref_id": rid, "memo": payee,
                               "user": 2, "terminal": "T1", "at": now, "prev": head}).encode()).hexdigest()
    cur.execute(f"UPDATE fund SET balance = {ph}, entries = {ph}, head = {ph} WHERE id = {ph}", (new, seq, h, fid))
    cur.execute("UPDATE journal_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
    jseq, prev = cur.fetchone()
    data = _canon({"fund": fname, "seq": seq, "kind": "debit", "hash": h, "balance": new, "counter": None,
                   "ref_type": "requisition", "ref_id": rid, "memo": payee, "op": "payment", "requisition": rid,
                   "reference": ""})
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    jh = hmac.new(key, _canon({"seq": jseq, "ts": ts, "terminal": "T1", "user": "theo", "kind": "treasury.entry",
                               "amount": -amount, "ref": f"{fname}#{seq}", "data": data, "prev": prev}).encode(),
                  hashlib.sha256).hexdigest()
    cur.execute(f"INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, hash) "
                f"VALUES ({ph}, {ph}, 'T1', 'theo', 'treasury.entry', {ph}, {ph}, {ph}, {ph}, {ph})",
                (jseq, ts, -amount, f"{fname}#{seq}", data, prev, jh))
    cur.execute(f"UPDATE journal_head SET hash = {ph} WHERE id = 1", (jh,))
    cur.execute(f"INSERT INTO ledger_entry (fund_id, seq, kind, amount, balance_after, counter_fund_id, ref_type, "
                f"ref_id, memo, user_id, terminal, created_at, prev_hash, hash, journal_seq) VALUES ({ph}, {ph}, "
                f"'debit', {ph}, {ph}, NULL, 'requisition', {ph}, {ph}, 2, 'T1', {ph}, {ph}, {ph}, {ph}) RETURNING id",
                (fid, seq, -amount, new, rid, payee, now, head, h, jseq))
    eid = cur.fetchone()[0]
    cur.execute(f"INSERT INTO payment_execution (requisition_id, idem_key, executor_id, requester_id, amount, "
                f"entry_id, terminal, origin, totp_step, reference, created_at) VALUES ({ph}, {ph}, 2, {ph}, {ph}, "
                f"{ph}, 'T1', 'console', {ph}, '', {ph}) RETURNING id",
                (rid, f"raw{rid}", requester, amount, eid, step, now))
    cur.fetchone()
    cur.execute(f"UPDATE requisition SET status = 'paid', updated_at = {ph} WHERE id = {ph} AND status = 'approved'",
                (now, rid))


def payment_pairs(ours_url: str, raw_url: str, home: Path, n: int) -> tuple[list[float], list[float]]:
    import pyotp
    from data import db as dbmod
    from station.treasury import payments
    pg = ours_url.startswith("postgres")
    rctx, _w, raw_reqs = _store(home / "raw", raw_url, n + 5)
    key = rctx.keys.mac_key
    rctx.db.close()
    ctx, who, reqs = _store(home / "ours", ours_url, n + 5)
    if pg:
        con = pg_connect(raw_url)
    else:
        import sqlite3
        con = sqlite3.connect(raw_url[len("sqlite:///"):], isolation_level=None, timeout=15)
        for k, v in dbmod.sqlite_pragmas().items():
            con.execute(f"PRAGMA {k}={v}")
    cur = con.cursor()
    totp = pyotp.TOTP(SECRET)
    step0 = int(time.time()) // 30
    ours, raw = [], []
    for i, (rid, raw_rid) in enumerate(zip(reqs, raw_reqs)):
        step = step0 + i
        code = totp.at(step * 30)
        t0 = time.perf_counter()
        payments.execute(ctx, who["theo"], rid, code, key=payments.new_key(), now=step * 30)
        t1 = time.perf_counter()
        if not pg:
            cur.execute("BEGIN IMMEDIATE")
        _raw_body(cur, "%s" if pg else "?", raw_rid, step, key, pg)
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


# ------------------------------------------------------------- the ledger ---

def _fill(url: str, n: int) -> int:
    """``n`` entries in the fund "change" (bulk SQL: the shape the reads meet); its id."""
    pg = url.startswith("postgres")
    if pg:
        con = pg_connect(url)
    else:
        import sqlite3
        con = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None, timeout=15)
        con.execute("PRAGMA synchronous=OFF")
        con.execute("BEGIN")
    cur = con.cursor()
    cur.execute("SELECT id FROM fund WHERE name = 'change'")
    fid = cur.fetchone()[0]
    cur.execute("SELECT MIN(id) FROM \"user\"")
    uid = cur.fetchone()[0]
    cur.execute("SELECT COALESCE(MAX(journal_seq), 0) + 10000000 FROM ledger_entry")
    base = cur.fetchone()[0]
    if pg:
        cur.execute(f"""INSERT INTO ledger_entry (fund_id, seq, kind, amount, balance_after, counter_fund_id,
            ref_type, ref_id, memo, user_id, terminal, created_at, prev_hash, hash, journal_seq)
            SELECT {fid}, i, 'credit', 100, 100 * i, NULL, 'transfer', NULL, 'coins', {uid}, 'T1',
                   now() - (({n} - i) || ' seconds')::interval, 'p', 'bulk' || i, {base} + i
            FROM generate_series(1, {n}) AS i""")
    else:
        cur.execute(f"""INSERT INTO ledger_entry (fund_id, seq, kind, amount, balance_after, counter_fund_id,
            ref_type, ref_id, memo, user_id, terminal, created_at, prev_hash, hash, journal_seq)
            WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
            SELECT {fid}, i, 'credit', 100, 100 * i, NULL, 'transfer', NULL, 'coins', {uid}, 'T1',
                   datetime('now', '-' || ({n} - i) || ' seconds'), 'p', 'bulk' || i, {base} + i FROM s""")
    cur.execute(f"UPDATE fund SET balance = {100 * n}, entries = {n} WHERE id = {fid}")
    if pg:
        con.commit()
        con.autocommit = True
        cur.execute("ANALYZE")
    else:
        cur.execute("COMMIT")
        cur.execute("ANALYZE")
    con.close()
    return fid


_RAW_PAGE = ("SELECT e.id, e.seq, e.created_at, e.kind, e.amount, e.balance_after, e.ref_type, e.ref_id, e.memo, "
             "e.user_id, e.terminal FROM ledger_entry e WHERE e.fund_id = {ph} ORDER BY e.seq DESC LIMIT 50")


def reads(url: str, home: Path, fid: int) -> dict[str, list[float]]:
    from station.context import open_station
    from station.treasury import queries
    ctx = open_station(config(home, url))
    pg = url.startswith("postgres")
    if pg:
        con = pg_connect(url)
        con.autocommit = True
    else:
        import sqlite3
        con = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None, timeout=15)
    cur = con.cursor()
    ph = "%s" if pg else "?"
    out = {"balance": [], "raw balance": [], "page": [], "raw page": []}
    for i in range(READS + 20):
        t0 = time.perf_counter()
        queries.balance(fid)
        t1 = time.perf_counter()
        cur.execute(f"SELECT balance FROM fund WHERE id = {ph}", (fid,))
        cur.fetchone()
        t2 = time.perf_counter()
        page = queries.ledger(fid, limit=50)
        t3 = time.perf_counter()
        cur.execute(_RAW_PAGE.format(ph=ph), (fid,))
        cur.fetchall()
        t4 = time.perf_counter()
        assert len(page) == 50
        if i >= 20:
            out["balance"].append(t1 - t0)
            out["raw balance"].append(t2 - t1)
            out["page"].append(t3 - t2)
            out["raw page"].append(t4 - t3)
    con.close()
    ctx.db.close()
    return out


def _report(backend: str, ours, raw, r) -> None:
    print(f"  {backend}: execute a payment ours {p50(ours) * 1000:.2f}/{p99(ours) * 1000:.2f} ms, "
          f"bare {p50(raw) * 1000:.2f}/{p99(raw) * 1000:.2f} ms (p50/p99, {len(ours)} each)")
    target(NAME, f"{backend} execute payment p50", p50(ours), p50(raw), max_ratio=2)
    target(NAME, f"{backend} execute payment p99", p99(ours), p99(raw), max_ratio=2)
    target(NAME, f"{backend} balance p99 ({ENTRIES:,} entries)", p99(r["balance"]), p99(r["raw balance"]),
           max_abs=0.010)
    target(NAME, f"{backend} ledger first page p99 ({ENTRIES:,})", p99(r["page"]), p99(r["raw page"]),
           max_abs=0.010)
    print(f"  {backend}: ledger first page p50 {p50(r['page']) * 1000:.2f} ms (bare {p50(r['raw page']) * 1000:.2f}),"
          f" balance p50 {p50(r['balance']) * 1000:.3f} ms (bare {p50(r['raw balance']) * 1000:.3f})")


def main() -> None:
    print(f"execute a payment x{PAYMENTS} (interleaved with the bare transaction); balance and ledger first "
          f"page with {ENTRIES:,} entries")
    tmp = Path(tempfile.mkdtemp(prefix="station-bench-treasury-"))
    try:
        ours, raw = payment_pairs(f"sqlite:///{tmp / 'ours' / 'store.db'}", f"sqlite:///{tmp / 'raw' / 'store.db'}",
                                  tmp, PAYMENTS)
        url = f"sqlite:///{tmp / 'ours' / 'store.db'}"
        r = reads(url, tmp / "ours", _fill(url, ENTRIES))
        _report("sqlite", ours, raw, r)
        a, b = pg_create(), pg_create()
        if a and b:
            try:
                ours, raw = payment_pairs(a, b, tmp / "pg", PAYMENTS)
                r = reads(a, tmp / "pg" / "ours", _fill(a, ENTRIES))
                _report("postgres", ours, raw, r)
            finally:
                pg_drop(a)
                pg_drop(b)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
