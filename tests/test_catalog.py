"""Catalog: check digits, indexed lookup and search, CSV import (every kind of
bad row, --strict, bad files), export and the lossless round trip. Import and
lookup run on SQLite and PostgreSQL (the ``ctx`` fixture)."""
from __future__ import annotations

import io
import json
import logging

import pytest

from data import db as dbmod
from data.models import Barcode, Journal, Product
from station import catalog
from station.errors import InvalidInput
from tests.conftest import make_config

HEADER = "sku,barcode,name,price,vat_rate,category\n"


def write(tmp_path, text: str, name="c.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return p


# ------------------------------------------------------------ barcodes ---

@pytest.mark.parametrize("code,kind", [
    ("4006381333931", "EAN-13"), ("96385074", "EAN-8"), ("036000291452", "UPC-A"),
    ("5901234123457", "EAN-13"), ("ABC-123", "internal"), ("12345", "internal"),
    ("40063813339310", "internal"),
])
def test_valid_codes(code, kind):
    assert catalog.validate_barcode(code) == code
    assert catalog.barcode_kind(code) == kind


@pytest.mark.parametrize("code", ["4006381333932", "96385075", "036000291453", "5901234123450"])
def test_bad_check_digits(code):
    with pytest.raises(InvalidInput, match="check digit"):
        catalog.validate_barcode(code)


@pytest.mark.parametrize("code", ["", "   ", "has space", "x" * 65, "tab\tcode"])
def test_bad_internal_codes(code):
    with pytest.raises(InvalidInput):
        catalog.validate_barcode(code)


def test_check_digit_computation_matches_gs1_examples():
    assert catalog.with_check_digit("400638133393") == "4006381333931"
    assert catalog.with_check_digit("9638507") == "96385074"
    assert catalog.with_check_digit("03600029145") == "036000291452"


def test_normalize_name():
    assert catalog.normalize_name("  Crème  Fraîche 30% ") == "creme fraiche 30"
    assert catalog.normalize_name("Straße/Weiß-Bier") == "strasse weiss bier"
    assert catalog.normalize_name("!!!") == ""


# -------------------------------------------------------------- import ---

def rows_csv(*rows, header=HEADER):
    return header + "".join(r + "\n" for r in rows)


def test_import_good_rows_and_lookup(ctx, tmp_path):
    p = write(tmp_path, rows_csv(
        "A1,4006381333931,Whole Milk 1 l,1.19,7,Dairy",
        "A1,96385074,Whole Milk 1 l,1.19,7,Dairy",        # second barcode, same sku
        "A2,036000291452,Crème Fraîche 200 g,0.99,7.5,Dairy",
        "A3,,Gift Bag,0.10,19,",                           # no barcode
        "A4,INT-42,Loose Nuts,12.34,19,Bulk",
    ))
    rep = catalog.import_csv(ctx, p)
    assert rep.errors == [] and rep.committed
    assert (rep.rows, rep.products_added, rep.barcodes_added) == (5, 4, 4)
    milk = catalog.lookup_barcode("4006381333931")
    assert milk.sku == "A1" and milk.price == 119 and milk.vat_rate == 700
    assert catalog.lookup_barcode("96385074").id == milk.id
    cf = catalog.lookup_barcode("036000291452")
    assert cf.vat_rate == 750 and cf.name == "Crème Fraîche 200 g" and cf.name_key == "creme fraiche 200 g"
    # a UPC-A scanned as a 13-digit EAN with a leading 0 finds the same product
    assert catalog.lookup_barcode("0036000291452").id == cf.id
    assert catalog.lookup_barcode("INT-42").price == 1234
    assert catalog.lookup_barcode("0000000000000") is None
    ev = Journal.select().where(Journal.kind == "catalog.imported").get()
    assert json.loads(ev.data)["added"] == 4 and json.loads(ev.data)["bad_rows"] == 0


BAD_ROWS = [
    ("B1,4006381333932,Thing,1.00,19,x", "bad EAN-13 check digit"),
    ("B1,96385075,Thing,1.00,19,x", "bad EAN-8 check digit"),
    ("B1,036000291453,Thing,1.00,19,x", "bad UPC-A check digit"),
    ("B1,,Thing,-1.00,19,x", "negative price"),
    ("B1,,Thing,abc,19,x", "is not a price"),
    ("B1,,Thing,1.999,19,x", "is not a price"),
    ("B1,,Thing,1e9,19,x", "is not a price"),
    ("B1,,Thing,1000000000,19,x", "above the maximum"),
    ("B1,,Thing,,19,x", "missing price"),
    ("B1,,,1.00,19,x", "missing name"),
    (",,Thing,1.00,19,x", "missing sku"),
    ("B1,,Thing,1.00,,x", "missing vat_rate"),
    ("B1,,Thing,1.00,101,x", "above 100"),
    ("B1,,Thing,1.00,-7,x", "negative vat_rate"),
    ("B1,,Thing,1.00,seven,x", "not a percentage"),
    ("B1,has space,Thing,1.00,19,x", "internal code"),
]


@pytest.mark.parametrize("row,reason", BAD_ROWS, ids=[r for _, r in BAD_ROWS])
def test_each_bad_row_is_reported_with_line_and_reason(sqlite_ctx, tmp_path, row, reason):
    p = write(tmp_path, rows_csv("G1,4006381333931,Good,1.00,19,x", row, "G2,,Good too,2.00,7,x"))
    rep = catalog.import_csv(sqlite_ctx, p)
    assert len(rep.errors) == 1, rep.errors
    assert rep.errors[0].line == 3
    assert reason in rep.errors[0].reason
    # the good rows are imported, the bad one is not
    assert sorted(p.sku for p in Product.select()) == ["G1", "G2"]
    assert rep.products_added == 2 and rep.committed


def test_bad_rows_on_both_backends_and_strict(ctx, tmp_path):
    p = write(tmp_path, rows_csv(
        "G1,4006381333931,Good,1.00,19,x",
        "B1,4006381333932,Bad digit,1.00,19,x",
        "B2,,Too dear,1000000000.00,19,x",
        "G2,4006381333931,Steals the barcode,1.00,19,x",
        "G3,,Good three,3.00,7,x",
    ))
    rep = catalog.import_csv(ctx, p, strict=True)
    assert [e.line for e in rep.errors] == [3, 4, 5]
    assert not rep.committed
    assert Product.select().count() == 0 and Barcode.select().count() == 0
    assert not Journal.select().where(Journal.kind == "catalog.imported").exists()
    assert "nothing imported" in rep.summary()
    rep = catalog.import_csv(ctx, p)
    assert [e.line for e in rep.errors] == [3, 4, 5]
    assert "already used by sku G1" in rep.errors[2].reason
    assert sorted(p.sku for p in Product.select()) == ["G1", "G3"]


def test_duplicate_barcode_across_skus_in_db_and_in_file(ctx, tmp_path):
    catalog.import_csv(ctx, write(tmp_path, rows_csv("S1,4006381333931,First,1.00,19,x"), "a.csv"))
    rep = catalog.import_csv(ctx, write(tmp_path, rows_csv(
        "S2,4006381333931,Second,1.00,19,x",          # used by S1 in the database
        "S3,96385074,Third,1.00,19,x",
        "S4,96385074,Fourth,1.00,19,x",               # used by S3 earlier in this file
        "S1,4006381333931,First,1.00,19,x",           # same sku, same code: fine
    ), "b.csv"))
    assert [(e.line, e.reason) for e in rep.errors] == [
        (2, "barcode 4006381333931 is already used by sku S1"),
        (4, "barcode 96385074 is already used by sku S3 (earlier in the file)"),
    ]
    assert catalog.lookup_barcode("4006381333931").sku == "S1"
    assert catalog.lookup_barcode("96385074").sku == "S3"
    assert not Product.select().where(Product.sku.in_(["S2", "S4"])).exists()


def test_duplicate_barcode_across_chunks(sqlite_ctx, tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "CHUNK", 2)
    rep = catalog.import_csv(sqlite_ctx, write(tmp_path, rows_csv(
        "S1,4006381333931,One,1.00,19,x", "S2,,Two,1.00,19,x",
        "S3,,Three,1.00,19,x", "S4,4006381333931,Four,1.00,19,x",
        "S1,4006381333931,One,1.00,19,x")))
    assert [(e.line, e.reason) for e in rep.errors] == [(5, "barcode 4006381333931 is already used by sku S1")]
    assert Product.select().count() == 3


def test_repeated_sku_with_other_details_is_a_bad_row(sqlite_ctx, tmp_path):
    rep = catalog.import_csv(sqlite_ctx, write(tmp_path, rows_csv(
        "S1,4006381333931,One,1.00,19,x", "S1,96385074,One,2.00,19,x")))
    assert len(rep.errors) == 1 and "appears again with a different" in rep.errors[0].reason
    assert catalog.lookup_barcode("96385074") is None


def test_upsert_by_sku_updates_and_refreshes_search(ctx, tmp_path):
    catalog.import_csv(ctx, write(tmp_path, rows_csv("S1,4006381333931,Apple Juice 1 l,1.49,19,Drinks"), "a.csv"))
    pid = catalog.get_by_sku("S1").id
    assert [p.sku for p in catalog.search("juice")] == ["S1"]
    rep = catalog.import_csv(ctx, write(tmp_path, rows_csv(
        "S1,96385074,Orange Nectar 1 l,1.59,7,Drinks", "S2,,New Thing,0.50,19,x"), "b.csv"))
    assert (rep.products_added, rep.products_updated, rep.barcodes_added) == (1, 1, 1)
    p = catalog.get_by_sku("S1")
    assert (p.id, p.name, p.price, p.vat_rate) == (pid, "Orange Nectar 1 l", 159, 700)
    assert sorted(catalog.barcodes_of(p)) == ["4006381333931", "96385074"]   # barcodes are added, not replaced
    assert catalog.search("juice") == []
    assert [x.sku for x in catalog.search("nectar")] == ["S1"]
    rep = catalog.import_csv(ctx, write(tmp_path, rows_csv("S1,96385074,Orange Nectar 1 l,1.59,7,Drinks"), "c.csv"))
    assert (rep.products_updated, rep.products_unchanged) == (0, 1)


def test_extra_columns_ignored_and_optional_columns(sqlite_ctx, tmp_path):
    p = write(tmp_path, "Name,SKU,note,price,vat_rate,barcode,unit,active\n"
                        "Bananas,B1,ripe,1.69,7,2300001000008,kg,1\n"
                        "Old Stock,B2,gone,1.00,19,,pc,0\n")
    rep = catalog.import_csv(sqlite_ctx, p)
    assert rep.errors == []
    b = catalog.get_by_sku("B1")
    assert (b.unit, b.category, b.active) == ("kg", "", True)
    assert catalog.get_by_sku("B2").active is False
    assert catalog.search("old") == []               # inactive: not offered to the cashier
    assert [x.sku for x in catalog.search("old", include_inactive=True)] == ["B2"]


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"\n\n", "is empty"),
    (HEADER.encode(), "no product rows"),
    (b"sku,name\nA,B\n", "lacks column(s) price, vat_rate"),
    (HEADER.encode() + "A1,,Caf\xe9,1.00,19,x\n".encode("latin-1"), "not UTF-8"),
    (b"\xff\xfe" + "sku,barcode\n".encode("utf-16-le"), "not UTF-8"),
])
def test_bad_files_are_one_clear_error_and_change_nothing(ctx, tmp_path, content, message):
    catalog.import_csv(ctx, write(tmp_path, rows_csv("K1,,Kept,1.00,19,x"), "keep.csv"))
    before = (Product.select().count(), Journal.select().count())
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        catalog.import_csv(ctx, write(tmp_path, content))
    assert (Product.select().count(), Journal.select().count()) == before


