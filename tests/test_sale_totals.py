"""Totals arithmetic (no database): properties that must hold for any basket."""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from station import money
from station.sale import compute_totals, gtin_check_digit, gtin_valid, parse_scan


@dataclass
class L:
    qty: int
    unit_price: int
    discount: int
    vat_rate: int
    voided: bool = False
    unit: str = "pc"


line = st.builds(
    lambda q, p, bp, rate, voided, kg: L(q if kg else q * 1000, p,
                                         money.percent_of(money.qty_times_price(q if kg else q * 1000, p), bp),
                                         rate, voided, "kg" if kg else "pc"),
    st.integers(1, 5000), st.integers(0, 100_000), st.sampled_from([0, 500, 1000, 3333, 10000]),
    st.sampled_from([0, 700, 1900, 2000]), st.booleans(), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(line, max_size=12), st.sampled_from([0, 250, 1000, 5000, 10000]), st.booleans())
def test_totals_add_up(lines, bp, inclusive):
    t = compute_totals(lines, bp, inclusive)
    live = [ln for ln in lines if not ln.voided]
    assert t.subtotal == sum(money.qty_times_price(ln.qty, ln.unit_price) for ln in live)
    assert t.line_discount == sum(ln.discount for ln in live)
    assert set(t.taxes) == {ln.vat_rate for ln in live}
    for rate in t.taxes:
        assert t.gross[rate] == t.net[rate] + t.taxes[rate]
        assert t.taxes[rate] >= 0 and t.net[rate] >= 0
    assert t.total == sum(t.gross.values())
    if inclusive:
        assert t.total == t.subtotal - t.discount
    else:
        assert t.total == t.subtotal - t.discount + t.tax_total
    assert 0 <= t.ticket_discount <= t.subtotal - t.line_discount
    if bp == 10000:
        assert t.total == 0


def test_gtin():
    assert gtin_valid("4006381333931") and not gtin_valid("4006381333932")
    assert gtin_valid("96385074") and gtin_valid("036000291452")
    assert gtin_check_digit("400638133393") == 1


def test_parse_scan():
    assert parse_scan(" 4006381333931\r\n") == (None, "4006381333931")
    assert parse_scan("3*4006381333931") == (3000, "4006381333931")
    assert parse_scan("0,350*123") == (350, "123")
    assert parse_scan("40063\x1d81333931") == (None, "4006381333931")
