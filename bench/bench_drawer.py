"""X and Z reports of a big drawer session, and what a close costs the other terminals.

A session of N cash sales (one ticket, one tender and 1-2 cash movements each,
as ``complete_sale`` writes them) is loaded in bulk into a fresh SQLite store;
its running session totals are brought up to date by
the drawer service (set-up, not timed). N = 1,000,000 with STATION_BENCH_FULL=1,
else 100,000.

1. ``drawer.x_report`` of that session, beside the bare aggregate over its rows
   (tender per method joined to tickets, movements per kind: the SQL an X report
   had to run before it kept running totals).
2. ``drawer.close_session`` (blind close, Z report) of that session, while another
   terminal process commits a small write transaction every few ms: the close's
   own time and the longest wait of the other terminal's writes during it.
3. ``paid_in`` (movement + running totals + journal, one transaction) p50/p99
   beside a bare sqlite3 transaction doing the same work (the same reads, rows,
   running totals and hashing) on a copy of the store, the two interleaved.
"""
from __future__ import annotations

import multiprocessing as mp
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.common import FULL, config, p50, p99, size, target

NAME = "drawer"
N = size(1_000_000, 100_000, "STATION_BENCH_DRAWER_SALES")
POSTS = 200


def build(home: Path, url: str, path: Path, n: int):
    """A store whose drawer D1 session holds n cash sales; returns (ctx, user, session id)."""
    from data.models import User
    from station import auth, drawer
    from station.context import open_station
    ctx = open_station(config(home, url, terminal="D1"), upgrade=True)
    auth.add_user(ctx, None, "benchmgr", "manager", "1234")
    auth.add_user(ctx, None, "other", "cashier", "1111")
    user = User.get(User.name == "benchmgr")
    s = drawer.open_session(ctx, user, {5000: 10}, kick=False)
    ctx.db.close()
    con = sqlite3.connect(str(path), isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    now = "2026-01-01 10:00:00"
    chunk = 50_000
    cash = 0
    for start in range(0, n, chunk):
        tickets, tenders, moves = [], [], []
        for i in range(start, min(n, start + chunk)):
            tid = i + 1
            total = 100 + i % 900
            tendered = total + (500 if i % 2 else 0)
            tickets.append((tid, "D1", user.id, "parked", now, now, 0, 0, f"k{tid}", tid, s.id, total,
                            total * 19 // 119, total, 0, now, 0))
            tenders.append((tid, "cash", total, tendered, tendered - total, "", now))
            moves.append((s.id, "sale", tendered, user.id, "", "", tid, now))
            if tendered != total:
                moves.append((s.id, "change", total - tendered, user.id, "", "", tid, now))
            cash += total
        con.executemany("INSERT INTO ticket (id, terminal, cashier_id, status, created_at, updated_at, "
                        "ticket_discount, discount_bp, idem_key, receipt_no, session_id, subtotal, tax_total, total, "
                        "rounding, completed_at, rev) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", tickets)
        con.executemany("INSERT INTO tender (ticket_id, method, amount, tendered, change, reference, created_at) "
                        "VALUES (?,?,?,?,?,?,?)", tenders)
        con.executemany("INSERT INTO cash_movement (session_id, kind, amount, user_id, reason, note, ticket_id, "
                        "created_at) VALUES (?,?,?,?,?,?,?,?)", moves)
    # completed once their tenders are in (a completed sale's tenders can no longer be added)
    con.execute("UPDATE ticket SET status = 'completed' WHERE status = 'parked'")
    con.execute("INSERT INTO receipt_counter (terminal, last) VALUES ('D1', ?)", (n,))
    con.execute("UPDATE drawer_session SET expected_cash = expected_cash + ? WHERE id = ?", (cash, s.id))
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.close()
    ctx = open_station(config(home, url, terminal="D1"))
    drawer.rebuild_running_totals(s.id)      # the running totals of the bulk-loaded rows
    return ctx, user, s.id


def bare_x(path: Path, sid: int) -> float:
    con = sqlite3.connect(str(path))
    t0 = time.perf_counter()
    con.execute("SELECT t.method, COUNT(DISTINCT t.ticket_id), SUM(t.amount) FROM tender t JOIN ticket k "
                "ON k.id = t.ticket_id WHERE k.session_id = ? AND k.status = 'completed' GROUP BY t.method",
                (sid,)).fetchall()
    con.execute("SELECT COUNT(*), SUM(total), MIN(receipt_no), MAX(receipt_no) FROM ticket "
                "WHERE session_id = ? AND status = 'completed'", (sid,)).fetchall()
    con.execute("SELECT kind, COUNT(*), SUM(amount) FROM cash_movement WHERE session_id = ? GROUP BY kind",
                (sid,)).fetchall()
    dt = time.perf_counter() - t0
    con.close()
    return dt


def _other_terminal(home, url, ready, stop, out):
    """Another terminal: a paid in on its own drawer every 5 ms; reports each one's time."""
    from data.models import User
    from station import drawer
    from station.context import open_station
    ctx = open_station(config(Path(home), url, terminal="D2"))
    user = User.get(User.name == "other")
    drawer.open_session(ctx, user, {5000: 1}, kick=False)
    times = []
    ready.set()
    while not stop.is_set():
        t0 = time.perf_counter()
        drawer.paid_in(ctx, user, 100, "other")
        times.append((t0, time.perf_counter()))
        time.sleep(0.005)
    out.put(times)


def _bare_paid_in(con, sid: int, user_id: int, key: bytes) -> None:
    """``drawer.paid_in``'s transaction in bare sqlite3: the same reads (the user's
    role, the open session with its running figures), the same rows (movement,
    session running totals and digest, journal row + head) and the same hashing
    (canonical JSON, SHA-256 of the session digest, HMAC-SHA256 of the journal row)."""
    import hashlib
    import hmac
    import json

    def canon(d) -> str:
        return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    con.execute("BEGIN IMMEDIATE")
    row = con.execute("SELECT id, drawer, terminal, cashier_id, float_amount, expected_cash, totals, digest, "
                      "opened_at FROM drawer_session WHERE drawer = 'D1' AND status = 'open'").fetchone()
    expected, totals, digest = row[5], json.loads(row[6] or "{}"), row[7] or ""
    con.execute("SELECT active, role FROM user WHERE id = ?", (user_id,)).fetchone()
    n = totals["n"] = totals.get("n", 0) + 1
    m = totals.setdefault("moves", {}).setdefault("paid_in", [0, 0])
    m[0] += 1
    m[1] += 100
    u = totals.setdefault("users", {}).setdefault(str(user_id), {}).setdefault("paid_in", [0, 0])
    u[0] += 1
    u[1] += 100
    digest = hashlib.sha256((digest + canon([n, "paid_in", 100, user_id, None, "other", ""])).encode()).hexdigest()
    mid = con.execute("INSERT INTO cash_movement (session_id, kind, amount, user_id, reason, note, ticket_id, "
                      "approval_id, created_at) VALUES (?, 'paid_in', 100, ?, 'other', '', NULL, NULL, "
                      "'2026-01-01') RETURNING id", (sid, user_id)).fetchone()[0]
    con.execute("UPDATE drawer_session SET expected_cash = ?, totals = ?, digest = ? WHERE id = ? AND status = 'open'",
                (expected + 100, json.dumps(totals, separators=(",", ":")), digest, sid))
    seq, prev = con.execute("UPDATE journal_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash").fetchone()
    data = canon({"drawer": "D1", "session": sid, "movement": mid, "reason": "other", "note": "",
                  "expected_cash": expected + 100})
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    h = hmac.new(key, canon({"seq": seq, "ts": ts, "terminal": "D1", "user": "b", "kind": "drawer.paid_in",
                             "amount": 100, "ref": str(sid), "data": data, "prev": prev}).encode(),
                 hashlib.sha256).hexdigest()
    con.execute("INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, hash) "
                "VALUES (?, ?, 'D1', 'b', 'drawer.paid_in', 100, ?, ?, ?, ?)", (seq, ts, str(sid), data, prev, h))
    con.execute("UPDATE journal_head SET hash = ? WHERE id = 1", (h,))
    con.execute("COMMIT")


def paid_in_figures(ctx, user, path: Path) -> tuple[list[float], list[float]]:
    """``drawer.paid_in`` and the bare transaction, interleaved (one of each in
    turn) on a copy of the store, so both meet the same load and the same sizes."""
    from data import db as dbmod
    from station import drawer
    sid = drawer.current_session(ctx).id
    copy = path.with_name("paid_in_copy.db")
    src = sqlite3.connect(str(path))
    dst = sqlite3.connect(str(copy))
    src.backup(dst)
    src.close()
    dst.close()
    con = sqlite3.connect(str(copy), isolation_level=None, timeout=15)
    for k, v in dbmod.sqlite_pragmas().items():
        con.execute(f"PRAGMA {k}={v}")
    ours, raw = [], []
    for _ in range(POSTS):
        t0 = time.perf_counter()
        drawer.paid_in(ctx, user, 100, "other")
        t1 = time.perf_counter()
        _bare_paid_in(con, sid, user.id, b"k" * 32)
        t2 = time.perf_counter()
        ours.append(t1 - t0)
        raw.append(t2 - t1)
    con.close()
    copy.unlink()
    return ours, raw


def main() -> None:
    from station import drawer, verify
    print(f"bench_drawer: a session of {N:,} cash sales" + ("" if FULL else "; STATION_BENCH_FULL=1 for 1,000,000"))
    home = Path(tempfile.mkdtemp(prefix="station-bench-drawer-"))
    try:
        path = home / "store.db"
        url = f"sqlite:///{path}"
        t0 = time.perf_counter()
        ctx, user, sid = build(home, url, path, N)
        print(f"  (set-up: {N:,} sales loaded in {time.perf_counter() - t0:.0f} s)", flush=True)
        xs = []
        for _ in range(5):
            t0 = time.perf_counter()
            d = drawer.x_report(ctx, user)
            xs.append(time.perf_counter() - t0)
        assert d["sales"]["count"] == N, d["sales"]
        raw = bare_x(path, sid)
        target(NAME, f"X report, session of {N:,} sales (median of 5)", p50(xs), raw, max_abs=0.05,
               raw_label="bare agg")

        ours, rawp = paid_in_figures(ctx, user, path)
        target(NAME, "paid_in (movement+totals+journal) p50", p50(ours), p50(rawp), raw_label="bare")
        target(NAME, "paid_in (movement+totals+journal) p99", p99(ours), p99(rawp), raw_label="bare")

        spawn = mp.get_context("spawn")
        ready, stop, out = spawn.Event(), spawn.Event(), spawn.Queue()
        other = spawn.Process(target=_other_terminal, args=(str(home), url, ready, stop, out))
        other.start()
        ready.wait(120)
        time.sleep(0.3)
        t0 = time.perf_counter()
        z = drawer.close_session(ctx, user, {5000: 10}, reason="bench")   # a manager: any variance
        t1 = time.perf_counter()
        time.sleep(0.3)
        stop.set()
        times = out.get(timeout=60)
        other.join(30)
        during = [e - s for s, e in times if s < t1 and e > t0]
        worst = max(during) if during else 0.0
        target(NAME, f"Z close of {N:,} sales (Z {z.z_number})", t1 - t0, raw, max_abs=0.05, raw_label="bare agg")
        target(NAME, "other terminal's longest write during the close", worst,
               p50([e - s for s, e in times]), max_abs=0.05, raw_label="its p50")
        t0 = time.perf_counter()
        res = verify.run(ctx, ["drawer"])
        print(f"  verify drawer checks over the store: {time.perf_counter() - t0:.1f} s "
              f"({'all hold' if all(r.ok for r in res) else 'FAILED: ' + str([r.problems[:2] for r in res if not r.ok])})")
        ctx.db.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
