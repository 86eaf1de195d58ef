"""Products managed at the till: find, add (a cashier with a manager's approval),
edit, barcodes, prices and their history, categories.

* A barcode of 8, 12 or 13 digits must carry its right GS1 check digit; a code
  is never on two products (``barcode.code`` is the primary key; a UPC-A and
  its 13-digit form with a leading 0 count as one code).
* A price change is journalled with the old and the new price and kept in
  ``price_history``; it applies from the next scan: lines already on an open
  ticket keep the price they were rung up at (the line stores it).
* A bulk change of a category's prices by percent needs a second person's
  approval (``product.bulk_price``); each new price is rounded by the one rule
  (``money.round_div``) and recorded in the history like any other change.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import peewee

from data import db as dbmod
from data.models import Barcode, Category, Product, utcnow
from data.stock import PriceHistory
from station import authority, catalog, journal
from station.errors import Conflict, InvalidInput, NotFound
from station.stock.common import check_money, fmt, parse_money, run


@dataclass
class ProductView:
    id: int
    sku: str
    name: str
    price: int
    vat_rate: int
    unit: str
    category: str
    category_id: int | None
    cost: int
    last_cost: int
    on_hand: int
    reorder_point: int | None
    active: bool
    barcodes: list[str]


@dataclass
class CategoryView:
    id: int
    name: str
    parent: str | None
    active: bool
    vat_rate: int | None
    products: int


@dataclass
class PriceChange:
    created_at: object
    old_price: int | None
    new_price: int
    user: str
    reason: str


_VIEW = ("SELECT id, sku, name, price, vat_rate, unit, category, category_id, cost, last_cost, on_hand, "
         "reorder_point, active FROM product WHERE id = ?")


def view(product_id: int) -> ProductView:
    r = run(_VIEW, (product_id,)).fetchone()
    if r is None:
        raise NotFound(f"product {product_id} does not exist")
    codes = [c for (c,) in run("SELECT code FROM barcode WHERE product_id = ? ORDER BY code", (product_id,))]
    return ProductView(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or "", r[7], r[8], r[9], r[10], r[11], bool(r[12]),
                       codes)


def find_one(ctx, key: str) -> ProductView:
    """A product by barcode (any form a scanner gives), sku, or ``#id``."""
    key = (key or "").strip()
    if not key:
        raise InvalidInput("scan a barcode or type a sku")
    if key.startswith("#") and key[1:].isdigit():
        return view(int(key[1:]))
    item = catalog.item_by_code(key)
    if item is None:
        p = Product.select(Product.id).where(Product.sku == key).first()
        if p is None:
            raise NotFound(f"no product has the barcode or sku {key}")
        return view(p.id)
    return view(item.id)


def find(ctx, text: str, limit: int = 50) -> list[ProductView]:
    """Products for a scan, a sku or words of the name (inactive ones too)."""
    try:
        return [find_one(ctx, text)]
    except (NotFound, InvalidInput):
        pass
    return [view(p.id) for p in catalog.search(text, limit, include_inactive=True)]


# ---------------------------------------------------------- validation ---

def parse_money_text(ctx, text, what: str = "price") -> int:
    """A price or cost as typed (``2.49``) -> minor units, or one clear InvalidInput."""
    return parse_money(ctx, text, what)


def _name(name) -> str:
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name:
        raise InvalidInput("the product needs a name")
    if len(name) > 200:
        raise InvalidInput("the name is longer than 200 characters")
    return name


def _vat(vat_rate) -> int:
    if not isinstance(vat_rate, int) or isinstance(vat_rate, bool) or not 0 <= vat_rate <= 10000:
        raise InvalidInput("the VAT rate is between 0 and 100 %")
    return vat_rate


def _unit(unit) -> str:
    if unit not in catalog.UNITS:
        raise InvalidInput(f"the unit is one of {', '.join(catalog.UNITS)}")
    return unit


def _reorder(value, unit: str):
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput("the reorder point is a quantity of zero or more")
    if unit == "pc" and value % 1000:
        raise InvalidInput("this item is counted by the piece: give a whole reorder point")
    return value


