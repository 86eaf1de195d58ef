"""Journal append latency and chain verification speed, each beside the raw limit.

1. ``journal.append`` in its own write transaction (lock head, hash, insert row,
   move head) on SQLite, p50/p99, vs bare ``sqlite3`` doing the same statements
   on the same schema with the same pragmas (WAL, synchronous=FULL, BEGIN IMMEDIATE).
2. ``station verify``'s ``journal.chain`` over N rows, vs bare ``sqlite3`` reading
   the same rows + ``hmac`` over the same canonical JSON (the floor for any
   Python verifier).

Sizes: STATION_BENCH_FULL=1 for 2000 appends and 1,000,000 rows; default 300
appends and 50,000 rows.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

FULL = os.environ.get("STATION_BENCH_FULL") == "1"
APPENDS = 2000 if FULL else 300
ROWS = 1_000_000 if FULL else 50_000


def _pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _ms(xs):
    return f"p50 {statistics.median(xs) * 1000:6.2f} ms  p99 {_pct(xs, 99) * 1000:6.2f} ms"


def _open(home: Path):
    from station import config as configmod
    from station.context import open_station
    url = f"sqlite:///{home / 'store.db'}"
    cfg = configmod.load(env={"STATION_HOME": str(home)}, overrides={"database.url": url})
    return open_station(cfg, upgrade=True)


def _canon(d):
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def bench_append(tmp: Path) -> None:
    from station import journal
    home = tmp / "a"
    home.mkdir()
    ctx = _open(home)
    xs = []
    for i in range(APPENDS):
        t = time.perf_counter()
        journal.append("bench.append", terminal="T1", user="carla", amount=i, ref=f"r{i}", data={"i": i})
        xs.append(time.perf_counter() - t)
    ctx.db.close()

    # bare sqlite3: same statements, same pragmas, its own fresh store
    home2 = tmp / "b"
    home2.mkdir()
    ctx2 = _open(home2)
    key = ctx2.keys.mac_key
    ctx2.db.close()
    con = sqlite3.connect(home2 / "store.db", isolation_level=None)
    for p in ("journal_mode=wal", "synchronous=full", "foreign_keys=1", "busy_timeout=15000"):
        con.execute(f"PRAGMA {p}")
    ys = []
    for i in range(APPENDS):
        t = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        seq, prev = con.execute("SELECT seq, hash FROM journal_head WHERE id = 1").fetchone()
        seq += 1
        ts = journal.now_iso()
        data = _canon({"i": i})
        h = journal.row_hash(seq, ts, "T1", "carla", "bench.append", i, f"r{i}", data, prev, key)
        con.execute("INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, hash) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)", (seq, ts, "T1", "carla", "bench.append", i, f"r{i}", data, prev, h))
        con.execute("UPDATE journal_head SET seq = ?, hash = ? WHERE id = 1", (seq, h))
        con.execute("COMMIT")
        ys.append(time.perf_counter() - t)
    con.close()
    print(f"journal.append, own transaction, {APPENDS}x (SQLite, synchronous=FULL)")
    print(f"  station journal.append : {_ms(xs)}")
    print(f"  bare sqlite3 same SQL  : {_ms(ys)}")


def bench_verify(tmp: Path) -> None:
    from station import journal
    from station.checks_journal import check_chain
    home = tmp / "v"
    home.mkdir()
    ctx = _open(home)
    key = ctx.keys.mac_key
    ctx.db.close()
    # fill N chained rows quickly (one transaction, bare sqlite3: this is set-up, not measured)
    con = sqlite3.connect(home / "store.db", isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    prev = "0" * 64
    ts = journal.now_iso()
    batch = []
    for seq in range(1, ROWS + 1):
        data = _canon({"n": seq % 7})
        h = journal.row_hash(seq, ts, "T1", "carla", "sale.test", seq, None, data, prev, key)
        batch.append((seq, ts, "T1", "carla", "sale.test", seq, None, data, prev, h))
        prev = h
        if len(batch) == 10000:
            con.executemany("INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, "
                            "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
            batch = []
    if batch:
        con.executemany("INSERT INTO journal (seq, ts, terminal, user_name, kind, amount, ref, data, "
                        "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
    con.execute("UPDATE journal_head SET seq = ?, hash = ? WHERE id = 1", (ROWS, prev))
    con.execute("COMMIT")

    ctx = _open(home)
    t = time.perf_counter()
    problems = check_chain(ctx)
    ours = time.perf_counter() - t
    ctx.db.close()
    assert problems == [], problems

    t = time.perf_counter()
    expect = "0" * 64
    for row in con.execute("SELECT seq, ts, terminal, user_name, kind, amount, ref, data, prev_hash, hash "
                           "FROM journal ORDER BY seq"):
        body = _canon({"seq": row[0], "ts": row[1], "terminal": row[2], "user": row[3], "kind": row[4],
                       "amount": row[5], "ref": row[6], "data": row[7], "prev": row[8]})
        if row[8] != expect or hmac.new(key, body.encode(), hashlib.sha256).hexdigest() != row[9]:
            raise SystemExit("bare verifier disagrees")
        expect = row[9]
    raw = time.perf_counter() - t
    con.close()
    print(f"journal.chain verify over {ROWS:,} rows (SQLite)")
    print(f"  station verify journal.chain : {ours:6.2f} s  ({ROWS / ours:,.0f} rows/s)")
    print(f"  bare sqlite3 + hmac          : {raw:6.2f} s  ({ROWS / raw:,.0f} rows/s)")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="station-bench-journal-"))
    try:
        bench_append(tmp)
        bench_verify(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
