"""Drawer figures, each beside the raw limit measured in the same run.

1. ``drawer.expected_cash(session)`` (one SQL SUM over the session's movements)
   with N movements in the session, vs the same SELECT SUM through bare sqlite3
   (same file) / bare psycopg2 (same database).
2. A paid in (``drawer.paid_in``: lock session, insert movement, update the
   cached balance, journal row + head, one transaction; kick disabled) p50/p99,
   vs a bare sqlite3 BEGIN IMMEDIATE transaction writing the same rows.
3. ``close_session`` with N movements (Z report data + close digest over all
   movements) and the ``station verify`` drawer checks over the store.

Sizes: N = 20 000 movements by default; STATION_BENCH_FULL=1 for 200 000.
PostgreSQL from STATION_BENCH_PG (default STATION_TEST_PG or
postgresql://postgres@127.0.0.1:5432/postgres); skipped with a line when unreachable.
"""
from __future__ import annotations

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
N = 200_000 if FULL else 20_000
POSTS = 300 if FULL else 100
PG_ADMIN = os.environ.get("STATION_BENCH_PG") or os.environ.get(
    "STATION_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _ms(xs):
    xs = sorted(xs)
    return statistics.median(xs) * 1000, xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1000


def _setup(url: str, home: Path):
    from station import auth
    from station import config as configmod
    from station.context import open_station
    cfg = configmod.load(env={"STATION_HOME": str(home)},
                         overrides={"database.url": url, "security.scrypt_n": 2 ** 10, "drawer.kick": "none"})
    ctx = open_station(cfg, upgrade=True)
    user = auth.add_user(ctx, None, "benchmgr", "manager", "1234")
    return ctx, user


def _fill(ctx, user, n: int) -> int:
    """Open a session and add n sale movements in bulk (bench only)."""
    from data import db as dbmod
    from data.models import CashMovement, DrawerSession
    from station import drawer
    s = drawer.open_session(ctx, user, {5000: 10}, kick=False)
    rows = [{"session": s.id, "kind": "sale", "amount": 100 + i % 900, "user": user.id, "ticket_id": i}
            for i in range(n)]
    total = sum(r["amount"] for r in rows)
    with dbmod.write():
        for i in range(0, n, 2000):
            CashMovement.insert_many(rows[i:i + 2000]).execute()
        DrawerSession.update(expected_cash=DrawerSession.expected_cash + total).where(
            DrawerSession.id == s.id).execute()
    return s.id


def _time(fn, reps: int):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_backend(name: str, url: str, raw_sum, raw_post) -> None:
    from station import drawer, verify
    home = Path(tempfile.mkdtemp(prefix="bench-drawer-home-"))
    try:
        ctx, user = _setup(url, home)
        sid = _fill(ctx, user, N)
        ours = _time(lambda: drawer.expected_cash(sid), 30)
        raw = _time(lambda: raw_sum(sid), 30)
        p50, p99 = _ms(ours)
        r50, r99 = _ms(raw)
        print(f"[{name}] expected_cash over {N} movements: p50 {p50:.2f} ms p99 {p99:.2f} ms   "
              f"| raw SELECT SUM: p50 {r50:.2f} ms p99 {r99:.2f} ms")
        ours = _time(lambda: drawer.paid_in(ctx, user, 100, "other"), POSTS)
        raw = _time(lambda: raw_post(sid, user.id), POSTS)
        p50, p99 = _ms(ours)
        r50, r99 = _ms(raw)
        print(f"[{name}] paid_in (movement+cache+journal, 1 tx): p50 {p50:.2f} ms p99 {p99:.2f} ms   "
              f"| raw same rows: p50 {r50:.2f} ms p99 {r99:.2f} ms")
        t0 = time.perf_counter()
        z = drawer.close_session(ctx, user, {5000: 10})
        t1 = time.perf_counter()
        res = verify.run(ctx, ["drawer"])
        t2 = time.perf_counter()
        ok = all(r.ok for r in res)
        print(f"[{name}] close_session with {N + POSTS + 1} movements: {(t1 - t0) * 1000:.0f} ms (Z {z.z_number}); "
              f"verify drawer checks: {(t2 - t1) * 1000:.0f} ms ({'all hold' if ok else 'FAILED'})")
        ctx.db.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def sqlite_run() -> None:
    import sqlite3
    d = Path(tempfile.mkdtemp(prefix="bench-drawer-"))
    try:
        path = d / "store.db"
        url = f"sqlite:///{path}"
        raw = sqlite3.connect(str(path), isolation_level=None, timeout=15)
        raw.execute("PRAGMA journal_mode=wal")
        raw.execute("PRAGMA synchronous=full")

        def raw_sum(sid):
            return raw.execute("SELECT COALESCE(SUM(amount),0) FROM cash_movement WHERE session_id=?",
                               (sid,)).fetchone()[0]

        def raw_post(sid, uid):
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("SELECT id, expected_cash FROM drawer_session WHERE id=? AND status='open'", (sid,))
            raw.execute("INSERT INTO cash_movement (session_id, kind, amount, user_id, reason, note, created_at) "
                        "VALUES (?, 'paid_in', 100, ?, 'other', '', '2026-01-01')", (sid, uid))
            raw.execute("UPDATE drawer_session SET expected_cash = expected_cash + 100 WHERE id=?", (sid,))
            seq, h = raw.execute("SELECT seq, hash FROM journal_head WHERE id=1").fetchone()
            nh = uuid.uuid4().hex * 2
            raw.execute("INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, hash) "
                        "VALUES (?, 'x', 'T1', 'b', 'raw', 100, ?, '{}', ?, ?)", (seq + 1, str(sid), h, nh))
            raw.execute("UPDATE journal_head SET seq=?, hash=? WHERE id=1", (seq + 1, nh))
            raw.execute("COMMIT")
        bench_backend("sqlite", url, raw_sum, raw_post)
        raw.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def pg_run() -> None:
    try:
        import psycopg2
        p = urlparse(PG_ADMIN)
        admin = psycopg2.connect(host=p.hostname, port=p.port or 5432, user=p.username or "postgres",
                                 dbname=p.path.lstrip("/") or "postgres", connect_timeout=3)
    except Exception as e:  # noqa: BLE001
        print(f"[postgres] skipped: {str(e).strip().splitlines()[0]}")
        return
    admin.autocommit = True
    name = "station_bench_" + uuid.uuid4().hex[:10]
    with admin.cursor() as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://{p.username or 'postgres'}@{p.hostname}:{p.port or 5432}/{name}"
    try:
        raw = psycopg2.connect(host=p.hostname, port=p.port or 5432, user=p.username or "postgres", dbname=name)

        def raw_sum(sid):
            with raw.cursor() as c:
                c.execute("SELECT COALESCE(SUM(amount),0) FROM cash_movement WHERE session_id=%s", (sid,))
                v = c.fetchone()[0]
            raw.commit()
            return v

        def raw_post(sid, uid):
            with raw.cursor() as c:
                c.execute("SELECT id FROM drawer_session WHERE id=%s AND status='open' FOR UPDATE", (sid,))
                c.execute("INSERT INTO cash_movement (session_id, kind, amount, user_id, reason, note, created_at) "
                          "VALUES (%s, 'paid_in', 100, %s, 'other', '', now())", (sid, uid))
                c.execute("UPDATE drawer_session SET expected_cash = expected_cash + 100 WHERE id=%s", (sid,))
                c.execute("SELECT seq, hash FROM journal_head WHERE id=1 FOR UPDATE")
                seq, h = c.fetchone()
                nh = uuid.uuid4().hex * 2
                c.execute("INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, "
                          "hash) VALUES (%s, 'x', 'T1', 'b', 'raw', 100, %s, '{}', %s, %s)",
                          (seq + 1, str(sid), h, nh))
                c.execute("UPDATE journal_head SET seq=%s, hash=%s WHERE id=1", (seq + 1, nh))
            raw.commit()
        bench_backend("postgres", url, raw_sum, raw_post)
        raw.close()
    finally:
        from data import db as dbmod
        try:
            dbmod.proxy.obj.close()
        except Exception:  # noqa: BLE001
            pass
        with admin.cursor() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def main() -> None:
    print(f"drawer benchmark: N={N} movements, {POSTS} postings (STATION_BENCH_FULL=1 for the full size)")
    sqlite_run()
    pg_run()


if __name__ == "__main__":
    main()
