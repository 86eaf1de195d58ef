"""Money: integer minor units end to end. ONE rounding rule, here.

ROUNDING_RULE = "half-up" (commercial rounding: halves go away from zero). It is
used for tax amounts, percentage discounts, weight x price, and cash rounding to
the configured step (e.g. 0.05). No other module rounds money.
"""
from __future__ import annotations

import re

ROUNDING_RULE = "half-up (commercial: halves away from zero)"


def round_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded by ROUNDING_RULE, in integers only."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return sign * q


def round_to_step(amount: int, step: int) -> int:
    """Round an amount to a multiple of ``step`` minor units (cash rounding)."""
    if step <= 1:
        return amount
    return round_div(amount, step) * step


def percent_of(amount: int, basis_points: int) -> int:
    """``amount`` x ``basis_points``/10000, rounded by the rule."""
    return round_div(amount * basis_points, 10000)


def tax_included(gross: int, rate_bp: int) -> int:
    """Tax contained in a tax-inclusive gross amount."""
    return gross - round_div(gross * 10000, 10000 + rate_bp)


def tax_on_net(net: int, rate_bp: int) -> int:
    return round_div(net * rate_bp, 10000)


def qty_times_price(qty_milli: int, unit_price: int) -> int:
    """Quantity in thousandths x unit price."""
    return round_div(qty_milli * unit_price, 1000)


def share_upto(amount: int, upto: int, whole: int) -> int:
    """The part of ``amount`` that belongs to the first ``upto`` of ``whole``
    (``upto``/``whole`` of it, rounded by the rule). Parts taken as differences of
    running shares, ``share_upto(a, k2, w) - share_upto(a, k1, w)``, always add up
    to ``amount`` exactly, whatever the order and size of the steps."""
    if whole <= 0:
        raise ValueError("whole must be positive")
    return round_div(amount * upto, whole)


def allocate(amount: int, weights: list[int]) -> list[int]:
    """Split ``amount`` over ``weights`` (>= 0, not all 0) in proportion: each part
    is the difference of running shares (:func:`share_upto`), so the parts add up
    to ``amount`` exactly and the same weights always give the same parts."""
    whole = sum(weights)
    if any(w < 0 for w in weights) or whole <= 0:
        raise ValueError("weights must be >= 0 and not all 0")
    out, prev, run = [], 0, 0
    for w in weights:
        run += w
        upto = share_upto(amount, run, whole)
        out.append(upto - prev)
        prev = upto
    return out


_AMOUNT = re.compile(r"^([0-9]{1,15})(?:[.,]([0-9]+))?$")   # ASCII digits only (not ١٢٣)


class AmountError(ValueError):
    pass


def parse_amount(text: str, *, minor_units: int = 2, decimal_sep: str = ".",
                 maximum: int | None = None, allow_zero: bool = False) -> int:
    """Parse what a person typed into minor units, or raise AmountError with a
    readable sentence. Accepts only digits and the configured decimal separator
    (``decimal_sep`` may be "." or "," or "either"). Refuses signs, exponents,
    thousands separators, too many decimals and amounts above ``maximum``."""
    s = (text or "").strip()
    if not s:
        raise AmountError("enter an amount")
    if s.startswith("-"):
        raise AmountError(f"'{text}' is negative: amounts are entered without a sign")
    seps = {".": ".", ",": ",", "either": ".,"}[decimal_sep]
    for ch in ".,":
        if ch in s and ch not in seps:
            raise AmountError(f"'{text}': use '{seps[0]}' as the decimal separator")
    m = _AMOUNT.match(s)
    if not m:
        raise AmountError(f"'{text}' is not an amount (digits and '{seps[0]}' only, e.g. 12{seps[0]}50)")
    whole, frac = m.group(1), m.group(2) or ""
    if len(frac) > minor_units:
        raise AmountError(f"'{text}' has more than {minor_units} decimals")
    value = int(whole) * 10 ** minor_units + int((frac + "0" * minor_units)[:minor_units] or 0)
    if value == 0 and not allow_zero:
        raise AmountError("the amount must be more than zero")
    if maximum is not None and value > maximum:
        raise AmountError(f"'{text}' is more than the maximum {format_amount(maximum, minor_units=minor_units)}")
    return value


def format_amount(minor: int, *, minor_units: int = 2, decimal_sep: str = ".",
                  currency: str = "", thousands: str = "") -> str:
    sign = "-" if minor < 0 else ""
    v = abs(minor)
    if minor_units:
        whole, frac = divmod(v, 10 ** minor_units)
        w = f"{whole:,}".replace(",", thousands) if thousands else str(whole)
        body = f"{w}{decimal_sep}{frac:0{minor_units}d}"
    else:
        body = f"{v:,}".replace(",", thousands) if thousands else str(v)
    return f"{sign}{body}" + (f" {currency}" if currency else "")


def parse_rate(text: str) -> int:
    """A percentage like ``19`` or ``7.5`` into basis points (1900, 750)."""
    try:
        return parse_amount(text, minor_units=2, decimal_sep=".", allow_zero=True, maximum=10000)
    except AmountError as e:
        raise AmountError(str(e).replace("amount", "rate")) from None
