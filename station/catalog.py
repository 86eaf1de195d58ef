"""The catalog: barcodes, lookup, search, CSV import and export.

Barcodes: EAN-13, EAN-8 and UPC-A are recognised by length (13, 8, 12, digits
only) and their GS1 check digit is validated; any other code (letters, other
lengths) is an internal code, accepted as is (1-64 printable characters, no
spaces).

Lookup is one indexed query (``barcode.code`` is the primary key). Search uses
two indexes only: ``product.name_key`` (prefix of the whole normalized name) and
the full-text index of the names' words (SQLite FTS5 ``product_fts``, PostgreSQL
a tsvector GIN index), every typed word a prefix; never ``LIKE '%x%'`` on the table.

CSV format (UTF-8, header row, comma separated)::

    sku,barcode,name,price,vat_rate,category[,unit,active]

``price`` is decimal text in major units with a dot (``2.49``); ``vat_rate`` a
percentage (``19``, ``7.5``); a product with several barcodes is several rows
with the same sku; ``unit`` (pc|kg) and ``active`` (1|0) are optional (export
writes them so a round trip is lossless); other columns are ignored.
"""
from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

from peewee import JOIN

from data import db as dbmod
from data import migrations
from data.models import Barcode, Product, utcnow
from station import journal, money
from station.errors import InvalidInput

# ---------------------------------------------------------------- barcodes --

BARCODE_LENGTHS = {13: "EAN-13", 8: "EAN-8", 12: "UPC-A"}
_INTERNAL = re.compile(r"^[!-~]{1,64}$")   # printable ASCII, no spaces
UNITS = ("pc", "kg")


def check_digit(body: str) -> int:
    """GS1 check digit for the digits before it (EAN-8/13, UPC-A, GTIN)."""
    return (10 - (3 * sum(map(int, body[-1::-2])) + sum(map(int, body[-2::-2]))) % 10) % 10


def with_check_digit(body: str) -> str:
    """``body`` + its check digit (e.g. 12 digits -> a valid EAN-13)."""
    return body + str(check_digit(body))


def barcode_kind(code: str) -> str:
    """"EAN-13", "EAN-8", "UPC-A" or "internal"."""
    if code.isdigit() and code.isascii() and len(code) in BARCODE_LENGTHS:
        return BARCODE_LENGTHS[len(code)]
    return "internal"


def validate_barcode(code: str) -> str:
    """Return the code (stripped) or raise InvalidInput with a readable reason."""
    code = (code or "").strip()
    if not code:
        raise InvalidInput("the barcode is empty")
    kind = barcode_kind(code)
    if kind != "internal":
        want = check_digit(code[:-1])
        if int(code[-1]) != want:
            raise InvalidInput(f"barcode {code}: bad {kind} check digit (expected {want})")
        return code
    if not _INTERNAL.match(code):
        raise InvalidInput(f"barcode {code!r}: an internal code is 1 to 64 printable characters without spaces")
    return code


def _code_variants(code: str) -> list[str]:
    """A UPC-A may be stored as 12 digits or scanned as a 13-digit EAN with a
    leading 0 (and the other way round)."""
    out = [code]
    if code.isdigit():
        if len(code) == 12:
            out.append("0" + code)
        elif len(code) == 13 and code[0] == "0":
            out.append(code[1:])
    return out


def lookup_barcode(code: str, *, include_inactive: bool = False) -> Product | None:
    """The product with this barcode, or None. One indexed query (barcode PK join
    product). Inactive products are not found unless ``include_inactive``.
    The SQL is written once (no query building per scan: ~7x faster)."""
    code = (code or "").strip()
    if not code:
        return None
    variants = _code_variants(code)
    p = dbmod.current().param
    sql = (f"SELECT p.* FROM barcode b JOIN product p ON p.id = b.product_id "
           f"WHERE b.code IN ({', '.join([p] * len(variants))})"
           f"{'' if include_inactive else ' AND p.active'} "
           f"ORDER BY CASE WHEN b.code = {p} THEN 0 ELSE 1 END LIMIT 1")
    for product in Product.raw(sql, *variants, code):
        return product
    return None


class Item(NamedTuple):
    """What a sale needs of a product (read as one row, no model object)."""
    id: int
    sku: str
    name: str
    price: int
    vat_rate: int
    unit: str
    active: bool
    cost: int
    on_hand: int = 0     # thousandths (station.stock)


_ITEM = "SELECT p.id, p.sku, p.name, p.price, p.vat_rate, p.unit, p.active, p.cost, p.on_hand FROM "


def _item(row) -> Item | None:
    return None if row is None else Item(*row[:6], bool(row[6]), row[7], row[8])


