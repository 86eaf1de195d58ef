"""Scan -> line on screen at a large catalog, beside the raw limit.

The store (N products, one EAN-13 barcode each) is built once by a bulk insert
into the schema our migrations create, and cached in bench/out/ (N = 100,000 by
default; STATION_BENCH_FULL=1 for 1,000,000; STATION_BENCH_SCAN_PRODUCTS=N for
any size). Then, on a copy of it:

1. bare indexed SELECT: sqlite3, the barcode primary key joined to the product,
   for the same codes (the raw limit of a lookup);
2. ``station.sale.scan`` (lookup + the ticket write, one IMMEDIATE transaction
   with synchronous=FULL + the ticket view), no UI;
3. scan -> line on screen: the real SaleScreen (headless Textual, 80x24): the
   code's keys and Enter are posted as raw key events; the clock runs from the
   Enter to the first refresh after the line is in the table. One scan at a
   time (no queueing in the figure); baskets of 25 lines, then parked (F8).
"""
from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FULL = os.environ.get("STATION_BENCH_FULL") == "1"
N = int(os.environ.get("STATION_BENCH_SCAN_PRODUCTS") or (1_000_000 if FULL else 100_000))
SCANS = int(os.environ.get("STATION_BENCH_SCANS", "300"))
BASKET = 25


def _pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _fmt(xs) -> str:
    return f"p50 {statistics.median(xs) * 1000:7.3f} ms   p99 {_pct(xs, 99) * 1000:7.3f} ms"


def ean(i: int) -> str:
    body = f"29{i:010d}"
    total = sum(int(ch) * (3 if k % 2 == 0 else 1) for k, ch in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


def _config(home: Path, url: str):
    from station import config as configmod
    return configmod.load(env={"STATION_HOME": str(home)}, overrides={
        "database.url": url, "security.scrypt_n": 2 ** 10})


def build_store(path: Path, n: int) -> None:
    """Schema by our migrations, then n products + barcodes in one bulk transaction."""
    from station.context import open_station
    home = path.parent / (path.stem + "-home")
    home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".building")
    for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        p.unlink(missing_ok=True)
    ctx = open_station(_config(home, f"sqlite:///{tmp}"), upgrade=True)
    ctx.db.close()
    t0 = time.perf_counter()
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("BEGIN")
    chunk = 50_000
    words = ["milk", "bread", "apple", "cheese", "coffee", "tea", "rice", "pasta", "soap", "juice"]
    for start in range(0, n, chunk):
        rows = []
        for i in range(start, min(n, start + chunk)):
            name = f"{words[i % 10].capitalize()} {i:07d}"
            rows.append((i + 1, f"S{i:07d}", name, name.lower(), 100 + i % 900, 1900 if i % 3 else 700))
        con.executemany("INSERT INTO product (id, sku, name, name_key, price, vat_rate, unit, category, active,"
                        " updated_at) VALUES (?,?,?,?,?,?,'pc','',1,'2026-01-01 00:00:00')", rows)
        con.executemany("INSERT INTO barcode (code, product_id) VALUES (?,?)",
                        [(ean(r[0] - 1), r[0]) for r in rows])
    con.commit()
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    os.replace(tmp, path)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    print(f"  built {n:,} products in {time.perf_counter() - t0:.1f}s -> {path}")


def cached_store(n: int) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"scan_{n}.db"
    if not path.exists():
        build_store(path, n)
    return path


def bare_select(db: Path, codes: list[str]) -> list[float]:
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    q = ("SELECT p.id, p.name, p.price, p.vat_rate, p.unit FROM barcode b JOIN product p ON p.id = b.product_id"
         " WHERE b.code = ?")
    for c in codes[:20]:
        con.execute(q, (c,)).fetchone()
    out = []
    for c in codes:
        t0 = time.perf_counter()
        row = con.execute(q, (c,)).fetchone()
        out.append(time.perf_counter() - t0)
        assert row is not None
    con.close()
    return out


def service_scan(ctx, user, codes: list[str]) -> list[float]:
    from station import sale
    out = []
    for i, c in enumerate(codes):
        if i and i % BASKET == 0:
            sale.park(ctx, user)
        t0 = time.perf_counter()
        sale.scan(ctx, user, c)
        out.append(time.perf_counter() - t0)
    sale.park(ctx, user)
    return out


async def screen_scan(ctx, user, codes: list[str]) -> list[float]:
    from textual import events
    from textual.app import App
    from screens.sale import SaleScreen

    class Host(App):
        def __init__(self):
            super().__init__()
            self.ctx, self.user = ctx, user

        def on_mount(self):
            self.push_screen(SaleScreen())

    app = Host()
    out: list[float] = []
    in_table: list[float] = []
    stamp = [0.0]
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        while screen.runner.pending:
            await asyncio.sleep(0.01)
        shown = asyncio.Event()
        real_show = screen.show_ticket

        def show_ticket(view, **kw):
            real_show(view, **kw)
            stamp[0] = time.perf_counter()
            screen.call_after_refresh(shown.set)
        screen.show_ticket = show_ticket
        table = screen.query_one("#sale-lines")
        for i, c in enumerate(codes):
            if i and i % BASKET == 0:
                shown.clear()
                await pilot.press("f8")
                await shown.wait()
                while screen.runner.pending:
                    await asyncio.sleep(0.005)
            for ch in c:
                app.post_message(events.Key(ch, ch))
            await pilot.pause()
            rows = table.row_count
            shown.clear()
            t0 = time.perf_counter()
            app.post_message(events.Key("enter", "\r"))
            await shown.wait()
            out.append(time.perf_counter() - t0)
            in_table.append(stamp[0] - t0)
            assert table.row_count == rows + 1, "the line is not on screen"
    return out, in_table


def main() -> None:
    print(f"bench_scan: scan -> line on screen, {N:,} products, {SCANS} scans"
          + ("" if FULL or os.environ.get("STATION_BENCH_SCAN_PRODUCTS")
             else "; STATION_BENCH_FULL=1 for 1,000,000"))
    src = cached_store(N)
    work = Path(tempfile.mkdtemp(prefix="station-bench-scan-"))
    try:
        db = work / "store.db"
        shutil.copy(src, db)
        rng = random.Random(7)
        codes = [ean(rng.randrange(N)) for _ in range(SCANS)]
        codes = list(dict.fromkeys(codes))     # distinct: every scan makes a new line
        raw = bare_select(db, codes)
        print(f"  bare indexed SELECT (sqlite3)          {_fmt(raw)}")

        from station import auth
        from station.context import open_station
        home = work / "home"
        home.mkdir()
        ctx = open_station(_config(home, f"sqlite:///{db}"))
        user = auth.add_user(ctx, None, "bench", "cashier", "1111")
        svc = service_scan(ctx, user, codes)
        print(f"  station.sale.scan (lookup + write)     {_fmt(svc)}")
        rng.shuffle(codes)
        ui, in_table = asyncio.run(screen_scan(ctx, user, codes))
        print(f"  scan -> line in the table widget       {_fmt(in_table)}")
        print(f"  scan -> line on screen (next refresh)  {_fmt(ui)}")
        ctx.db.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