def check_code(code: str) -> str:
    """A barcode to add: valid (check digit), not yet on any product."""
    code = catalog.validate_barcode(code)
    owner = catalog.item_by_code(code)
    if owner is not None:
        raise Conflict(f"barcode {code} is already on {owner.name} (sku {owner.sku})")
    return code


def category_named(name: str | None, *, create: bool = False) -> Category | None:
    if name is None or not name.strip():
        return None
    name = name.strip()
    c = Category.get_or_none(Category.name == name)
    if c is None:
        if not create:
            raise NotFound(f"there is no category {name}")
        if len(name) > 100:
            raise InvalidInput("a category name is 100 characters at most")
        c = Category.create(name=name)
    return c


def _history(product_id: int, old, new: int, user, reason: str, approval=None, now=None) -> None:
    PriceHistory.insert(product=product_id, old_price=old, new_price=new, user=user.id if user else None,
                        reason=reason, approval=approval.id if approval else None,
                        created_at=now or utcnow()).execute()


# ------------------------------------------------------------------ add ---

def add_product(ctx, user, *, name: str, price: int, vat_rate: int | None = None, category: str | None = None,
                barcode: str | None = None, sku: str | None = None, unit: str = "pc", cost: int = 0,
                reorder_point: int | None = None, approval=None) -> ProductView:
    """A new product (from the sale screen's unknown barcode, the CLI, the stock
    screen). A cashier needs a manager's approval for exactly this barcode (or
    sku) and price. The VAT rate defaults to the category's."""
    name = _name(name)
    check_money(ctx, price, "price")
    check_money(ctx, cost, "cost")
    unit = _unit(unit)
    reorder_point = _reorder(reorder_point, unit)
    code = catalog.validate_barcode(barcode) if barcode else None
    sku = (sku or "").strip() or None
    if sku is not None and (len(sku) > 64 or " " in sku):
        raise InvalidInput("a sku is 1 to 64 characters without spaces")

    def tx():
        a = authority.require(ctx, user, "product.add", amount=price, ref=code or sku or name, approval=approval)
        cat = category_named(category, create=True) if category else None
        rate = vat_rate if vat_rate is not None else (cat.vat_rate if cat is not None else None)
        if rate is None:
            raise InvalidInput("give the VAT rate (the category has no default rate)")
        _vat(rate)
        if code is not None:
            check_code(code)
        the_sku = sku or code
        if the_sku is not None and Product.select().where(Product.sku == the_sku).exists():
            raise Conflict(f"sku {the_sku} is already used")
        now = utcnow()
        p = Product.create(sku=the_sku or f"new-{uuid.uuid4().hex}", name=name,
                           name_key=catalog.normalize_name(name), price=price, vat_rate=rate, unit=unit,
                           category=cat.name if cat else "", category_ref=cat.id if cat else None, cost=cost,
                           reorder_point=reorder_point, active=True, updated_at=now)
        if the_sku is None:
            Product.update(sku=f"P{p.id}").where(Product.id == p.id).execute()
        if code is not None:
            Barcode.insert(code=code, product=p.id).execute()
        _history(p.id, None, price, user, "added", a, now)
        journal.append("product.added", terminal=ctx.terminal, user=user, amount=price, ref=code or the_sku,
                       data={"product": p.id, "name": name, "vat_rate": rate, "unit": unit, "cost": cost,
                             "category": cat.name if cat else "", "approval": a.id if a else None})
        return p.id
    return view(_write(tx))


def _write(tx):
    """Run ``tx`` in one durable write transaction; a barcode or sku taken
    meanwhile by another terminal is a Conflict."""
    def attempt():
        with dbmod.write():
            return tx()
    try:
        return dbmod.retrying(attempt)
    except peewee.IntegrityError as e:
        raise Conflict(f"not saved: {dbmod.first_line(e)} (changed meanwhile at another terminal)") from None


# ----------------------------------------------------------------- edit ---

_KEEP = object()


