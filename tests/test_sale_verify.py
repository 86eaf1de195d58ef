"""``station verify`` sale checks: hold on honest data, catch tampering."""
from __future__ import annotations

import pytest

from data import db as dbmod
from data import migrations
from data.models import CashMovement, ReceiptCounter, Tender, Ticket
from station import sale, tender, verify
from station.tender import Payment
from tests.sale_helpers import BREAD, MILK, WINE, make_products, open_drawer


def _sale_checks(ctx):
    return {r.name: r for r in verify.run(ctx, only=["sale."])}


@pytest.fixture
def three_sales(ctx, people):
    make_products()
    c = people["cashier"]
    open_drawer(ctx, c)
    ids = []
    for code, pay in ((MILK, [Payment("cash", 500)]), (WINE, [Payment("card", 899, reference="1")]),
                      (BREAD, [Payment("card", 100), Payment("cash", 200)])):
        sale.scan(ctx, c, code)
        st = tender.begin_tender(ctx, c)
        ids.append(tender.complete_sale(ctx, c, st.idem_key, pay).ticket_id)
    return ids


def test_checks_hold(ctx, three_sales):
    res = _sale_checks(ctx)
    assert set(res) >= {"sale.paid_equals_total", "sale.unique_keys", "sale.receipts_gapless",
                        "sale.cash_in_drawer", "sale.lines_consistent"}
    assert all(r.ok for r in res.values()), [(r.name, r.problems, r.error) for r in res.values()]


def test_checks_catch_tampering(ctx, three_sales):
    migrations.drop_guards()
    a, b, c = three_sales
    with dbmod.write():
        Tender.update(amount=Tender.amount - 1).where(Tender.ticket == b).execute()   # underpaid
        Ticket.update(receipt_no=5).where(Ticket.id == c).execute()                    # gap + beyond counter
        CashMovement.delete().where((CashMovement.ticket_id == a) & (CashMovement.kind == "change")).execute()
        ReceiptCounter.update(last=4).execute()
    res = _sale_checks(ctx)
    assert not res["sale.paid_equals_total"].ok and "ticket %d" % b in res["sale.paid_equals_total"].problems[0]
    gap = " ".join(res["sale.receipts_gapless"].problems)
    assert "missing 3-4" in gap and "beyond the counter 5" in gap
    assert not res["sale.cash_in_drawer"].ok
    assert res["sale.unique_keys"].ok
