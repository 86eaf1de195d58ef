"""Catalog at scale, each figure beside the raw limit measured in the same run.

1. Import of BENCH_ROWS generated CSV rows (``station.catalog.import_csv``: parse,
   validate, upsert, barcodes, search words, journal, one transaction) vs a bare
   ``sqlite3`` ``executemany`` of the same, already-prepared rows (product,
   barcode, search_word) into the same schema with the same pragmas.
2. Barcode lookup (``catalog.lookup_barcode``) at that size vs a bare indexed
   ``SELECT`` of the same join with sqlite3.
3. Name search (``catalog.search``) at that size, vs a bare indexed prefix
   ``SELECT ... LIMIT 50`` on ``name_key``.

BENCH_ROWS sets the size (default 200,000, about a minute; BENCH_ROWS=1000000 for the full
million, about three to five minutes on this machine); BENCH_LOOKUPS (default 20,000).
"""
from __future__ import annotations

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
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ROWS = int(os.environ.get("BENCH_ROWS", "200000"))
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "20000"))

WORDS = ("fresh whole organic milk bread rye sourdough cheese gouda apple juice orange tomato pasta penne "
         "rice basmati coffee beans tea green black chocolate dark crisps salted butter yoghurt greek oat "
         "drink water sparkling still beer wine red white soap shampoo paper kitchen roll bulb battery "
         "frozen pizza peas spinach honey jam peanut muesli flakes").split()
SIZES = ("100 g", "250 g", "500 g", "1 kg", "1 l", "0.5 l", "1.5 l", "6 pcs", "12 pcs", "200 ml")


def generate(path: Path, n: int, seed: int = 7) -> list[str]:
    """Write n rows; return the barcodes (for lookups)."""
    from station.catalog import with_check_digit
    rnd = random.Random(seed)
    codes = []
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("sku,barcode,name,price,vat_rate,category\n")
        for i in range(n):
            code = with_check_digit(f"4{(i * 7919 + 13) % 10 ** 11:011d}")
            codes.append(code)
            name = " ".join(rnd.choice(WORDS).capitalize() for _ in range(rnd.randint(2, 4)))
            name = f"{name} {rnd.choice(SIZES)} #{i}"
            f.write(f"S{i:07d},{code},{name},{rnd.randint(9, 99999) / 100:.2f},{rnd.choice((7, 19))},"
                    f"cat{i % 40}\n")
    return codes


def prepared_rows(path: Path):
    """The rows as the database gets them (what the bare executemany writes)."""
    import csv
    from station.catalog import index_words, normalize_name
    prods, codes, words = [], [], []
    now = "2026-01-01 00:00:00"
    with open(path, encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        next(r)
        for pid, (sku, code, name, price, vat, cat) in enumerate(r, 1):
            key = normalize_name(name)
            prods.append((pid, sku, name, key, int(price.replace(".", "")), int(vat) * 100, "pc", cat, 1, now))
            codes.append((code, pid))
            words.extend((w, pid) for w in index_words(key))
    return prods, codes, words


def fresh_store(home: Path):
    from station import config as configmod
    from station.context import open_station
    home.mkdir(parents=True, exist_ok=True)
    cfg = configmod.load(env={"STATION_HOME": str(home)},
                         overrides={"database.url": f"sqlite:///{home / 'store.db'}", "security.scrypt_n": 2 ** 10})
    return open_station(cfg, upgrade=True)


def bare_connect(path: Path) -> sqlite3.Connection:
    from data.db import sqlite_pragmas
    c = sqlite3.connect(str(path), isolation_level=None)
    for k, v in sqlite_pragmas().items():
        c.execute(f"PRAGMA {k} = {v}")
    return c


def bare_import(home: Path, rows) -> float:
    ctx = fresh_store(home)
    ctx.db.close()
    c = bare_connect(home / "store.db")
    c.execute("PRAGMA cache_size = -262144")   # the same cache the import uses
    prods, codes, words = rows
    t = time.perf_counter()
    c.execute("BEGIN IMMEDIATE")
    c.executemany("INSERT INTO product (id, sku, name, name_key, price, vat_rate, unit, category, active, "
                  "updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)", prods)
    c.executemany("INSERT INTO barcode (code, product_id) VALUES (?,?)", codes)
    c.executemany("INSERT INTO search_word (word, product_id) VALUES (?,?)", words)
    c.execute("COMMIT")
    dt = time.perf_counter() - t
    c.close()
    return dt


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    from station import catalog
    tmp = Path(tempfile.mkdtemp(prefix="bench_catalog_"))
    try:
        csv_path = tmp / "catalog.csv"
        t = time.perf_counter()
        codes = generate(csv_path, ROWS)
        print(f"generated {ROWS:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - t:.1f} s", flush=True)

        # raw limit first (prepared rows, bare executemany)
        rows = prepared_rows(csv_path)
        raw = bare_import(tmp / "bare", rows)
        n_words = len(rows[2])
        del rows

        ctx = fresh_store(tmp / "ours")
        t = time.perf_counter()
        rep = catalog.import_csv(ctx, csv_path)
        ours = time.perf_counter() - t
        assert not rep.errors, rep.errors[:3]
        print(f"import {ROWS:,} rows: station {ours:.1f} s ({ROWS / ours:,.0f} rows/s)   "
              f"| raw sqlite3 executemany of the same prepared rows ({ROWS:,} products, {ROWS:,} barcodes, "
              f"{n_words:,} search words): {raw:.1f} s   | ratio {ours / raw:.2f}x", flush=True)

        # lookups
        rnd = random.Random(3)
        sample = [rnd.choice(codes) for _ in range(LOOKUPS)]
        times = []
        for code in sample:
            t = time.perf_counter()
            p = catalog.lookup_barcode(code)
            times.append(time.perf_counter() - t)
            assert p is not None
        c = bare_connect(tmp / "ours" / "store.db")
        raw_times = []
        q = ("SELECT p.* FROM barcode b JOIN product p ON p.id = b.product_id WHERE b.code = ? AND p.active = 1 "
             "LIMIT 1")
        for code in sample:
            t = time.perf_counter()
            row = c.execute(q, (code,)).fetchone()
            raw_times.append(time.perf_counter() - t)
            assert row is not None
        print(f"barcode lookup at {ROWS:,}: station p50 {pct(times, .5) * 1e6:.0f} us, p99 "
              f"{pct(times, .99) * 1e6:.0f} us   | raw indexed SELECT p50 {pct(raw_times, .5) * 1e6:.0f} us, "
              f"p99 {pct(raw_times, .99) * 1e6:.0f} us", flush=True)

        # search
        for text in ("mil", "fresh milk", "choc dark 100", "sourdough rye 500 g", "zzz", "S0004711"):
            runs = []
            for _ in range(5):
                t = time.perf_counter()
                found = catalog.search(text, limit=50)
                runs.append(time.perf_counter() - t)
            print(f"search {text!r:24} -> {len(found):2d} results: station median "
                  f"{statistics.median(runs) * 1e3:6.1f} ms", flush=True)
        key = catalog.normalize_name("fresh")
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            c.execute("SELECT * FROM product WHERE name_key >= ? AND name_key < ? AND active = 1 "
                      "ORDER BY name_key LIMIT 50", (key, key + "\U0010ffff")).fetchall()
            runs.append(time.perf_counter() - t)
        print(f"raw indexed prefix SELECT (name_key, LIMIT 50): median {statistics.median(runs) * 1e3:.1f} ms")
        c.close()
        ctx.db.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
