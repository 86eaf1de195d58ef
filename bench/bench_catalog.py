"""Catalog at scale, each figure beside the raw limit measured in the same run.

1. Import of N generated CSV rows (``station.catalog.import_csv``: read, parse,
   validate, upsert, barcodes, the search index, journal, with progress) vs a
   bare import of the same file doing the same work by hand: csv reading, the same
   checks (sku, name, price, VAT, GTIN check digit, duplicate sku/barcode), the
   normalized name, each product's category id (the categories inserted too),
   then ``executemany`` (SQLite) / ``COPY`` (PostgreSQL) of the
   same rows into the same schema, the search index built after the rows as the
   import builds it (SQLite: FTS5 rebuild; PostgreSQL: the secondary indexes
   dropped before the COPY and created after). Left out of the bare: the journal
   entry and the error report texts.
2. Barcode lookup (``catalog.lookup_barcode``) vs a bare indexed SELECT.
3. Name search (``catalog.search``) of 1 to 4 words vs a bare indexed query
   (a name prefix range; for several words the FTS5 index, built by the bench
   when the schema has none).

N = 1,000,000 with STATION_BENCH_FULL=1, else 200,000 (STATION_BENCH_CATALOG_ROWS=N).
"""
from __future__ import annotations

import csv
import io
import random
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import FULL, config, pct, pg_connect, pg_create, pg_drop, size, target

NAME = "catalog"
ROWS = size(1_000_000, 200_000, "STATION_BENCH_CATALOG_ROWS")
LOOKUPS = 20_000

WORDS = ("fresh whole organic milk bread rye sourdough cheese gouda apple juice orange tomato pasta penne "
         "rice basmati coffee beans tea green black chocolate dark crisps salted butter yoghurt greek oat "
         "drink water sparkling still beer wine red white soap shampoo paper kitchen roll bulb battery "
         "frozen pizza peas spinach honey jam peanut muesli flakes").split()
SIZES = ("100 g", "250 g", "500 g", "1 kg", "1 l", "0.5 l", "1.5 l", "6 pcs", "12 pcs", "200 ml")
SEARCHES = ("mil", "fresh milk", "choc dark 100", "sourdough rye 500 g", "green tea organic 250",
            "red wine dark chocolate", "zzz", "S0004711")


def check_digit(body: str) -> int:
    return (10 - (3 * sum(map(int, body[-1::-2])) + sum(map(int, body[-2::-2]))) % 10) % 10


def generate(path: Path, n: int, seed: int = 7) -> list[str]:
    """Write n rows; return the barcodes (for lookups)."""
    rnd = random.Random(seed)
    codes = []
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("sku,barcode,name,price,vat_rate,category\n")
        for i in range(n):
            body = f"4{(i * 7919 + 13) % 10 ** 11:011d}"
            code = body + str(check_digit(body))
            codes.append(code)
            name = " ".join(rnd.choice(WORDS).capitalize() for _ in range(rnd.randint(2, 4)))
            f.write(f"S{i:07d},{code},{name} {rnd.choice(SIZES)} #{i},{rnd.randint(9, 99999) / 100:.2f},"
                    f"{rnd.choice((7, 19))},cat{i % 40}\n")
    return codes


_NON_WORD = re.compile(r"[^0-9a-z]+")


def bare_rows(path: Path):
    """Read, parse and check the file by hand: (products, barcodes, categories),
    each product with its category's id (categories numbered as first met)."""
    prods, codes, cats = [], [], {}
    seen_sku, seen_code = set(), set()
    now = "2026-01-01 00:00:00"
    with open(path, encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        next(r)
        pid = 0
        for sku, code, name, price, vat, cat in r:
            sku, code, name = sku.strip(), code.strip(), name.strip()
            if not sku or sku in seen_sku or not name or len(name) > 200 or not name.isprintable():
                continue
            whole, _, frac = price.partition(".")
            if not (whole.isdigit() and frac.isdigit() and len(frac) == 2):
                continue
            if not vat.isdigit() or int(vat) > 100:
                continue
            if code:
                if not (code.isdigit() and len(code) == 13) or check_digit(code[:-1]) != int(code[-1]) \
                        or code in seen_code:
                    continue
                seen_code.add(code)
            seen_sku.add(sku)
            pid += 1
            key = _NON_WORD.sub(" ", name.lower()).strip()
            cat = cat.strip()
            cid = (cats.setdefault(cat, len(cats) + 1)) if cat else None
            prods.append((pid, sku, name, key, int(whole) * 100 + int(frac), int(vat) * 100, "pc", cat, cid, True,
                          now))
            if code:
                codes.append((code, pid))
    return prods, codes, [(cid, name, True, now) for name, cid in cats.items()]


def _search_rows(prods):
    """The rows of the old one-row-per-word search table (where the schema has it)."""
    from station import catalog
    index_words = getattr(catalog, "index_words", None)
    return [(w, p[0]) for p in prods for w in index_words(p[3])] if index_words else []


def _tables(con, pg: bool) -> set[str]:
    if pg:
        cur = con.cursor()
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in cur.fetchall()}
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def fresh_store(home: Path, url: str):
    from station.context import open_station
    home.mkdir(parents=True, exist_ok=True)
    return open_station(config(home, url), upgrade=True)


