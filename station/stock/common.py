"""What every stock service shares: SQL through the open connection, input
parsing with one clear message, quantities as text."""
from __future__ import annotations

from data import db as dbmod
from station import money
from station.errors import InvalidInput


def run(sql: str, params=()):
    return dbmod.current().execute_sql(dbmod.q(sql), params)


def qty_text(qty: int, unit: str = "pc") -> str:
    """Thousandths as a person reads them: 3, 0.350 kg, -2."""
    if unit == "kg":
        sign = "-" if qty < 0 else ""
        whole, frac = divmod(abs(qty), 1000)
        return f"{sign}{whole}.{frac:03d} kg"
    if qty % 1000 == 0:
        return str(qty // 1000)
    return f"{qty / 1000:.3f}"


def fmt(ctx, amount: int) -> str:
    s = ctx.config.store
    return money.format_amount(amount, minor_units=s.minor_units, currency=s.currency_symbol)


def parse_money(ctx, text, what: str = "amount") -> int:
    """What somebody typed as a price or cost -> minor units (0 or more, at most
    limits.max_amount), or InvalidInput with one sentence."""
    if not isinstance(text, str):
        raise InvalidInput(f"type the {what}")
    s = text.strip()
    low = s.lower()
    if s.startswith("-"):
        raise InvalidInput(f"the {what} may not be negative")
    if s and ("e" in low or "inf" in low or "nan" in low) and any(ch.isdigit() for ch in low):
        raise InvalidInput(f"'{s}' is not {'an' if what[0] in 'aeiou' else 'a'} {what}: type digits only, e.g. 12.50")
    cfg = ctx.config
    try:
        return money.parse_amount(s, minor_units=cfg.store.minor_units, decimal_sep=cfg.store.decimal_separator,
                                  maximum=cfg.limits.max_amount, allow_zero=True)
    except money.AmountError as e:
        raise InvalidInput(str(e).replace("amount", what)) from None


def check_money(ctx, value, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"the {what} must be an amount in minor units")
    if value < 0:
        raise InvalidInput(f"the {what} may not be negative")
    if value > ctx.config.limits.max_amount:
        raise InvalidInput(f"the {what} {fmt(ctx, value)} is more than the largest amount allowed "
                           f"({fmt(ctx, ctx.config.limits.max_amount)})")
    return value


def parse_qty(text, unit: str = "pc", *, signed: bool = False) -> int:
    """``3``, ``0.350``, ``0,350`` (and ``-2`` when ``signed``) -> thousandths."""
    s = (text or "").strip() if isinstance(text, str) else ""
    neg = signed and s.startswith("-")
    if neg:
        s = s[1:].strip()
    try:
        q = money.parse_amount(s, minor_units=3, decimal_sep="either", maximum=10 ** 12)
    except money.AmountError as e:
        raise InvalidInput(str(e).replace("amount", "quantity")) from None
    check_qty(q, unit)
    return -q if neg else q


def check_qty(q, unit: str, *, signed: bool = False) -> int:
    if not isinstance(q, int) or isinstance(q, bool):
        raise InvalidInput("the quantity must be a number")
    if q == 0 or (q < 0 and not signed):
        raise InvalidInput("the quantity must be more than zero")
    if unit == "pc" and q % 1000:
        raise InvalidInput("this item is counted by the piece: give a whole quantity")
    if abs(q) > 10 ** 12:
        raise InvalidInput("the quantity is too large")
    return q
