"""Payments: the callback receiver's throughput on loopback, and the time from a
callback to the till reading "paid".

1. ``station payments serve`` (uvicorn + starlette, its own process, as deployed)
   on a fresh SQLite store (synchronous=FULL) -- and PostgreSQL when one answers:
   N M-Pesa STK callbacks, each for its own pending payment (row lock, state
   change, insert into the callback log, one commit), sent by C keep-alive
   connections; requests/s and p50/p99 latency -- beside the raw limit measured
   in the same run: the same server's bare endpoint (POST /ping: reads the body,
   answers, writes nothing) under the same load.
2. callback -> till: a till thread polls its payment as the tender screen does
   (``service.watch`` every ``payments.poll_ms``); the time from sending the
   callback to the poll that reads "paid", p50/p99, for poll_ms 300 (default) and
   50 -- beside the callback's own round trip (the receiver's commit), the floor.

Sizes: STATION_BENCH_FULL=1 for 5000 callbacks and 100 payments; default 1500 and 30.
Beside them, on SQLite, the raw limit of the write itself: bare sqlite3 doing the
same statements per callback with synchronous=FULL (each callback's commit waits
for the disk: that fsync, not the Python, is what bounds SQLite here).

Targets (bench/common.py): on SQLite at least half the bare write's rate; at least
50 callbacks/s on either store (a store sees a few a minute; a burst after an
outage is the case); the till reads "paid" within the poll interval + 250 ms (p50).
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.common import ROOT, p50, pair, pg_create, pg_drop, size, target

NAME = "payments"
CALLBACKS = size(5000, 1500, "STATION_BENCH_CALLBACKS")
TILL_RUNS = size(100, 30)
CONCURRENCY = 8

CONFIG = """
[store]
currency = "KES"
currency_symbol = "KES"
[cash]
tender_methods = ["cash", "card", "mpesa"]
[payments]
methods = {mpesa = "mpesa"}
"""


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _open(home: Path, url: str):
    from station import config as configmod
    from station.context import open_station
    (home / "station.toml").write_text(CONFIG)
    cfg = configmod.load(env={"STATION_HOME": str(home)}, overrides={"database.url": url})
    return open_station(cfg, upgrade=True)


def _pending(ctx, n: int, user_id: int, ticket_id: int) -> list[tuple[str, str]]:
    """n pending M-Pesa payments (set-up, not measured): (our ref, CheckoutRequestID)."""
    from data import db as dbmod
    from data.payments import ProviderPayment
    from station.payments import service
    out = []
    with dbmod.write():
        for i in range(n):
            ref = service.new_ref()
            checkout = f"ws_CO_{ref}"
            ProviderPayment.create(ref=ref, method="mpesa", provider="mpesa", terminal="T1", ticket=ticket_id,
                                   amount=15000, currency="KES", phone="254712345678", status="pending",
                                   provider_ref=checkout, merchant_ref=f"m-{i}", user=user_id)
            out.append((ref, checkout))
    return out


def _body(ref: str, checkout: str, i: int) -> bytes:
    return json.dumps({"Body": {"stkCallback": {
        "MerchantRequestID": None, "CheckoutRequestID": checkout, "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": 150.0},
                                      {"Name": "MpesaReceiptNumber", "Value": f"QKR{i:07d}"},
                                      {"Name": "TransactionDate", "Value": 20240511201419},
                                      {"Name": "PhoneNumber", "Value": 254712345678}]}}}}).encode()


async def _load(port: int, requests: list[tuple[str, bytes]], concurrency: int) -> tuple[float, list[float], int]:
    """Send every (path, body) over ``concurrency`` keep-alive connections."""
    queue = list(reversed(requests))
    lat: list[float] = []
    bad = 0

    async def worker():
        nonlocal bad
        r, w = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            path, body = queue.pop()
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            t = time.perf_counter()
            w.write(head + body)
            await w.drain()
            status = await r.readline()
            length = 0
            while True:
                line = await r.readline()
                if line in (b"\r\n", b""):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await r.readexactly(length)
            lat.append(time.perf_counter() - t)
            if b" 200 " not in status:
                bad += 1
        w.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, lat, bad


def _serve(home: Path, url: str, port: int):
    code = "import sys; from station.cli import main; sys.exit(main(sys.argv[1:]))"
    env = dict(os.environ, STATION_HOME=str(home))
    p = subprocess.Popen([sys.executable, "-c", code, "--db", url, "payments", "serve", "--listen",
                          f"127.0.0.1:{port}"], cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    t0 = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return p
        except OSError:
            if p.poll() is not None or time.monotonic() - t0 > 30:
                p.kill()
                raise SystemExit(f"the receiver did not start: {p.stderr.read().decode()[-500:]}")
            time.sleep(0.05)


def _store(home: Path, url: str):
    from data import db as dbmod
    from data.models import Ticket
    from station import auth
    ctx = _open(home, url)
    user = auth.add_user(ctx, None, "bench", "cashier", "1234")
    with dbmod.write():
        t = Ticket.create(terminal="T1", cashier=user, status="open")
    return ctx, user, t.id


class BareSqlite:
    """The raw limit of the write itself: bare sqlite3, one connection, the same
    statements per callback (find the payment, read its ticket, move it, log the
    callback) in its own BEGIN IMMEDIATE ... COMMIT with synchronous=FULL, on a
    store of the same schema."""

    def __init__(self, tmp: Path, n: int):
        import sqlite3
        home = tmp / "bare"
        home.mkdir()
        ctx, user, ticket = _store(home, f"sqlite:///{home / 'store.db'}")
        self.pend = _pending(ctx, n, user.id, ticket)
        ctx.db.close()
        self.con = sqlite3.connect(home / "store.db", isolation_level=None)
        for pragma in ("journal_mode=wal", "synchronous=full", "foreign_keys=1", "busy_timeout=15000"):
            self.con.execute(f"PRAGMA {pragma}")
        self.done = 0

    def run(self, n: int) -> float:
        """``n`` more writes; the seconds they took."""
        con = self.con
        t0 = time.perf_counter()
        for i in range(self.done, self.done + n):
            ref, checkout = self.pend[i]
            body = _body(ref, checkout, i).decode()
            con.execute("BEGIN IMMEDIATE")
            pid, status, tid = con.execute("SELECT id, status, ticket_id FROM provider_payment WHERE ref = ?",
                                           (ref,)).fetchone()
            con.execute("SELECT status FROM ticket WHERE id = ?", (tid,)).fetchone()
            con.execute("UPDATE provider_payment SET status = 'paid', receipt = ?, paid_amount = 15000, "
                        "result_code = '0', message = 'paid by M-Pesa', settled_at = ?, updated_at = ? "
                        "WHERE id = ? AND status = ?",
                        (f"QKR{i:07d}", "2024-01-01 00:00:00", "2024-01-01 00:00:00", pid, status))
            con.execute("INSERT INTO payment_callback (received_at, provider, source, remote, path, body, verdict, "
                        "detail, payment_id, provider_ref, result_code) VALUES (?, 'mpesa', 'callback', "
                        "'127.0.0.1', '/mpesa/callback', ?, 'paid', 'paid by M-Pesa', ?, ?, '0')",
                        ("2024-01-01 00:00:00", body, pid, checkout))
            con.execute("COMMIT")
        self.done += n
        return time.perf_counter() - t0


def bench_receiver(tmp: Path, name: str, short: str, url: str) -> None:
    home = tmp / f"recv-{name}"
    home.mkdir()
    bare_db = BareSqlite(tmp, CALLBACKS) if url.startswith("sqlite") else None   # (first: it opens a store)
    ctx, user, ticket = _store(home, url)
    pend = _pending(ctx, CALLBACKS, user.id, ticket)
    port = _free_port()
    server = _serve(home, url, port)
    t_bare = t_real = t_raw = 0.0
    lat_bare, lat_real = [], []
    bad_bare = bad_real = 0
    try:
        asyncio.run(_load(port, [("/ping", b"{}")] * 200, CONCURRENCY))          # warm up
        # in chunks, each figure beside its raw limit in turn: the machine's load
        # changes from second to second, and every figure sees the same changes
        chunk = max(100, CALLBACKS // 6)
        for start in range(0, CALLBACKS, chunk):
            part = list(enumerate(pend))[start:start + chunk]
            t, lat, bad = asyncio.run(_load(port, [("/ping", _body(r, c, i)) for i, (r, c) in part], CONCURRENCY))
            t_bare, bad_bare = t_bare + t, bad_bare + bad
            lat_bare += lat
            t, lat, bad = asyncio.run(_load(port, [("/mpesa/callback", _body(r, c, i)) for i, (r, c) in part],
                                            CONCURRENCY))
            t_real, bad_real = t_real + t, bad_real + bad
            lat_real += lat
            if bare_db is not None:
                t_raw += bare_db.run(len(part))
    finally:
        server.terminate()
        server.wait(10)
    from data.payments import PaymentCallback, ProviderPayment
    paid = ProviderPayment.select().where(ProviderPayment.status == "paid").count()
    logged = PaymentCallback.select().where(PaymentCallback.verdict == "paid").count()
    ctx.db.close()
    assert bad_real == 0 and paid == logged == CALLBACKS, (bad_real, paid, logged)
    print(f"callback receiver on loopback, {CALLBACKS} M-Pesa callbacks, {CONCURRENCY} connections ({name})")
    print(f"  POST /mpesa/callback (settle + log, commit) : {CALLBACKS / t_real:8.0f} req/s  {pair(lat_real)}")
    print(f"  POST /ping, same server, writes nothing     : {CALLBACKS / t_bare:8.0f} req/s  {pair(lat_bare)}"
          f"{'' if not bad_bare else f'  ({bad_bare} not 200)'}")
    if bare_db is not None:
        raw = CALLBACKS / t_raw
        print(f"  bare sqlite3, the same writes, one by one   : {raw:8.0f} writes/s (synchronous=FULL)")
        target(NAME, f"{short} callbacks/s vs the bare write", CALLBACKS / t_real, raw, min_ratio=0.5,
               unit="req/s", raw_label="sqlite3")
    target(NAME, f"{short} callbacks/s vs the bare endpoint", CALLBACKS / t_real, CALLBACKS / t_bare,
           min_abs=50, unit="req/s", raw_label="/ping")


def bench_till(tmp: Path) -> None:
    from station.payments import service
    home = tmp / "till"
    home.mkdir()
    url = f"sqlite:///{home / 'store.db'}"
    ctx, user, ticket = _store(home, url)
    port = _free_port()
    server = _serve(home, url, port)
    try:
        for i, (ref, checkout) in enumerate(_pending(ctx, 5, user.id, ticket)):   # warm the receiver up
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}/mpesa/callback", data=_body(ref, checkout, i),
                headers={"Content-Type": "application/json"}, method="POST"), timeout=10).read()
        for poll_ms in (300, 50):
            ctx.config.set("payments.poll_ms", poll_ms)
            pend = _pending(ctx, TILL_RUNS, user.id, ticket)
            seen, rtt = [], []
            for i, (ref, checkout) in enumerate(pend):
                got = threading.Event()
                start = {}

                def till():   # the tender screen's poll (its worker thread)
                    while True:
                        v = service.watch(ctx, ref)
                        if v.paid:
                            start["seen"] = time.perf_counter()
                            got.set()
                            return
                        time.sleep(poll_ms / 1000)
                th = threading.Thread(target=till)
                th.start()
                time.sleep((i % 7) * poll_ms / 7000)      # callbacks land at every phase of the poll
                req = urllib.request.Request(f"http://127.0.0.1:{port}/mpesa/callback", data=_body(ref, checkout, i),
                                             headers={"Content-Type": "application/json"}, method="POST")
                t0 = time.perf_counter()
                urllib.request.urlopen(req, timeout=10).read()
                rtt.append(time.perf_counter() - t0)
                if not got.wait(30):
                    raise SystemExit("the till never saw the payment")
                th.join()
                seen.append(start["seen"] - t0)
            print(f"callback -> till reads \"paid\" (poll every {poll_ms} ms, SQLite), {TILL_RUNS} payments")
            print(f"  callback sent -> till shows paid : {pair(seen)}")
            print(f"  the callback's round trip alone  : {pair(rtt)}")
            target(NAME, f"callback -> till paid, poll {poll_ms} ms, p50", p50(seen), p50(rtt),
                   max_abs=poll_ms / 1000 + 0.25, raw_label="callback")
    finally:
        server.terminate()
        server.wait(10)
        ctx.db.close()


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="station-bench-payments-"))
    try:
        (tmp / "sqlite").mkdir()
        bench_receiver(tmp, "SQLite, synchronous=FULL", "SQLite", f"sqlite:///{tmp / 'sqlite' / 'store.db'}")
        pg = pg_create("station_b_pay_")
        if pg:
            try:
                bench_receiver(tmp, "PostgreSQL", "PostgreSQL", pg)
            finally:
                pg_drop(pg)
        bench_till(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