def item_by_code(code: str) -> Item | None:
    """The product with this barcode, active or not (the sale says when it is no
    longer sold), or None. One indexed query; a UPC-A scanned as EAN-13 (or the
    other way round) is found too."""
    code = (code or "").strip()
    if not code:
        return None
    db = dbmod.current()
    if (len(code) == 12 or (len(code) == 13 and code[0] == "0")) and code.isdigit():
        variants = _code_variants(code)        # the UPC-A and its EAN-13 form
        if len(variants) == 2:
            row = db.execute_sql(dbmod.q(_ITEM + "barcode b JOIN product p ON p.id = b.product_id "
                                         "WHERE b.code IN (?, ?) ORDER BY CASE WHEN b.code = ? THEN 0 ELSE 1 END "
                                         "LIMIT 1"), (variants[0], variants[1], code)).fetchone()
            return _item(row)
    row = db.execute_sql(dbmod.q(_ITEM + "barcode b JOIN product p ON p.id = b.product_id WHERE b.code = ?"),
                         (code,)).fetchone()
    return _item(row)


def item_by_id(product_id: int) -> Item | None:
    return _item(dbmod.current().execute_sql(dbmod.q(_ITEM + "product p WHERE p.id = ?"),
                                             (int(product_id),)).fetchone())


def item_by_sku(skus) -> Item | None:
    """The first product (by id) whose sku is one of ``skus``."""
    skus = sorted(skus)
    marks = ", ".join("?" * len(skus))
    return _item(dbmod.current().execute_sql(dbmod.q(_ITEM + f"product p WHERE p.sku IN ({marks}) ORDER BY p.id "
                                                     f"LIMIT 1"), tuple(skus)).fetchone())


def get_by_sku(sku: str) -> Product | None:
    return Product.get_or_none(Product.sku == (sku or "").strip())


def barcodes_of(product) -> list[str]:
    pid = getattr(product, "id", product)
    return [b.code for b in Barcode.select(Barcode.code).where(Barcode.product == pid).order_by(Barcode.code)]


# ------------------------------------------------------------------ search --

_NON_WORD = re.compile(r"[^0-9a-z]+")
WORD_MAX = 64
NAME_MAX = 200