def edit_product(ctx, user, product_id: int, *, name=None, price=None, vat_rate=None, category=_KEEP, cost=None,
                 unit=None, reorder_point=_KEEP, active=None) -> ProductView:
    """Change what is given (``category=None`` / ``reorder_point=None`` clear
    them). A price change is journalled old -> new and kept in the history."""
    changes: dict = {}
    if name is not None:
        changes["name"] = _name(name)
    if price is not None:
        changes["price"] = check_money(ctx, price, "price")
    if vat_rate is not None:
        changes["vat_rate"] = _vat(vat_rate)
    if cost is not None:
        changes["cost"] = check_money(ctx, cost, "cost")
    if unit is not None:
        changes["unit"] = _unit(unit)
    if active is not None:
        if not isinstance(active, bool):
            raise InvalidInput("active is yes or no")
        changes["active"] = active

    def tx():
        authority.require(ctx, user, "product.edit", ref=product_id)
        p = dbmod.locked(Product.select().where(Product.id == product_id)).first()
        if p is None:
            raise NotFound(f"product {product_id} does not exist")
        ch = dict(changes)
        if "unit" in ch and ch["unit"] != p.unit and p.on_hand != 0:
            raise Conflict(f"{p.name} has stock on hand: the unit can change only at zero stock")
        if reorder_point is not _KEEP:
            ch["reorder_point"] = _reorder(reorder_point, ch.get("unit", p.unit))
        if category is not _KEEP:
            cat = category_named(category, create=True) if category else None
            ch["category"] = cat.name if cat else ""
            ch["category_ref"] = cat.id if cat else None
        old = {k: getattr(p, "category_id" if k == "category_ref" else k) for k in ch}
        ch = {k: v for k, v in ch.items() if old[k] != v}
        if not ch:
            return p.id
        if "name" in ch:
            ch["name_key"] = catalog.normalize_name(ch["name"])
        now = utcnow()
        Product.update(updated_at=now, **ch).where(Product.id == p.id).execute()
        if "price" in ch:
            _history(p.id, p.price, ch["price"], user, "edit", None, now)
            journal.append("product.price_changed", terminal=ctx.terminal, user=user, amount=ch["price"],
                           ref=p.sku, data={"product": p.id, "old_price": p.price, "new_price": ch["price"]})
        rest = {k: v for k, v in ch.items() if k not in ("price", "name_key", "category_ref")}
        if rest:
            journal.append("product.edited", terminal=ctx.terminal, user=user, ref=p.sku,
                           data={"product": p.id, "changes": {k: [old[k], v] for k, v in rest.items()}})
        return p.id
    return view(_write(tx))


def add_barcode(ctx, user, product_id: int, code: str) -> ProductView:
    code = catalog.validate_barcode(code)

    def tx():
        authority.require(ctx, user, "product.edit", ref=product_id)
        p = Product.get_or_none(Product.id == product_id)
        if p is None:
            raise NotFound(f"product {product_id} does not exist")
        check_code(code)
        Barcode.insert(code=code, product=p.id).execute()
        journal.append("product.barcode_added", terminal=ctx.terminal, user=user, ref=code,
                       data={"product": p.id, "sku": p.sku})
        return p.id
    return view(_write(tx))


def remove_barcode(ctx, user, product_id: int, code: str) -> ProductView:
    code = (code or "").strip()

    def tx():
        authority.require(ctx, user, "product.edit", ref=product_id)
        n = Barcode.delete().where((Barcode.code == code) & (Barcode.product == product_id)).execute()
        if n != 1:
            raise NotFound(f"barcode {code} is not on product {product_id}")
        journal.append("product.barcode_removed", terminal=ctx.terminal, user=user, ref=code,
                       data={"product": product_id})
        return product_id
    return view(_write(tx))


def price_history(ctx, product_id: int, limit: int = 200) -> list[PriceChange]:
    rows = run("SELECT h.created_at, h.old_price, h.new_price, COALESCE(u.name, ''), h.reason FROM price_history h "
               "LEFT JOIN \"user\" u ON u.id = h.user_id WHERE h.product_id = ? ORDER BY h.id DESC LIMIT ?",
               (product_id, limit)).fetchall()
    return [PriceChange(*r) for r in rows]


# ----------------------------------------------------------- bulk price ---