def test_non_utf8_late_in_a_big_file_rolls_everything_back(sqlite_ctx, tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "CHUNK", 10)
    good = "".join(f"S{i},,Item {i},1.00,19,x\n" for i in range(100))
    p = write(tmp_path, (HEADER + good).encode() + "Z1,,Caf\xe9,1.00,19,x\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        catalog.import_csv(sqlite_ctx, p)
    assert Product.select().count() == 0


def test_missing_file(sqlite_ctx, tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        catalog.import_csv(sqlite_ctx, tmp_path / "nope.csv")


def test_progress_callback(sqlite_ctx, tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "CHUNK", 10)
    p = write(tmp_path, HEADER + "".join(f"S{i},,Item {i},1.00,19,x\n" for i in range(55)))
    seen = []
    catalog.import_csv(sqlite_ctx, p, progress=lambda done, total: seen.append((done, total)))
    assert len(seen) >= 5 and seen[-1][0] == seen[-1][1] == p.stat().st_size
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


# -------------------------------------------------------- export, round ---

def test_export_import_round_trip_is_lossless(ctx, tmp_path):
    from station import demo
    from station.context import open_station
    rows = demo.demo_rows() + [
        ("Q1", "", 'Quote "this", and, commas, back\\slash', "0.00", "7.5", "Odd; category", "pc", "1"),
        ("Q2", "INT-9", "Ünïcödé Ťëxt €", "9999.99", "0", "", "kg", "0"),
    ]
    rep = catalog.import_records(ctx, ((i + 2, r) for i, r in enumerate(rows)))
    assert rep.errors == []
    first = io.StringIO()
    n = catalog.export_csv(ctx, first)
    assert n == len(rows)
    path = write(tmp_path, first.getvalue(), "export.csv")
    # into a second, fresh store (SQLite), and out again: byte for byte the same
    home2 = tmp_path / "home2"
    home2.mkdir()
    ctx2 = open_station(make_config(home2, f"sqlite:///{tmp_path / 'second.db'}"), upgrade=True)
    rep2 = catalog.import_csv(ctx2, path)
    assert rep2.errors == [] and rep2.products_added == len({r[0] for r in rows})
    second = io.StringIO()
    catalog.export_csv(ctx2, second)
    assert second.getvalue() == first.getvalue()
    ctx2.db.close()


def test_export_to_file_is_atomic(sqlite_ctx, tmp_path):
    catalog.import_csv(sqlite_ctx, write(tmp_path, rows_csv("S1,4006381333931,One,1.00,19,x")))
    out = tmp_path / "out.csv"
    assert catalog.export_csv(sqlite_ctx, out) == 1
    assert out.read_text().splitlines() == ["sku,barcode,name,price,vat_rate,category,unit,active",
                                            "S1,4006381333931,One,1.00,19,x,pc,1"]
    assert not (tmp_path / "out.csv.part").exists()
    with pytest.raises(InvalidInput):
        catalog.export_csv(sqlite_ctx, tmp_path / "no" / "such" / "dir.csv")


# -------------------------------------------------------------- search ---

@pytest.fixture
def shop(ctx):
    rows = [
        ("P1", "4006381333931", "Fresh Milk 1.5% 1 l", "1.09", "7", "Dairy", "pc", "1"),
        ("P2", "96385074", "Whole Milk 3.5% 1 l", "1.19", "7", "Dairy", "pc", "1"),
        ("P3", "", "Milk Chocolate 100 g", "1.19", "7", "Sweets", "pc", "1"),
        ("P4", "", "Oat Drink Barista", "1.99", "7", "Dairy", "pc", "1"),
        ("P5", "", "Milky Way Bar", "0.69", "19", "Sweets", "pc", "0"),
        ("P6", "", "Crème Fraîche", "1.19", "7", "Dairy", "pc", "1"),
    ]
    catalog.import_records(ctx, ((i + 2, r) for i, r in enumerate(rows)))
    return ctx


def skus(found):
    return [p.sku for p in found]


def test_search_by_name_prefix_word_prefix_sku_and_barcode(shop):
    assert skus(catalog.search("milk")) == ["P3", "P1", "P2"]        # name starts first, then any word
    assert skus(catalog.search("MIL")) == ["P3", "P1", "P2"]
    assert skus(catalog.search("mil 3.5")) == ["P2"]                 # every typed word must match
    assert skus(catalog.search("whole mil")) == ["P2"]
    assert skus(catalog.search("milk 1 l")) == ["P3", "P1", "P2"][1:]              # digits/letters filter rows
    assert skus(catalog.search("1 l")) == []                          # nothing indexable to start from
    assert skus(catalog.search("barista")) == ["P4"]
    assert skus(catalog.search("creme")) == ["P6"]                   # accents do not matter
    assert skus(catalog.search("fraîche")) == ["P6"]
    assert skus(catalog.search("P4")) == ["P4"]                      # exact sku
    assert skus(catalog.search("96385074")) == ["P2"]                # exact barcode
    assert catalog.search("zzz") == [] and catalog.search("") == [] and catalog.search("%") == []
    assert skus(catalog.search("milk", limit=2)) == ["P3", "P1"]
    assert "P5" not in skus(catalog.search("milky"))                 # inactive


def _plans(ctx, fn):
    """Run fn() and EXPLAIN QUERY PLAN every SELECT it ran (SQLite)."""
    seen = []

    class H(logging.Handler):
        def emit(self, record):
            if isinstance(record.msg, tuple):
                seen.append(record.msg)

    logger = logging.getLogger("peewee")
    h = H()
    old = logger.level
    logger.addHandler(h)
    logger.setLevel(logging.DEBUG)
    try:
        fn()
    finally:
        logger.removeHandler(h)
        logger.setLevel(old)
    plans = []
    for sql, params in seen:
        if sql.lstrip().upper().startswith("SELECT"):
            rows = ctx.db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            plans.append((sql, [r[-1] for r in rows]))
    return plans


def test_lookup_is_one_indexed_query(shop, backend):
    if backend == "postgres":
        seen = []

        class H(logging.Handler):
            def emit(self, record):
                seen.append(record.msg)
        lg = logging.getLogger("peewee")
        h = H()
        lg.addHandler(h)
        lg.setLevel(logging.DEBUG)
        try:
            assert catalog.lookup_barcode("96385074").sku == "P2"
        finally:
            lg.removeHandler(h)
            lg.setLevel(logging.NOTSET)
        assert len(seen) == 1
        return
    plans = _plans(shop, lambda: catalog.lookup_barcode("96385074"))
    assert len(plans) == 1
    text = " | ".join(plans[0][1])
    assert "USING INDEX sqlite_autoindex_barcode_1 (code=?)" in text and "SCAN" not in text, text


def test_search_queries_never_scan_a_table(shop, backend):
    """Every step is an index: a b-tree range, a primary key, or the full-text
    index (FTS5 reports its index lookups as a virtual table 'SCAN ... INDEX')."""
    if backend == "postgres":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL uses varchar_pattern_ops and GIN indexes (bench)")
    for text in ("milk", "mil 3.5", "whole milk fresh", "P4", "96385074", "choc 100 g"):
        for sql, plan in _plans(shop, lambda: catalog.search(text)):
            scans = [step for step in plan if step.startswith("SCAN") and "VIRTUAL TABLE INDEX" not in step]
            assert not scans, (text, sql, plan)


def _word_hits(words: str) -> list[int]:
    return sorted(p.id for p in catalog._word_matches(words.split(), [], True, 100))


def test_the_full_text_index_follows_every_change(shop, tmp_path):
    """New, renamed and imported products are found by any word of their name,
    a renamed product no longer by its old words."""
    p1 = catalog.get_by_sku("P1")
    assert p1.id in _word_hits("fresh") and p1.id in _word_hits("milk")
    with dbmod.write():
        Product.update(name="Farm Butter", name_key="farm butter").where(Product.id == p1.id).execute()
        q = Product.create(sku="P9", name="Sparkling Water", name_key="sparkling water", price=50, vat_rate=700)
    assert p1.id not in _word_hits("fresh") and _word_hits("butter") == [p1.id]
    assert _word_hits("spark wat") == [q.id]
    catalog.import_csv(shop, write(tmp_path, rows_csv("P10,,Still Water 1 l,0.40,7,x",
                                                      "P9,,Sparkling Water Big,0.60,7,x"), "w.csv"))
    assert _word_hits("water") == sorted([q.id, catalog.get_by_sku("P10").id])
    assert _word_hits("big") == [q.id]


@pytest.fixture
def fresh_urls(backend, tmp_path):
    """Three fresh, empty stores of the backend."""
    from tests.conftest import create_pg_database, drop_pg_database
    if backend == "sqlite":
        yield [f"sqlite:///{tmp_path / f'{n}.db'}" for n in ("one", "two", "strict")]
        return
    urls = [create_pg_database() for _ in range(3)]
    try:
        yield urls
    finally:
        for u in urls:
            drop_pg_database(u)


def test_big_fresh_import_with_a_reader_process_gives_the_same_result(tmp_path, station_home, monkeypatch,
                                                                      fresh_urls):
    """Big files into an empty catalog are read and checked in a second process;
    the result (rows, bad rows, ids, search index, journal) is the same as in one
    process, and a bad file still changes nothing."""
    from station.context import open_station
    monkeypatch.setattr(catalog, "CHUNK", 7)
    body = "".join(f"S{i},{catalog.with_check_digit(f'40{i:010d}')},Item {i} Fresh,1.{i % 100:02d},19,x\n"
                   for i in range(60))
    body += ("B1,4000000000017,Bad digit,1.00,19,x\n"          # wrong check digit
             "B2,4000000000000,Dup code,1.00,19,x\n"           # barcode of S0
             f"S3,{catalog.with_check_digit('400000000003')},Item 3 Fresh,1.03,19,x\n"   # same again: fine
             "S4,,Item 4 Fresh,9.99,19,x\n")                   # same sku, other price
    p = write(tmp_path, HEADER + body)
    results = []
    for parallel in (False, True):
        monkeypatch.setattr(catalog, "PARALLEL_BYTES", 0 if parallel else 10 ** 12)
        ctx = open_station(make_config(station_home, fresh_urls[int(parallel)]), upgrade=True)
        seen = []
        rep = catalog.import_csv(ctx, p, progress=lambda d, t: seen.append(d))
        export = io.StringIO()
        catalog.export_csv(ctx, export)
        words = [_word_hits(w) for w in ("item", "fresh", "it 5")]
        ids = sorted((x.id, x.sku) for x in Product.select())
        ev = json.loads(Journal.select().where(Journal.kind == "catalog.imported").get().data)
        results.append(((rep.rows, rep.products_added, rep.barcodes_added),
                        [(e.line, e.reason) for e in rep.errors], export.getvalue(), words, ids, ev))
        assert seen and seen[-1] == p.stat().st_size
        with dbmod.write():     # the next id follows the imported ones
            assert Product.create(sku="N1", name="Next", name_key="next", price=1, vat_rate=0).id == ids[-1][0] + 1
        ctx.db.close()
    assert results[0] == results[1]
    assert [line for line, _r in results[1][1]] == [62, 63, 65]
    # strict and a non-UTF-8 tail: nothing is written through the reader process either
    monkeypatch.setattr(catalog, "PARALLEL_BYTES", 0)
    ctx = open_station(make_config(station_home, fresh_urls[2]), upgrade=True)
    rep = catalog.import_csv(ctx, p, strict=True)
    assert not rep.committed and len(rep.errors) == 3 and Product.select().count() == 0
    bad = write(tmp_path, (HEADER + body).encode() + "Z1,,Caf\xe9,1.00,19,x\n".encode("latin-1"), "bad.csv")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        catalog.import_csv(ctx, bad)
    assert Product.select().count() == 0
    ctx.db.close()