def normalize_name(text: str) -> str:
    """Lower case, accents removed, anything but letters and digits a single
    space: "Crème Fraîche 30%" -> "creme fraiche 30"."""
    text = text or ""
    if text.isascii():
        t = text.lower()
    else:
        t = unicodedata.normalize("NFKD", text)
        t = "".join(c for c in t if not unicodedata.combining(c)).casefold()
        t = unicodedata.normalize("NFKD", t)   # casefold may make new decomposables (e.g. "ß" stays "ss")
        t = "".join(c for c in t if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", t).strip()[:NAME_MAX]


def _prefix_cond(field_, prefix: str):
    """Indexed prefix condition: a range on SQLite (BINARY collation), LIKE on
    PostgreSQL (served by the varchar_pattern_ops index)."""
    if dbmod.is_postgres():
        esc = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return field_ % (esc + "%")
    return (field_ >= prefix) & (field_ < prefix + "\U0010ffff")


def _word_matches(words: list[str], shorts: list[str], include_inactive: bool, limit: int) -> list[Product]:
    """Products whose name has a word starting with each of ``words`` (2+
    characters: the full-text index) and each of ``shorts`` (one character:
    checked on those rows), at most ``limit``, in the index's order."""
    conds, params = [], []
    if dbmod.is_postgres():
        sql = "SELECT p.* FROM product p WHERE to_tsvector('simple', p.name_key) @@ to_tsquery('simple', ?)"
        params.append(" & ".join(f"{w}:*" for w in words))
    else:
        sql = "SELECT p.* FROM product_fts f JOIN product p ON p.id = f.rowid WHERE product_fts MATCH ?"
        params.append(" AND ".join(f'"{w}"*' for w in words))
    for w in shorts:
        conds.append("(' ' || p.name_key) LIKE ?")
        params.append(f"% {w}%")
    if not include_inactive:
        conds.append("p.active")
    sql += "".join(f" AND {c}" for c in conds) + " LIMIT ?"
    params.append(limit)
    return list(Product.raw(dbmod.q(sql), *params))


def search(text: str, limit: int = 50, *, include_inactive: bool = False) -> list[Product]:
    """Products for what a cashier typed: an exact barcode or sku first, then
    names starting with the text, then names with a word starting with each
    typed word ("mil 1,5" finds "Fresh Milk 1.5%"), sorted by name. Every query
    is an index range or a full-text index lookup with a LIMIT, so it stays fast
    at a million products."""
    text = (text or "").strip()
    if not text or limit <= 0:
        return []
    out: list[Product] = []
    seen: set[int] = set()

    def add(products):
        for p in products:
            if p.id not in seen and len(out) < limit:
                seen.add(p.id)
                out.append(p)

    def active(q):
        return q if include_inactive else q.where(Product.active == True)  # noqa: E712

    p = lookup_barcode(text, include_inactive=include_inactive)
    if p is not None:
        add([p])
    add(active(Product.select().where(Product.sku == text)).limit(1))
    key = normalize_name(text)
    if not key or len(out) >= limit:
        return out
    add(active(Product.select().where(_prefix_cond(Product.name_key, key)))
        .order_by(Product.name_key).limit(limit))
    if len(out) >= limit:
        return out
    words = list(dict.fromkeys(w[:WORD_MAX] for w in key.split()))
    long_words = [w for w in words if len(w) >= 2]
    if not long_words:
        return out   # only single characters: the name prefix above is all an index can serve
    found = _word_matches(long_words, [w for w in words if len(w) < 2], include_inactive, 2 * limit)
    add(sorted((p for p in found if p.id not in seen), key=lambda p: (p.name_key, p.id)))
    return out


# ------------------------------------------------------------------ import --

REQUIRED = ("sku", "name", "price", "vat_rate")
COLUMNS = ("sku", "barcode", "name", "price", "vat_rate", "category", "unit", "active")
EXPORT_COLUMNS = COLUMNS
CHUNK = 10000


@dataclass
class RowError:
    line: int
    sku: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    path: str = ""
    rows: int = 0                 # data rows read
    products_added: int = 0
    products_updated: int = 0
    products_unchanged: int = 0
    barcodes_added: int = 0
    errors: list[RowError] = field(default_factory=list)
    strict: bool = False
    committed: bool = False

    @property
    def bad_rows(self) -> int:
        return len(self.errors)

    @property
    def good_rows(self) -> int:
        return self.rows - len(self.errors)

    def summary(self) -> str:
        if self.strict and self.errors:
            return (f"{self.rows} rows read, {len(self.errors)} bad: nothing imported (--strict)")
        return (f"{self.rows} rows read: {self.products_added} products added, "
                f"{self.products_updated} updated, {self.products_unchanged} unchanged, "
                f"{self.barcodes_added} barcodes added, {len(self.errors)} bad rows skipped")


@dataclass(slots=True)
class _Row:
    line: int
    sku: str
    code: str | None
    name: str
    key: str
    price: int
    vat: int
    category: str
    unit: str | None
    active: bool | None

    def fields(self):
        return (self.name, self.price, self.vat, self.category, self.unit, self.active)


_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n"}


_CTRL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PRICE = {m: re.compile(r"^([0-9]{1,13})(?:\.([0-9]{1,%d}))?$" % m) if m else re.compile(r"^([0-9]{1,13})$")
          for m in range(0, 5)}
_RATE = re.compile(r"^([0-9]{1,3})(?:\.([0-9]{1,2}))?$")


def _parse_row(line: int, rec, *, minor_units: int, max_price: int) -> _Row:
    """One CSV record (texts in COLUMNS order) -> _Row, or raise InvalidInput
    with the reason."""
    sku, code, name, ptext, vtext, category, unit, atext = [v.strip() if v else "" for v in rec]
    if not sku:
        raise InvalidInput("missing sku")
    if len(sku) > 64 or (not sku.isprintable() and _CTRL.search(sku)):
        raise InvalidInput(f"sku {sku[:20]!r}: at most 64 printable characters")
    if not name:
        raise InvalidInput(f"sku {sku}: missing name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"sku {sku}: name longer than {NAME_MAX} characters")
    if not name.isprintable() and _CTRL.search(name):   # isprintable: fast; the regex: the rule
        raise InvalidInput(f"sku {sku}: name contains a control character or line break")
    key = _NON_WORD.sub(" ", name.lower()).strip() if name.isascii() else normalize_name(name)
    if not key:
        raise InvalidInput(f"sku {sku}: name has no letters or digits")
    if not ptext:
        raise InvalidInput(f"sku {sku}: missing price")
    if (minor_units == 2 and len(ptext) >= 4 and ptext[-3] == "." and ptext.isascii()
            and ptext[:-3].isdigit() and ptext[-2:].isdigit() and len(ptext) <= 16):
        price = int(ptext[:-3]) * 100 + int(ptext[-2:])          # the usual "12.34", fast
        m = True
    else:
        m = _PRICE[minor_units].match(ptext)
    if m is None:
        if ptext.startswith("-"):
            raise InvalidInput(f"sku {sku}: negative price {ptext}")
        raise InvalidInput(f"sku {sku}: price {ptext!r} is not a price (digits and '.', at most "
                           f"{minor_units} decimals, e.g. 2.49)")
    if m is not True:
        frac = m.group(2) or ""
        price = int(m.group(1)) * 10 ** minor_units + (int(frac.ljust(minor_units, "0")) if frac else 0)
    if price > max_price:
        raise InvalidInput(f"sku {sku}: price {ptext} is above the maximum "
                           f"{money.format_amount(max_price, minor_units=minor_units)}")
    if len(vtext) <= 3 and vtext.isascii() and vtext.isdigit():
        vat = int(vtext) * 100                                     # the usual "19", fast
    else:
        vtext = vtext.rstrip("%").strip()
        if not vtext:
            raise InvalidInput(f"sku {sku}: missing vat_rate")
        m = _RATE.match(vtext)
        if m is None:
            if vtext.startswith("-"):
                raise InvalidInput(f"sku {sku}: negative vat_rate {vtext}")
            raise InvalidInput(f"sku {sku}: vat_rate {vtext!r} is not a percentage (e.g. 19 or 7.5)")
        vfrac = m.group(2) or ""
        vat = int(m.group(1)) * 100 + (int(vfrac.ljust(2, "0")) if vfrac else 0)
    if vat > 10000:
        raise InvalidInput(f"sku {sku}: vat_rate {vtext} is above 100 %")
    if len(category) > 100:
        raise InvalidInput(f"sku {sku}: category longer than 100 characters")
    unit = unit.lower() or None
    if unit is not None and unit not in UNITS:
        raise InvalidInput(f"sku {sku}: unit {unit!r} is not one of {', '.join(UNITS)}")
    active = None
    if atext:
        atext = atext.lower()
        if atext in _TRUE:
            active = True
        elif atext in _FALSE:
            active = False
        else:
            raise InvalidInput(f"sku {sku}: active {atext!r} is not 1 or 0")
    if code:
        if code.isdigit() and len(code) in BARCODE_LENGTHS and code.isascii():
            b = code.encode()
            odd, even = b[-2::-2], b[-3::-2]                       # from the right, before the check digit
            if (10 - (3 * (sum(odd) - 48 * len(odd)) + sum(even) - 48 * len(even)) % 10) % 10 != b[-1] - 48:
                raise InvalidInput(f"sku {sku}: barcode {code}: bad {BARCODE_LENGTHS[len(code)]} check digit "
                                   f"(expected {check_digit(code[:-1])})")
        else:
            try:
                code = validate_barcode(code)
            except InvalidInput as e:
                raise InvalidInput(f"sku {sku}: {e}") from None
    else:
        code = None
    return _Row(line, sku, code, name, key, price, vat, category, unit, active)


def _ph(n: int) -> str:
    p = "%s" if dbmod.is_postgres() else "?"
    return ", ".join([p] * n)


def _bulk(cur, table: str, cols: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    if dbmod.is_postgres():
        # COPY: several times faster than INSERT ... VALUES pages on PostgreSQL
        buf = io.StringIO()
        buf.writelines("\t".join(_copy_text(v) for v in row) + "\n" for row in rows)
        buf.seek(0)
        cur.copy_expert(f"COPY {table} ({', '.join(cols)}) FROM STDIN", buf)
    else:
        cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({_ph(len(cols))})", rows)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(v) -> str:
    """One value in PostgreSQL COPY text format."""
    if v is None:
        return "\\N"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, str):
        return v.translate(_COPY_ESCAPES)
    return str(v)


def _chunks(seq: list, n: int):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class _Importer:
    """The import state of one transaction. Products already seen in this import
    are remembered by sku (id + a hash of their fields), barcodes by code; what
    was in the database before is looked up per chunk (only when the catalog was
    not empty at the start)."""

    def __init__(self, ctx, report: ImportReport):
        self.ctx = ctx
        self.report = report
        self.db = dbmod.current()
        self.pg = dbmod.is_postgres()
        self.now = utcnow()
        self.now_param = self.now if self.pg else str(self.now)
        self.seen_sku: dict[str, tuple[int, int]] = {}
        self.seen_code: dict[str, int] = {}
        self.sku_of_new: dict[int, str] = {}
        self.db_had_products = Product.select().exists()
        self.category_id: CategoryIds | None = None
        self.next_id = None if self.pg else (self.db.execute_sql(
            "SELECT COALESCE(MAX(id), 0) FROM product").fetchone()[0] + 1)

    @classmethod
    def offline(cls, report: ImportReport, start_id: int, now_text: str) -> "_Importer":
        """No database: for a reader process importing into an empty catalog."""
        self = cls.__new__(cls)
        self.ctx = None
        self.report = report
        self.db = None
        self.pg = False
        self.now = None
        self.now_param = now_text
        self.seen_sku, self.seen_code, self.sku_of_new = {}, {}, {}
        self.db_had_products = False
        self.next_id = start_id
        return self

    def _new_ids(self, n: int) -> list[int]:
        if n == 0:
            return []
        if self.pg:
            cur = self.db.execute_sql(
                "SELECT nextval(pg_get_serial_sequence('product', 'id')) FROM generate_series(1, %s)", (n,))
            return [r[0] for r in cur.fetchall()]
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

    def _existing(self, rows: list[_Row]):
        """Products and barcodes of this chunk that were in the database before."""
        db_sku, db_code = {}, {}
        if not self.db_had_products:
            return db_sku, db_code
        skus = list({r.sku for r in rows if r.sku not in self.seen_sku})
        for part in _chunks(skus, 500):
            for p in Product.select().where(Product.sku.in_(part)):
                db_sku[p.sku] = p
        codes = list({r.code for r in rows if r.code and r.code not in self.seen_code})
        for part in _chunks(codes, 500):
            for code, pid, sku in (Barcode.select(Barcode.code, Barcode.product, Product.sku)
                                   .join(Product).where(Barcode.code.in_(part)).tuples()):
                db_code[code] = (pid, sku)
        return db_sku, db_code

    def _sku_name(self, pid: int) -> str:
        if pid in self.sku_of_new:
            return self.sku_of_new[pid]
        p = Product.get_or_none(Product.id == pid)
        return p.sku if p else f"#{pid}"

    def chunk(self, rows: list[_Row]) -> None:
        self.write(self.plan(rows))

    def plan(self, rows: list[_Row]):
        """Check the rows of one chunk against everything seen so far; return
        the rows to write (products, updates, barcodes)."""
        rep = self.report
        db_sku, db_code = self._existing(rows)
        new_products: list[_Row] = []
        updates: list[tuple[int, _Row]] = []
        barcodes: list[tuple[str, object]] = []   # (code, pid or _Row for new)
        pending_new: dict[str, _Row] = {}         # sku -> first row, in this chunk
        pending_code: dict[str, str] = {}         # code -> sku, new in this chunk
        for r in rows:
            fh = hash(r.fields())
            # who owns the sku?
            if r.sku in self.seen_sku:
                pid, first_fh = self.seen_sku[r.sku]
                if fh != first_fh:
                    self._bad(r, f"sku {r.sku} appears again with a different name, price, vat_rate, "
                                 f"category, unit or active flag")
                    continue
                owner_key = pid
                action = None
            elif r.sku in pending_new:
                if fh != hash(pending_new[r.sku].fields()):
                    self._bad(r, f"sku {r.sku} appears again with a different name, price, vat_rate, "
                                 f"category, unit or active flag")
                    continue
                owner_key = r.sku
                action = None
            elif r.sku in db_sku:
                owner_key = db_sku[r.sku].id
                action = "update"
            else:
                owner_key = r.sku
                action = "new"
            # who owns the barcode?
            if r.code is not None:
                if r.code in pending_code:
                    other = pending_code[r.code]
                    if other != r.sku:
                        self._bad(r, f"barcode {r.code} is already used by sku {other} (earlier in the file)")
                        continue
                    code_needed = False
                elif r.code in self.seen_code:
                    opid = self.seen_code[r.code]
                    if opid != owner_key:
                        self._bad(r, f"barcode {r.code} is already used by sku {self._sku_name(opid)}")
                        continue
                    code_needed = False
                elif r.code in db_code:
                    opid, osku = db_code[r.code]
                    if osku != r.sku:
                        self._bad(r, f"barcode {r.code} is already used by sku {osku}")
                        continue
                    code_needed = False
                else:
                    code_needed = True
            else:
                code_needed = False
            # the row is good
            if action == "new":
                pending_new[r.sku] = r
                new_products.append(r)
            elif action == "update":
                p = db_sku[r.sku]
                old = (p.name, p.price, p.vat_rate, p.category, p.unit, p.active)
                want = (r.name, r.price, r.vat, r.category, r.unit or p.unit,
                        p.active if r.active is None else r.active)
                self.seen_sku[r.sku] = (p.id, fh)
                if old != want:
                    updates.append((p.id, r))
                    rep.products_updated += 1
                else:
                    rep.products_unchanged += 1
            if code_needed:
                pending_code[r.code] = r.sku
                barcodes.append((r.code, owner_key))
        # ids for the new products, then the rows to write
        ids = self._new_ids(len(new_products))
        pid_of: dict[str, int] = {}
        prod_rows = []
        for pid, r in zip(ids, new_products):
            pid_of[r.sku] = pid
            self.seen_sku[r.sku] = (pid, hash(r.fields()))
            self.sku_of_new[pid] = r.sku
            prod_rows.append((pid, r.sku, r.name, r.key, r.price, r.vat, r.unit or "pc", r.category,
                              True if r.active is None else r.active, self.now_param))
        rep.products_added += len(prod_rows)
        update_rows = [(r.name, r.key, r.price, r.vat, r.category, r.unit, r.active, self.now_param, pid)
                       for pid, r in updates]
        bc_rows = []
        for code, owner in barcodes:
            pid = pid_of[owner] if isinstance(owner, str) else owner
            self.seen_code[code] = pid
            bc_rows.append((code, pid))
        bc_rows.sort()
        rep.barcodes_added += len(bc_rows)
        return prod_rows, update_rows, bc_rows

    def write(self, plan) -> None:
        if self.category_id is None:
            self.category_id = CategoryIds(self.db.cursor())
        write_plan(self.db.cursor(), plan, self.category_id)

    def _bad(self, r: _Row, reason: str) -> None:
        self.report.errors.append(RowError(r.line, r.sku, reason))


class CategoryIds:
    """Category name -> id for the rows one import writes: read once, a missing
    category created when first met (the product rows carry their category's id
    as they are written: no pass over the whole catalog afterwards)."""

    def __init__(self, cur):
        self.cur = cur
        cur.execute("SELECT name, id FROM category")
        self.ids: dict[str, int] = dict(cur.fetchall())

    def __call__(self, name: str) -> int | None:
        if not name:
            return None
        cid = self.ids.get(name)
        if cid is None:
            self.cur.execute(f"INSERT INTO category (name, active, created_at) VALUES ({_ph(3)}) RETURNING id",
                             (name, True, dbmod.param_time(utcnow())))
            cid = self.ids[name] = self.cur.fetchone()[0]
        return cid


def write_plan(cur, plan, category_id: CategoryIds) -> None:
    prod_rows, update_rows, bc_rows = plan
    _bulk(cur, "product", ("id", "sku", "name", "name_key", "price", "vat_rate", "unit", "category",
                           "category_id", "active", "updated_at"),
          [(*r[:8], category_id(r[7]), *r[8:]) for r in prod_rows])
    if update_rows:
        sql = (f"UPDATE product SET name = {_ph(1)}, name_key = {_ph(1)}, price = {_ph(1)}, "
               f"vat_rate = {_ph(1)}, category = {_ph(1)}, category_id = {_ph(1)}, unit = COALESCE({_ph(1)}, unit), "
               f"active = COALESCE({_ph(1)}, active), updated_at = {_ph(1)} WHERE id = {_ph(1)}")
        cur.executemany(sql, [(*r[:5], category_id(r[4]), *r[5:]) for r in update_rows])
    _bulk(cur, "barcode", ("code", "product_id"), bc_rows)


def _open_records(path: Path):
    """(raw binary file, csv DictReader over it) with a clear error for a bad file."""
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        raise InvalidInput(f"file {path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder, not a CSV file") from None
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror}") from None
    return raw



def _journal_import(ctx, actor, report, strict: bool) -> None:
    """The ``catalog.imported`` event, inside the import's transaction."""
    journal.append("catalog.imported", terminal=ctx.terminal, user=getattr(actor, "name", actor),
                   ref=Path(report.path).name if report.path else None,
                   data={"rows": report.rows, "added": report.products_added,
                         "updated": report.products_updated, "barcodes": report.barcodes_added,
                         "bad_rows": len(report.errors), "strict": strict})

def import_csv(ctx, path, *, strict: bool = False, progress: Callable[[int, int], None] | None = None,
               actor=None) -> ImportReport:
    """Import (upsert by sku) a catalog CSV in ONE transaction.

    Bad rows are reported (line number and reason) and skipped while the good
    rows are imported; with ``strict`` nothing is imported if any row is bad.
    A missing, empty, non-UTF-8 or header-less file raises InvalidInput and
    changes nothing. ``progress(done_bytes, total_bytes)`` is called per chunk.
    """
    path = Path(path)
    raw = _open_records(path)
    try:
        total = os.fstat(raw.fileno()).st_size
        if total == 0:
            raise InvalidInput(f"{path} is empty: expected a header row {','.join(COLUMNS[:6])}")
        report = ImportReport(path=str(path), strict=strict)
        if total >= PARALLEL_BYTES:
            if _import_fresh_parallel(ctx, path, total, report, strict=strict, progress=progress,
                                      actor=actor):
                if progress:
                    progress(total, total)
                return report
        def on_chunk():
            if progress:
                try:
                    progress(raw.tell(), total)
                except (OSError, ValueError):
                    pass

        records = _csv_records(path, raw)
        try:
            import_records(ctx, records, report, strict=strict, on_chunk=on_chunk, actor=actor)
        finally:
            records.close()
        if progress:
            progress(total, total)
        return report
    finally:
        raw.close()


class _Rollback(Exception):
    pass


def _csv_records(path: Path, raw) -> Iterator[tuple[int, tuple]]:
    """(line number, texts in COLUMNS order) of each data row of the open file."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
        while header is not None and not any(h.strip() for h in header):
            header = next(reader, None)
        if header is None:
            raise InvalidInput(f"{path} is empty: expected a header row {','.join(COLUMNS[:6])}")
        names = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise InvalidInput(f"{path}: the header row lacks column(s) {', '.join(missing)} "
                               f"(expected {','.join(COLUMNS[:6])})")
        idx = [names.index(c) if c in names else None for c in COLUMNS]
        simple = idx[:6] == list(range(6)) and idx[6:] == [None, None]
        n = 0
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            n += 1
            if simple and len(row) == 6:
                yield reader.line_num, (*row, "", "")
            else:
                yield reader.line_num, tuple(row[i] if i is not None and i < len(row) else ""
                                             for i in idx)
        if n == 0:
            raise InvalidInput(f"{path} has a header but no product rows")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text (near line {reader.line_num + 1}): "
                           f"save it as UTF-8 and import again") from None
    except csv.Error as e:
        raise InvalidInput(f"{path} is not a readable CSV file (line {reader.line_num}: {e})") from None
    finally:
        text.detach()


# ------------------------------------------- big fresh imports: 2 processes --

#: files at least this big, into an EMPTY catalog, are read and checked in a
#: second process while this one only writes (2 cores: the Python work and the
#: database work overlap instead of adding up)
PARALLEL_BYTES = 8 * 1024 * 1024


def _offline_reader(path: str, minor: int, max_price: int, start_id: int, now_text: str, chunk: int,
                    conn) -> None:
    """The second process: read, check and plan every chunk (no database: the
    catalog was empty, so everything to know was seen in this file); send each
    chunk's rows to write, then the report."""
    import traceback
    global CHUNK
    CHUNK = chunk
    try:
        report = ImportReport()
        imp = _Importer.offline(report, start_id, now_text)
        with open(path, "rb") as raw:
            for batch, errors, n in _parse_batches(_csv_records(Path(path), raw), minor, max_price):
                report.rows += n
                report.errors.extend(errors)
                try:
                    done = raw.tell()
                except (OSError, ValueError):   # the reader finished (and closed the file)
                    done = os.path.getsize(path)
                conn.send(("rows", imp.plan(batch) if batch else None, done))
        conn.send(("done", report))
    except InvalidInput as e:
        conn.send(("invalid", str(e)))
    except BaseException:  # noqa: BLE001 - reported by the parent
        conn.send(("crash", traceback.format_exc()))
    finally:
        conn.close()


def _import_fresh_parallel(ctx, path: Path, total: int, report: ImportReport, *, strict: bool,
                           progress, actor) -> bool:
    """Import a big file into an empty catalog with a reader process. Returns
    False (nothing done) when the catalog is not empty."""
    import multiprocessing as mp
    if "fork" not in mp.get_all_start_methods():
        return False
    db = dbmod.current()
    sqlite = dbmod.is_sqlite(db)
    cfg = ctx.config
    if sqlite:
        db.execute_sql("PRAGMA cache_size = -262144")
    try:
        with dbmod.write():
            if Product.select().exists():
                return False
            start_id = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM product").fetchone()[0] + 1
            index = _SearchIndex(db, start_id, True)
            # fork: the reader starts at once and re-imports nothing (spawn would
            # re-run a caller's unguarded __main__); it never touches the database
            mpc = mp.get_context("fork")
            parent, child = mpc.Pipe(duplex=False)
            proc = mpc.Process(target=_offline_reader, name="catalog-reader", daemon=True, args=(
                str(path), cfg.store.minor_units, cfg.limits.max_amount, start_id, str(utcnow()), CHUNK, child))
            proc.start()
            child.close()
            cur = db.cursor()
            category_id = CategoryIds(db.cursor())
            try:
                while True:
                    try:
                        kind, *payload = parent.recv()
                    except EOFError:
                        raise RuntimeError("the catalog reader process stopped unexpectedly") from None
                    if kind == "rows":
                        plan, done = payload
                        if plan is not None:
                            write_plan(cur, plan, category_id)
                        if progress:
                            progress(min(done, total), total)
                    elif kind == "done":
                        got = payload[0]
                        break
                    elif kind == "invalid":
                        raise InvalidInput(payload[0])
                    else:
                        raise RuntimeError(f"catalog reader failed:\n{payload[0]}")
            finally:
                parent.close()
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
            for f in ("rows", "products_added", "products_updated", "products_unchanged", "barcodes_added"):
                setattr(report, f, getattr(got, f))
            report.errors = sorted(got.errors, key=lambda e: e.line)
            if strict and report.errors:
                raise _Rollback()
            index.finish()
            if not sqlite:      # the ids were given by the reader: the sequence goes on after them
                db.execute_sql("SELECT setval(pg_get_serial_sequence('product', 'id'), "
                               "(SELECT COALESCE(MAX(id), 1) FROM product))")
            _journal_import(ctx, actor, report, strict)
        report.committed = True
        if not sqlite:
            db.execute_sql("ANALYZE product, barcode")
    except _Rollback:
        report.committed = False
    finally:
        if sqlite:
            db.execute_sql(f"PRAGMA cache_size = {dbmod.sqlite_pragmas()['cache_size']}")
    return True


def _parse_batches(records, minor: int, max_price: int):
    """(rows, errors, records read) per CHUNK records."""
    batch: list[_Row] = []
    errors: list[RowError] = []
    n = 0
    for line, rec in records:
        n += 1
        try:
            batch.append(_parse_row(line, rec, minor_units=minor, max_price=max_price))
        except InvalidInput as e:
            errors.append(RowError(line, (rec[0] or "").strip(), str(e)))
        if n >= CHUNK:
            yield batch, errors, n
            batch, errors, n = [], [], 0
    if n:
        yield batch, errors, n


#: secondary indexes a load into an EMPTY PostgreSQL catalog builds after the
#: rows are in (one sort each instead of a billion random index inserts)
_PG_LOAD_INDEXES = [
    ("product_name_key", "CREATE INDEX product_name_key ON product (name_key)"),
    ("product_name_key_prefix", "CREATE INDEX product_name_key_prefix ON product (name_key varchar_pattern_ops)"),
    ("product_name_words", migrations.PRODUCT_WORDS_PG.replace(" IF NOT EXISTS", "")),
    ("barcode_product_id", "CREATE INDEX barcode_product_id ON barcode (product_id)"),
]


class _SearchIndex:
    """The search indexes during an import (inside its transaction): new products
    are indexed in bulk at the end instead of row by row. SQLite: the FTS insert
    trigger is dropped and the new ids indexed at once (the whole index rebuilt
    when the catalog was empty). PostgreSQL, empty catalog: the secondary indexes
    are dropped and built after the load."""

    def __init__(self, db, first_new_id: int | None, empty: bool):
        self.db, self.first, self.empty = db, first_new_id, empty
        self.pg = dbmod.is_postgres(db)
        self.dropped: list[str] = []
        if not self.pg:
            db.execute_sql("DROP TRIGGER IF EXISTS product_fts_insert")
        elif empty:
            have = {r[0] for r in db.execute_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename IN ('product', 'barcode')").fetchall()}
            for name, _ddl in _PG_LOAD_INDEXES:
                if name in have:
                    db.execute_sql(f"DROP INDEX {name}")
                    self.dropped.append(name)

    def finish(self) -> None:
        db = self.db
        if not self.pg:
            if self.empty:
                db.execute_sql("INSERT INTO product_fts(product_fts) VALUES ('rebuild')")
            elif self.first is not None:
                db.execute_sql("INSERT INTO product_fts(rowid, name_key) SELECT id, name_key FROM product "
                               "WHERE id >= ?", (self.first,))
            db.execute_sql(migrations.PRODUCT_FTS_INSERT)
            return
        for name, ddl in _PG_LOAD_INDEXES:
            if name in self.dropped:
                db.execute_sql(ddl)


def import_records(ctx, records: Iterable[tuple[int, tuple]], report: ImportReport | None = None, *,
                   strict: bool = False, on_chunk: Callable[[], None] | None = None, actor=None
                   ) -> ImportReport:
    """Import ``(line, texts in COLUMNS order)`` records (the CSV core; the demo
    and the benchmarks feed it directly)."""
    report = report or ImportReport(strict=strict)
    cfg = ctx.config
    minor = cfg.store.minor_units
    max_price = cfg.limits.max_amount
    db = dbmod.current()
    if dbmod.is_sqlite(db):
        db.execute_sql("PRAGMA cache_size = -262144")   # 256 MiB while importing
    try:
        with dbmod.write():
            imp = _Importer(ctx, report)
            index = _SearchIndex(db, imp.next_id, not imp.db_had_products)
            for batch, errors, n in _parse_batches(records, minor, max_price):
                report.rows += n
                report.errors.extend(errors)
                if batch:
                    imp.chunk(batch)
                if on_chunk:
                    on_chunk()
            report.errors.sort(key=lambda e: e.line)
            if strict and report.errors:
                raise _Rollback()
            index.finish()
            _journal_import(ctx, actor, report, strict)
        report.committed = True
        if dbmod.is_postgres(db):   # fresh statistics, or the planner picks seq scans for search
            db.execute_sql("ANALYZE product, barcode")
    except _Rollback:
        report.committed = False
    finally:
        if dbmod.is_sqlite(db):
            db.execute_sql(f"PRAGMA cache_size = {dbmod.sqlite_pragmas()['cache_size']}")
    return report


# ------------------------------------------------------------------ export --

def _rate_text(bp: int) -> str:
    whole, frac = divmod(bp, 100)
    return str(whole) if frac == 0 else f"{whole}.{frac:02d}".rstrip("0")


def export_rows() -> Iterator[list[str]]:
    """The catalog as CSV rows (header first), one row per barcode, sorted by sku."""
    yield list(EXPORT_COLUMNS)
    q = (Product.select(Product.sku, Barcode.code, Product.name, Product.price, Product.vat_rate,
                        Product.category, Product.unit, Product.active)
         .join(Barcode, join_type=JOIN.LEFT_OUTER, on=(Barcode.product == Product.id))
         .order_by(Product.sku, Barcode.code).tuples())
    for sku, code, name, price, vat, category, unit, active in q.iterator():
        yield [sku, code or "", name, price, vat, category, unit, active]


def export_csv(ctx, dest) -> int:
    """Write the catalog in the import format to a path or a text stream.
    Returns the number of data rows written."""
    minor = ctx.config.store.minor_units
    own = not hasattr(dest, "write")
    if own:
        dest = Path(dest)
        if dest.parent and not dest.parent.exists():
            raise InvalidInput(f"folder {dest.parent} does not exist")
        tmp = dest.with_name(dest.name + ".part")
        f = open(tmp, "w", encoding="utf-8", newline="")
    else:
        f = dest
    n = 0
    try:
        w = csv.writer(f, lineterminator="\n")
        rows = export_rows()
        w.writerow(next(rows))
        for sku, code, name, price, vat, category, unit, active in rows:
            w.writerow([sku, code, name, money.format_amount(price, minor_units=minor),
                        _rate_text(vat), category, unit, "1" if active else "0"])
            n += 1
        if own:
            f.close()
            os.replace(tmp, dest)   # never a half-written export
    except BaseException:
        if own:
            f.close()
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise
    return n
