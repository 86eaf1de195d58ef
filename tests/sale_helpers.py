"""Shared helpers for the sale service tests (products, an open drawer)."""
from __future__ import annotations

from data import db as dbmod
from data.models import Barcode, Product
from station import sale


def ean13(body12: str) -> str:
    return body12 + str(sale.gtin_check_digit(body12))


MILK = ean13("400638133393")      # 4006381333931
BREAD = ean13("590123412345")
WINE = ean13("800100200300")
APPLES_SKU = "12345"


def make_products():
    """milk 1.19 (7 %), bread 2.49 (7 %), wine 8.99 (19 %), apples per kg 2.99 (7 %),
    cheese sku 00777 (19 %) for price-embedded labels."""
    with dbmod.write():
        out = {}
        for key, sku, name, price, rate, unit, code in [
            ("milk", "M1", "Milk 1l", 119, 700, "pc", MILK),
            ("bread", "B1", "Bread", 249, 700, "pc", BREAD),
            ("wine", "W1", "Red wine", 899, 1900, "pc", WINE),
            ("apples", APPLES_SKU, "Apples", 299, 700, "kg", None),
            ("cheese", "00777", "Cheese piece", 0, 1900, "pc", None),
        ]:
            p = Product.create(sku=sku, name=name, name_key=name.lower(), price=price, vat_rate=rate, unit=unit)
            if code:
                Barcode.create(code=code, product=p)
            out[key] = p
        return out


def open_drawer(ctx, user, counts=None):
    """Open this terminal's drawer session (float 100.00) through the drawer service."""
    from station import drawer
    return drawer.open_session(ctx, user, counts or {5000: 2}, kick=False)