def bare_import_sqlite(home: Path, csv_path: Path) -> float:
    ctx = fresh_store(home, f"sqlite:///{home / 'store.db'}")
    ctx.db.close()
    c = sqlite3.connect(str(home / "store.db"), isolation_level=None)
    c.execute("PRAGMA journal_mode=wal")
    c.execute("PRAGMA synchronous=full")
    c.execute("PRAGMA cache_size=-262144")
    tables = _tables(c, False)
    t = time.perf_counter()
    prods, codes, cats = bare_rows(csv_path)
    c.execute("BEGIN IMMEDIATE")
    c.executemany("INSERT INTO category (id, name, active, created_at) VALUES (?,?,?,?)", cats)
    fts_trigger = None
    if "product_fts" in tables:    # the full-text index is built in bulk after the rows
        fts_trigger = c.execute("SELECT sql FROM sqlite_master WHERE name = 'product_fts_insert'").fetchone()[0]
        c.execute("DROP TRIGGER product_fts_insert")
    c.executemany("INSERT INTO product (id, sku, name, name_key, price, vat_rate, unit, category, category_id, "
                  "active, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", prods)
    c.executemany("INSERT INTO barcode (code, product_id) VALUES (?,?)", codes)
    if "search_word" in tables:
        c.executemany("INSERT INTO search_word (word, product_id) VALUES (?,?)", _search_rows(prods))
    if fts_trigger:
        c.execute("INSERT INTO product_fts(product_fts) VALUES ('rebuild')")
        c.execute(fts_trigger)
    c.execute("COMMIT")
    dt = time.perf_counter() - t
    c.close()
    return dt


def _copy(cur, table, cols, rows):
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join("t" if v is True else "\\N" if v is None else str(v) for v in row) + "\n")
    buf.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(cols)}) FROM STDIN", buf)


def bare_import_pg(url: str, home: Path, csv_path: Path) -> float:
    ctx = fresh_store(home, url)
    ctx.db.close()
    con = pg_connect(url)
    tables = _tables(con, True)
    cur = con.cursor()
    t = time.perf_counter()
    prods, codes, cats = bare_rows(csv_path)
    cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('product', 'barcode') "
                "AND indexname NOT LIKE '%pkey' AND indexdef NOT LIKE 'CREATE UNIQUE%'")
    secondary = cur.fetchall()           # built after the load, as the import does
    for name, _ddl in secondary:
        cur.execute(f"DROP INDEX {name}")
    _copy(cur, "category", ("id", "name", "active", "created_at"), cats)
    _copy(cur, "product", ("id", "sku", "name", "name_key", "price", "vat_rate", "unit", "category", "category_id",
                           "active", "updated_at"), prods)
    _copy(cur, "barcode", ("code", "product_id"), codes)
    if "search_word" in tables:
        _copy(cur, "search_word", ("word", "product_id"), _search_rows(prods))
    for _name, ddl in secondary:
        cur.execute(ddl)
    con.commit()
    dt = time.perf_counter() - t
    con.close()
    return dt


def ours_import(home: Path, url: str, csv_path: Path) -> tuple[float, int]:
    from station import catalog
    ctx = fresh_store(home, url)
    calls = []
    t = time.perf_counter()
    rep = catalog.import_csv(ctx, csv_path, progress=lambda done, total: calls.append(done))
    dt = time.perf_counter() - t
    assert rep.committed and not rep.errors, rep.errors[:3]
    return dt, len(calls)