#: a bulk change is between -90 % and +1000 % (basis points)
BULK_RANGE = (-9000, 100000)
_NEW_PRICE = "((price * (10000 + ?) + 5000) / 10000)"


def bulk_price(ctx, user, category: str, basis_points: int, approval=None) -> int:
    """Every product of ``category`` (and of its sub-categories) priced
    ``basis_points`` up (or down, negative); needs approval for exactly this
    category and percent. Returns how many prices changed."""
    if not isinstance(basis_points, int) or isinstance(basis_points, bool) or basis_points == 0 \
            or not BULK_RANGE[0] <= basis_points <= BULK_RANGE[1]:
        raise InvalidInput("the change is a percentage between -90 % and +1000 %, not 0")
    mx = ctx.config.limits.max_amount

    def tx():
        cat = category_named(category)
        a = authority.require(ctx, user, "product.bulk_price", amount=basis_points, ref=f"category {cat.id}",
                              approval=approval)
        where = "category_id IN (SELECT id FROM category WHERE id = ? OR parent_id = ?)"
        over = run(f"SELECT name FROM product WHERE {where} AND {_NEW_PRICE} > ? LIMIT 1",
                   (cat.id, cat.id, basis_points, mx)).fetchone()
        if over:
            raise InvalidInput(f"{over[0]} would cost more than the largest amount allowed ({fmt(ctx, mx)}): "
                               f"nothing changed")
        now = dbmod.param_time(utcnow())
        run(f"INSERT INTO price_history (product_id, old_price, new_price, user_id, reason, approval_id, created_at) "
            f"SELECT id, price, {_NEW_PRICE}, ?, 'bulk', ?, ? FROM product WHERE {where} AND {_NEW_PRICE} <> price "
            f"ORDER BY id", (basis_points, user.id, a.id if a else None, now, cat.id, cat.id, basis_points))
        n = run(f"UPDATE product SET price = {_NEW_PRICE}, updated_at = ? WHERE {where} AND {_NEW_PRICE} <> price",
                (basis_points, now, cat.id, cat.id, basis_points)).rowcount
        journal.append("product.bulk_price", terminal=ctx.terminal, user=user, amount=basis_points,
                       ref=cat.name, data={"category": cat.id, "basis_points": basis_points, "products": n,
                                           "approval": a.id if a else None})
        return n
    return _write(tx)


# ------------------------------------------------------------ categories ---

def categories(ctx) -> list[CategoryView]:
    rows = run("SELECT c.id, c.name, p.name, c.active, c.vat_rate, (SELECT COUNT(*) FROM product x WHERE "
               "x.category_id = c.id) FROM category c LEFT JOIN category p ON p.id = c.parent_id "
               "ORDER BY COALESCE(p.name, c.name), c.parent_id IS NOT NULL, c.name").fetchall()
    return [CategoryView(r[0], r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]


def add_category(ctx, user, name: str, *, parent: str | None = None, vat_rate: int | None = None) -> CategoryView:
    """A category; ``parent`` groups it (one level: the parent has no parent)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("a category name is 1 to 100 characters")
    if vat_rate is not None:
        _vat(vat_rate)

    def tx():
        authority.require(ctx, user, "product.edit")
        par = category_named(parent) if parent else None
        if par is not None and par.parent_id is not None:
            raise InvalidInput(f"{par.name} is itself in {Category.get_by_id(par.parent_id).name}: "
                               f"categories group one level deep")
        if Category.select().where(Category.name == name).exists():
            raise Conflict(f"category {name} already exists")
        c = Category.create(name=name, parent=par.id if par else None, vat_rate=vat_rate)
        journal.append("category.added", terminal=ctx.terminal, user=user, ref=name,
                       data={"category": c.id, "parent": par.name if par else None, "vat_rate": vat_rate})
        return c.id
    cid = _write(tx)
    return next(c for c in categories(ctx) if c.id == cid)


def percent_text(bp: int) -> str:
    sign = "-" if bp < 0 else "+"
    whole, frac = divmod(abs(bp), 100)
    return f"{sign}{whole}" + (f".{frac:02d}".rstrip("0") if frac else "") + " %"