def search_figures(ctx, path: Path) -> None:
    from station import catalog
    c = sqlite3.connect(str(path))
    has_fts = "product_fts" in _tables(c, False)
    if not has_fts:   # the raw limit needs an FTS5 index: the bench builds one
        t = time.perf_counter()
        c.execute("CREATE VIRTUAL TABLE bench_fts USING fts5(name_key, content='product', content_rowid='id', "
                  "prefix='2 3')")
        c.execute("INSERT INTO bench_fts(bench_fts) VALUES ('rebuild')")
        c.commit()
        print(f"  (built an FTS5 index for the raw limit in {time.perf_counter() - t:.0f} s)")
    fts = "product_fts" if has_fts else "bench_fts"
    for text in SEARCHES:
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            found = catalog.search(text, limit=50)
            runs.append(time.perf_counter() - t)
        key = _NON_WORD.sub(" ", text.lower()).strip()
        raw = []
        for _ in range(5):
            t = time.perf_counter()
            words = key.split()
            if len(words) == 1:
                c.execute("SELECT * FROM product WHERE name_key >= ? AND name_key < ? AND active ORDER BY name_key "
                          "LIMIT 50", (key, key + "\uffff")).fetchall()
            else:
                q = " AND ".join(f'"{w}"*' for w in words)
                c.execute(f"SELECT p.* FROM {fts} f JOIN product p ON p.id = f.rowid WHERE {fts} MATCH ? "
                          f"AND p.active ORDER BY p.name_key LIMIT 50", (q,)).fetchall()
            raw.append(time.perf_counter() - t)
        target(NAME, f"search {text!r} ({len(found)} found, median)", statistics.median(runs),
               statistics.median(raw), raw_label="bare")
    c.close()


def main() -> None:
    from station import catalog
    print(f"bench_catalog: {ROWS:,} rows" + ("" if FULL else "; STATION_BENCH_FULL=1 for 1,000,000"))
    tmp = Path(tempfile.mkdtemp(prefix="bench_catalog_"))
    try:
        csv_path = tmp / "catalog.csv"
        t = time.perf_counter()
        codes = generate(csv_path, ROWS)
        print(f"  (generated {ROWS:,} rows, {csv_path.stat().st_size / 1e6:.0f} MB, in {time.perf_counter() - t:.0f} s)",
              flush=True)
        raw = bare_import_sqlite(tmp / "bare", csv_path)
        ours, calls = ours_import(tmp / "ours", f"sqlite:///{tmp / 'ours' / 'store.db'}", csv_path)
        target(NAME, f"SQLite import {ROWS:,} rows ({calls} progress calls)", ours, raw, max_ratio=1.3, unit="s",
               raw_label="bare")

        rnd = random.Random(3)
        sample = [rnd.choice(codes) for _ in range(LOOKUPS)]
        times = []
        for code in sample:
            t = time.perf_counter()
            p = catalog.lookup_barcode(code)
            times.append(time.perf_counter() - t)
            assert p is not None
        c = sqlite3.connect(str(tmp / "ours" / "store.db"))
        raw_times = []
        q = "SELECT p.* FROM barcode b JOIN product p ON p.id = b.product_id WHERE b.code = ? AND p.active LIMIT 1"
        for code in sample:
            t = time.perf_counter()
            c.execute(q, (code,)).fetchone()
            raw_times.append(time.perf_counter() - t)
        c.close()
        target(NAME, "barcode lookup p50", pct(times, 50), pct(raw_times, 50), raw_label="bare")
        search_figures(None, tmp / "ours" / "store.db")
        from data import db as dbmod
        dbmod.proxy.obj.close()

        url = pg_create()
        if url:
            try:
                raw = bare_import_pg(url, tmp / "pgbare", csv_path)
            finally:
                pg_drop(url)
            url = pg_create()
            try:
                ours, calls = ours_import(tmp / "pgours", url, csv_path)
                dbmod.proxy.obj.close()
            finally:
                pg_drop(url)
            target(NAME, f"PostgreSQL import {ROWS:,} rows ({calls} progress calls)", ours, raw, max_ratio=1.3,
                   unit="s", raw_label="COPY")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
